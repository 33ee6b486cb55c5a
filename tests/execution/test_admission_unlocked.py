"""Admission on controls read without a lock: an order is decided on the controls read with its look-up and
inserted by one statement that checks nothing changed in between. Each test lands a change in that window
(from another connection, committed, just before the insert runs) and shows the order is then judged on the
new controls: nothing of the stale admission stays."""
from __future__ import annotations

import threading
from decimal import Decimal as D

import pytest
from django.db import DatabaseError, connection, transaction

from autonomy import services as autonomy
from autonomy.models import BudgetUsage, ControlVersion, TradingState
from core.errors import Blocked
from execution.models import Execution, OrderRefusal
from execution.services import order_submit
from strategies.models import Strategy
from tests.execution.factories import OrderInputFactory

GUARDED_INSERT = "WITH gb AS"  # the unlocked admission's insert
LOCKED_ADMISSION = "FOR UPDATE OF u"  # the locked admission's statement


class Statements:
    """Records the order path's statements; runs ``before_insert`` (in another thread, committed on its own
    connection) just before the unlocked admission's insert, once."""

    def __init__(self, before_insert=None):
        self.sql: list[str] = []
        self.before_insert = before_insert

    def __call__(self, execute, sql, params, many, context):
        self.sql.append(sql)
        if self.before_insert is not None and sql.lstrip().startswith(GUARDED_INSERT):
            change, self.before_insert = self.before_insert, None
            errors: list[BaseException] = []

            def other_connection():
                try:
                    change()
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                finally:
                    connection.close()

            thread = threading.Thread(target=other_connection)
            thread.start()
            thread.join(30)
            assert not errors, errors
        return execute(sql, params, many, context)

    def ran(self, marker: str) -> int:
        return sum(marker in s for s in self.sql)


def submit(statements: Statements, **kw):
    with connection.execute_wrapper(statements):
        return order_submit(data=OrderInputFactory(**kw), actor="lane-7")


def order_count_used() -> D:
    row = BudgetUsage.objects.filter(name="order_count").first()
    return row.used if row else D(0)


@pytest.mark.django_db(transaction=True)
def test_an_order_with_unchanged_controls_is_admitted_without_locking_them(routed):
    submit(Statements())  # today's budget rows are created by the first order
    statements = Statements()
    result = submit(statements)
    assert result.created and result.execution.status == "filled"
    assert statements.ran(GUARDED_INSERT) == 1 and statements.ran(LOCKED_ADMISSION) == 0
    assert order_count_used() == 2


@pytest.mark.django_db(transaction=True)
def test_a_halt_committed_after_the_read_refuses_the_order(routed):
    submit(Statements())
    statements = Statements(before_insert=lambda: autonomy.trading_state_set(
        state="HALTED", reason="operator stop", actor="ops", roles={"operator"}))
    with pytest.raises(Blocked) as exc:
        submit(statements, client_order_id="late-1")
    assert exc.value.code == "trading_halted"
    assert statements.ran(GUARDED_INSERT) == 1 and statements.ran(LOCKED_ADMISSION) == 1
    assert not Execution.objects.filter(client_order_id="late-1").exists()
    assert [o["client_order_id"] for o in routed.lean.orders()] == [Execution.objects.get().client_order_id]
    assert order_count_used() == 1  # the stale admission's budget use did not stay
    assert OrderRefusal.objects.get().client_order_id == "late-1"


@pytest.mark.django_db(transaction=True)
def test_the_last_budget_unit_taken_meanwhile_refuses_the_order_and_breaches(routed):
    autonomy.budget_policy_set(name="order_count", limit=D(2), on_breach="HALTED", reason="test", actor="ops")
    submit(Statements())
    statements = Statements(before_insert=lambda: order_submit(data=OrderInputFactory(client_order_id="other")))
    with pytest.raises(Blocked) as exc:
        submit(statements, client_order_id="late-2")
    assert exc.value.code == "budget_exceeded"
    assert set(Execution.objects.values_list("client_order_id", flat=True)) >= {"other"}
    assert not Execution.objects.filter(client_order_id="late-2").exists()
    assert order_count_used() == 2
    assert TradingState.objects.get(id=1).state == "HALTED"


@pytest.mark.django_db(transaction=True)
def test_a_strategy_moved_back_to_shadow_meanwhile_refuses_the_order(routed):
    submit(Statements())
    statements = Statements(before_insert=lambda: Strategy.objects.filter(name="macd_rsi").update(stage="shadow"))
    with pytest.raises(Blocked) as exc:
        submit(statements, client_order_id="late-3")
    assert exc.value.code == "strategy_not_live"
    assert not Execution.objects.filter(client_order_id="late-3").exists() and order_count_used() == 1


@pytest.mark.django_db(transaction=True)
def test_a_symbol_disabled_meanwhile_refuses_the_order(routed):
    submit(Statements())
    statements = Statements(before_insert=lambda: autonomy.symbol_mode_set(
        symbol="AAPL", mode="disabled", reason="halted by the exchange", actor="ops", roles={"operator"}))
    with pytest.raises(Blocked) as exc:
        submit(statements, client_order_id="late-4")
    assert exc.value.code == "symbol_disabled"
    assert not Execution.objects.filter(client_order_id="late-4").exists()


@pytest.mark.django_db
def test_every_control_event_moves_the_control_version():
    before = ControlVersion.objects.get(id=1).version if ControlVersion.objects.exists() else 0
    autonomy.trading_state_set(state="REDUCING", reason="a", actor="ops", roles={"operator"})
    autonomy.lean_lane_set(enabled=False, reason="b", actor="ops", roles={"operator"})
    assert ControlVersion.objects.get(id=1).version == before + 2


@pytest.mark.django_db
def test_the_guard_raises_its_own_code_when_the_controls_changed():
    with pytest.raises(DatabaseError) as exc, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT autonomy_admission_guard(false)")
    assert autonomy.admission_guard_failed(exc.value)
    with connection.cursor() as cursor:
        cursor.execute("SELECT autonomy_admission_guard(true)")
        assert cursor.fetchone() == (True,)
