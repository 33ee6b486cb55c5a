"""The database goes away while an order is at the broker (real PostgreSQL, real loopback fakes).

The broker's answer must never be lost and the order never placed twice: the outcome is written
on a fresh connection when the old one died; when the database stays away the caller gets 503
(retry with the same client_order_id), the row stays ``pending_submit`` and reconciliation takes
the broker's state. The order's advisory lock never outlives a broken session.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from core.errors import DatabaseUnavailable
from execution.models import Execution
from execution.reconciliation import reconcile_run
from execution.services import _execution_insert, order_release, order_submit, order_try_lock
from tests.dbfaults import advisory_lock_free, is_superuser, terminate_backends
from tests.execution.factories import OrderInputFactory

BROKER_LATENCY = 0.5  # the fake holds its answer this long after recording the order


@pytest.fixture
def slow_brokers(routed, settings):
    """The fakes answer after BROKER_LATENCY (the order is recorded first); adapters wait longer."""
    settings.TRADING_LEAN_RUNNER_TIMEOUT_SECONDS = settings.ALPACA_TIMEOUT_SECONDS = 5
    routed.set_latency(BROKER_LATENCY)
    return routed


def _as_soon_as_broker_has(fake, client_order_id: str, action) -> dict:
    """Run ``action`` in a thread the moment ``fake`` has recorded the order (its answer is still held)."""
    done: dict = {}

    def watch():
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if fake.get_order_by_client_id(client_order_id) is not None:
                done["result"] = action()
                return
            time.sleep(0.002)

    done["thread"] = threading.Thread(target=watch, daemon=True)
    done["thread"].start()
    return done


@pytest.mark.django_db(transaction=True)
def test_database_gone_while_the_broker_answers_row_stays_pending_submit_and_reconciliation_settles(
        slow_brokers, db_proxy):
    data = OrderInputFactory()
    cut = _as_soon_as_broker_has(slow_brokers.lean, data.client_order_id, db_proxy.cut)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        order_submit(data=data)
    cut["thread"].join()
    assert time.monotonic() - started < 10  # no hang on the dead connection
    assert err.value.http_status == 503 and err.value.code == "database_unavailable"
    assert err.value.details["client_order_id"] == data.client_order_id
    assert err.value.details["outcome_recorded"] is False
    assert "client_order_id" in err.value.message

    db_proxy.restore()
    slow_brokers.set_latency(0)
    row = Execution.objects.get(client_order_id=data.client_order_id)
    assert row.status == "pending_submit" and row.broker_order_id is None
    assert len(slow_brokers.lean.orders()) == 1  # LEAN had taken it

    # the retry is not kept waiting for a lock that died with the session: it gets the stored row
    # and places nothing
    again = order_submit(data=data)
    assert not again.created and again.execution.pk == row.pk and again.execution.status == "pending_submit"
    assert len(slow_brokers.lean.orders()) == 1 and slow_brokers.alpaca.orders() == []

    run = reconcile_run(trigger="test")
    row.refresh_from_db()
    lean_order = slow_brokers.lean.orders()[0]
    assert (row.status, row.broker_order_id, row.execution_actual_adapter) == ("filled", lean_order["id"], "lean")
    assert row.fills.count() == 1
    assert list(run.discrepancies.values_list("kind", flat=True)) == ["found_at_broker"]
    assert order_submit(data=data).execution.status == "filled"
    assert len(slow_brokers.lean.orders()) == 1 and slow_brokers.alpaca.orders() == []


@pytest.mark.django_db(transaction=True)
def test_session_terminated_while_the_broker_answers_outcome_is_still_recorded(slow_brokers):
    settings_dict = connection.settings_dict
    if not is_superuser(settings_dict):
        pytest.skip("terminating backends needs a superuser test database user")
    data = OrderInputFactory()
    connection.ensure_connection()
    locked_on = connection.connection
    kill = _as_soon_as_broker_has(slow_brokers.lean, data.client_order_id,
                                  lambda: terminate_backends(settings_dict))
    result = order_submit(data=data)
    kill["thread"].join()
    assert kill["result"] >= 1  # the session holding the order's lock was terminated mid-order
    assert connection.connection is not locked_on  # ...and the outcome was written on a new one

    lean_order = slow_brokers.lean.orders()[0]
    assert result.created and result.execution.status == "filled"
    row = Execution.objects.get(client_order_id=data.client_order_id)
    assert (row.status, row.broker_order_id, row.fills.count()) == ("filled", lean_order["id"], 1)
    assert len(slow_brokers.lean.orders()) == 1 and slow_brokers.alpaca.orders() == []
    assert advisory_lock_free(settings_dict, f"order:{data.client_order_id}")


@pytest.mark.django_db(transaction=True)
def test_database_gone_before_any_broker_call_nothing_is_placed(routed, db_proxy):
    db_proxy.cut()
    data = OrderInputFactory()
    with pytest.raises(Exception) as err:
        order_submit(data=data)
    from core.db import is_database_unavailable

    assert is_database_unavailable(err.value)
    assert routed.lean.orders() == [] and routed.alpaca.orders() == []
    db_proxy.restore()
    result = order_submit(data=data)  # the retry places it, once
    assert result.created and result.execution.status == "filled"
    assert len(routed.lean.orders()) == 1


@pytest.mark.django_db(transaction=True)
def test_the_order_lock_is_not_left_behind_when_it_cannot_be_released():
    """An unlock that cannot run (here: the transaction around it has failed) closes the
    connection instead: a session lock left on a persistent connection would make every later
    submitter of that client_order_id wait forever."""
    key = "order:leak-1"
    with pytest.raises(ProgrammingError), transaction.atomic():
        assert order_try_lock("leak-1")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        finally:
            order_release("leak-1")
    assert advisory_lock_free(connection.settings_dict, key)


@pytest.mark.django_db
def test_pending_submit_row_no_broker_has_waits_for_the_grace_period_then_is_rejected(routed):
    young, _ = _execution_insert(data=OrderInputFactory(), strategy_id=None, expected="lean", actor="")
    old, _ = _execution_insert(data=OrderInputFactory(), strategy_id=None, expected="lean", actor="")
    Execution.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    run = reconcile_run(trigger="test")
    young.refresh_from_db()
    old.refresh_from_db()
    assert young.status == "pending_submit"  # may still be on its way to a broker
    assert (old.status, old.last_error) == ("rejected", "not_found_at_broker")
    assert list(run.discrepancies.values_list("kind", flat=True)) == ["not_found_at_broker"]
    assert routed.lean.orders() == [] and routed.alpaca.orders() == []  # never submitted by reconciliation
