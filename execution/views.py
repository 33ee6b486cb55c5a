"""Pages of the execution app: executions list (filters shared with the API), dashboards, outages."""
from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from core.pagination import keyset_paginate, paginate
from execution import figures, selectors
from execution.filters import ExecutionFilter

PAGE_SIZE = 100
COUNT_CAP = 10_000  # the executions list counts its rows up to here ("10,000+" past it)


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
    # keyset pages (?before=ID): as fast a million rows deep as on top; the total is counted up to a cap
    links = request.GET.copy()
    if limit != PAGE_SIZE:
        links["limit"] = str(limit)
    rows, pager = keyset_paginate(links, filterset.qs, per_page=limit, before=before or None,
                                  count_cap=COUNT_CAP)
    return render(request, "execution/execution_list.html",
                  {"filter": filterset, "rows": rows, "pager": pager, "limit": limit})


@login_required
def dashboards(request):
    days = _int(request.GET.get("days"), 90, 1, 366)
    since = timezone.now() - timedelta(days=days)
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
    totals = {"requests": sum(b["requests"] for b in fallback.daily),
              "fallbacks": sum(b["fallbacks"] for b in fallback.daily)}
    totals["rate"] = totals["fallbacks"] / totals["requests"] if totals["requests"] else 0.0
    return render(request, "execution/dashboards.html", {"charts": charts, "days": days, "totals": totals})


@login_required
def outage_list(request):
    outages = list(selectors.lean_outage_list()[:200])
    runs = list(selectors.reconciliation_run_list()[:20])
    return render(request, "execution/outages.html", {
        "outages": outages, "runs": runs, "runs_total": selectors.reconciliation_run_list().count()})


@login_required
def reconciliation_run_list(request):
    """Every reconciliation run, newest first, 50 to a page."""
    runs, pager = paginate(request.GET, selectors.reconciliation_run_list(), per_page=50)
    return render(request, "execution/reconciliation_runs.html", {"runs": runs, "pager": pager})


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
    discrepancies, pager = paginate(request.GET, selectors.reconciliation_discrepancies(run=run), per_page=100)
    for d in discrepancies:
        d.summary = describe_discrepancy(d.details or {})
    return render(request, "execution/reconciliation_run.html",
                  {"run": run, "discrepancies": discrepancies, "pager": pager})
