"""Figures of the LLM governance page: pure functions from selector output to plotly Figures."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from autonomy.llm_guardrails import REASONS

LAYOUT = {"margin": {"l": 50, "r": 50, "t": 40, "b": 40}, "height": 340, "template": "plotly_white",
          "legend": {"orientation": "h", "y": -0.2}, "autosize": True}
APPLIED_COLORS = {"approve": "#2e7d32", "adjust": "#1f6feb", "veto": "#c62828"}


def verdict_mix_figure(mix: list[dict[str, Any]]) -> go.Figure:
    """What reviewers advised (x) and what the plane applied (stacked): shadow and off show as approve."""
    advised = sorted({row["verdict"] for row in mix})
    traces = []
    for applied, color in APPLIED_COLORS.items():
        counts = {row["verdict"]: row["n"] for row in mix if row["applied_verdict"] == applied}
        if counts:
            traces.append(go.Bar(x=advised, y=[counts.get(v, 0) for v in advised], name=f"applied: {applied}",
                                 marker_color=color))
    return go.Figure(data=traces, layout={"title": {"text": "Verdicts: advised → applied"}, "barmode": "stack",
                                          "xaxis": {"title": {"text": "advised"}}, "showlegend": True,
                                          "yaxis": {"title": {"text": "reviews"}, "tickformat": "d"}, **LAYOUT})


def rejections_figure(days: list[dict[str, Any]], rejections: list[dict[str, Any]]) -> go.Figure:
    """Guardrail rejections per day, by reason (stacked bars), and the LLM error rate (line, right axis)."""
    reasons = sorted({r["reason"] for r in rejections})
    traces: list[Any] = []
    for reason in reasons:
        rows = [r for r in rejections if r["reason"] == reason]
        traces.append(go.Bar(x=[r["day"] for r in rows], y=[r["n"] for r in rows], name=reason,
                             hovertext=REASONS.get(reason, reason)))
    traces.append(go.Scatter(x=[d["day"] for d in days], y=[d["errors"] / d["reviews"] for d in days],
                             name="LLM error rate", yaxis="y2", mode="lines+markers", line={"color": "#111827"}))
    return go.Figure(data=traces, layout={
        "title": {"text": "Guardrail vetoes and error rate"}, "barmode": "stack",
        "yaxis": {"title": {"text": "vetoes"}, "tickformat": "d", "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "error rate"}, "overlaying": "y", "side": "right", "range": [0, 1], "dtick": 0.25,
                   "tickformat": ".0%", "showgrid": False}, **LAYOUT})


def to_html(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False,
                       config={"displaylogo": False, "responsive": True})
