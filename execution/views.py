"""Pages of the execution app: executions list (filters shared with the API), one execution, dashboards,
outages (each with the orders it affected), refused orders, reconciliation runs."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from core.live import is_refresh, render_live
from core.pagination import keyset_paginate, paginate
from core.ranges import ALL, RangeForm, picker, ranged_filterset
from execution import figures, selectors
from execution.choices import refusal_status
from execution.filters import ExecutionPageFilter, OrderRefusalFilter

PAGE_SIZE = 100
COUNT_CAP = 10_000  # the executions list counts its rows up to here ("10,000+" past it)


def _int(value, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _filtered_page(request, filter_class, queryset, *, time_field: str) -> tuple[dict, int]:
    """A filtered list, newest first, one keyset page of it: ``filter``, ``picker`` (the range picker over
    ``time_field``), ``rows``, ``pager``, ``limit``, ``params`` (the filters as given) and ``window``. A
    filter value or a date the form cannot read is an error shown next to its field, and the page lists
    nothing (400): the rows are never those of the other filters alone."""
    params = request.GET.copy()
    before = _int(params.pop("before", [None])[0], 0, 0, 2**62)
    limit = _int(params.pop("limit", [None])[0], PAGE_SIZE, 1, 500)
    window = RangeForm(params, default=ALL, allow_all=True)
    filterset = ranged_filterset(filter_class, params, queryset=queryset)
    context = {"filter": filterset, "picker": picker(window, request.GET), "rows": [], "pager": None,
               "limit": limit, "params": params, "window": window.window, "valid": False}
    if not (filterset.is_valid() and window.is_valid()):
        return context, 400
    context["valid"] = True
    # keyset pages (?before=ID): as fast a million rows deep as on top; the total is counted up to a cap
    links = request.GET.copy()
    if limit != PAGE_SIZE:
        links["limit"] = str(limit)
    context["rows"], context["pager"] = keyset_paginate(links, window.window.filter(filterset.qs, time_field),
                                                        per_page=limit, before=before or None, count_cap=COUNT_CAP)
    return context, 200


@login_required
def execution_list(request):
    context, status = _filtered_page(request, ExecutionPageFilter, selectors.execution_list(), time_field="created_at")
    return render_live(request, "execution/execution_list.html", context, status=status)


@login_required
def execution_detail(request, execution_id: int):
    execution = get_object_or_404(selectors.execution_list().select_related("strategy", "trade_decision"),
                                  pk=execution_id)
    detail = selectors.execution_detail(execution)
    for x in detail.discrepancies:
        x.summary = describe_discrepancy(x.details or {})
    return render(request, "execution/execution_detail.html", {
        "d": detail, "e": execution,
        "broker_answer": json.dumps(detail.broker_answer, indent=2, sort_keys=True, cls=DjangoJSONEncoder),
        "admission_budgets": (detail.admission or {}).get("budgets") or [],
    })


@login_required
def execution_by_client_order_id(request, client_order_id: str):
    """An order by its client_order_id: its page; for an order admission refused (no row), its refusals; else
    the executions list filtered by that id, which says none matches (an LLM review may name an order that
    was never submitted)."""
    execution = selectors.execution_by_client_order_id(client_order_id)
    if execution is not None:
        return redirect("execution-detail", execution_id=execution.pk)
    query = "?" + urlencode({"client_order_id": client_order_id})
    if selectors.order_refusal_list().filter(client_order_id=client_order_id).exists():
        return redirect(reverse("execution-refusals") + query)
    return redirect(reverse("execution-list") + query)


@login_required
def refusal_list(request):
    context, status = _filtered_page(request, OrderRefusalFilter, selectors.order_refusal_list(), time_field="at")
    for row in context["rows"]:
        row.http_status = refusal_status(row.code)
    counts = []
    if status == 200:  # a card per code under the other filters, each opening that code's rows
        base = context["params"].copy()
        current = base.pop("code", [""])[0]
        others = context["window"].filter(
            ranged_filterset(OrderRefusalFilter, base, queryset=selectors.order_refusal_list()).qs, "at")
        for item in selectors.refusal_code_counts(others):
            query = base.copy()
            query["code"] = item["code"]
            counts.append({**item, "query": query.urlencode(), "current": item["code"] == current})
    context["counts"] = counts
    return render(request, "execution/refusal_list.html", context, status=status)


def _totals(daily: list[dict], *, since, until) -> dict:
    totals = {"requests": sum(b["requests"] for b in daily), "fallbacks": sum(b["fallbacks"] for b in daily)}
    totals["rate"] = totals["fallbacks"] / totals["requests"] if totals["requests"] else 0.0
    refused = selectors.order_refusal_list().filter(at__gte=since)
    totals["refused"] = (refused.filter(at__lt=until) if until else refused).count()
    return totals


@login_required
def dashboards(request):
    window = RangeForm(request.GET, default="30d")
    context = {"picker": picker(window, request.GET)}
    if not window.is_valid():
        return render_live(request, "execution/dashboards.html", context, status=400)
    since, until = window.window.since, window.window.until
    since = since or timezone.now() - timedelta(days=366 * 10)  # a custom range with only an end
    context.update(circuit=selectors.lean_circuit_status(), links=kpi_links(since=since, until=until))
    if is_refresh(request):  # the live cards only: drawing the charts again every few seconds costs too much
        daily = selectors.fallback_buckets(bucket="day", since=since, until=until)
        return render_live(request, "execution/dashboards.html",
                           {**context, "totals": _totals(daily, since=since, until=until)})
    fallback = selectors.fallback_dashboard(since=since, until=until)
    charts = {
        "fallback_hourly": figures.to_html(figures.fallback_rate_figure(
            fallback.hourly, title="Fallback rate by hour, split by reason", show_last=timedelta(days=7))),
        "fallback_daily": figures.to_html(figures.fallback_rate_figure(
            fallback.daily, title="Fallback rate by day, split by reason", step=timedelta(days=1))),
        "outages": figures.to_html(figures.outage_timeline_figure(
            selectors.outage_timeline(since=since, until=until), now=until,
            link=lambda pk: reverse("execution-outage", args=[pk])), post_script=figures.OPEN_ON_CLICK),
        "concentration": figures.to_html(figures.route_concentration_figure(
            selectors.route_concentration(since=since, until=until))),
        "slippage": figures.to_html(figures.slippage_figure(selectors.fill_slippage(since=since, until=until))),
    }
    return render_live(request, "execution/dashboards.html",
                       {**context, "charts": charts, "totals": _totals(fallback.daily, since=since, until=until)})


def _iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def kpi_links(*, since, until=None) -> dict[str, str]:
    """The executions list filtered to what each dashboard card counts: routed orders from the hour that
    holds ``since`` (the fallback rates read whole hours), and those of them that fell back."""
    span = {"since": _iso(since.replace(minute=0, second=0, microsecond=0))}
    if until is not None:
        span["until"] = _iso(until)
    base = reverse("execution-list")
    refused = {"since": _iso(since), **({"until": _iso(until)} if until is not None else {})}
    return {"requests": f"{base}?{urlencode({**span, 'routed': 'true'})}",
            "fallbacks": f"{base}?{urlencode({**span, 'routed': 'true', 'fallback': 'true'})}",
            "refusals": f"{reverse('execution-refusals')}?{urlencode(refused)}"}


@login_required
def outage_list(request):
    window = RangeForm(request.GET, default=ALL, allow_all=True)
    context = {"picker": picker(window, request.GET), "outages": [], "runs": []}
    if not window.is_valid():
        return render(request, "execution/outages.html", context, status=400)
    span = window.window
    context["outages"] = list(selectors.lean_outage_list_counted(since=span.since, until=span.until)[:200])
    runs = span.filter(selectors.reconciliation_run_list(), "started_at")
    context["runs"], context["runs_total"] = list(runs[:20]), runs.count()
    context["range_query"] = request.GET.urlencode()
    return render(request, "execution/outages.html", context)


@login_required
def reconciliation_run_list(request):
    """Every reconciliation run in the range, newest first, 50 to a page."""
    window = RangeForm(request.GET, default=ALL, allow_all=True)
    context = {"picker": picker(window, request.GET), "runs": [], "pager": None}
    if not window.is_valid():
        return render(request, "execution/reconciliation_runs.html", context, status=400)
    runs = window.window.filter(selectors.reconciliation_run_list(), "started_at")
    context["runs"], context["pager"] = paginate(request.GET, runs, per_page=50)
    return render(request, "execution/reconciliation_runs.html", context)


OUTAGE_ORDERS = 500


@login_required
def outage_detail(request, outage_id: int):
    outage = get_object_or_404(selectors.lean_outage_list(), pk=outage_id)
    now = timezone.now()
    affected = selectors.outage_affected(outage, now=now)
    rows = list(affected[:OUTAGE_ORDERS])
    for row in rows:
        row.how = selectors.how_affected(row)
    total = len(rows) if len(rows) < OUTAGE_ORDERS else affected.count()
    return render(request, "execution/outage_detail.html", {
        "outage": outage, "rows": rows, "total": total, "lead": selectors.OUTAGE_LEAD,
        "lasted": figures.duration_text(((outage.ended_at or now) - outage.started_at).total_seconds())})


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
