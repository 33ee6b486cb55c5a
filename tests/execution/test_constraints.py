"""The route invariants live in PostgreSQL: raw SQL that breaks them is refused."""
from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from tests.execution.factories import ExecutionFactory

pytestmark = pytest.mark.django_db

INSERT = """INSERT INTO executions (client_order_id, symbol, side, order_type, time_in_force, submitted_qty,
  filled_qty, status, raw_order, execution_expected_adapter, execution_actual_adapter, execution_fallback_reason,
  execution_fallback_count, last_error, correlation_id, idempotency_key, legacy, submitted_by, created_at,
  last_update_at)
VALUES (%s, 'AAPL', 'buy', 'market', 'day', 1, 0, 'filled', '{}', %s, %s, %s, %s, '', '', '', %s, '', now(), now())"""


def insert(cid, expected, actual, reason="", count=0, legacy=False):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(INSERT, [cid, expected, actual, reason, count, legacy])


@pytest.mark.parametrize("expected,actual,reason,count,constraint", [
    (None, "lean", "", 0, "exec_route_not_null_unless_legacy"),
    ("lean", None, "", 0, "exec_route_not_null_unless_legacy"),
    ("unknown", "lean", "", 0, "exec_unknown_only_legacy"),
    ("lean", "lean", "", 1, "exec_fallback_reason_required"),
    ("lean", "alpaca", "", 0, "exec_mismatch_implies_fallback"),
    ("lean", "ib", "", 0, "exec_adapter_values"),
])
def test_invalid_rows_refused(expected, actual, reason, count, constraint):
    with pytest.raises(IntegrityError, match=constraint):
        insert("c-bad", expected, actual, reason, count)


def test_valid_rows_accepted():
    insert("c-1", "lean", "lean")
    insert("c-2", "lean", "alpaca", "lean_submit_timeout", 1)
    insert("c-3", None, None, legacy=True)
    insert("c-4", "unknown", "unknown", legacy=True)


def test_unique_client_and_broker_order_ids():
    row = ExecutionFactory()
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            ExecutionFactory(client_order_id=row.client_order_id)
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            ExecutionFactory(broker_order_id=row.broker_order_id)


def test_fills_are_append_only_and_unique():
    from execution.models import Fill
    from execution.services import fill_ingest
    row = ExecutionFactory()
    assert fill_ingest(execution=row, adapter="lean", broker_fill_id="f-1", qty=1, price=10)
    assert not fill_ingest(execution=row, adapter="lean", broker_fill_id="f-1", qty=1, price=10)
    assert Fill.objects.count() == 1
    with pytest.raises(Exception, match="protect|Cannot"):
        with transaction.atomic():
            Fill.objects.all().update(qty=2)
    with pytest.raises(Exception, match="protect|Cannot"):
        with transaction.atomic():
            Fill.objects.all().delete()
