"""Figure builders: pure functions from selector output to plotly figures."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import plotly.graph_objects as go

LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 320, "template": "plotly_white",
          "legend": {"orientation": "h", "y": -0.2}}


@dataclass(frozen=True)
class FoldPoint:
    candidate_id: str
    fold_name: str
    net_pnl: Decimal
    max_drawdown: Decimal


@dataclass(frozen=True)
class StressPoint:
    candidate_id: str
    case: str
    base_net_pnl: Decimal
    stressed_net_pnl: Decimal


def fold_pnl_figure(points: Sequence[FoldPoint]) -> go.Figure:
    fig = go.Figure()
    for cand in dict.fromkeys(p.candidate_id for p in points):
        rows = [p for p in points if p.candidate_id == cand]
        fig.add_bar(name=cand, x=[p.fold_name for p in rows], y=[float(p.net_pnl) for p in rows])
    fig.update_layout(title="Net P&L by fold (out of sample)", barmode="group", yaxis_title="net pnl", **LAYOUT)
    return fig


def fold_drawdown_figure(points: Sequence[FoldPoint]) -> go.Figure:
    fig = go.Figure()
    for cand in dict.fromkeys(p.candidate_id for p in points):
        rows = [p for p in points if p.candidate_id == cand]
        fig.add_scatter(name=cand, mode="lines+markers", x=[p.fold_name for p in rows],
                        y=[-float(p.max_drawdown) for p in rows])
    fig.update_layout(title="Max drawdown by fold", yaxis_title="drawdown", **LAYOUT)
    return fig


def stress_figure(points: Sequence[StressPoint]) -> go.Figure:
    fig = go.Figure()
    cases = list(dict.fromkeys(p.case for p in points))
    for cand in dict.fromkeys(p.candidate_id for p in points):
        rows = {p.case: p for p in points if p.candidate_id == cand}
        base = next(iter(rows.values())).base_net_pnl if rows else Decimal(0)
        fig.add_bar(name=f"{cand} base", x=["base", *cases],
                    y=[float(base), *[float(rows[c].stressed_net_pnl) if c in rows else None for c in cases]])
    fig.update_layout(title="Stress re-runs: net P&L, base vs stressed", barmode="group", **LAYOUT)
    return fig


def to_html(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})
