"""Writes of the execution app: order submission through the router, fills, refusals.

Idempotency of ``order_submit`` (one broker order per client_order_id, ever):

1. a PostgreSQL *session* advisory lock keyed by the client_order_id is taken (no
   transaction stays open while it is held) together with the look-up of a stored row; a
   concurrent submitter of the same id waits for the lock;
2. a stored row is returned as it is (200);
3. otherwise the row is inserted, status ``pending_submit``, in its own committed statement
   (``INSERT ... ON CONFLICT (client_order_id) DO NOTHING``: the UNIQUE constraint is the
   final guard) — a crash after this point leaves a row that reconciliation resolves by
   client order id;
4. the router calls the brokers (no transaction open), and the outcome is written in one
   statement (row update + fill);
5. the lock is released; a waiter looks again, finds the final row and returns it (200).

When the database goes away (see ``core.db``):

* before the brokers are called, the error propagates: the API answers 503, no broker has the
  order, and a retry with the same client_order_id returns the stored row (if the insert was
  committed, reconciliation later rejects it as ``not_found_at_broker``) or places it;
* after a broker took the order, the outcome must not be lost: the write is tried once more on
  a fresh connection under the lock taken again (the lock died with the old session); if that
  fails too, :class:`DatabaseUnavailable` (503) is raised and the row stays ``pending_submit``
  until reconciliation finds the order at the broker by client_order_id;
* the advisory lock never outlives the request on a persistent connection: when it cannot be
  released, the connection is closed, which ends the session and every lock it holds.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from access.choices import Via
from access.services import audit_record
from autonomy.selectors import (
    ADMISSION_SNAPSHOT_SQL,
    LLM_VERDICT_COLUMNS,
    LLM_VERDICT_SQL,
    AdmissionSnapshot,
    admission_snapshot_from_row,
    admission_snapshot_params,
    llm_verdict_from_row,
)
from autonomy.services import (
    ADMISSION_GUARD_CTES,
    BUDGETS_CONSUME_SQL,
    POSITION_GROW_GUARD,
    POSITION_LOCK_SQL,
    admission_guard_failed,
    admission_guard_params,
    budget_breach_record,
    budget_use,
    budgets_consume_params,
    position_fill_apply,
    position_grow_ctes,
    position_grow_params,
    position_lock_params,
    position_lock_sql,
    position_needs_lock,
)
from core import latency, locks
from core.db import is_database_unavailable
from core.errors import ApplicationError, Blocked, Conflict, DatabaseUnavailable, NotFound, PolicyRefused
from execution.adapters.base import AdapterError, BrokerAdapter, BrokerOrder, OrderRequest
from execution.choices import Adapter, ExecutionStatus, status_from_broker
from execution.circuit import CIRCUIT_STATE_COLUMNS, PersistedLeanGate
from execution.controls import order_admission, order_admission_unlocked
from execution.models import Execution, OrderRefusal, TradeDecision
from execution.routing import OrderRouter, RouteOutcome, expected_adapter
from execution.wiring import adapters, route_policy

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderInput:
    client_order_id: str
    strategy: str
    symbol: str
    side: str
    qty: Decimal
    order_type: str = "market"
    time_in_force: str = "day"
    limit_price: Decimal | None = None
    decision_price: Decimal | None = None
    correlation_id: str = ""


@dataclass(frozen=True)
class SubmitResult:
    execution: Execution
    created: bool
    outcome: RouteOutcome | None = None


def order_lock_key(client_order_id: str) -> str:
    """The advisory-lock key every writer of one order (submission, reconciliation) takes."""
    return f"order:{client_order_id}"


def order_try_lock(client_order_id: str) -> bool:
    return locks.try_session_lock(order_lock_key(client_order_id))


def order_unlock(client_order_id: str) -> None:
    locks.session_unlock(order_lock_key(client_order_id))


def order_release(client_order_id: str) -> None:
    """Release the order's advisory lock, whatever state the connection is in.

    A session lock is held until it is released or the session ends; on a persistent connection
    a lock left behind would make every later submitter of this client_order_id wait forever.
    When the release itself fails (the connection is broken, or its transaction aborted), the
    connection is closed: that ends the session and every lock it held. Never raises a database
    error (it runs in ``finally`` blocks and must not hide the error being raised).
    """
    try:
        order_unlock(client_order_id)
    except DatabaseError:
        connection.close()


def order_refusal_record(*, data: OrderInput, code: str, message: str, actor: str) -> None:
    OrderRefusal.objects.create(client_order_id=data.client_order_id, strategy_name=data.strategy,
                                symbol=data.symbol, code=code, message=message, actor=actor)


_LOOK_UP = "(SELECT id FROM executions WHERE client_order_id = %(cid)s)"
# One round trip for a new order: its advisory lock, the look-up of a stored row, the LEAN breaker's state, its
# LLM review and the controls as they are now (read without a lock: see execution.controls).
_LOCK_LOOK_UP_AND_READ = f"""
SELECT pg_try_advisory_lock({locks.KEY_SQL.replace("%s", "%(lock_key)s")}), {_LOOK_UP}, {CIRCUIT_STATE_COLUMNS},
  llm.*, snap.*
FROM (SELECT 1) AS one
LEFT JOIN LATERAL ({LLM_VERDICT_SQL}) AS llm ON true
LEFT JOIN LATERAL ({ADMISSION_SNAPSHOT_SQL}) AS snap ON true"""


@dataclass(frozen=True)
class _Looked:
    execution_id: int | None
    circuit: tuple[int | None, bool] | None = None
    llm_verdict: Any = None
    snapshot: AdmissionSnapshot | None = None


def _lock_and_look_up(data: OrderInput) -> _Looked:
    """Take the order's advisory lock and look up the stored execution id, reading the order's LLM review and
    the controls in the same round trip when nobody else holds the lock. If it is held, wait for it and look
    again with a fresh snapshot."""
    key = order_lock_key(data.client_order_id)
    params = {"lock_key": key, "cid": data.client_order_id, "llm_cid": data.client_order_id,
              **admission_snapshot_params(symbol=data.symbol, strategy=data.strategy)}
    try:
        with connection.bound_cursor() as cursor:
            cursor.execute(_LOCK_LOOK_UP_AND_READ, params)
            locked, execution_id, consecutive, lean_open, *rest = cursor.fetchone()
        n = LLM_VERDICT_COLUMNS
        looked = _Looked(execution_id, (consecutive, lean_open), llm_verdict_from_row(rest[:n]),
                         admission_snapshot_from_row(rest[n:], day=params["snap_day"]))
        if not locked:
            locks.session_lock(key)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {_LOOK_UP}", {"cid": data.client_order_id})
                looked = replace(looked, execution_id=cursor.fetchone()[0], circuit=None)
    except BaseException:
        order_release(data.client_order_id)  # the lock may have been taken before the failure
        raise
    return looked


def _notional(data: OrderInput) -> Decimal | None:
    """qty x (limit price, else decision price); None for an unpriced market order."""
    price = data.limit_price or data.decision_price
    return None if price is None else data.qty * price


def order_submit(*, data: OrderInput, actor: str = "", router: OrderRouter | None = None) -> SubmitResult:
    """Store and route one order; returns the stored row when the client_order_id is known.

    Admission is one short transaction (:func:`_admit`): the controls are read and the budgets consumed
    under lock, and the ``pending_submit`` row is inserted and committed with them. Raises ``Blocked``
    (423) when a control refuses the order (its refusal record is written, and a budget the order would
    have taken past its limit is breached: trading moves to the policy's state). The brokers are called
    after that transaction; their failures never raise: the row is stored ``rejected`` or ``pending``
    instead. A replay that arrives while the first submission is in flight waits for it and returns the
    final row.
    """
    looked = _lock_and_look_up(data)
    locked_on = connection.connection  # the session holding the lock
    try:
        if looked.execution_id is not None:
            return SubmitResult(Execution.objects.get(pk=looked.execution_id), created=False)
        with _timed_admission():
            execution, created, expected, policy_reason = _admit(data=data, actor=actor, looked=looked)
        if not created:
            return SubmitResult(execution, created=False)
        if router is None:
            lean, alpaca = adapters()
            router = OrderRouter(lean=lean, alpaca=alpaca, gate=PersistedLeanGate(lean, state=looked.circuit))
        request = OrderRequest(client_order_id=data.client_order_id, symbol=data.symbol, side=data.side,
                               qty=data.qty, order_type=data.order_type, time_in_force=data.time_in_force,
                               limit_price=data.limit_price)
        outcome = router.route(request, expected=expected, policy_reason=policy_reason)
        held = looked.snapshot.position_qty if looked.snapshot is not None else None
        execution = _record_outcome(execution=execution, outcome=outcome, locked_on=locked_on,
                                    priced=_notional(data) is not None, position_before=held)
        return SubmitResult(execution, created=True, outcome=outcome)
    finally:
        order_release(data.client_order_id)


@contextmanager
def _timed_admission():
    started = time.perf_counter()
    outcome = "admitted"
    try:
        yield
    except (Blocked, PolicyRefused):  # 423 and 422: the controls or the LLM review refused the order
        outcome = "refused"
        raise
    except BaseException:
        outcome = "error"
        raise
    finally:
        latency.ORDER_ADMISSION_SECONDS.labels(outcome).observe(time.perf_counter() - started)


def _admit(*, data: OrderInput, actor: str, looked: _Looked) -> tuple[Execution, bool, str, str]:
    """Admit the order and store it ``pending_submit``; raises ``Blocked``/``PolicyRefused`` when refused.

    First on the controls read without a lock (:func:`execution.controls.order_admission_unlocked`): an order
    admitted there is inserted by one statement that checks nothing changed meanwhile. Otherwise (a refusal,
    REDUCING, canary, or the check found a change) in the admission transaction: controls (``FOR SHARE``) and
    budgets (``FOR UPDATE``) read, the decision taken, the budgets consumed and the execution row inserted,
    committed together. A refusal commits its record (and any breach it found) and raises after the commit."""
    notional = _notional(data)
    unlocked = order_admission_unlocked(snapshot=looked.snapshot, strategy=data.strategy, symbol=data.symbol,
                                        side=data.side, qty=data.qty, notional=notional,
                                        order_type=data.order_type, limit_price=data.limit_price,
                                        llm_verdict=looked.llm_verdict)
    if unlocked is not None:
        expected, policy_reason = expected_adapter(route_policy(), data.symbol, lean_enabled=unlocked.lean_enabled,
                                                   lean_allowed=unlocked.lean_allowed)
        guard = admission_guard_params(snapshot=looked.snapshot, amounts=unlocked.amounts,
                                       strategy_id=unlocked.strategy_id, stage=unlocked.stage)
        inserted = _execution_insert(data=data, strategy_id=unlocked.strategy_id, stage=unlocked.stage,
                                     expected=expected, actor=actor, guard=guard,
                                     checks=unlocked.record(expected=expected, policy_reason=policy_reason))
        if inserted is not None:
            return *inserted, expected, policy_reason
    with transaction.atomic():
        admission = order_admission(strategy=data.strategy, symbol=data.symbol, side=data.side, qty=data.qty,
                                    notional=notional, order_type=data.order_type, limit_price=data.limit_price,
                                    llm_verdict=looked.llm_verdict)
        if admission.block is None:
            expected, policy_reason = expected_adapter(route_policy(), data.symbol,
                                                       lean_enabled=admission.lean_enabled,
                                                       lean_allowed=admission.lean_allowed)
            execution, created = _execution_insert(data=data, strategy_id=admission.strategy_id,
                                                   stage=admission.stage or "", expected=expected, actor=actor,
                                                   consume=admission.amounts,
                                                   checks=admission.record(expected=expected,
                                                                           policy_reason=policy_reason))
            return execution, created, expected, policy_reason
        code, message = admission.block
        order_refusal_record(data=data, code=code, message=message, actor=actor)
        for facts in admission.breached():
            budget_breach_record(facts=facts, actor=actor or "system:orders", via=Via.API, refused={
                "client_order_id": data.client_order_id, "strategy": data.strategy, "symbol": data.symbol,
                "side": data.side, "qty": str(data.qty), "notional": None if notional is None else str(notional)})
    refusal = Blocked if admission.decision.http_status == 423 else PolicyRefused
    raise refusal(message, code=code, details={"client_order_id": data.client_order_id})


RELOCK_WAIT_SECONDS = 5.0


def _record_outcome(*, execution: Execution, outcome: RouteOutcome, locked_on, priced: bool = True,
                    position_before: Decimal | None = None) -> Execution:
    """Write the outcome the brokers gave; never lose it to a connection that went away meanwhile.

    If the session that took the order's lock is gone (it died while the brokers were called) or
    dies during the write, connect again, take the lock again (a replay or reconciliation may hold
    it for a moment) and, unless reconciliation already settled the row, write once more. When that
    fails too, the row stays ``pending_submit`` and the caller gets 503: reconciliation finds the
    order at the broker by its client_order_id.
    """
    try:
        if connection.connection is locked_on:
            return execution_apply_outcome(execution=execution, outcome=outcome, priced=priced,
                                           position_before=position_before)
    except DatabaseError as exc:
        if not is_database_unavailable(exc):
            raise
    if connection.in_atomic_block:  # cannot reconnect inside a transaction
        raise _outcome_unrecorded(execution, outcome)
    connection.close()
    cid = execution.client_order_id
    try:
        deadline = time.monotonic() + RELOCK_WAIT_SECONDS
        while not order_try_lock(cid):
            if time.monotonic() > deadline:
                raise _outcome_unrecorded(execution, outcome)
            time.sleep(0.05)
        stored = Execution.objects.get(pk=execution.pk)
        if stored.status != ExecutionStatus.PENDING_SUBMIT:
            return stored  # reconciliation settled it from the broker in the meantime
        return execution_apply_outcome(execution=execution, outcome=outcome, priced=priced,
                                       position_before=position_before)
    except DatabaseError as exc:
        if not is_database_unavailable(exc):
            raise
        raise _outcome_unrecorded(execution, outcome) from exc


def _outcome_unrecorded(execution: Execution, outcome: RouteOutcome) -> DatabaseUnavailable:
    logger.warning("order %s: %s answered %s but the outcome could not be stored; the row stays pending_submit "
                   "for reconciliation", execution.client_order_id, outcome.actual, outcome.status)
    return DatabaseUnavailable(details={"client_order_id": execution.client_order_id, "outcome_recorded": False})


# The order hot path writes with one statement per step (the router's overhead budget is a few
# milliseconds per order): the decision upsert and the execution insert are one INSERT ... ON
# CONFLICT (committed on its own), the outcome is one UPDATE with its fill.
_DECISION_AND_EXECUTION = """
WITH {w}d AS (
  INSERT INTO trade_decisions (decision_hash, strategy_id, account_label, symbol, side, qty, decision_price,
                               decision_json, rationale, status, created_at)
  SELECT %(cid)s, %(strategy_id)s, '', %(symbol)s, %(side)s, %(qty)s, %(decision_price)s, %(decision_json)s::jsonb,
         '', 'submitted', %(now)s{src}
  ON CONFLICT (decision_hash) DO UPDATE SET decision_hash = EXCLUDED.decision_hash
  RETURNING id){e}
INSERT INTO executions (trade_decision_id, strategy_id, client_order_id, broker_order_id, symbol, side, order_type,
  time_in_force, limit_price, submitted_qty, filled_qty, avg_fill_price, status, raw_order, execution_expected_adapter,
  execution_actual_adapter, execution_fallback_reason, execution_fallback_count, last_error, correlation_id,
  idempotency_key, legacy, submitted_by, reconcile_lease_until, created_at, submitted_at, last_update_at,
  strategy_stage)
SELECT d.id, %(strategy_id)s, %(cid)s, NULL, %(symbol)s, %(side)s, %(order_type)s, %(tif)s, %(limit_price)s, %(qty)s,
  0, NULL, %(status)s, '{{}}'::jsonb, %(expected)s, %(expected)s, '', 0, '', %(correlation_id)s, %(cid)s, false,
  %(actor)s, NULL, %(now)s, NULL, %(now)s, %(stage)s
FROM d
ON CONFLICT (client_order_id) DO NOTHING
RETURNING id, trade_decision_id{f}
"""
_INSERT_ORDER = _DECISION_AND_EXECUTION.format(w="", src="", e="", f="")
# The same insert, consuming the admitted order's budgets in the same statement (only when it inserted).
_INSERT_ORDER_CONSUMING = (_DECISION_AND_EXECUTION.format(w="", src="", e=", e AS (", f=")")
                           + f", b AS ({BUDGETS_CONSUME_SQL.strip()} AND EXISTS (SELECT 1 FROM e))\n"
                           "SELECT id, trade_decision_id FROM e")
# An order admitted on controls read without a lock: the same insert, only when the guard's ``ok`` holds (the
# budgets consumed and the controls unchanged), and undone whole by the guard when it was not inserted.
_INSERT_ORDER_GUARDED = (_DECISION_AND_EXECUTION.format(w=f"{ADMISSION_GUARD_CTES.strip()},\n", src=" FROM ok",
                                                        e=", e AS (", f=")")
                         + "SELECT autonomy_admission_guard(e.id IS NOT NULL), e.id, e.trade_decision_id\n"
                         "FROM (SELECT 1) AS one LEFT JOIN e ON true")


def _execution_insert(*, data: OrderInput, strategy_id: int | None, expected: str, actor: str,
                      stage: str = "", consume: dict[str, Decimal] | None = None,
                      guard: dict | None = None, checks: dict | None = None) -> tuple[Execution, bool] | None:
    """Insert decision + execution (``pending_submit``) in one statement; (stored, False) on conflict. With
    ``consume``, the same statement adds the order's use to today's budgets (only when it inserted). With
    ``guard`` (:func:`autonomy.services.admission_guard_params`), it consumes and inserts only while the
    controls the order was admitted on hold, and returns None, having stored nothing, when they do not (or
    the client_order_id was stored meanwhile). ``checks``: the admission checks the order passed, stored in
    the decision's JSON by the same statement."""
    now = timezone.now()
    decision_json = {"order_type": data.order_type, "time_in_force": data.time_in_force}
    if checks:
        decision_json["admission"] = checks
    params = {"cid": data.client_order_id, "strategy_id": strategy_id, "symbol": data.symbol, "side": data.side,
              "qty": data.qty, "decision_price": data.decision_price or data.limit_price,
              "decision_json": json.dumps(decision_json),
              "order_type": data.order_type, "tif": data.time_in_force, "limit_price": data.limit_price,
              "status": ExecutionStatus.PENDING_SUBMIT.value, "expected": expected,
              "correlation_id": data.correlation_id, "actor": actor, "now": now, "stage": stage}
    sql = _INSERT_ORDER
    if consume:
        params.update(budgets_consume_params(consume))
        sql = _INSERT_ORDER_CONSUMING
    if guard is not None:
        params.update(guard)
        try:  # a savepoint only inside an outer transaction: on its own the statement is atomic
            with transaction.atomic() if connection.in_atomic_block else nullcontext(), \
                    connection.bound_cursor() as cursor:
                cursor.execute(_INSERT_ORDER_GUARDED, params)
                row = cursor.fetchone()[1:]
        except DatabaseError as exc:
            if admission_guard_failed(exc):
                return None
            raise
    else:
        with connection.bound_cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:  # another writer stored this client_order_id first
        return Execution.objects.get(client_order_id=data.client_order_id), False
    execution = Execution(
        id=row[0], trade_decision_id=row[1], strategy_id=strategy_id, client_order_id=data.client_order_id,
        symbol=data.symbol, side=data.side, order_type=data.order_type, time_in_force=data.time_in_force,
        limit_price=data.limit_price, submitted_qty=data.qty, filled_qty=Decimal(0),
        status=ExecutionStatus.PENDING_SUBMIT, raw_order={}, execution_expected_adapter=expected,
        execution_actual_adapter=expected,
        correlation_id=data.correlation_id, idempotency_key=data.client_order_id, submitted_by=actor,
        created_at=now, last_update_at=now, strategy_stage=stage)
    execution._state.adding = False
    execution._state.db = "default"
    return execution, True


def _route_raw(outcome: RouteOutcome) -> dict[str, Any]:
    raw: dict[str, Any] = dict(outcome.broker_order.raw) if outcome.broker_order is not None else {}
    raw["_execution_route_expected"] = outcome.expected
    raw["_execution_route_actual"] = outcome.actual
    raw["_execution_route_policy"] = outcome.policy_reason
    raw["_execution_route_attempts"] = [a.as_json() for a in outcome.attempts]
    return raw


_FILL_INSERT = """
  INSERT INTO execution_fills (execution_id, adapter, broker_fill_id, qty, price, filled_at, created_at)
  SELECT %(id)s, %(actual)s, %(fill_id)s, %(fill_qty)s, %(fill_price)s, %(now)s, %(now)s WHERE %(with_fill)s
  ON CONFLICT (adapter, broker_fill_id) DO NOTHING RETURNING 1"""
_OUTCOME_UPDATE = """
UPDATE executions SET execution_expected_adapter = %(expected)s, execution_actual_adapter = %(actual)s,
  execution_fallback_reason = %(reason)s, execution_fallback_count = %(count)s, status = %(status)s,
  last_error = %(last_error)s, raw_order = %(raw)s::jsonb, broker_order_id = %(broker_order_id)s,
  filled_qty = %(filled_qty)s, avg_fill_price = %(avg)s, submitted_at = %(now)s, last_update_at = %(now)s
WHERE id = %(id)s"""
_APPLY_OUTCOME = f"WITH f AS ({_FILL_INSERT}){_OUTCOME_UPDATE}\nRETURNING (SELECT count(*) FROM f)"
# With a fill: the strategy's position is locked (created when missing) and returned by the same statement
# when the fill is new; position_fill_apply then writes it, in the same transaction.
_APPLY_OUTCOME_AND_LOCK_POSITION = (
    f"WITH f AS ({_FILL_INSERT}), e AS ({_OUTCOME_UPDATE} RETURNING 1),\n"
    f"pos AS ({position_lock_sql(only_if='EXISTS (SELECT 1 FROM f)').strip()})\n"
    "SELECT (SELECT count(*) FROM f), pos.id, pos.qty, pos.avg_entry_price, pos.realized_pnl\n"
    "FROM (SELECT 1) AS one LEFT JOIN pos ON true")
# With a new fill that opens or grows the strategy's position (no P&L realized, no budget breached): the outcome,
# the fill, the position and the budget it uses in ONE statement, committed on its own. Anything else (a fill
# against the position, a budget at its limit) raises TA002 in that statement, which stores nothing: the fill
# then goes through the transaction above.
_NEW_FILL = "EXISTS (SELECT 1 FROM f)"
_APPLY_OUTCOME_GROWING = (
    f"WITH f AS ({_FILL_INSERT}), e AS ({_OUTCOME_UPDATE} RETURNING 1),\n{position_grow_ctes(only_if=_NEW_FILL)}\n"
    f"SELECT {POSITION_GROW_GUARD.format(only_if=_NEW_FILL)}")


def execution_apply_outcome(*, execution: Execution, outcome: RouteOutcome, priced: bool = True,
                            position_before: Decimal | None = None) -> Execution:
    """Write the router's outcome (route fields, status, broker id, first fill) in one statement; with a
    fill, the strategy's position (and the budgets a fill uses) in the same transaction.

    Only for a row fresh from :func:`_execution_insert` (nothing filled yet); later changes go
    through :func:`execution_apply_broker_state`. ``priced``: the order's notional was known (and
    consumed from the gross notional budget) at admission. ``position_before``: the strategy's position in the
    symbol as admission read it, if known: a fill against it goes straight to the locked transaction (the
    one-statement write, which would refuse it, is not tried).
    """
    now = timezone.now()
    order = outcome.broker_order
    execution.execution_expected_adapter = outcome.expected
    execution.execution_actual_adapter = outcome.actual
    execution.execution_fallback_reason = outcome.fallback_reason
    execution.execution_fallback_count = outcome.fallback_count
    execution.status = outcome.status
    execution.last_error = outcome.last_error
    execution.raw_order = _route_raw(outcome)
    execution.submitted_at = now
    execution.last_update_at = now
    with_fill = False
    if order is not None:
        execution.broker_order_id = order.broker_order_id
        filled = min(order.filled_qty or Decimal(0), execution.submitted_qty)
        if filled > 0 and order.filled_avg_price is not None:
            with_fill = True
            execution.filled_qty, execution.avg_fill_price = filled, order.filled_avg_price
    params = {
        "id": execution.pk, "expected": outcome.expected, "actual": outcome.actual,
        "reason": outcome.fallback_reason, "count": outcome.fallback_count, "status": outcome.status,
        "last_error": outcome.last_error, "raw": json.dumps(execution.raw_order, cls=DjangoJSONEncoder),
        "broker_order_id": execution.broker_order_id, "filled_qty": execution.filled_qty,
        "avg": execution.avg_fill_price, "now": now, "with_fill": with_fill,
        "fill_id": f"{execution.broker_order_id}:{execution.filled_qty.normalize()}" if with_fill else "",
        "fill_qty": execution.filled_qty, "fill_price": execution.avg_fill_price or 0}
    if not with_fill or execution.strategy_id is None:
        # no position to move: one statement (a new fill of an unpriced order still uses gross notional)
        with transaction.atomic() if with_fill else nullcontext(), connection.bound_cursor() as cursor:
            cursor.execute(_APPLY_OUTCOME, params)
            if with_fill and cursor.fetchone()[0]:
                fill_applied(execution=execution, qty=execution.filled_qty, price=execution.avg_fill_price,
                             priced=priced)
        return execution
    params.update(position_grow_params(strategy_id=execution.strategy_id, symbol=execution.symbol,
                                       side=execution.side, qty=execution.filled_qty, price=execution.avg_fill_price,
                                       gross_notional=not priced))
    if position_before is None or position_before == 0 or (position_before > 0) == (execution.side == "buy"):
        try:  # a savepoint only inside an outer transaction: on its own the statement is atomic
            with transaction.atomic() if connection.in_atomic_block else nullcontext(), \
                    connection.bound_cursor() as cursor:
                cursor.execute(_APPLY_OUTCOME_GROWING, params)
            return execution
        except DatabaseError as exc:
            if not position_needs_lock(exc):
                raise
    with transaction.atomic(), connection.bound_cursor() as cursor:
        cursor.execute(_APPLY_OUTCOME_AND_LOCK_POSITION, params)
        new_fill, *locked = cursor.fetchone()
        if new_fill:
            position_fill_apply(locked=tuple(locked), strategy_id=execution.strategy_id, symbol=execution.symbol,
                                side=execution.side, qty=execution.filled_qty, price=execution.avg_fill_price,
                                actor=_fills_actor(execution), gross_notional=not priced)
    return execution


def _fills_actor(execution: Execution) -> str:
    return f"system:fills:{execution.client_order_id}"[:150]


def fill_applied(*, execution: Execution, qty: Decimal, price: Decimal, priced: bool) -> None:
    """What a newly stored fill changes beyond the execution row, in the transaction that stored it: the
    strategy's position (and the realized-loss budget), and, for an order admitted without a price, the
    gross notional budget. A breach moves trading at once."""
    if execution.strategy_id is not None:
        with connection.bound_cursor() as cursor:
            cursor.execute(POSITION_LOCK_SQL, position_lock_params(strategy_id=execution.strategy_id,
                                                                   symbol=execution.symbol))
            position_fill_apply(locked=cursor.fetchone(), strategy_id=execution.strategy_id, symbol=execution.symbol,
                                side=execution.side, qty=qty, price=price, actor=_fills_actor(execution),
                                gross_notional=not priced)
    elif not priced:
        budget_use(name="gross_notional", amount=qty * price, actor=_fills_actor(execution),
                   evidence={"client_order_id": execution.client_order_id, "qty": str(qty), "price": str(price)})


def _priced_at_admission(execution: Execution) -> bool:
    """Whether the order's notional was known when it was admitted (limit or decision price)."""
    if execution.limit_price is not None:
        return True
    return TradeDecision.objects.filter(pk=execution.trade_decision_id, decision_price__isnull=False).exists()


def _apply_broker_fill(execution: Execution, adapter: str, order: BrokerOrder, now) -> list[str]:
    """Record the fill delta between what is stored and what the broker reports. Returns changed fields."""
    new_qty = min(order.filled_qty or Decimal(0), execution.submitted_qty)
    old_qty = execution.filled_qty or Decimal(0)
    if new_qty <= old_qty or order.filled_avg_price is None:
        return []
    old_avg = execution.avg_fill_price or Decimal(0)
    delta = new_qty - old_qty
    price = (order.filled_avg_price * new_qty - old_avg * old_qty) / delta
    price = price.quantize(Decimal("0.00000001"))
    fill_ingest(execution=execution, adapter=adapter, filled_at=now, qty=delta, price=price,
                broker_fill_id=f"{order.broker_order_id}:{new_qty.normalize()}")
    execution.filled_qty = new_qty
    execution.avg_fill_price = order.filled_avg_price
    return ["filled_qty", "avg_fill_price"]


def fill_ingest(*, execution: Execution, adapter: str, broker_fill_id: str, qty: Decimal, price: Decimal,
                filled_at=None) -> bool:
    """Store one broker fill; ingesting the same (adapter, broker_fill_id) twice is harmless. True if new.
    A new fill moves the strategy's position in the same transaction."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO execution_fills (execution_id, adapter, broker_fill_id, qty, price, filled_at, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, now())"
                " ON CONFLICT (adapter, broker_fill_id) DO NOTHING RETURNING id",
                [execution.pk, adapter, broker_fill_id, qty, price, filled_at or timezone.now()])
            created = cursor.fetchone() is not None
        if created:
            fill_applied(execution=execution, qty=Decimal(qty), price=Decimal(price),
                         priced=_priced_at_admission(execution))
    return created


def execution_apply_broker_state(*, execution: Execution, adapter: str, order: BrokerOrder,
                                 status: str) -> list[str]:
    """Bring a stored row in line with the broker's view (used by reconciliation). Returns changed fields."""
    now = timezone.now()
    changed: list[str] = []
    with transaction.atomic():
        if execution.broker_order_id != order.broker_order_id:
            execution.broker_order_id = order.broker_order_id
            changed.append("broker_order_id")
        if execution.execution_actual_adapter != adapter and adapter in (Adapter.LEAN, Adapter.ALPACA):
            execution.execution_actual_adapter = adapter
            changed.append("execution_actual_adapter")
            if execution.execution_expected_adapter != adapter and execution.execution_fallback_count == 0:
                execution.execution_fallback_count = 1
                execution.execution_fallback_reason = (
                    execution.execution_fallback_reason
                    or f"fallback_from_{execution.execution_expected_adapter}_to_{adapter}")
                changed += ["execution_fallback_count", "execution_fallback_reason"]
        if execution.status != status:
            execution.status = status
            changed.append("status")
        changed += _apply_broker_fill(execution, adapter, order, now)
        if changed:
            execution.last_update_at = now
            execution.save(update_fields=[*changed, "last_update_at"])
    return changed


# --- Cancels --------------------------------------------------------------------------------------

FINAL_STATUSES = frozenset({ExecutionStatus.FILLED, ExecutionStatus.CANCELED, ExecutionStatus.REJECTED,
                            ExecutionStatus.EXPIRED})


class BrokerUnavailable(ApplicationError):
    """The broker could not be reached: the request never left, so nothing changed anywhere (502)."""

    http_status = 502
    default_code = "broker_unavailable"
    default_message = "The broker could not be reached; nothing changed."


@dataclass(frozen=True)
class CancelResult:
    execution: Execution
    # "canceled" (the broker confirmed) | "requested" (the broker took the cancel and still reports the order
    # open, e.g. Alpaca's pending_cancel) | "unknown" (its answer was lost): reconciliation records the rest
    outcome: str
    adapter: str
    broker_order_id: str
    reason: str = ""


def order_cancel(*, client_order_id: str, actor: str, roles=frozenset(), via: str = Via.API,
                 brokers: dict[str, BrokerAdapter] | None = None) -> CancelResult:
    """Cancel one order at the broker that holds it (``execution_actual_adapter``), in every trading state:
    a halt stops new exposure, never its withdrawal.

    Holds the order's advisory lock (a submission in flight finishes first; reconciliation waits). A row
    without a broker order id (``pending``: the broker's answer to the submission was lost) is looked up at
    that broker by client order id first. Then:

    * the broker cancels it: the row becomes ``canceled`` (with any fill the broker reports), and its
      audit row is written in the same transaction; when the broker still reports the order open (Alpaca's
      ``pending_cancel``) the row takes that state and the outcome is ``requested``;
    * the broker says the order is no longer open (LEAN 409, Alpaca 422): the row takes the broker's state
      and the answer is 409 ``order_final``;
    * the broker's answer is lost (timeout, connection closed after the request was sent, a body that is
      not an answer): the broker may or may not have cancelled it, so nothing is guessed — the status stays
      as it was, ``last_error`` and the audit row say a cancel was asked and why its outcome is unknown,
      and reconciliation, which asks the broker, decides (outcome ``unknown``);
    * the request never left (connection refused): 502 ``broker_unavailable``, nothing changed.

    Raises 404 ``order_not_found`` for an unknown client order id, 409 ``order_final`` for an order
    already filled, canceled, rejected or expired, 409 ``order_not_at_broker`` when the broker that should
    hold the order does not know it (reconciliation settles it).
    """
    if brokers is None:
        lean, alpaca = adapters()
        brokers = {Adapter.LEAN: lean, Adapter.ALPACA: alpaca}
    locks.session_lock(order_lock_key(client_order_id))
    try:
        execution = Execution.objects.filter(client_order_id=client_order_id).first()
        if execution is None:
            raise NotFound(f"No order has client_order_id {client_order_id!r}.", code="order_not_found",
                           details={"client_order_id": client_order_id})
        if execution.status in FINAL_STATUSES:
            raise _order_final(execution)
        adapter = execution.execution_actual_adapter or ""
        broker = brokers.get(adapter)
        if broker is None:
            raise Conflict(f"Order {client_order_id} has no broker on record ({adapter or 'none'}); reconciliation "
                           "settles it.", code="order_not_at_broker", details={"client_order_id": client_order_id})
        broker_order_id = execution.broker_order_id or ""
        try:
            broker_order_id = broker_order_id or _broker_order_id(broker, execution)
            broker.cancel(broker_order_id)
        except AdapterError as exc:
            return _cancel_failed(execution, broker=broker, broker_order_id=broker_order_id, exc=exc, actor=actor,
                                  roles=roles, via=via)
        # what the broker reports now (Alpaca may still show pending_cancel); without an answer, its
        # success answer stands: LEAN answers with the canceled order, Alpaca 204
        order = _broker_order_or_none(broker, broker_order_id) or BrokerOrder(
            broker_order_id=broker_order_id, client_order_id=client_order_id, status="canceled",
            filled_qty=execution.filled_qty)
        status = status_from_broker(order.status)
        outcome = "canceled" if status == ExecutionStatus.CANCELED else "requested"
        reason = "" if outcome == "canceled" else f"{adapter}_cancel_not_confirmed: the broker reports {order.status}"
        with transaction.atomic():
            changed = execution_apply_broker_state(execution=execution, adapter=adapter, status=status, order=order)
            _cancel_audit(execution, actor=actor, roles=roles, via=via, outcome=outcome, reason=reason,
                          changed=changed)
        return CancelResult(execution, outcome, adapter, broker_order_id, reason)
    finally:
        order_release(client_order_id)


def _order_final(execution: Execution) -> Conflict:
    return Conflict(f"Order {execution.client_order_id} is already {execution.status}: there is nothing to cancel.",
                    code="order_final", details={"client_order_id": execution.client_order_id,
                                                 "status": execution.status})


def _broker_order_id(broker: BrokerAdapter, execution: Execution) -> str:
    """The broker's id of an order whose submission answer was lost: asked by client order id."""
    found = broker.get_by_client_order_id(execution.client_order_id)
    if found is None:
        raise Conflict(f"{broker.name} does not hold order {execution.client_order_id}; reconciliation settles it.",
                       code="order_not_at_broker", details={"client_order_id": execution.client_order_id,
                                                            "adapter": broker.name})
    return found.broker_order_id


def _broker_order_or_none(broker: BrokerAdapter, broker_order_id: str) -> BrokerOrder | None:
    try:
        return broker.get_order(broker_order_id)
    except AdapterError:
        return None


def _cancel_failed(execution: Execution, *, broker: BrokerAdapter, broker_order_id: str, exc: AdapterError,
                   actor: str, roles, via: str) -> CancelResult:
    """What a failed cancel means: final at the broker, unknown to it, unreachable, or ambiguous."""
    cid = execution.client_order_id
    if exc.status_code in (409, 422) and broker_order_id:  # LEAN 409 not_cancelable, Alpaca 422: no longer open
        order = _broker_order_or_none(broker, broker_order_id)
        if order is not None:
            with transaction.atomic():
                changed = execution_apply_broker_state(execution=execution, adapter=broker.name, order=order,
                                                       status=status_from_broker(order.status))
                if changed:
                    _cancel_audit(execution, actor=actor, roles=roles, via=via, outcome="final_at_broker",
                                  reason=exc.reason, changed=changed)
        raise Conflict(f"{broker.name} says order {cid} can no longer be canceled ({exc.detail or exc.reason}); "
                       f"it is {execution.status}.", code="order_final",
                       details={"client_order_id": cid, "status": execution.status, "reason": exc.reason})
    if exc.status_code == 404:
        raise Conflict(f"{broker.name} does not know order {cid}; reconciliation settles it.",
                       code="order_not_at_broker", details={"client_order_id": cid, "adapter": broker.name,
                                                            "reason": exc.reason})
    if not exc.request_sent or exc.operation != "cancel":  # no cancel reached the broker
        raise BrokerUnavailable(f"{broker.name} could not be reached ({exc.reason}); the order is unchanged.",
                                details={"client_order_id": cid, "adapter": broker.name, "reason": exc.reason})
    # The broker may have cancelled it: the row stays as it was, with the reason; reconciliation decides.
    note = (f"{exc.reason}: a cancel was requested and the broker's answer was lost; the order may or may not be "
            "canceled, reconciliation decides")[:1000]
    with transaction.atomic():
        Execution.objects.filter(pk=execution.pk).update(last_error=note, last_update_at=timezone.now())
        execution.last_error = note
        _cancel_audit(execution, actor=actor, roles=roles, via=via, outcome="unknown", reason=exc.reason,
                      changed=["last_error"])
    return CancelResult(execution, "unknown", broker.name, broker_order_id, exc.reason)


def _cancel_audit(execution: Execution, *, actor: str, roles, via: str, outcome: str, reason: str,
                  changed: list[str]) -> None:
    audit_record(actor=actor, actor_roles=sorted(roles), via=via, action="order_cancel",
                 object_ref=f"execution:{execution.client_order_id}",
                 details={"client_order_id": execution.client_order_id, "outcome": outcome, "reason": reason,
                          "adapter": execution.execution_actual_adapter, "broker_order_id": execution.broker_order_id,
                          "status": execution.status, "changed": changed})
