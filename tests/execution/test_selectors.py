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
