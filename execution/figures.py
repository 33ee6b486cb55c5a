"""Figure builders: pure functions from selector output to plotly Figures (no database access)."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import plotly.graph_objects as go
from django.utils import timezone

from core.timefmt import duration_text

LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 340, "template": "plotly_white",
          "legend": {"orientation": "h", "y": -0.2}}


def fallback_rate_figure(buckets: list[dict[str, Any]], *, title: str,
                         step: timedelta = timedelta(hours=1), show_last: timedelta | None = None) -> go.Figure:
    """Stacked bars of fallbacks by reason (left axis) and the fallback rate line (right axis).

    ``step`` is the bucket width: where buckets are missing (no orders: nights, weekends) the
    rate is undefined, so the line breaks there instead of drawing a slope across the gap.
    ``show_last`` opens the chart on that much of the most recent data (buttons, zoom and pan
    reach the rest): 2,000 hourly bars in one view are too thin to read.
    """
    # numpy arrays: plotly validates them as a whole and ships numbers as typed arrays (fast for 2,000+ hours).
    xs = np.array([b["bucket"].replace(tzinfo=None) for b in buckets], dtype="datetime64[s]")
    rates = np.array([b["fallback_rate"] for b in buckets], dtype=float)
    reasons = sorted({r for b in buckets for r in b["by_reason"]})
    traces: list[dict[str, Any]] = [
        {"type": "bar", "x": xs, "y": np.array([b["by_reason"].get(reason, 0) for b in buckets], dtype=np.int64),
         "name": reason} for reason in reasons]
    width = np.timedelta64(int(step.total_seconds()), "s")
    gaps = np.flatnonzero(np.diff(xs) > width) + 1
    line_x = np.insert(xs, gaps, xs[gaps - 1] + width)
    line_y = np.insert(rates, gaps, np.nan)
    traces.append({"type": "scatter", "x": line_x, "y": line_y, "name": "fallback rate", "yaxis": "y2",
                   "mode": "lines", "connectgaps": False, "line": {"color": "#111827"}})
    layout = {"title": {"text": title}, "barmode": "stack", "yaxis": {"title": {"text": "fallbacks"}},
              "yaxis2": {"title": {"text": "rate"}, "overlaying": "y", "side": "right", "range": [0, 1], "dtick": 0.25,
                         "tickformat": ".0%"}, **LAYOUT}
    window = np.timedelta64(int(show_last.total_seconds()), "s") if show_last is not None else None
    if window is not None and len(xs) and xs[-1] - xs[0] > window:
        end = xs[-1] + width
        layout["xaxis"] = {
            "range": [str(end - window), str(end)],
            "rangeselector": {"x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom",
                              "buttons": [{"count": 1, "label": "1d", "step": "day", "stepmode": "backward"},
                                          {"count": 7, "label": "7d", "step": "day", "stepmode": "backward"},
                                          {"count": 30, "label": "30d", "step": "day", "stepmode": "backward"},
                                          {"step": "all", "label": "all"}]}}
    return go.Figure(data=traces, layout=layout)


def outage_lanes(outages: list[dict[str, Any]], *, now: datetime, gap: timedelta) -> list[int]:
    """A lane (0, 1, ...) per outage, in the order given: an outage goes to the first lane whose last bar ended
    at least ``gap`` before it starts, so bars that overlap, or that would touch at the chart's scale, never
    share a lane. Pure."""
    order = sorted(range(len(outages)), key=lambda i: outages[i]["started_at"])
    lane_ends: list[datetime] = []
    lanes = [0] * len(outages)
    for i in order:
        start, end = outages[i]["started_at"], outages[i]["ended_at"] or now
        lane = next((k for k, last in enumerate(lane_ends) if last + gap <= start), len(lane_ends))
        if lane == len(lane_ends):
            lane_ends.append(end)
        lane_ends[lane] = end
        lanes[i] = lane
    return lanes


#: Opens the outage a clicked bar or marker stands for (customdata[3] holds its page's URL).
OPEN_ON_CLICK = ("var gd = document.getElementById('{plot_id}');"
                 "gd.on('plotly_click', function (ev) { var p = ev.points && ev.points[0];"
                 " var url = p && p.customdata && p.customdata[3]; if (url) { window.location.assign(url); } });")


def outage_timeline_figure(outages: list[dict[str, Any]], *, now: datetime | None = None,
                           link=None) -> go.Figure:
    """One horizontal bar per LEAN outage from its start to its end (open outages run to now), its real
    length on the time axis; outages that overlap, or lie too close to tell apart at the chart's scale, are
    drawn in separate lanes. Colour says the reason; a marker at each start keeps an outage of minutes
    visible on a 90-day axis. ``link(id)`` gives the URL a click opens (see :data:`OPEN_ON_CLICK`)."""
    now = now or timezone.now()
    fig = go.Figure()
    lanes: list[int] = []
    if outages:
        first = min(o["started_at"] for o in outages)
        last = max(o["ended_at"] or now for o in outages)
        lanes = outage_lanes(outages, now=now, gap=max(last - first, timedelta(hours=1)) * 0.02)
    by_reason: dict[str, list[int]] = defaultdict(list)
    for i, o in enumerate(outages):
        by_reason[o["reason"]].append(i)
    palette = ["#f59e0b", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#ea580c"]
    for n, (reason, idx) in enumerate(sorted(by_reason.items())):
        items = [outages[i] for i in idx]
        ys = [lanes[i] + 1 for i in idx]
        starts = [o["started_at"] for o in items]
        ends = [o["ended_at"] or now for o in items]
        hover = [[o["failures"], "open" if o["ended_at"] is None else "closed",
                  duration_text((e - s).total_seconds()), link(o["id"]) if link else "", o["id"],
                  o.get("affected", "")]
                 for o, s, e in zip(items, starts, ends, strict=True)]
        text = ("outage %{customdata[4]}: " + reason + "<br>from %{base|%Y-%m-%d %H:%M:%S} UTC, %{customdata[2]}"
                "<br>failures %{customdata[0]} (%{customdata[1]}), orders affected %{customdata[5]}<extra></extra>")
        color = palette[n % len(palette)]
        fig.add_bar(y=ys, base=starts, x=[(e - s).total_seconds() * 1000 for s, e in zip(starts, ends, strict=True)],
                    orientation="h", name=reason, customdata=hover, hovertemplate=text, legendgroup=reason,
                    marker={"color": color}, width=0.6)
        fig.add_scatter(y=ys, x=starts, mode="markers", name=reason, customdata=hover, legendgroup=reason,
                        showlegend=False,
                        marker={"symbol": "diamond", "size": 9,
                                "color": ["#dc2626" if o["ended_at"] is None else "#f59e0b" for o in items],
                                "line": {"color": color, "width": 1}},
                        hovertemplate=text.replace("%{base|", "%{x|"))
    n_lanes = max(lanes, default=0) + 1
    layout = {**LAYOUT, "height": min(600, max(LAYOUT["height"], 200 + 34 * n_lanes))}
    fig.update_layout(title="LEAN outages (click one to open it)", xaxis={"type": "date"},
                      yaxis={"title": {"text": "lane"}, "autorange": False, "range": [n_lanes + 0.5, 0.5],
                             "tickvals": list(range(1, n_lanes + 1)), "fixedrange": True, "zeroline": False},
                      showlegend=bool(outages), barmode="overlay", **layout)
    return fig


def route_concentration_figure(rows: list[dict[str, Any]]) -> go.Figure:
    """Share of filled notional by symbol, stacked per adapter."""
    fig = go.Figure()
    symbols = sorted({r["symbol"] for r in rows})
    for adapter in sorted({r["adapter"] for r in rows}):
        share = {r["symbol"]: r["share"] for r in rows if r["adapter"] == adapter}
        fig.add_bar(x=symbols, y=[share.get(s, 0.0) for s in symbols], name=adapter)
    fig.update_layout(title="Route concentration: notional share by adapter and symbol", barmode="stack",
                      yaxis={"tickformat": ".0%"}, **LAYOUT)
    return fig


def slippage_figure(rows: list[dict[str, Any]]) -> go.Figure:
    """Histogram of fill slippage against decision prices (bps, positive = worse), per adapter."""
    fig = go.Figure()
    for adapter in sorted({r["adapter"] for r in rows}):
        pts = [r for r in rows if r["adapter"] == adapter]
        fig.add_bar(x=[r["bps"] for r in pts], y=[r["fills"] for r in pts], name=adapter, opacity=0.75)
    fig.update_layout(title="Slippage of fills vs decision price (bps)", barmode="overlay",
                      xaxis={"title": "bps"}, yaxis={"title": "fills"}, **LAYOUT)
    return fig


def to_html(fig: go.Figure, *, post_script: str | None = None) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True},
                       post_script=post_script)
