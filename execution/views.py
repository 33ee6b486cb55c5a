"""Pages of the execution app: executions list (filters shared with the API), dashboards, outages."""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from core.live import is_refresh, render_live
from execution import figures, selectors
from execution.filters import ExecutionFilter

PAGE_SIZE = 100


def _int(value, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


@login_required
def execution_list(request):
    params = request.GET.copy()
    before = _int(params.pop("before", [None])[0], 0, 0, 2**62)
    limit = _int(params.pop("limit", [None])[0], PAGE_SIZE, 1, 500)
    filterset = ExecutionFilter(params, queryset=selectors.execution_list())
    qs = filterset.qs
    if before:
        qs = qs.filter(id__lt=before)
    rows = list(qs[: limit + 1])
    next_query = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = params.copy()
        nxt["before"] = rows[-1].id
        nxt["limit"] = limit
        next_query = nxt.urlencode()
    return render_live(request, "execution/execution_list.html",
                       {"filter": filterset, "rows": rows, "next_query": next_query, "limit": limit})


def _totals(daily: list[dict]) -> dict:
    totals = {"requests": sum(b["requests"] for b in daily), "fallbacks": sum(b["fallbacks"] for b in daily)}
    totals["rate"] = totals["fallbacks"] / totals["requests"] if totals["requests"] else 0.0
    return totals


@login_required
def dashboards(request):
    days = _int(request.GET.get("days"), 90, 1, 366)
    since = timezone.now() - timedelta(days=days)
    if is_refresh(request):  # the live cards only: drawing the charts again every few seconds costs too much
        return render_live(request, "execution/dashboards.html", {
            "days": days, "totals": _totals(selectors.fallback_buckets(bucket="day", since=since)),
            "circuit": selectors.lean_circuit_status()})
    fallback = selectors.fallback_dashboard(since=since)
    charts = {
        "fallback_hourly": figures.to_html(figures.fallback_rate_figure(
            fallback.hourly, title="Fallback rate by hour, split by reason", show_last=timedelta(days=7))),
        "fallback_daily": figures.to_html(figures.fallback_rate_figure(
            fallback.daily, title="Fallback rate by day, split by reason", step=timedelta(days=1))),
        "outages": figures.to_html(figures.outage_timeline_figure(selectors.outage_timeline(since=since))),
        "concentration": figures.to_html(figures.route_concentration_figure(
            selectors.route_concentration(since=since))),
        "slippage": figures.to_html(figures.slippage_figure(selectors.fill_slippage(since=since))),
    }
    return render_live(request, "execution/dashboards.html", {
        "charts": charts, "days": days, "totals": _totals(fallback.daily), "circuit": selectors.lean_circuit_status()})


@login_required
def outage_list(request):
    outages = list(selectors.lean_outage_list()[:200])
    runs = list(selectors.reconciliation_run_list()[:20])
    return render(request, "execution/outages.html", {"outages": outages, "runs": runs})


def describe_discrepancy(details: dict) -> str:
    """A discrepancy's details as one line an operator reads: what changed, whom we asked."""
    parts = []
    before, after = details.get("before"), details.get("after")
    if isinstance(before, dict) and isinstance(after, dict):
        parts += [f"{key} {before.get(key)} → {after.get(key)}" for key in after if before.get(key) != after.get(key)]
    elif before is not None or after is not None:
        parts.append(f"{before} → {after}")
    if details.get("asked"):
        parts.append("asked " + ", ".join(details["asked"]))
    if details.get("errors"):
        parts.append("errors: " + "; ".join(details["errors"]))
    rest = {k: v for k, v in details.items() if k not in ("before", "after", "asked", "errors")}
    parts += [f"{key} {value}" for key, value in rest.items()]
    return " · ".join(parts)


@login_required
def reconciliation_run_detail(request, run_id: int):
    run = get_object_or_404(selectors.reconciliation_run_list(), pk=run_id)
    discrepancies = list(selectors.reconciliation_discrepancies(run=run)[:1000])
    for d in discrepancies:
        d.summary = describe_discrepancy(d.details or {})
    return render(request, "execution/reconciliation_run.html", {"run": run, "discrepancies": discrepancies})
