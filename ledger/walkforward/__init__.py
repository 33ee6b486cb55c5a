"""Pure walk-forward backtest engine producing ``torghut.research-run/v1`` artifacts.

No Django, no database: plain data in (a :data:`~.bars.BarSet`), a plain dict out.
Entry point: :func:`run_walkforward`. See :mod:`.engine` for the design.
"""

from .bars import BarSet, SymbolBars
from .contract import validate_artifact
from .costs import CostAssumptions, trade_costs
from .csv_io import BarsCsvError, parse_bars_csv, read_bars_csv, write_bars_csv
from .engine import EngineConfig, FoldSpec, StressConfig, run_walkforward
from .features import FeatureSpec
from .fingerprint import canonical_json, dataset_fingerprint, sha256_prefixed
from .strategies import get_strategy, strategy_names
from .synthetic import generate_bars

__all__ = [
    "BarSet",
    "BarsCsvError",
    "CostAssumptions",
    "EngineConfig",
    "FeatureSpec",
    "FoldSpec",
    "StressConfig",
    "SymbolBars",
    "canonical_json",
    "dataset_fingerprint",
    "generate_bars",
    "get_strategy",
    "parse_bars_csv",
    "read_bars_csv",
    "run_walkforward",
    "sha256_prefixed",
    "strategy_names",
    "trade_costs",
    "validate_artifact",
    "write_bars_csv",
]
