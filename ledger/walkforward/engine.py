"""Walk-forward backtest engine: folds, simulation, parameter selection, stress, artifact.

Design
======

Data and timing
    Features and strategy signals are computed once per symbol over the whole, continuous
    series (every computation is causal, so a test window never sees its future). The
    target position chosen at the close of bar ``t`` earns the return of bar ``t + 1``:
    ``gross_t = notional * pos_{t-1} * (close_t / close_{t-1} - 1)``. A position change at
    bar ``t`` trades ``notional * |pos_t - pos_{t-1}|`` at ``close_t`` and pays the cost model
    (:mod:`.costs`). With ``flat_at_close`` (default) every position is closed on the last
    bar of each session, so no position is held overnight and every day starts flat;
    windows made of whole sessions are therefore independent of each other.

Folds
    Sessions (UTC dates present in any symbol) are cut into rolling windows:
    ``train_days`` sessions of training followed by ``test_days`` sessions of test, moving
    by ``step_days`` (default ``test_days``, never less, so test windows never overlap).
    Window ``*_start`` is the first bar's start time, ``*_end`` the last bar's end time
    (start + bar interval); train always ends on an earlier session than the test starts.

Candidates ("parameters are chosen on train and judged on test")
    * ``...-a``: the walk-forward candidate. In each fold every parameter set of the
      strategy's grid is scored on the *train* window by net P&L (rounded to cents; ties go
      to the earlier grid entry), and the winner is judged on that fold's *test* window.
      The fold metrics are those out-of-sample results; ``parameter_set`` records the
      selection rule and the winner of each fold.
    * ``...-b``, ``...-c``, ...: one candidate per fixed grid entry, in grid order,
      reported over the same test windows for comparison (they use no training).
    Candidate ``decision_count`` / ``trade_count`` are the sums over its test folds.

Fold metrics (all over the test window, all symbols together)
    ``decision_count``: strategy decision events (see :mod:`.strategies`);
    ``trade_count``: bars x symbols where the position changed (forced closes included);
    ``gross_pnl`` / ``net_pnl`` (net = gross - costs); ``max_drawdown``: largest fall of
    cumulative net P&L from its running peak (starting at 0), bar by bar, as a positive
    number; ``turnover_ratio``: traded notional / capital (capital = notional per symbol x
    symbols); ``cost_bps``: costs / traded notional x 1e4 (0 without trades); ``sharpe``:
    mean / sample std of daily net returns on capital x sqrt(252), 0 when undefined.
    ``regime_label`` (candidate independent), medians over symbols of: annualised
    realised volatility of intraday 1-bar log returns (``low`` < 30 %, ``high`` > 60 %);
    window return over its own volatility as a z-score (``up`` > 0.5, ``down`` < -0.5); and
    median spread <= 5 bps with median dollar volume per bar >= 100,000 (``liquid``).

Stress (real re-runs of every fold's test window, per candidate)
    * ``spread``: the same positions re-costed with the spread x ``spread_multiplier`` (2).
    * ``liquidity``: re-costed with the impact coefficient x ``impact_multiplier`` (3).
    * ``volatility``: prices re-built with intraday deviations from each session's
      open-to-close line scaled x ``volatility_multiplier`` (1.5) (the day's net move is
      kept); features and signals are recomputed on the shocked bars and re-simulated.
    * ``halt``: in the middle session of each test window every symbol halts for
      ``halt_bars`` bars mid-session: no prints (price held at the last close, volume 0),
      positions frozen; on resume the price gaps by ``halt_gap`` against the position the
      base run held when the halt began (down when flat) for the rest of the session.
      Features and signals are recomputed on the halted bars and re-simulated. A halt can
      also *help* (trading that would have cost money is prevented), so its delta may be
      positive; it is reported as computed.
    Each case reports ``net_pnl`` summed over the test folds, ``max_drawdown`` of the
    concatenated out-of-sample net P&L path, and ``pessimistic_pnl_delta`` = stressed net
    minus base net. The walk-forward candidate uses each fold's train-chosen parameters.

Determinism
    No randomness is used; equal inputs give an equal artifact. Without ``run_id`` the id is
    ``wf-<strategy>-<12 hex>`` from the sha256 of the canonical JSON of every input
    (dataset fingerprint, versions, grid, fold spec, cost, engine and stress settings).
    ``status`` is ``skipped`` (no candidates) when the data holds fewer sessions than one
    fold, ``failed`` (no candidates) when the computation raised, else ``passed``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .bars import (
    SECONDS_PER_DAY,
    BarSet,
    SymbolBars,
    bar_seconds,
    trading_days,
    validate_barset,
)
from .costs import CostAssumptions, trade_costs
from .features import (
    Features,
    FeatureSpec,
    compute_features,
    compute_symbol_features,
    feature_block,
)
from .fingerprint import canonical_json, dataset_fingerprint, sha256_hex
from .strategies import Signals, Strategy, get_strategy

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "torghut.research-run/v1"
RUNNER_VERSION = "walkforward/1.0"
STRESS_CASES = ("spread", "volatility", "liquidity", "halt")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class FoldSpec:
    """Rolling walk-forward windows measured in sessions."""

    train_days: int = 20
    test_days: int = 5
    step_days: int | None = None

    def __post_init__(self) -> None:
        if self.train_days < 1 or self.test_days < 1:
            raise ValueError("train_days and test_days must be at least 1")
        if self.step_days is not None and self.step_days < self.test_days:
            raise ValueError(
                "step_days must be >= test_days (test windows must not overlap)"
            )

    @property
    def step(self) -> int:
        return self.test_days if self.step_days is None else self.step_days


@dataclass(frozen=True)
class EngineConfig:
    """Simulation settings.

    With ``flat_at_close=False`` positions are held overnight (earning the gap), windows
    no longer start flat, and the walk-forward candidate's per-fold stitching is only an
    approximation of one continuous run.
    """

    notional_per_symbol: float = 10_000.0
    flat_at_close: bool = True

    def __post_init__(self) -> None:
        if not (
            self.notional_per_symbol > 0 and math.isfinite(self.notional_per_symbol)
        ):
            raise ValueError("notional_per_symbol must be positive and finite")


@dataclass(frozen=True)
class StressConfig:
    """Sizes of the stress shocks."""

    spread_multiplier: float = 2.0
    volatility_multiplier: float = 1.5
    impact_multiplier: float = 3.0
    halt_bars: int = 30
    halt_gap: float = 0.02

    def __post_init__(self) -> None:
        if (
            self.spread_multiplier < 1
            or self.impact_multiplier < 1
            or self.volatility_multiplier < 1
        ):
            raise ValueError("stress multipliers must be >= 1")
        if self.halt_bars < 1 or not 0 < self.halt_gap < 1:
            raise ValueError("halt_bars must be >= 1 and halt_gap in (0, 1)")


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold, as index ranges into the session array."""

    order: int
    train: tuple[int, int]
    test: tuple[int, int]

    @property
    def name(self) -> str:
        return f"fold_{self.order}"


def make_folds(n_days: int, spec: FoldSpec) -> list[Fold]:
    """Rolling folds over ``n_days`` sessions (ranges are ``[start, stop)`` indices)."""
    folds: list[Fold] = []
    start = 0
    while start + spec.train_days + spec.test_days <= n_days:
        mid = start + spec.train_days
        folds.append(Fold(len(folds) + 1, (start, mid), (mid, mid + spec.test_days)))
        start += spec.step
    return folds


# --------------------------------------------------------------------------- market


@dataclass
class Market:
    """Bars plus the shared time axes: sessions and the union grid of bar times."""

    bars: BarSet
    symbols: list[str]
    days: np.ndarray  # sorted session indices
    grid_ts: np.ndarray  # sorted union of bar start times
    grid_day_pos: np.ndarray  # session position of each grid time
    day_pos: dict[str, np.ndarray]  # per symbol: session position of each bar
    grid_pos: dict[str, np.ndarray]  # per symbol: grid position of each bar
    session_last: dict[str, np.ndarray]  # per symbol: bool, last bar of its session
    bar_seconds: int

    @classmethod
    def build(cls, bars: BarSet) -> Market:
        symbols = sorted(s for s, sb in bars.items() if len(sb))
        days = trading_days(bars)
        grid_ts = np.unique(np.concatenate([bars[s].ts for s in symbols]))
        day_pos, grid_pos, session_last = {}, {}, {}
        for s in symbols:
            sb = bars[s]
            day_pos[s] = np.searchsorted(days, sb.day)
            grid_pos[s] = np.searchsorted(grid_ts, sb.ts)
            session_last[s] = np.r_[sb.day[1:] != sb.day[:-1], True]
        return cls(
            bars=bars,
            symbols=symbols,
            days=days,
            grid_ts=grid_ts,
            grid_day_pos=np.searchsorted(days, grid_ts // SECONDS_PER_DAY),
            day_pos=day_pos,
            grid_pos=grid_pos,
            session_last=session_last,
            bar_seconds=bar_seconds(bars),
        )

    def grid_range(self, day_range: tuple[int, int]) -> tuple[int, int]:
        """Grid index range ``[start, stop)`` of a session range."""
        lo, hi = np.searchsorted(self.grid_day_pos, day_range, side="left")
        return int(lo), int(hi)

    def window_times(self, day_range: tuple[int, int]) -> tuple[int, int]:
        """(first bar start, last bar end) epoch seconds of a session range."""
        lo, hi = self.grid_range(day_range)
        return int(self.grid_ts[lo]), int(self.grid_ts[hi - 1]) + self.bar_seconds


# --------------------------------------------------------------------------- simulation


@dataclass
class SimResult:
    """Per-session and per-grid-bar aggregates of one simulated parameter set."""

    day_gross: np.ndarray
    day_cost: np.ndarray
    day_traded: np.ndarray
    day_trades: np.ndarray
    day_decisions: np.ndarray
    grid_net: np.ndarray

    @property
    def day_net(self) -> np.ndarray:
        return self.day_gross - self.day_cost


def positions(
    signals: Signals,
    session_last: np.ndarray,
    cfg: EngineConfig,
    frozen: np.ndarray | None = None,
) -> np.ndarray:
    """Held position per bar: targets, frozen during halts, flat at each session close."""
    pos = signals.target.astype(np.float64, copy=True)
    if frozen is not None and frozen.any():
        # A frozen bar keeps the position of the last bar that could trade.
        idx = np.where(frozen, -1, np.arange(pos.size))
        idx = np.maximum.accumulate(idx)
        pos = np.where(idx >= 0, pos[np.maximum(idx, 0)], 0.0)
    if cfg.flat_at_close:
        pos = np.where(session_last, 0.0, pos)
    return pos


def simulate(
    market: Market,
    per_symbol: dict[str, tuple[SymbolBars, np.ndarray, np.ndarray]],
    costs: CostAssumptions,
    cfg: EngineConfig,
) -> SimResult:
    """Simulate held positions ``{symbol: (bars, position, decision mask)}``."""
    n_days, n_grid = market.days.size, market.grid_ts.size
    out = SimResult(*(np.zeros(n_days) for _ in range(5)), grid_net=np.zeros(n_grid))
    notional = cfg.notional_per_symbol
    for s in market.symbols:
        sb, pos, decision = per_symbol[s]
        ret = np.r_[0.0, sb.close[1:] / sb.close[:-1] - 1.0]
        gross = notional * np.r_[0.0, pos[:-1]] * ret
        dpos = np.abs(np.diff(pos, prepend=0.0))
        traded = notional * dpos
        spread = (
            sb.spread_bps if sb.spread_bps is not None else costs.default_spread_bps
        )
        cost = trade_costs(traded, sb.close, sb.volume, spread, costs).total
        d = market.day_pos[s]
        out.day_gross += np.bincount(d, gross, n_days)
        out.day_cost += np.bincount(d, cost, n_days)
        out.day_traded += np.bincount(d, traded, n_days)
        out.day_trades += np.bincount(d, (dpos > 0).astype(np.float64), n_days)
        out.day_decisions += np.bincount(d, decision.astype(np.float64), n_days)
        out.grid_net += np.bincount(market.grid_pos[s], gross - cost, n_grid)
    return out


def shock_volatility(sb: SymbolBars, k: float) -> SymbolBars:
    """Scale intraday log deviations from each session's open-to-close line by ``k``."""
    n = len(sb)
    day = sb.day
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    lengths = np.diff(np.r_[starts, n])
    session = np.repeat(np.arange(starts.size), lengths)
    first = starts[session]
    last = (starts + lengths - 1)[session]
    frac = (np.arange(n) - first + 1) / lengths[session]
    lo, lc = np.log(sb.open[first]), np.log(sb.close[last])
    base = lo + (lc - lo) * frac

    def shock(x: np.ndarray) -> np.ndarray:
        return np.exp(base + k * (np.log(x) - base))

    return replace(
        sb,
        open=shock(sb.open),
        high=shock(sb.high),
        low=shock(sb.low),
        close=shock(sb.close),
    )


def halt_windows(
    market: Market, symbol: str, folds: list[Fold], halt_bars: int
) -> list[tuple[int, int, int]]:
    """Per fold, the halted bar range ``(h0, h1, session_end)`` of ``symbol`` (if it fits)."""
    out = []
    dpos = market.day_pos[symbol]
    for fold in folds:
        mid_day = (fold.test[0] + fold.test[1] - 1) // 2
        s, e = np.searchsorted(dpos, [mid_day, mid_day + 1])
        if e - s >= halt_bars + 2:
            h0 = int(s + (e - s - halt_bars) // 2)
            out.append((h0, h0 + halt_bars, int(e)))
    return out


def apply_halt(
    sb: SymbolBars, windows: list[tuple[int, int, int]], held: np.ndarray, gap: float
) -> tuple[SymbolBars, np.ndarray]:
    """Halted copy of ``sb`` and the mask of frozen bars (see module docstring)."""
    o, h, lo, c, v = (a.copy() for a in (sb.open, sb.high, sb.low, sb.close, sb.volume))
    frozen = np.zeros(len(sb), dtype=bool)
    for h0, h1, end in windows:
        last = c[h0 - 1]
        o[h0:h1] = h[h0:h1] = lo[h0:h1] = c[h0:h1] = last
        v[h0:h1] = 0.0
        factor = 1.0 + gap if held[h0 - 1] < 0 else 1.0 - gap
        for arr in (o, h, lo, c):
            arr[h1:end] *= factor
        frozen[h0:h1] = True
    return replace(sb, open=o, high=h, low=lo, close=c, volume=v), frozen


# --------------------------------------------------------------------------- metrics


def _window_net(res: SimResult, market: Market, days: tuple[int, int]) -> np.ndarray:
    lo, hi = market.grid_range(days)
    return res.grid_net[lo:hi]


def max_drawdown(net: np.ndarray) -> float:
    """Largest drop of cumulative ``net`` below its running peak (peak starts at 0)."""
    if net.size == 0:
        return 0.0
    cum = np.cumsum(net)
    peak = np.maximum.accumulate(np.maximum(cum, 0.0))
    return float(max(0.0, np.max(peak - cum)))


def sharpe(daily_returns: np.ndarray) -> float:
    """Annualised Sharpe of daily returns; 0 when fewer than 2 days or zero variance."""
    if daily_returns.size < 2:
        return 0.0
    sd = float(np.std(daily_returns, ddof=1))
    if not sd > 1e-12:
        return 0.0
    return float(np.mean(daily_returns)) / sd * math.sqrt(TRADING_DAYS_PER_YEAR)


def regime_label(market: Market, days: tuple[int, int], costs: CostAssumptions) -> str:
    """``vol=..|trend=..|liq=..`` of a session range (see module docstring)."""
    vols, zs, spreads, dollar_vols = [], [], [], []
    for s in market.symbols:
        sb = market.bars[s]
        lo, hi = np.searchsorted(market.day_pos[s], days)
        if hi - lo < 2:
            continue
        close, day = sb.close[lo:hi], sb.day[lo:hi]
        logret = np.diff(np.log(close))[day[1:] == day[:-1]]
        bars_per_day = (hi - lo) / max(1, np.unique(day).size)
        sd = float(np.std(logret)) if logret.size > 1 else 0.0
        vols.append(sd * math.sqrt(bars_per_day * TRADING_DAYS_PER_YEAR))
        total = math.log(close[-1] / sb.open[lo])
        zs.append(total / (sd * math.sqrt(hi - lo)) if sd > 0 else 0.0)
        spread = (
            sb.spread_bps[lo:hi]
            if sb.spread_bps is not None
            else np.array([costs.default_spread_bps])
        )
        spreads.append(float(np.median(spread)))
        dollar_vols.append(float(np.median(close * sb.volume[lo:hi])))
    if not vols:
        return "vol=low|trend=flat|liq=illiquid"
    vol, z = float(np.median(vols)), float(np.median(zs))
    vol_label = "low" if vol < 0.30 else "high" if vol > 0.60 else "mid"
    trend_label = "up" if z > 0.5 else "down" if z < -0.5 else "flat"
    liquid = (
        float(np.median(spreads)) <= 5.0 and float(np.median(dollar_vols)) >= 100_000.0
    )
    return (
        f"vol={vol_label}|trend={trend_label}|liq={'liquid' if liquid else 'illiquid'}"
    )


def _dec(x: float, places: int) -> str:
    """Fixed-decimal string of a finite float (``-0.00`` becomes ``0.00``)."""
    if not math.isfinite(x):
        raise ValueError(f"non-finite metric {x!r}")
    text = f"{x:.{places}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def iso_z(ts: int) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- run


@dataclass
class _GridRuns:
    """Simulation results of every grid entry, for the base case and each stress case."""

    base: list[SimResult] = field(default_factory=list)
    stress: dict[str, list[SimResult]] = field(default_factory=dict)


def _signals_for(
    strategy: Strategy, bars: BarSet, feats: dict[str, Features], params: dict[str, Any]
) -> dict[str, Signals]:
    return {
        s: strategy.signals(sb, feats[s], params) for s, sb in bars.items() if len(sb)
    }


def _run_grid(
    market: Market,
    strategy: Strategy,
    feats: dict[str, Features],
    folds: list[Fold],
    fspec: FeatureSpec,
    costs: CostAssumptions,
    cfg: EngineConfig,
    stress: StressConfig,
) -> _GridRuns:
    runs = _GridRuns(stress={c: [] for c in STRESS_CASES})
    spread_costs = replace(
        costs, spread_multiplier=costs.spread_multiplier * stress.spread_multiplier
    )
    impact_costs = replace(
        costs,
        impact_coefficient_bps=costs.impact_coefficient_bps * stress.impact_multiplier,
    )
    vol_bars = {
        s: shock_volatility(market.bars[s], stress.volatility_multiplier)
        for s in market.symbols
    }
    vol_feats = compute_features(vol_bars, fspec)
    halts = {
        s: halt_windows(market, s, folds, stress.halt_bars) for s in market.symbols
    }
    for params in strategy.grid:
        sig = _signals_for(strategy, market.bars, feats, params)
        held = {
            s: (
                market.bars[s],
                positions(sig[s], market.session_last[s], cfg),
                sig[s].decision,
            )
            for s in market.symbols
        }
        runs.base.append(simulate(market, held, costs, cfg))
        runs.stress["spread"].append(simulate(market, held, spread_costs, cfg))
        runs.stress["liquidity"].append(simulate(market, held, impact_costs, cfg))

        vsig = _signals_for(strategy, vol_bars, vol_feats, params)
        vheld = {
            s: (
                vol_bars[s],
                positions(vsig[s], market.session_last[s], cfg),
                vsig[s].decision,
            )
            for s in market.symbols
        }
        runs.stress["volatility"].append(simulate(market, vheld, costs, cfg))

        hheld = {}
        for s in market.symbols:
            hb, frozen = apply_halt(
                market.bars[s], halts[s], held[s][1], stress.halt_gap
            )
            hsig = strategy.signals(
                hb, compute_symbol_features(hb.close, fspec), params
            )
            hheld[s] = (
                hb,
                positions(hsig, market.session_last[s], cfg, frozen),
                hsig.decision & ~frozen,
            )
        runs.stress["halt"].append(simulate(market, hheld, costs, cfg))
    return runs


def _select(runs: _GridRuns, folds: list[Fold]) -> list[int]:
    """Per fold, the grid index with the best train net P&L (cents; first wins ties)."""
    chosen = []
    for fold in folds:
        scores = [
            round(float(r.day_net[fold.train[0] : fold.train[1]].sum()), 2)
            for r in runs.base
        ]
        chosen.append(int(np.argmax(scores)))
    return chosen


def _fold_record(
    market: Market, fold: Fold, res: SimResult, label: str, capital: float
) -> dict[str, Any]:
    """The artifact row of one fold: ``res`` judged on the fold's test window."""
    a, b = fold.test
    gross = float(res.day_gross[a:b].sum())
    cost = float(res.day_cost[a:b].sum())
    traded = float(res.day_traded[a:b].sum())
    train_start, train_end = market.window_times(fold.train)
    test_start, test_end = market.window_times(fold.test)
    return {
        "name": fold.name,
        "order": fold.order,
        "train_start": iso_z(train_start),
        "train_end": iso_z(train_end),
        "test_start": iso_z(test_start),
        "test_end": iso_z(test_end),
        "decision_count": round(float(res.day_decisions[a:b].sum())),
        "trade_count": round(float(res.day_trades[a:b].sum())),
        "gross_pnl": _dec(gross, 2),
        "net_pnl": _dec(gross - cost, 2),
        "max_drawdown": _dec(max_drawdown(_window_net(res, market, fold.test)), 2),
        "turnover_ratio": _dec(traded / capital, 4),
        "cost_bps": _dec(cost / traded * 1e4 if traded > 0 else 0.0, 2),
        "sharpe": _dec(sharpe(res.day_net[a:b] / capital), 4),
        "regime_label": label,
    }


def _candidate(
    market: Market,
    folds: list[Fold],
    runs: _GridRuns,
    choice: list[int],
    labels: list[str],
    cfg: EngineConfig,
    candidate_id: str,
    parameter_set: dict[str, Any],
) -> dict[str, Any]:
    """One candidate: fold ``i`` is judged with grid entry ``choice[i]``."""
    capital = cfg.notional_per_symbol * len(market.symbols)
    pairs = list(zip(folds, choice, strict=True))
    fold_rows = [
        _fold_record(market, f, runs.base[g], label, capital)
        for (f, g), label in zip(pairs, labels, strict=True)
    ]
    base_net = sum(
        float(runs.base[g].day_net[f.test[0] : f.test[1]].sum()) for f, g in pairs
    )
    stress_rows = []
    for case in STRESS_CASES:
        results = runs.stress[case]
        net = sum(
            float(results[g].day_net[f.test[0] : f.test[1]].sum()) for f, g in pairs
        )
        path = np.concatenate(
            [_window_net(results[g], market, f.test) for f, g in pairs]
        )
        stress_rows.append(
            {
                "case": case,
                "net_pnl": _dec(net, 2),
                "max_drawdown": _dec(max_drawdown(path), 2),
                "pessimistic_pnl_delta": _dec(net - base_net, 2),
            }
        )
    covered = [
        s
        for s in market.symbols
        if any(
            np.searchsorted(market.day_pos[s], f.test[1])
            > np.searchsorted(market.day_pos[s], f.test[0])
            for f in folds
        )
    ]
    return {
        "candidate_id": candidate_id,
        "parameter_set": parameter_set,
        "decision_count": sum(r["decision_count"] for r in fold_rows),
        "trade_count": sum(r["trade_count"] for r in fold_rows),
        "symbols": covered,
        "folds": fold_rows,
        "stress": stress_rows,
    }


def candidate_suffix(index: int) -> str:
    """0 -> ``a``, 25 -> ``z``, 26 -> ``aa`` ... (spreadsheet-style letters)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("a") + rem) + out
    return out


def run_walkforward(
    bars: BarSet,
    *,
    strategy_name: str,
    dataset_version: str,
    snapshot_ref: str,
    code_commit: str,
    fold_spec: FoldSpec | None = None,
    costs: CostAssumptions | None = None,
    engine: EngineConfig | None = None,
    stress: StressConfig | None = None,
    feature_spec: FeatureSpec | None = None,
    run_id: str | None = None,
    runner_version: str = RUNNER_VERSION,
    raise_errors: bool = False,
) -> dict[str, Any]:
    """Run the walk-forward backtest and return a ``torghut.research-run/v1`` artifact.

    Invalid arguments or bars raise ``ValueError``/``KeyError``. An error during the
    computation gives a ``failed`` artifact without candidates (or is re-raised with
    ``raise_errors=True``). See the module docstring for the design.
    """
    fold_spec = fold_spec or FoldSpec()
    costs = costs or CostAssumptions()
    engine = engine or EngineConfig()
    stress = stress or StressConfig()
    feature_spec = feature_spec or FeatureSpec()
    strategy = get_strategy(strategy_name)
    validate_barset(bars)
    for name, value in (
        ("dataset_version", dataset_version),
        ("snapshot_ref", snapshot_ref),
        ("code_commit", code_commit),
        ("runner_version", runner_version),
    ):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    if run_id is not None and not RUN_ID_RE.match(run_id):
        raise ValueError("run_id must be 1-64 characters of [A-Za-z0-9._-]")

    market = Market.build(bars)
    fingerprint = dataset_fingerprint(bars)
    if run_id is None:
        inputs = {
            "dataset": {
                "fingerprint": fingerprint,
                "version": dataset_version,
                "snapshot_ref": snapshot_ref,
            },
            "strategy": strategy.describe(),
            "grid": list(strategy.grid),
            "fold_spec": asdict(fold_spec),
            "costs": costs.as_dict(),
            "engine": asdict(engine),
            "stress": asdict(stress),
            "feature_spec": feature_spec.as_dict(),
            "code_commit": code_commit,
            "runner_version": runner_version,
        }
        run_id = f"wf-{strategy.name[:47]}-{sha256_hex(canonical_json(inputs))[:12]}"

    feats = compute_features(bars, feature_spec)
    artifact: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": "passed",
        "strategy": strategy.describe(),
        "code_commit": code_commit,
        "runner_version": runner_version,
        "dataset": {
            "version": dataset_version,
            "fingerprint": fingerprint,
            "from": iso_z(int(market.grid_ts[0])),
            "to": iso_z(int(market.grid_ts[-1]) + market.bar_seconds),
            "snapshot_ref": snapshot_ref,
            "symbols": market.symbols,
        },
        "features": feature_block(bars, feats, feature_spec),
        "candidates": [],
    }
    folds = make_folds(market.days.size, fold_spec)
    if not folds:
        artifact["status"] = "skipped"
        return artifact
    try:
        artifact["candidates"] = _build_candidates(
            market, strategy, feats, folds, feature_spec, costs, engine, stress, run_id
        )
    except Exception:
        if raise_errors:
            raise
        logger.exception("walk-forward run %s failed", run_id)
        artifact["status"] = "failed"
        artifact["candidates"] = []
    return artifact


def _build_candidates(
    market: Market,
    strategy: Strategy,
    feats: dict[str, Features],
    folds: list[Fold],
    fspec: FeatureSpec,
    costs: CostAssumptions,
    cfg: EngineConfig,
    stress: StressConfig,
    run_id: str,
) -> list[dict[str, Any]]:
    runs = _run_grid(market, strategy, feats, folds, fspec, costs, cfg, stress)
    labels = [regime_label(market, f.test, costs) for f in folds]
    chosen = _select(runs, folds)
    wf_params = {
        "selection": "walk_forward",
        "objective": "max_train_net_pnl",
        "tie_break": "grid_order",
        "grid": [dict(p) for p in strategy.grid],
        "chosen": {
            f.name: dict(strategy.grid[g]) for f, g in zip(folds, chosen, strict=True)
        },
    }
    out = [
        _candidate(
            market,
            folds,
            runs,
            chosen,
            labels,
            cfg,
            f"cand-{run_id}-{candidate_suffix(0)}",
            wf_params,
        )
    ]
    for i, params in enumerate(strategy.grid):
        out.append(
            _candidate(
                market,
                folds,
                runs,
                [i] * len(folds),
                labels,
                cfg,
                f"cand-{run_id}-{candidate_suffix(i + 1)}",
                dict(params),
            )
        )
    return out
