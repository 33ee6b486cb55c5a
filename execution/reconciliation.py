"""Reconciliation: compare open and recent orders with the brokers by client order id.

Safe to run twice at once (django-q2 delivers at least once, and the command can overlap the
schedule):

* work is claimed with a short lease (``reconcile_lease_until``) set by one
  ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)``: concurrent runs get
  disjoint rows, and no transaction stays open during broker calls;
* each row is handled under the same session advisory lock as order submission
  (``pg_try_advisory_lock``): a row that a router is submitting right now is skipped;
* fills are unique per (adapter, broker fill id) and inserted with ON CONFLICT DO NOTHING.

Safe to kill at any point (a worker killed, a host lost): a row's change and the discrepancy that
says why are written in one transaction, so what a run did is kept with its reason and the rest is
left as it was. Each run holds a session advisory lock (``reconcile-run:<id>``) while it runs; the
next run closes an unfinished run whose lock is free as interrupted and, when no other run is alive,
releases the leases it left, so its rows are taken at once instead of when their lease ends (a run
beside a live one leaves them to expire). Claims and that release exclude each other
(``reconcile:claims``, shared by claims).

Positions: after the orders, the strategies' summed position per symbol is compared with the broker's
(:func:`position_drift_check`): Alpaca's positions (``GET /v2/positions``) plus the LEAN-routed fills (the
LEAN runner reports no positions). Each position of the symbol records the broker's figure and the
drift nobody can explain (a difference larger than the orders still in flight); an unexplained drift
opens a critical alert (``position_drift:<SYMBOL>``), resolved once it is gone.

It never submits or re-submits an order. An ambiguous row (``pending``) that no broker knows
once both answer becomes ``rejected`` (``not_found_at_broker``); a row a broker does know is
brought in line (status, fills, actual adapter). A broker order unknown to the database is
flagged once (by the first run that sees it in the broker's order list), not on every run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from autonomy.conditions import DriftFacts
from autonomy.selectors import position_qty_by_symbol
from autonomy.services import positions_reconcile
from core import locks
from core.locks import once_per_period
from execution.adapters.base import AdapterError, BrokerAdapter, BrokerOrder
from execution.choices import Adapter, DiscrepancyKind, ExecutionStatus, status_from_broker
from execution.circuit import lean_probe
from execution.models import Execution, ReconciliationDiscrepancy, ReconciliationRun
from execution.selectors import fills_net_by_symbol, in_flight_qty_by_symbol
from execution.services import execution_apply_broker_state, order_release, order_try_lock
from execution.wiring import adapters

LEASE_SECONDS = 90
RUN_LOCK = "reconcile-run:{}"
CLAIMS_LOCK = "reconcile:claims"
GRACE_SECONDS = 30  # a pending_submit row younger than this may still be in flight
AMBIGUOUS = (ExecutionStatus.PENDING_SUBMIT, ExecutionStatus.PENDING)
OPEN = [ExecutionStatus.PENDING_SUBMIT, ExecutionStatus.PENDING, ExecutionStatus.ACCEPTED,
        ExecutionStatus.PARTIALLY_FILLED]

_CLAIM = """
UPDATE executions SET reconcile_lease_until = now() + make_interval(secs => %s)
WHERE id IN (
  SELECT id FROM executions
  WHERE NOT legacy
    AND (status = ANY(%s) OR created_at >= %s)
    AND (reconcile_lease_until IS NULL OR reconcile_lease_until < now())
  ORDER BY id
  LIMIT %s
  FOR UPDATE SKIP LOCKED)
RETURNING id
"""


@dataclass
class _Tally:
    checked: int = 0
    updated: int = 0
    discrepancies: list[ReconciliationDiscrepancy] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _claim(*, since, limit: int) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        locks.xact_lock_shared(CLAIMS_LOCK)
        cursor.execute(_CLAIM, [LEASE_SECONDS, OPEN, since, limit])
        return sorted(r[0] for r in cursor.fetchall())


def _lock_free(key: str) -> bool:
    """True when no session holds the lock ``key`` (taken and given back at once)."""
    if not locks.try_session_lock(key):
        return False
    locks.session_unlock(key)
    return True


def _run_start(trigger: str) -> ReconciliationRun:
    """Create the run and hold its lock; close the runs a killed process left unfinished."""
    with transaction.atomic():
        run = ReconciliationRun.objects.create(trigger=trigger)
        # taken before the row is visible: an unfinished run whose lock is free is a dead one
        locks.session_lock(RUN_LOCK.format(run.pk))
    with transaction.atomic():
        locks.xact_lock(CLAIMS_LOCK)  # no claim in between: a live run's fresh leases are never released
        others = list(ReconciliationRun.objects.filter(finished_at__isnull=True).exclude(pk=run.pk)
                      .values_list("pk", flat=True))
        dead = [pk for pk in others if _lock_free(RUN_LOCK.format(pk))]
        for pk in dead:  # closed with what it recorded before it stopped
            ReconciliationRun.objects.filter(pk=pk, finished_at__isnull=True).update(
                finished_at=timezone.now(), interrupted=True,
                discrepancy_count=ReconciliationDiscrepancy.objects.filter(run_id=pk).count(),
                errors=[f"interrupted: its process stopped before the run finished; run {run.pk} took over"])
        if dead and len(dead) == len(others):  # nobody else is running: every lease left is a dead run's
            Execution.objects.filter(reconcile_lease_until__isnull=False).update(reconcile_lease_until=None)
    return run


def _run_release(run: ReconciliationRun) -> None:
    try:
        locks.session_unlock(RUN_LOCK.format(run.pk))
    except DatabaseError:  # a broken session: closing it ends the lock too
        connection.close()


def _flag(tally: _Tally, run: ReconciliationRun, kind: str, *, execution: Execution | None = None,
          adapter: str = "", client_order_id: str = "", broker_order_id: str = "",
          details: dict[str, Any] | None = None) -> None:
    """Record a discrepancy at once (inside the transaction of the change it explains, when there is one)."""
    tally.discrepancies.append(ReconciliationDiscrepancy.objects.create(
        run=run, execution=execution, kind=kind, adapter=adapter,
        client_order_id=client_order_id or (execution.client_order_id if execution else ""),
        broker_order_id=broker_order_id or "", details=details or {}))


def _look_up(adapter: BrokerAdapter, client_order_id: str) -> tuple[BrokerOrder | None, str]:
    try:
        return adapter.get_by_client_order_id(client_order_id), ""
    except AdapterError as exc:
        return None, exc.reason


def _bring_in_line(execution: Execution, name: str, order: BrokerOrder, run: ReconciliationRun,
                   tally: _Tally) -> None:
    before = (execution.status, execution.filled_qty, execution.execution_actual_adapter)
    changed = execution_apply_broker_state(execution=execution, adapter=name, order=order,
                                           status=status_from_broker(order.status))
    if not changed:
        return
    tally.updated += 1
    details = {"before": {"status": before[0], "filled_qty": str(before[1]), "adapter": before[2]},
               "after": {"status": execution.status, "filled_qty": str(execution.filled_qty),
                         "adapter": execution.execution_actual_adapter}}
    if before[0] in AMBIGUOUS:
        kind = DiscrepancyKind.FOUND_AT_BROKER
    elif "execution_actual_adapter" in changed:
        kind = DiscrepancyKind.ROUTE_CHANGED
    elif "status" in changed:
        kind = DiscrepancyKind.STATUS_CHANGED
    else:
        kind = DiscrepancyKind.FILL_CHANGED
    _flag(tally, run, kind, execution=execution, adapter=name, broker_order_id=order.broker_order_id,
          details=details)


def _reconcile_one(execution: Execution, brokers: dict[str, BrokerAdapter], run: ReconciliationRun,
                   tally: _Tally) -> None:
    recorded = execution.execution_actual_adapter
    names = [recorded] if recorded in brokers else []
    if execution.status in AMBIGUOUS:
        names += [n for n in (Adapter.LEAN, Adapter.ALPACA) if n not in names]
    unreachable: list[str] = []
    for name in names:
        order, error = _look_up(brokers[name], execution.client_order_id)
        if error:
            unreachable.append(error)
            continue
        if order is None:
            continue
        with transaction.atomic():  # the change and the discrepancy saying why: both or neither
            _bring_in_line(execution, name, order, run, tally)
        return
    if unreachable:
        _flag(tally, run, DiscrepancyKind.BROKER_UNREACHABLE, execution=execution, details={"errors": unreachable})
        return
    # Every broker asked answered "no such order".
    age = (timezone.now() - execution.created_at).total_seconds()
    if execution.status == ExecutionStatus.PENDING or (
            execution.status == ExecutionStatus.PENDING_SUBMIT and age >= GRACE_SECONDS):
        before = execution.status
        with transaction.atomic():
            Execution.objects.filter(pk=execution.pk, status=before).update(
                status=ExecutionStatus.REJECTED, last_error="not_found_at_broker", last_update_at=timezone.now())
            tally.updated += 1
            _flag(tally, run, DiscrepancyKind.NOT_FOUND_AT_BROKER, execution=execution,
                  details={"before": before, "after": ExecutionStatus.REJECTED, "asked": names})
    elif execution.status not in AMBIGUOUS and execution.status != ExecutionStatus.REJECTED:
        _flag(tally, run, DiscrepancyKind.NOT_FOUND_AT_BROKER, execution=execution,
              details={"status": execution.status, "asked": names})


def _unknown_broker_orders(brokers: dict[str, BrokerAdapter], run: ReconciliationRun, tally: _Tally, *,
                           since: datetime) -> None:
    for name, adapter in brokers.items():
        try:
            orders = adapter.list_orders("all", after=since)
        except AdapterError as exc:
            tally.errors.append(f"{name} list_orders: {exc.reason}")
            continue
        ids = {o.client_order_id for o in orders}
        known = set(Execution.objects.filter(client_order_id__in=ids).values_list("client_order_id", flat=True))
        # flagged once: a stranger order stays on the broker's list, and re-flagging it every
        # minute would bury new discrepancies under old ones
        flagged = set(ReconciliationDiscrepancy.objects.filter(
            kind=DiscrepancyKind.UNKNOWN_BROKER_ORDER, adapter=name,
            broker_order_id__in=[o.broker_order_id for o in orders if o.client_order_id not in known],
        ).values_list("broker_order_id", flat=True))
        for order in orders:
            if order.client_order_id not in known and order.broker_order_id not in flagged:
                _flag(tally, run, DiscrepancyKind.UNKNOWN_BROKER_ORDER, adapter=name,
                      client_order_id=order.client_order_id, broker_order_id=order.broker_order_id,
                      details={"status": order.status, "symbol": order.raw.get("symbol")})


def reconcile_run(*, trigger: str = "manual", lookback_hours: int | None = None, batch_size: int = 200,
                  max_rows: int = 5000, time_budget_seconds: float = 60.0,
                  brokers: dict[str, BrokerAdapter] | None = None) -> ReconciliationRun:
    """One reconciliation pass; records a :class:`ReconciliationRun` with its discrepancies."""
    started = time.monotonic()
    run = _run_start(trigger)
    try:
        return _run(run, started=started, lookback_hours=lookback_hours, batch_size=batch_size, max_rows=max_rows,
                    time_budget_seconds=time_budget_seconds, brokers=brokers)
    finally:
        _run_release(run)


def _run(run: ReconciliationRun, *, started: float, lookback_hours: int | None, batch_size: int, max_rows: int,
         time_budget_seconds: float, brokers: dict[str, BrokerAdapter] | None) -> ReconciliationRun:
    if brokers is None:
        lean, alpaca = adapters()
        brokers = {Adapter.LEAN: lean, Adapter.ALPACA: alpaca}
    tally = _Tally()
    lean_probe(brokers[Adapter.LEAN])
    hours = settings.TRADING_RECONCILE_LOOKBACK_HOURS if lookback_hours is None else lookback_hours
    since = timezone.now() - timedelta(hours=hours)
    while tally.checked < max_rows and time.monotonic() - started < time_budget_seconds:
        ids = _claim(since=since, limit=batch_size)
        if not ids:
            break
        for execution in Execution.objects.filter(id__in=ids).order_by("id"):
            if not order_try_lock(execution.client_order_id):
                continue  # being submitted right now
            try:
                execution.refresh_from_db()
                tally.checked += 1
                _reconcile_one(execution, brokers, run, tally)
            finally:
                order_release(execution.client_order_id)
    _unknown_broker_orders(brokers, run, tally, since=since)
    run.drift = position_drift_check(brokers[Adapter.ALPACA], errors=tally.errors)
    run.checked, run.updated = tally.checked, tally.updated
    run.discrepancy_count = len(tally.discrepancies)
    run.errors = tally.errors
    run.finished_at = timezone.now()
    run.save()
    return run


SCHEDULED_RUN_LOCK = "reconcile:schedule"


def reconcile_scheduled(*, now: datetime | None = None) -> ReconciliationRun | None:
    """The schedule's reconciliation: one finished run per ``TRADING_RECONCILE_INTERVAL_MINUTES`` period,
    however many clusters fire the schedule or however often the task is delivered. None when this
    period's run is running elsewhere or already finished (a run killed half-way does not count: the
    next delivery runs it again). An operator's ``manage.py reconcile`` is not limited."""
    def finished_in(start: datetime, end: datetime) -> bool:
        return ReconciliationRun.objects.filter(trigger="schedule", started_at__gte=start, started_at__lt=end,
                                                finished_at__isnull=False, interrupted=False).exists()

    return once_per_period(SCHEDULED_RUN_LOCK, minutes=settings.TRADING_RECONCILE_INTERVAL_MINUTES,
                           finished_in=finished_in, now=now,
                           run=lambda: reconcile_run(trigger="schedule", time_budget_seconds=60.0))


def _broker_positions(alpaca: BrokerAdapter) -> dict[str, Decimal]:
    """Alpaca's signed position per symbol (a short is negative, whichever way the answer says it)."""
    out: dict[str, Decimal] = {}
    for p in alpaca.positions():
        qty = Decimal(str(p["qty"]))
        if str(p.get("side", "")).lower().endswith("short") and qty > 0:
            qty = -qty
        out[str(p["symbol"]).upper()] = out.get(str(p["symbol"]).upper(), Decimal(0)) + qty
    return out


def position_drift_check(alpaca: BrokerAdapter, *, errors: list[str] | None = None) -> dict | None:
    """Compare positions with the broker and record the drift (see the module's docstring). None when
    Alpaca's positions could not be read (the error is added to ``errors``)."""
    try:
        broker = _broker_positions(alpaca)
    except AdapterError as exc:
        if errors is not None:
            errors.append(f"alpaca positions: {exc.reason}")
        return None
    ours = position_qty_by_symbol()
    lean = fills_net_by_symbol(adapter=Adapter.LEAN)
    in_flight = in_flight_qty_by_symbol(statuses=OPEN)
    zero = Decimal(0)
    facts = [DriftFacts(symbol=s, ours=ours.get(s, zero), broker=broker.get(s, zero) + lean.get(s, zero),
                        in_flight=in_flight.get(s, zero))
             for s in sorted(set(ours) | set(broker) | set(lean))]
    verdicts = positions_reconcile(facts=facts)
    return {"symbols": len(facts), "unexplained": [v.symbol for v in verdicts if not v.explained]}
