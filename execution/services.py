"""Writes of the execution app: order submission through the router, fills, refusals.

Idempotency of ``order_submit`` (one broker order per client_order_id, ever):

1. a fast look-up returns a stored row at once (200);
2. otherwise a PostgreSQL *session* advisory lock keyed by the client_order_id is taken
   (no transaction stays open while it is held); a concurrent submitter of the same id
   waits there;
3. under the lock the row is inserted, status ``pending_submit``, in its own committed
   transaction (the UNIQUE client_order_id is the final guard) — a crash after this point
   leaves a row that reconciliation resolves by client order id;
4. the router calls the brokers (no transaction open), and the outcome is written in one
   short transaction (row update + fill);
5. the lock is released; the waiter re-checks, finds the row and returns it (200).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from execution.adapters.base import BrokerOrder, OrderRequest
from execution.choices import Adapter, ExecutionStatus
from execution.circuit import PersistedLeanGate
from execution.controls import order_controls
from execution.models import Execution, Fill, OrderRefusal, TradeDecision
from execution.routing import OrderRouter, RouteOutcome, expected_adapter
from execution.wiring import adapters, route_policy
from ledger.models import Strategy
from torghut_site.api import Blocked


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


@contextlib.contextmanager
def _order_lock(client_order_id: str):
    """Session-level advisory lock on one client_order_id (released even if the caller fails)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"order:{client_order_id}"])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [f"order:{client_order_id}"])


def order_try_lock(client_order_id: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [f"order:{client_order_id}"])
        return bool(cursor.fetchone()[0])


def order_unlock(client_order_id: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [f"order:{client_order_id}"])


def order_refusal_record(*, data: OrderInput, code: str, message: str, actor: str) -> None:
    OrderRefusal.objects.create(client_order_id=data.client_order_id, strategy_name=data.strategy,
                                symbol=data.symbol, code=code, message=message, actor=actor)


def order_submit(*, data: OrderInput, actor: str = "", router: OrderRouter | None = None) -> SubmitResult:
    """Store and route one order; returns the stored row when the client_order_id is known.

    Raises ``Blocked`` (423) when a control flag refuses the order (an audit row is written).
    Broker failures never raise: the row is stored ``rejected`` or ``pending`` instead.
    """
    stored = Execution.objects.filter(client_order_id=data.client_order_id).first()
    if stored is not None:
        return SubmitResult(stored, created=False)
    controls = order_controls(strategy=data.strategy, symbol=data.symbol)
    if controls.block is not None:
        code, message = controls.block
        order_refusal_record(data=data, code=code, message=message, actor=actor)
        raise Blocked(message, code=code, details={"client_order_id": data.client_order_id})
    if router is None:
        lean, alpaca = adapters()
        router = OrderRouter(lean=lean, alpaca=alpaca, gate=PersistedLeanGate(lean))
    expected, policy_reason = expected_adapter(route_policy(), data.symbol, lean_enabled=controls.lean_enabled)

    with _order_lock(data.client_order_id):
        execution, created = _execution_insert(data=data, expected=expected, actor=actor)
        if not created:
            return SubmitResult(execution, created=False)
        request = OrderRequest(client_order_id=data.client_order_id, symbol=data.symbol, side=data.side,
                               qty=data.qty, order_type=data.order_type, time_in_force=data.time_in_force,
                               limit_price=data.limit_price)
        outcome = router.route(request, expected=expected, policy_reason=policy_reason)
        execution = execution_apply_outcome(execution=execution, outcome=outcome)
    return SubmitResult(execution, created=True, outcome=outcome)


def _execution_insert(*, data: OrderInput, expected: str, actor: str) -> tuple[Execution, bool]:
    stored = Execution.objects.filter(client_order_id=data.client_order_id).first()
    if stored is not None:
        return stored, False
    now = timezone.now()
    try:
        with transaction.atomic():
            strategy, _ = Strategy.objects.get_or_create(name=data.strategy)
            # One statement whether or not the strategy pipeline stored the decision already.
            (decision,) = TradeDecision.objects.bulk_create(
                [TradeDecision(decision_hash=data.client_order_id, strategy=strategy, symbol=data.symbol,
                               side=data.side, qty=data.qty, decision_price=data.decision_price or data.limit_price,
                               decision_json={"order_type": data.order_type, "time_in_force": data.time_in_force},
                               created_at=now)],
                update_conflicts=True, unique_fields=["decision_hash"], update_fields=["decision_hash"])
            execution = Execution.objects.create(
                trade_decision=decision, strategy=strategy, client_order_id=data.client_order_id,
                symbol=data.symbol, side=data.side, order_type=data.order_type, time_in_force=data.time_in_force,
                limit_price=data.limit_price, submitted_qty=data.qty, status=ExecutionStatus.PENDING_SUBMIT,
                execution_expected_adapter=expected, execution_actual_adapter=expected,
                correlation_id=data.correlation_id, idempotency_key=data.client_order_id, submitted_by=actor,
                created_at=now, last_update_at=now)
    except IntegrityError:
        stored = Execution.objects.filter(client_order_id=data.client_order_id).first()
        if stored is None:
            raise
        return stored, False
    return execution, True


def _route_raw(outcome: RouteOutcome) -> dict[str, Any]:
    raw: dict[str, Any] = dict(outcome.broker_order.raw) if outcome.broker_order is not None else {}
    raw["_execution_route_expected"] = outcome.expected
    raw["_execution_route_actual"] = outcome.actual
    raw["_execution_route_policy"] = outcome.policy_reason
    raw["_execution_route_attempts"] = [a.as_json() for a in outcome.attempts]
    return raw


def execution_apply_outcome(*, execution: Execution, outcome: RouteOutcome) -> Execution:
    """Write the router's outcome (route fields, status, broker ids, fill) in one transaction."""
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
    fields = ["execution_expected_adapter", "execution_actual_adapter", "execution_fallback_reason",
              "execution_fallback_count", "status", "last_error", "raw_order", "submitted_at", "last_update_at"]
    with transaction.atomic():
        if order is not None:
            execution.broker_order_id = order.broker_order_id
            fields.append("broker_order_id")
            fields += _apply_broker_fill(execution, outcome.actual, order, now)
        execution.save(update_fields=fields)
    return execution


def _apply_broker_fill(execution: Execution, adapter: str, order: BrokerOrder, now) -> list[str]:
    """Record the fill delta between what is stored and what the broker reports. Returns changed fields."""
    new_qty = min(order.filled_qty or Decimal(0), execution.submitted_qty)
    old_qty = execution.filled_qty or Decimal(0)
    if new_qty <= old_qty or order.filled_avg_price is None:
        return []
    old_avg = execution.avg_fill_price or Decimal(0)
    delta = new_qty - old_qty
    price = (order.filled_avg_price * new_qty - old_avg * old_qty) / delta
    Fill.objects.bulk_create(
        [Fill(execution=execution, adapter=adapter, broker_fill_id=f"{order.broker_order_id}:{new_qty.normalize()}",
              qty=delta, price=price.quantize(Decimal("0.00000001")), filled_at=now)],
        ignore_conflicts=True)
    execution.filled_qty = new_qty
    execution.avg_fill_price = order.filled_avg_price
    return ["filled_qty", "avg_fill_price"]


def fill_ingest(*, execution: Execution, adapter: str, broker_fill_id: str, qty: Decimal, price: Decimal,
                filled_at=None) -> bool:
    """Store one broker fill; ingesting the same (adapter, broker_fill_id) twice is harmless. True if new."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO execution_fills (execution_id, adapter, broker_fill_id, qty, price, filled_at, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, now())"
            " ON CONFLICT (adapter, broker_fill_id) DO NOTHING RETURNING id",
            [execution.pk, adapter, broker_fill_id, qty, price, filled_at or timezone.now()])
        return cursor.fetchone() is not None


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
