"""Route backfill: mapping, dry-run counts, resumability, idempotency; provenance report."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from execution.backfill import backfill_routes
from execution.models import BackfillCheckpoint, Execution
from tests.execution.factories import ExecutionFactory, LegacyExecutionFactory

pytestmark = pytest.mark.django_db

CASES = [
    ({"_execution_route_actual": "lean", "_execution_route_expected": "lean"}, "lean", "lean", 0, ""),
    ({"_execution_adapter": "alpaca_fallback"}, "lean", "alpaca", 1, "fallback_from_lean_to_alpaca"),
    ({"execution_actual_adapter": "alpaca", "execution_expected_adapter": "lean",
      "_execution_fallback_reason": "lean_submit_timeout"}, "lean", "alpaca", 1, "lean_submit_timeout"),
    ({"_execution_adapter": "ALPACA", "_execution_route_expected": "alpaca"}, "alpaca", "alpaca", 0, ""),
    # nothing ever falls back to LEAN: a route that ended at LEAN was expected there
    ({"_execution_adapter": "lean"}, "lean", "lean", 0, ""),
    ({"_execution_adapter": " lean "}, "lean", "lean", 0, ""),
    ({"_execution_route_actual": "LEAN"}, "lean", "lean", 0, ""),
    # the actual route is the expected one when nothing says otherwise
    ({"_execution_route_expected": "lean"}, "lean", "lean", 0, ""),
    ({"execution_expected_adapter": " alpaca"}, "alpaca", "alpaca", 0, ""),
    # the older reason key is kept as given, like _execution_fallback_reason
    ({"_execution_adapter": "alpaca", "_execution_route_expected": "lean", "_fallback_reason": "lean_submit_timeout"},
     "lean", "alpaca", 1, "lean_submit_timeout"),
    ({"_execution_adapter": "alpaca_fallback", "_fallback_reason": " lean_submit_http_503 "},
     "lean", "alpaca", 1, "lean_submit_http_503"),
    ({"_execution_adapter": "alpaca_fallback", "_execution_fallback_reason": "lean_circuit_open",
      "_fallback_reason": "older"}, "lean", "alpaca", 1, "lean_circuit_open"),
    # an order that ended at Alpaca may have been expected there or fallen back: not guessed
    ({"_execution_adapter": "alpaca"}, "unknown", "alpaca", 0, ""),
    ({"something": "else"}, "unknown", "unknown", 0, ""),
    ({"_execution_route_actual": "ib"}, "unknown", "unknown", 0, ""),
]
UNKNOWN = sum("unknown" in (e, a) for _, e, a, *_ in CASES)


def make_legacy():
    return [LegacyExecutionFactory(raw_order=raw) for raw, *_ in CASES]


def test_mapping(db):
    rows = make_legacy()
    result = backfill_routes(batch_size=2)
    assert result.updated == len(CASES) and result.unknown == UNKNOWN == 3
    for row, (_, expected, actual, count, reason) in zip(rows, CASES, strict=True):
        row.refresh_from_db()
        assert (row.execution_expected_adapter, row.execution_actual_adapter) == (expected, actual), row.raw_order
        assert (row.execution_fallback_count, row.execution_fallback_reason) == (count, reason)


def test_idempotent_and_leaves_new_rows_alone(db):
    make_legacy()
    new = ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_count=1,
                           execution_fallback_reason="lean_submit_http_503")
    backfill_routes()
    snapshot = list(Execution.objects.order_by("id").values())
    second = backfill_routes()
    assert second.updated == 0
    assert list(Execution.objects.order_by("id").values()) == snapshot
    new.refresh_from_db()
    assert new.execution_fallback_reason == "lean_submit_http_503"


def test_resumes_from_checkpoint(db):
    rows = make_legacy()
    partial = backfill_routes(batch_size=2, max_batches=1)
    assert partial.batches == 1
    checkpoint = BackfillCheckpoint.objects.get(name="routes")
    assert checkpoint.finished_at is None and checkpoint.last_id > 0
    rest = backfill_routes(batch_size=2)
    assert rest.resumed_from == checkpoint.last_id
    assert rest.updated == len(rows)  # cumulative over the pass
    assert not Execution.objects.filter(execution_actual_adapter__isnull=True).exists()


def test_dry_run_prints_counts_and_writes_nothing(db):
    make_legacy()
    out = StringIO()
    call_command("backfill_routes", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"{len(CASES)} legacy rows need a route; {len(CASES) - 3} recoverable, 3 would become unknown" in text
    assert Execution.objects.filter(execution_actual_adapter__isnull=True).count() == len(CASES)
    out = StringIO()
    call_command("backfill_routes", "--batch-size", "3", stdout=out)
    assert f"backfill done: {len(CASES)} rows updated (3 unknown)" in out.getvalue()
    assert "id <=" in out.getvalue()


def test_provenance_report(db):
    make_legacy()
    ExecutionFactory()
    out = StringIO()
    call_command("provenance_report", stdout=out)
    last = out.getvalue().strip().splitlines()[-1].split()
    n = str(len(CASES))
    assert last == ["all", str(len(CASES) + 1), n, n, "0", "0", n]
    backfill_routes()
    out = StringIO()
    call_command("provenance_report", stdout=out)
    # unknown expected: the Alpaca-only row and the two without a usable hint; unknown actual: those two
    assert out.getvalue().strip().splitlines()[-1].split() == ["all", str(len(CASES) + 1), "0", "0", "3", "2", n]
