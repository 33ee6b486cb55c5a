"""Figure builders: pure functions from selector output to plotly figures.

Series are named by the candidate's parameters (``lookback=20, z=1.5``), metrics and stress cases
by :mod:`ledger.metrics`, with the same sign as the tables (drawdown positive, stress delta =
stressed minus base)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import plotly.graph_objects as go

from ledger.metrics import METRICS, stress_label

LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 340, "template": "plotly_white",
          "legend": {"orientation": "h", "y": -0.25}}


@dataclass(frozen=True)
class FoldPoint:
    series: str            # the legend: the candidate's parameters
    fold_name: str
    net_pnl: Decimal
    max_drawdown: Decimal  # positive


@dataclass(frozen=True)
class StressPoint:
    series: str
    case: str
    delta: Decimal         # stressed net P&L minus base net P&L


def _series(points):
    return list(dict.fromkeys(p.series for p in points))


def fold_pnl_figure(points: Sequence[FoldPoint], *, title: str = "Net P&L by fold (out of sample)") -> go.Figure:
    fig = go.Figure()
    for name in _series(points):
        rows = [p for p in points if p.series == name]
        fig.add_scatter(name=name, mode="lines+markers", x=[p.fold_name for p in rows],
                        y=[float(p.net_pnl) for p in rows])
    fig.update_layout(title=title, yaxis_title=METRICS["fold_net_pnl"].label, **LAYOUT)
    return fig


def fold_drawdown_figure(points: Sequence[FoldPoint]) -> go.Figure:
    fig = go.Figure()
    for name in _series(points):
        rows = [p for p in points if p.series == name]
        fig.add_scatter(name=name, mode="lines+markers", x=[p.fold_name for p in rows],
                        y=[float(p.max_drawdown) for p in rows])
    fig.update_layout(title="Max drawdown by fold", yaxis_title="Max drawdown (fall from peak)", **LAYOUT)
    return fig


def stress_figure(points: Sequence[StressPoint]) -> go.Figure:
    """Stress Δ net P&L per case and series (negative: the case costs money)."""
    fig = go.Figure()
    cases = list(dict.fromkeys(p.case for p in points))
    for name in _series(points):
        rows = {p.case: p for p in points if p.series == name}
        fig.add_bar(name=name, x=[stress_label(c) for c in cases],
                    y=[float(rows[c].delta) if c in rows else None for c in cases])
    fig.update_layout(title=f"{METRICS['stress_delta'].label} by stress case", barmode="group",
                      yaxis_title=METRICS["stress_delta"].label, **LAYOUT)
    return fig


def to_html(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})
