"""One name, one sign and one definition for every research metric, used by the charts and the tables.

Drawdown is a positive number everywhere (the size of the fall from the running peak), as the
engine stores it and as gate 2 compares it; a stress delta is stressed net P&L minus base net P&L,
so a loss under stress is negative.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.choices import StressCase


@dataclass(frozen=True)
class Metric:
    label: str
    definition: str


METRICS: dict[str, Metric] = {
    "net_pnl": Metric(
        "Net P&L",
        "Profit after costs (spread, commission, impact), summed over the test folds (out of sample)."),
    "gross_pnl": Metric("Gross P&L", "Profit before costs over the fold's test window."),
    "fold_net_pnl": Metric("Net P&L", "Profit after costs over the fold's test window (out of sample)."),
    "sharpe": Metric(
        "Sharpe",
        "Annualised Sharpe ratio: mean over sample standard deviation of daily net returns on capital, "
        "× √252 (trading days a year); 0 when undefined. For a candidate: the mean over its test folds."),
    "fold_sharpe": Metric(
        "Sharpe",
        "Annualised Sharpe ratio of the fold's test window: mean over sample standard deviation of daily net "
        "returns on capital, × √252 (trading days a year); 0 when undefined."),
    "deflated_sharpe": Metric(
        "Deflated Sharpe",
        "Probability (0–1) that the candidate's Sharpe ratio of fold net P&L (per fold, not annualised) beats "
        "the best one expected among the run's candidates if none had skill (Bailey & López de Prado). "
        "Computed as the active policy's selection-bias gate computes it; blank when that policy has no such "
        "gate or the run holds too few candidates or folds."),
    "max_drawdown": Metric(
        "Max drawdown",
        "Largest fall of cumulative net P&L from its running peak, bar by bar, as a positive amount. "
        "For a candidate: its worst test fold."),
    "fold_max_drawdown": Metric(
        "Max drawdown",
        "Largest fall of cumulative net P&L from its running peak within the fold's test window, "
        "as a positive amount."),
    "stress_max_drawdown": Metric(
        "Max drawdown",
        "Largest fall from the running peak of the concatenated out-of-sample net P&L path under stress, "
        "as a positive amount."),
    "pbo": Metric(
        "PBO",
        "Probability of backtest overfitting (0–1) of the run's search: the share of combinatorially "
        "symmetric splits of the folds in which the in-sample best candidate ranks at or below the median out "
        "of sample. Blank when the active policy does not compute it or the run is too small to judge."),
    "stress_delta": Metric(
        "Stress Δ net P&L",
        "Net P&L under the stress case minus net P&L of the base run, over the same test folds "
        "(negative: the case costs money)."),
    "stress_net_pnl": Metric("Net P&L under stress", "Net P&L over the test folds, re-run under the stress case."),
    "turnover_ratio": Metric("Turnover", "Traded notional over capital in the fold's test window."),
    "cost_bps": Metric("Cost (bps)", "Costs over traded notional, in basis points (0 without trades)."),
    "decision_count": Metric("Decisions", "Strategy decision events in the test window(s)."),
    "trade_count": Metric("Trades", "Bars × symbols where the position changed (forced closes included)."),
    "regime_label": Metric(
        "Regime",
        "Volatility (annualised realised: low < 30 %, high > 60 %), trend (window return over its volatility: "
        "up > 0.5, down < −0.5) and liquidity (median spread ≤ 5 bps and dollar volume per bar ≥ 100,000)."),
}

# What each stress case does (the engine's own settings: ledger.walkforward.engine.StressConfig).
STRESS_DEFINITIONS: dict[str, str] = {
    StressCase.SPREAD: "The same positions re-costed with the quoted spread × 2.",
    StressCase.VOLATILITY: "Prices rebuilt with intraday moves around each session's open-to-close line × 1.5 "
                           "(the day's net move kept); signals recomputed and re-simulated.",
    StressCase.LIQUIDITY: "The same positions re-costed with the market-impact coefficient × 3.",
    StressCase.HALT: "Mid-session halt of 30 bars in the middle session of each test window, then a 2 % gap "
                     "against the position held; signals recomputed and re-simulated.",
}


def stress_label(case: str) -> str:
    """The one name of a stress case (its display label: "Impact ×3", never "liquidity")."""
    try:
        return StressCase(case).label
    except ValueError:
        return case


def stress_definition(case: str) -> str:
    return STRESS_DEFINITIONS.get(case, "")


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]  # as the artifact writes them
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return "…"
    return str(value)


def parameters_label(parameter_set: dict, *, limit: int = 60) -> str:
    """A short human name for a candidate's parameters: ``lookback=20, z=1.5``; a walk-forward
    candidate (parameters chosen per fold) reads ``walk-forward (best of 6 on train)``."""
    if not isinstance(parameter_set, dict) or not parameter_set:
        return "no parameters"
    if parameter_set.get("selection") == "walk_forward":
        grid = parameter_set.get("grid")
        size = f" of {len(grid)}" if isinstance(grid, list) else ""
        return f"walk-forward (best{size} on train)"
    # JSONB keeps no key order: names sort alphabetically, the same on every page
    text = ", ".join(f"{k}={_value(v)}" for k, v in sorted(parameter_set.items()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def parameter_rows(parameter_set: dict) -> list[tuple[str, str]]:
    """A candidate's parameters as (name, value) rows for a table; nested values as compact text."""
    if not isinstance(parameter_set, dict):
        return []
    return [(str(key), _nested(value)) for key, value in sorted(parameter_set.items())]


def _nested(value: Any) -> str:
    if isinstance(value, dict):
        if all(not isinstance(v, (dict, list)) for v in value.values()):
            return ", ".join(f"{k}={_value(v)}" for k, v in sorted(value.items()))
        return "; ".join(f"{k}: ({_nested(v)})" for k, v in value.items())
    if isinstance(value, list):
        return " | ".join(_nested(v) for v in value)
    return _value(value)


def chosen_by_fold(parameter_set: dict) -> dict[str, str]:
    """A walk-forward candidate's parameters chosen on each fold's train window: fold name -> label."""
    chosen = parameter_set.get("chosen") if isinstance(parameter_set, dict) else None
    if parameter_set.get("selection") != "walk_forward" or not isinstance(chosen, dict):
        return {}
    return {str(fold): parameters_label(params) for fold, params in chosen.items() if isinstance(params, dict)}


def labels_for(candidates: list[tuple[str, dict]], *, qualifiers: dict[str, str] | None = None) -> dict[str, str]:
    """candidate_id -> parameters label, unique within the list: a repeated label gets the candidate's
    qualifier (its run, when comparing runs) or ``#2``, ``#3``."""
    labels = {cid: parameters_label(params) for cid, params in candidates}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for cid, label in labels.items():
        if counts[label] == 1:
            out[cid] = label
            continue
        seen[label] = seen.get(label, 0) + 1
        qualifier = (qualifiers or {}).get(cid)
        out[cid] = f"{label} · {qualifier}" if qualifier else f"{label} #{seen[label]}"
    if len(set(out.values())) < len(out):  # the qualifiers repeat too: number them
        out = {cid: f"{label} #{i}" for i, (cid, label) in enumerate(out.items(), start=1)}
    return out
