"""Reads of the execution app. Aggregates are computed in PostgreSQL, never row by row in Python."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, DateTimeField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.utils import timezone

from autonomy.models import LlmDecisionReview
from autonomy.selectors import llm_review_list
from execution.choices import Adapter, refusal_status
from execution.models import (
    Execution,
    Fill,
    LeanOutage,
    OrderRefusal,
    ReconciliationDiscrepancy,
    ReconciliationRun,
    TradeDecision,
)

BUCKETS = {"hour", "day"}


def execution_list() -> QuerySet[Execution]:
    return Execution.objects.order_by("-id")


def lean_outage_list(*, since: datetime | None = None, until: datetime | None = None) -> QuerySet[LeanOutage]:
    """The LEAN outages, newest first; with ``since``/``until``, those that overlap the range."""
    qs = LeanOutage.objects.order_by("-id")
    if since is not None:
        qs = qs.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=since))
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    return qs


def reconciliation_run_list() -> QuerySet[ReconciliationRun]:
    return ReconciliationRun.objects.order_by("-id")


def reconciliation_latest() -> ReconciliationRun | None:
    """The newest reconciliation run (finished or not)."""
    return reconciliation_run_list().first()


def lean_circuit_status() -> dict[str, Any]:
    """The LEAN circuit breaker now: the open outage (None when closed), the failures in a row and the last
    failure. Two single-row reads."""
    from execution.models import LeanCircuit

    outage = LeanOutage.objects.filter(ended_at__isnull=True).first()
    row = LeanCircuit.objects.filter(id=1).first()
    return {"open": outage is not None, "outage": outage,
            "consecutive_failures": row.consecutive_failures if row else 0,
            "last_failure_reason": row.last_failure_reason if row else "",
            "last_failure_at": row.last_failure_at if row else None}


def reconciliation_discrepancies(*, run: ReconciliationRun) -> QuerySet[ReconciliationDiscrepancy]:
    return run.discrepancies.order_by("id")


def order_refusal_list() -> QuerySet[OrderRefusal]:
    return OrderRefusal.objects.order_by("-id")


def refusal_code_counts(queryset: QuerySet[OrderRefusal]) -> list[dict[str, Any]]:
    """Refusals per code in ``queryset`` (one GROUP BY), most frequent first, with the status answered."""
    rows = queryset.order_by().values("code").annotate(n=Count("id")).order_by("-n", "code")
    return [{"code": r["code"], "count": r["n"], "status": refusal_status(r["code"])} for r in rows]


# --- Drill-down: one order, one outage -------------------------------------------------------------

#: How long before an outage opened an order it affected may have been created: the order whose LEAN
#: failure opened the outage was created before it and routed (``submitted_at``) after.
OUTAGE_LEAD = timedelta(minutes=5)


def _affected(queryset: QuerySet[Execution], start, end) -> QuerySet[Execution]:
    """``queryset`` narrowed to the orders an outage from ``start`` to ``end`` affected (values, or
    ``OuterRef`` expressions for a count per outage)."""
    return (queryset.filter(created_at__gte=start - OUTAGE_LEAD, created_at__lte=end, legacy=False)
            .alias(routed_at=Coalesce("submitted_at", "created_at"))
            .filter(routed_at__gte=start, routed_at__lte=end)
            .alias(policy=KT("raw_order___execution_route_policy"))
            .filter(Q(execution_fallback_count__gt=0)
                    | (Q(execution_expected_adapter=Adapter.LEAN) & ~Q(last_error=""))
                    | Q(policy="lean_lane_disabled")))


def outage_affected(outage: LeanOutage, *, now: datetime | None = None) -> QuerySet[Execution]:
    """The orders a LEAN outage affected: routed (or, unrouted, created) inside its window, and sent away from
    LEAN by it — fell back to Alpaca, lost to a LEAN failure (held ``pending`` or rejected), or routed to
    Alpaca because the LEAN lane was disabled. Oldest first. The one definition the outage page, the outages
    list and the execution page share."""
    end = outage.ended_at or now or timezone.now()
    return _affected(Execution.objects.all(), outage.started_at, end).select_related("strategy").order_by(
        "created_at", "id")


def how_affected(execution: Execution) -> str:
    """One line: what the outage did to this order (for the outage page's list)."""
    if execution.execution_fallback_count:
        return f"fell back to {execution.execution_actual_adapter}: {execution.execution_fallback_reason}"
    raw = execution.raw_order if isinstance(execution.raw_order, dict) else {}
    if raw.get("_execution_route_policy") == "lean_lane_disabled":
        return "sent to Alpaca: the LEAN lane was disabled"
    lean = next((a for a in _attempts(raw.get("_execution_route_attempts")) if a.adapter == Adapter.LEAN), None)
    why = lean.reason if lean is not None and lean.reason else execution.last_error
    later = f" (now: {execution.last_error})" if execution.last_error and execution.last_error != why else ""
    return f"{execution.status} at LEAN: {why}{later}"


def outage_of_execution(execution: Execution) -> LeanOutage | None:
    """The LEAN outage this order fell in (it is among :func:`outage_affected`), if any."""
    at = execution.submitted_at or execution.created_at
    for outage in LeanOutage.objects.filter(Q(ended_at__isnull=True) | Q(ended_at__gte=at),
                                            started_at__lte=at).order_by("-started_at")[:3]:
        if outage_affected(outage).filter(pk=execution.pk).exists():
            return outage
    return None


@dataclass(frozen=True)
class RouteAttempt:
    adapter: str
    ok: bool
    reason: str
    detail: str
    ambiguous: bool
    recovered_by_lookup: bool
    refused: bool
    broker_code: str
    elapsed_ms: float | None
    started_ms: float | None  # after the route began (the attempts run one after the other)


@dataclass(frozen=True)
class ExecutionDetail:
    """Everything stored about one order, for its page."""

    execution: Execution
    decision: TradeDecision | None
    admission: dict[str, Any] | None  # the checks it passed, as stored at admission (None: not recorded)
    policy_reason: str
    attempts: list[RouteAttempt]
    broker_answer: dict[str, Any]  # the broker's order as it answered (raw_order without the route keys)
    fills: list[Fill]
    discrepancies: list[ReconciliationDiscrepancy]
    llm_reviews: list[LlmDecisionReview]
    refusals: list[OrderRefusal]
    outage: LeanOutage | None


def execution_by_client_order_id(client_order_id: str) -> Execution | None:
    return Execution.objects.filter(client_order_id=client_order_id).first()


def _attempts(raw: list[Any]) -> list[RouteAttempt]:
    out, clock = [], 0.0
    for a in raw if isinstance(raw, list) else []:
        if not isinstance(a, dict):
            continue
        elapsed = a.get("elapsed_ms")
        elapsed = float(elapsed) if isinstance(elapsed, int | float) else None
        out.append(RouteAttempt(
            adapter=str(a.get("adapter", "")), ok=bool(a.get("ok")), reason=str(a.get("reason") or ""),
            detail=str(a.get("detail") or ""), ambiguous=bool(a.get("ambiguous")),
            recovered_by_lookup=bool(a.get("recovered_by_lookup")), refused=bool(a.get("refused")),
            broker_code=str(a.get("broker_code") or ""), elapsed_ms=elapsed,
            started_ms=None if clock is None else round(clock, 2)))
        clock = None if clock is None or elapsed is None else clock + elapsed
    return out


def execution_detail(execution: Execution) -> ExecutionDetail:
    """The order's decision, admission checks, route attempts, broker answer, fills, reconciliation history,
    LLM reviews, refusals of the same client_order_id and the outage it fell in. A fixed number of queries."""
    raw = execution.raw_order if isinstance(execution.raw_order, dict) else {}
    decision = execution.trade_decision
    admission = (decision.decision_json or {}).get("admission") if decision is not None else None
    cid = execution.client_order_id
    return ExecutionDetail(
        execution=execution, decision=decision, admission=admission if isinstance(admission, dict) else None,
        policy_reason=str(raw.get("_execution_route_policy") or ""),
        attempts=_attempts(raw.get("_execution_route_attempts")),
        broker_answer={k: v for k, v in raw.items() if not k.startswith("_execution_")},
        fills=list(execution.fills.order_by("filled_at", "id")),
        discrepancies=list(ReconciliationDiscrepancy.objects.filter(Q(execution=execution) | Q(client_order_id=cid))
                           .select_related("run").order_by("id")),
        llm_reviews=list(llm_review_list().filter(client_order_id=cid).order_by("id")),
        refusals=list(OrderRefusal.objects.filter(client_order_id=cid).order_by("id")),
        outage=outage_of_execution(execution),
    )


def lean_outage_list_counted(*, now: datetime | None = None, since: datetime | None = None,
                             until: datetime | None = None) -> QuerySet[LeanOutage]:
    """Outages, newest first (those overlapping ``since``/``until`` when given), each annotated with
    ``affected``: how many orders it affected (one subquery)."""
    end = Coalesce(OuterRef("ended_at"), Value(now or timezone.now()), output_field=DateTimeField())
    count = (_affected(Execution.objects.all(), OuterRef("started_at"), end).order_by().values("legacy")
             .annotate(n=Count("id")).values("n"))
    return lean_outage_list(since=since, until=until).annotate(affected=Coalesce(Subquery(count), 0))


def _rows(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Requests are routed non-legacy executions: every status but ``pending_submit`` (an order
# whose brokers have not answered yet; legacy rows predate routing and are counted by
# provenance_report). A fallback is a row with execution_fallback_count > 0. Both read the
# trigger-maintained hourly rollup (see ExecutionRouteHourly); RAW_FALLBACK_SQL is the same
# aggregate straight from executions (used by tests to prove they agree, and by the benchmark).
_FALLBACK_BY_BUCKET_REASON = """
SELECT date_trunc(%s, bucket) AS b, reason, sum(requests)::bigint, sum(fallbacks)::bigint
FROM execution_route_hourly
WHERE bucket >= date_bin('1 hour', %s::timestamptz, '2000-01-01 00:00:00+00') AND bucket < %s
GROUP BY 1, 2
HAVING sum(requests) > 0
ORDER BY 1
"""

RAW_FALLBACK_SQL = """
SELECT date_trunc(%s, created_at) AS b, execution_fallback_reason, count(*),
       count(*) FILTER (WHERE execution_fallback_count > 0)
FROM executions
WHERE created_at >= date_bin('1 hour', %s::timestamptz, '2000-01-01 00:00:00+00') AND created_at < %s
  AND NOT legacy AND status <> 'pending_submit'
GROUP BY 1, 2
ORDER BY 1
"""


def fallback_buckets(*, bucket: str, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """One element per bucket: requests, fallbacks, fallback_rate, by_reason (fallbacks per reason). One query.

    Buckets are whole hours/days: ``since`` selects the buckets from the hour containing it.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {sorted(BUCKETS)}")
    until = until or timezone.now() + timedelta(seconds=1)
    return _fold(_rows(_FALLBACK_BY_BUCKET_REASON, [bucket, since, until]))


def _fold(rows: list[tuple]) -> list[dict[str, Any]]:
    out: dict[datetime, dict[str, Any]] = {}
    for bucket, reason, requests, fallbacks in rows:
        item = out.setdefault(bucket, {"bucket": bucket, "requests": 0, "fallbacks": 0, "by_reason": {}})
        item["requests"] += requests
        item["fallbacks"] += fallbacks
        if fallbacks:
            item["by_reason"][reason] = item["by_reason"].get(reason, 0) + fallbacks
    for item in out.values():
        item["fallback_rate"] = round(item["fallbacks"] / item["requests"], 6) if item["requests"] else 0.0
    return list(out.values())


def route_stats(*, bucket: str, since: datetime) -> list[dict[str, Any]]:
    """The ``/trading/route-stats`` payload (bare list, oldest bucket first)."""
    return fallback_buckets(bucket=bucket, since=since)


def fallback_day_pair(*, today: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """(today, yesterday) as route-stats day buckets (``requests``, ``fallbacks``, ``fallback_rate``,
    ``by_reason``), ``today`` being the start of the UTC day; a day without routed orders is all zeros."""
    yesterday = today - timedelta(days=1)
    days = {b["bucket"]: b for b in fallback_buckets(bucket="day", since=yesterday)}
    empty = {"requests": 0, "fallbacks": 0, "fallback_rate": 0.0, "by_reason": {}}
    return ({"bucket": today, **empty, **days.get(today, {})},
            {"bucket": yesterday, **empty, **days.get(yesterday, {})})


@dataclass(frozen=True)
class FallbackDashboard:
    hourly: list[dict[str, Any]]
    daily: list[dict[str, Any]]


def _until(until: datetime | None) -> datetime:
    return until or timezone.now() + timedelta(seconds=1)


def fallback_dashboard(*, since: datetime, until: datetime | None = None) -> FallbackDashboard:
    """Hourly and daily fallback rates split by reason from ONE hourly SQL aggregate (days are rolled up)."""
    hourly_rows = _rows(_FALLBACK_BY_BUCKET_REASON, ["hour", since, _until(until)])
    day_rows: dict[tuple, list[int]] = {}
    for bucket, reason, requests, fallbacks in hourly_rows:
        key = (bucket.replace(hour=0), reason)
        acc = day_rows.setdefault(key, [0, 0])
        acc[0] += requests
        acc[1] += fallbacks
    daily = _fold(sorted((day, reason, r, f) for (day, reason), (r, f) in day_rows.items()))
    return FallbackDashboard(hourly=_fold(hourly_rows), daily=daily)


def outage_timeline(*, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Outages that overlap ``[since, until)``, oldest first, each with how many orders it affected."""
    return list(lean_outage_list_counted().filter(Q(ended_at__isnull=True) | Q(ended_at__gte=since),
                                                  started_at__lt=_until(until))
                .order_by("started_at").values("id", "started_at", "ended_at", "reason", "failures", "affected"))


_CONCENTRATION = """
SELECT execution_actual_adapter, symbol, sum(filled_qty * avg_fill_price) AS notional
FROM executions
WHERE created_at >= %s AND created_at < %s AND NOT legacy AND filled_qty > 0 AND avg_fill_price IS NOT NULL
GROUP BY 1, 2
ORDER BY 3 DESC
"""


def route_concentration(*, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Filled notional by (actual adapter, symbol) with its share of the total."""
    rows = _rows(_CONCENTRATION, [since, _until(until)])
    total = sum(r[2] for r in rows) or 1
    return [{"adapter": a, "symbol": s, "notional": n, "share": float(n / total)} for a, s, n in rows]


_SLIPPAGE = """
WITH s AS (
  SELECT f.adapter,
         (f.price - d.decision_price) / d.decision_price * 10000
           * CASE WHEN e.side = 'buy' THEN 1 ELSE -1 END AS bps,
         f.qty
  FROM execution_fills f
  JOIN executions e ON e.id = f.execution_id
  JOIN trade_decisions d ON d.id = e.trade_decision_id
  WHERE f.filled_at >= %s AND f.filled_at < %s AND d.decision_price > 0
)
SELECT adapter, round(bps, 1) AS bps, count(*), sum(qty)
FROM s GROUP BY 1, 2 ORDER BY 1, 2
"""


def fill_slippage(*, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Slippage of fills against decision prices (bps, positive = worse), grouped to 0.1 bps per adapter."""
    return [{"adapter": a, "bps": float(b), "fills": c, "qty": q}
            for a, b, c, q in _rows(_SLIPPAGE, [since, _until(until)])]


_PROVENANCE = """
SELECT date_trunc('day', created_at)::date AS day, count(*) AS total,
       count(*) FILTER (WHERE execution_expected_adapter IS NULL) AS null_expected,
       count(*) FILTER (WHERE execution_actual_adapter IS NULL) AS null_actual,
       count(*) FILTER (WHERE execution_expected_adapter = 'unknown') AS unknown_expected,
       count(*) FILTER (WHERE execution_actual_adapter = 'unknown') AS unknown_actual,
       count(*) FILTER (WHERE legacy) AS legacy
FROM executions
WHERE created_at >= %s
GROUP BY 1 ORDER BY 1
"""


def provenance_by_day(*, since: datetime) -> list[dict[str, Any]]:
    cols = ["day", "total", "null_expected", "null_actual", "unknown_expected", "unknown_actual", "legacy"]
    return [dict(zip(cols, row, strict=True)) for row in _rows(_PROVENANCE, [since])]


_COUNTERS = """
SELECT expected_adapter, actual_adapter, reason, sum(requests)::bigint, sum(fallbacks)::bigint
FROM execution_route_hourly
GROUP BY 1, 2, 3
HAVING sum(requests) > 0
"""


def route_counters() -> list[tuple[str, str, str, int, int]]:
    """(expected, actual, reason, requests, fallbacks) over every routed order: the Prometheus counters."""
    return _rows(_COUNTERS, [])


def canary_notional_today(*, strategy_id: int) -> Decimal:
    """What a strategy at canary has committed today (UTC): qty x (limit or decision price) of every
    order it placed at canary that a broker did not refuse."""
    rows = _rows(
        "SELECT coalesce(sum(e.submitted_qty * coalesce(e.limit_price, d.decision_price)), 0) FROM executions e "
        "LEFT JOIN trade_decisions d ON d.id = e.trade_decision_id WHERE e.strategy_id = %s "
        "AND e.strategy_stage = 'canary' AND e.status <> 'rejected' AND e.created_at >= date_trunc('day', %s)",
        [strategy_id, timezone.now()])
    return Decimal(rows[0][0])


def symbol_notional_today(*, symbol: str) -> Decimal:
    """What every strategy has committed in ``symbol`` today (UTC): qty x (limit or decision price) of every
    order a broker did not refuse (a symbol's canary cap per day)."""
    rows = _rows(
        "SELECT coalesce(sum(e.submitted_qty * coalesce(e.limit_price, d.decision_price)), 0) FROM executions e "
        "LEFT JOIN trade_decisions d ON d.id = e.trade_decision_id WHERE e.symbol = %s "
        "AND e.status <> 'rejected' AND e.created_at >= date_trunc('day', %s)",
        [symbol.upper(), timezone.now()])
    return Decimal(rows[0][0])


OPEN_STATUSES = ("pending_submit", "pending", "accepted", "partially_filled")


def open_qty(*, strategy_id: int, symbol: str, side: str) -> Decimal:
    """What the strategy's open orders on ``side`` of ``symbol`` may still fill (REDUCING never lets the
    orders in flight flip a position)."""
    rows = _rows(
        "SELECT coalesce(sum(submitted_qty - filled_qty), 0) FROM executions WHERE strategy_id = %s "
        "AND symbol = %s AND side = %s AND status = ANY(%s) AND NOT legacy",
        [strategy_id, symbol.upper(), side, list(OPEN_STATUSES)])
    return Decimal(rows[0][0])


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def stage_evidence(*, strategy_id: int, now: datetime, stage: str, since: datetime | None = None) -> dict[str, Any]:
    """What the gates read of a strategy's orders at ``stage`` (paper or canary): fills, the days they
    fell on, slippage against decision prices (bps, adverse positive), the fallback ratio, and whether
    every row records both routes. Plain JSON data (stored with the evaluation). ``since``: only orders
    created from then on (the autonomous lane reads a stage's evidence since the strategy reached it)."""
    fills, days, slippage, orders, fallbacks, incomplete = _rows(
        "SELECT count(*) FILTER (WHERE e.filled_qty > 0), count(DISTINCT date(e.created_at)) FILTER "
        "(WHERE e.filled_qty > 0), avg(CASE WHEN e.side = 'buy' THEN (e.avg_fill_price - d.decision_price) "
        "ELSE (d.decision_price - e.avg_fill_price) END / d.decision_price * 10000) FILTER (WHERE e.filled_qty > 0 "
        "AND d.decision_price > 0), count(*), count(*) FILTER (WHERE e.execution_fallback_count > 0), "
        "count(*) FILTER (WHERE e.execution_expected_adapter IS NULL OR e.execution_actual_adapter IS NULL "
        "OR 'unknown' IN (e.execution_expected_adapter, e.execution_actual_adapter)) FROM executions e "
        "LEFT JOIN trade_decisions d ON d.id = e.trade_decision_id "
        "WHERE e.strategy_id = %s AND e.strategy_stage = %s AND e.created_at <= %s AND e.created_at >= %s",
        [strategy_id, stage, now, since or _EPOCH])[0]
    return {"fills": fills, "days": days, "orders": orders,
            "slippage_bps": None if slippage is None else f"{slippage:.2f}",
            "fallback_ratio": None if not orders else f"{fallbacks / orders:.4f}",
            "provenance_complete": bool(orders) and not incomplete}


def readiness_fills(*, window_start: datetime, now: datetime) -> dict[str, Any]:
    """Fills of the window (rows with a filled quantity, by creation time) and those whose expected or
    actual adapter is missing or ``unknown``: the plan's "zero adapter nulls on new fills"."""
    fills, without, examples = _rows(
        "SELECT count(*), count(*) FILTER (WHERE execution_expected_adapter IS NULL OR execution_actual_adapter IS NULL"
        " OR 'unknown' IN (execution_expected_adapter, execution_actual_adapter)), (array_agg(client_order_id ORDER BY"
        " id DESC) FILTER (WHERE execution_expected_adapter IS NULL OR execution_actual_adapter IS NULL OR 'unknown' IN"
        " (execution_expected_adapter, execution_actual_adapter)))[1:3] FROM executions WHERE filled_qty > 0 AND"
        " created_at >= %s AND created_at <= %s", [window_start, now])[0]
    return {"since": window_start.replace(microsecond=0).isoformat().replace("+00:00", "Z"), "fills": fills,
            "without_route": without, "examples": list(examples or [])}
# --- Reconciliation of positions against the broker (alerts worker) ---------------------------

_IN_FLIGHT_BY_SYMBOL = """
SELECT symbol, sum(submitted_qty - filled_qty) FROM executions
WHERE NOT legacy AND status = ANY(%s) GROUP BY symbol
"""
_FILLS_NET_BY_SYMBOL = """
SELECT e.symbol, sum(CASE WHEN e.side = 'buy' THEN f.qty ELSE -f.qty END)
FROM execution_fills f JOIN executions e ON e.id = f.execution_id
WHERE f.adapter = %s AND e.strategy_id IS NOT NULL AND NOT e.legacy
GROUP BY e.symbol
"""


def in_flight_qty_by_symbol(*, statuses: list[str]) -> dict[str, Decimal]:
    """Remaining quantity of orders in these statuses, per symbol."""
    return {s: q for s, q in _rows(_IN_FLIGHT_BY_SYMBOL, [statuses])}


def fills_net_by_symbol(*, adapter: str) -> dict[str, Decimal]:
    """Net signed filled quantity per symbol of the strategies' orders one adapter took."""
    return {s: q for s, q in _rows(_FILLS_NET_BY_SYMBOL, [adapter])}


_SLIPPAGE_BY_SYMBOL = """
SELECT e.symbol,
       sum((f.price - d.decision_price) / d.decision_price * 10000
           * CASE WHEN e.side = 'buy' THEN 1 ELSE -1 END * f.qty) / nullif(sum(f.qty), 0),
       count(*)
FROM execution_fills f
JOIN executions e ON e.id = f.execution_id
JOIN trade_decisions d ON d.id = e.trade_decision_id
WHERE f.filled_at >= %s AND d.decision_price > 0 AND NOT e.legacy
GROUP BY e.symbol
"""


def slippage_by_symbol(*, since: datetime) -> dict[str, tuple[Decimal, int]]:
    """Per symbol: the quantity-weighted adverse slippage of its fills against their decision prices, in
    bps (positive = worse than decided), and how many fills, since ``since``."""
    return {s: (Decimal(b).quantize(Decimal("0.01")), n) for s, b, n in _rows(_SLIPPAGE_BY_SYMBOL, [since])
            if b is not None}
def order_for_llm_review(client_order_id: str) -> dict[str, Any] | None:
    """The stored order an LLM review names (autonomy may not import execution: execution registers
    this lookup with it in ``ExecutionConfig.ready``). Plain data; None when no row has that id."""
    row = (Execution.objects.filter(client_order_id=client_order_id)
           .values_list("id", "trade_decision_id", "strategy_id", "strategy__name", "strategy_stage", "symbol",
                        "side", "submitted_qty", "order_type", "limit_price").first())
    if row is None:
        return None
    keys = ("execution_id", "trade_decision_id", "strategy_id", "strategy", "stage", "symbol", "side", "qty",
            "order_type", "limit_price")
    return dict(zip(keys, row, strict=True))


def order_strategy_name(client_order_id: str) -> str | None:
    """The strategy of the order with this client order id ("" for a row without one, a legacy row);
    None when no order has it."""
    row = (Execution.objects.filter(client_order_id=client_order_id).values_list("strategy__name", flat=True)[:1])
    found = list(row)
    return None if not found else (found[0] or "")
