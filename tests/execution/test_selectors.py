"""The trigger-maintained hourly rollup always equals the aggregate computed from executions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from execution import selectors
from execution.backfill import backfill_routes
from execution.models import Execution
from tests.execution.factories import ExecutionFactory, LegacyExecutionFactory

pytestmark = pytest.mark.django_db


def raw(bucket: str, since: datetime):
    with connection.cursor() as cursor:
        cursor.execute(selectors.RAW_FALLBACK_SQL, [bucket, since, datetime.now(UTC) + timedelta(seconds=1)])
        return selectors._fold(cursor.fetchall())


def test_rollup_matches_raw_aggregate_through_inserts_updates_and_deletes():
    now = datetime.now(UTC)
    since = now - timedelta(days=3)
    rows = [ExecutionFactory(created_at=now - timedelta(hours=h)) for h in range(0, 60, 7)]
    ExecutionFactory(created_at=now - timedelta(hours=3), execution_actual_adapter="alpaca",
                     execution_fallback_reason="lean_submit_timeout", execution_fallback_count=1)
    LegacyExecutionFactory(created_at=now - timedelta(hours=2), raw_order={"_execution_adapter": "alpaca_fallback"})
    # route changes (fallback recorded later), a bucket move, a status-only update, a delete
    Execution.objects.filter(pk=rows[0].pk).update(execution_actual_adapter="alpaca", execution_fallback_count=1,
                                                    execution_fallback_reason="lean_circuit_open")
    Execution.objects.filter(pk=rows[1].pk).update(created_at=now - timedelta(days=1, hours=5))
    Execution.objects.filter(pk=rows[2].pk).update(status="canceled")
    Execution.objects.filter(pk=rows[3].pk).delete()
    backfill_routes()  # legacy rows never count as requests
    Execution.objects.filter(legacy=True).update(legacy=False)  # and count once they stop being legacy
    for bucket in ("hour", "day"):
        assert selectors.fallback_buckets(bucket=bucket, since=since) == raw(bucket, since)
    total = sum(b["requests"] for b in selectors.fallback_buckets(bucket="day", since=since))
    assert total == Execution.objects.count()


def test_an_order_counts_once_routed_with_its_final_route(routed):
    """/metrics counters never go down: an in-flight order (pending_submit) is not counted under
    its expected adapter and then moved; it is counted once, under the adapter that took it."""
    from execution.metrics import ExecutionCollector
    from execution.services import _execution_insert, order_submit
    from tests.execution.factories import OrderInputFactory

    def requests_by_adapter():
        family = next(m for m in ExecutionCollector().collect() if m.name == "torghut_trading_execution_requests")
        return {s.labels["adapter"]: s.value for s in family.samples if s.name.endswith("_total")}

    order_submit(data=OrderInputFactory())
    assert requests_by_adapter() == {"lean": 1}
    in_flight, _ = _execution_insert(data=OrderInputFactory(), strategy_id=None, expected="lean", actor="")
    assert requests_by_adapter() == {"lean": 1}  # stored, not routed yet: not counted
    routed.lean.set_fault("error")
    order_submit(data=OrderInputFactory())  # falls back: counted once, under alpaca
    assert requests_by_adapter() == {"lean": 1, "alpaca": 1}
    since = datetime.now(UTC) - timedelta(hours=2)
    assert selectors.fallback_buckets(bucket="hour", since=since) == raw("hour", since)
    # a row a crash left in pending_submit counts once reconciliation resolves it
    Execution.objects.filter(pk=in_flight.pk).update(status="rejected", last_error="not_found_at_broker")
    assert requests_by_adapter() == {"lean": 2, "alpaca": 1}
