"""Transaction cost model, parameterised by :class:`CostAssumptions`.

For a trade of ``traded_notional`` (currency, absolute) at ``price`` in a bar with
``volume`` shares and a quoted spread of ``spread_bps``:

* spread: half the quoted spread, ``notional * spread_bps * spread_multiplier / 2 / 1e4``;
* commission: ``commission_per_share * shares + notional * commission_bps / 1e4``, with
  ``shares = notional / price``;
* impact (square-root law in participation): ``participation = min(shares / volume,
  max_participation)`` (``max_participation`` when the bar volume is 0) and
  ``impact_bps = impact_coefficient_bps * sqrt(participation)``, charged on the notional.

Stress cases scale the assumptions with :func:`dataclasses.replace` (e.g. ``spread_multiplier
= 2`` or ``impact_coefficient_bps * 3``); the formulas never change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class CostAssumptions:
    """Cost parameters (all non-negative)."""

    spread_multiplier: float = 1.0
    default_spread_bps: float = 2.0
    commission_per_share: float = 0.005
    commission_bps: float = 0.0
    impact_coefficient_bps: float = 10.0
    max_participation: float = 1.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (value >= 0.0 and np.isfinite(value)):
                raise ValueError(
                    f"CostAssumptions.{name} must be finite and non-negative"
                )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data for hashing and reporting."""
        return asdict(self)


@dataclass(frozen=True)
class CostBreakdown:
    """Per-trade cost components (arrays aligned with the inputs), in currency."""

    spread: np.ndarray
    commission: np.ndarray
    impact: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.spread + self.commission + self.impact


def trade_costs(
    traded_notional: np.ndarray,
    price: np.ndarray,
    volume: np.ndarray,
    spread_bps: np.ndarray | float,
    assumptions: CostAssumptions,
) -> CostBreakdown:
    """Costs of trades (element-wise; ``traded_notional`` may be 0 for no trade)."""
    notional = np.abs(np.asarray(traded_notional, dtype=np.float64))
    price = np.asarray(price, dtype=np.float64)
    volume = np.asarray(volume, dtype=np.float64)
    spread = (
        notional
        * np.asarray(spread_bps, dtype=np.float64)
        * assumptions.spread_multiplier
        / 2e4
    )
    shares = notional / price
    commission = (
        assumptions.commission_per_share * shares
        + notional * assumptions.commission_bps / 1e4
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        participation = np.where(
            volume > 0, shares / volume, assumptions.max_participation
        )
    participation = np.minimum(participation, assumptions.max_participation)
    impact = (
        notional * assumptions.impact_coefficient_bps * np.sqrt(participation) / 1e4
    )
    return CostBreakdown(spread=spread, commission=commission, impact=impact)
