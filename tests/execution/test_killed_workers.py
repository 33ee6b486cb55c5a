"""A worker killed (SIGKILL, no clean-up) in the middle of its work: the route backfill and a
reconciliation run, each in a process of its own talking to the test database. The next run
resumes, finishes once, and nothing is lost: every row processed, none twice, every change kept
with the record of why.

To kill them at a known point, the test holds a lock the process needs for its next write (a row
of the next backfill batch, the fills table); the process is killed while it waits, inside an
open transaction, which the server then rolls back.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from execution.models import BackfillCheckpoint, Execution, Fill, ReconciliationDiscrepancy, ReconciliationRun
from execution.reconciliation import reconcile_run
from execution.services import order_submit
from tests.dbfaults import ROOT, DatabaseProxy, direct_connection, server_address
from tests.execution.factories import LegacyExecutionFactory, OrderInputFactory
from tests.execution.test_backfill import CASES

TOUCH_LOG = """
CREATE TABLE test_backfill_touches (execution_id bigint NOT NULL);
CREATE FUNCTION test_backfill_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO test_backfill_touches VALUES (NEW.id); RETURN NEW; END $$;
CREATE TRIGGER test_backfill_touch AFTER UPDATE OF execution_actual_adapter ON executions
  FOR EACH ROW WHEN (NEW.legacy) EXECUTE FUNCTION test_backfill_touch();
"""
DROP_TOUCH_LOG = """
DROP TRIGGER IF EXISTS test_backfill_touch ON executions;
DROP FUNCTION IF EXISTS test_backfill_touch();
DROP TABLE IF EXISTS test_backfill_touches;
"""


@contextlib.contextmanager
def worker(args: list[str], env: dict[str, str], log: Path):
    """``manage.py <args>`` in a process group of its own, on the test database through a relay."""
    settings_dict = connection.settings_dict
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME")}
    with DatabaseProxy(*server_address(settings_dict)) as proxy, open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=str(ROOT), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**base, **env, "DATABASE_URL": proxy.url(settings_dict)})
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_for_blocked_session(log: Path, proc: subprocess.Popen, timeout: float = 90) -> int:
    """The pid of the session waiting for a lock in the test database (the worker's), once it waits."""
    deadline = time.monotonic() + timeout
    with direct_connection(connection.settings_dict) as probe:
        while time.monotonic() < deadline:
            row = probe.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()").fetchone()
            if row:
                return row[0]
            assert proc.poll() is None, f"the worker ended before it reached the lock:\n{log.read_text()[-3000:]}"
            time.sleep(0.05)
    raise AssertionError(f"the worker never waited for the lock:\n{log.read_text()[-3000:]}")


def kill_and_wait_for_session_end(proc: subprocess.Popen, blocker, pid: int) -> None:
    """SIGKILL the worker's process group; release the test's lock; its orphaned session then finds
    its client gone and ends, rolling its transaction back."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    blocker.execute("ROLLBACK")
    deadline = time.monotonic() + 60
    while blocker.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
        assert time.monotonic() < deadline, "the killed worker's session did not end"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True, reset_sequences=True)
def test_backfill_killed_mid_batch_resumes_and_maps_every_row_exactly_once(tmp_path):
    rows = [LegacyExecutionFactory(raw_order=CASES[i % len(CASES)][0]) for i in range(60)]
    ids = [r.pk for r in rows]
    victim = ids[35]  # in the fourth batch of ten: three batches commit, the fourth waits for it
    settings_dict = connection.settings_dict
    with direct_connection(settings_dict) as admin:
        admin.execute(TOUCH_LOG)
    try:
        with direct_connection(settings_dict) as blocker, \
                worker(["backfill_routes", "--batch-size", "10"], {}, tmp_path / "backfill.log") as proc:
            blocker.execute("BEGIN")
            blocker.execute("SELECT 1 FROM executions WHERE id = %s FOR UPDATE", [victim])
            pid = wait_for_blocked_session(tmp_path / "backfill.log", proc)
            kill_and_wait_for_session_end(proc, blocker, pid)

        checkpoint = BackfillCheckpoint.objects.get(name="routes")
        assert checkpoint.finished_at is None and 0 < checkpoint.last_id < victim
        done = set(Execution.objects.filter(legacy=True, execution_actual_adapter__isnull=False)
                   .values_list("pk", flat=True))
        assert done == {pk for pk in ids if pk <= checkpoint.last_id}  # the batch it died in left nothing
        assert checkpoint.updated == len(done)
        with connection.cursor() as cursor:
            cursor.execute("SELECT execution_id FROM test_backfill_touches")
            assert Counter(r[0] for r in cursor.fetchall()) == Counter(done)

        out = StringIO()
        call_command("backfill_routes", "--batch-size", "10", stdout=out)  # the next run
        assert f"resumed after id {checkpoint.last_id}" in out.getvalue()
        checkpoint.refresh_from_db()
        assert checkpoint.finished_at is not None and checkpoint.updated == len(ids)
        assert checkpoint.unknown == sum(1 for i in range(60) if "unknown" in CASES[i % len(CASES)][1:3])
        for row, i in zip(Execution.objects.filter(pk__in=ids).order_by("pk"), range(60), strict=True):
            _, expected, actual, count, reason = CASES[i % len(CASES)]
            assert (row.execution_expected_adapter, row.execution_actual_adapter) == (expected, actual)
            assert (row.execution_fallback_count, row.execution_fallback_reason) == (count, reason)
        with connection.cursor() as cursor:
            cursor.execute("SELECT execution_id FROM test_backfill_touches")
            touched = Counter(r[0] for r in cursor.fetchall())
        assert touched == Counter(ids)  # every row mapped, each exactly once over both runs
        assert "backfill done" not in (tmp_path / "backfill.log").read_text()
    finally:
        with direct_connection(settings_dict) as admin:
            admin.execute(DROP_TOUCH_LOG)


@pytest.mark.django_db(transaction=True)
def test_reconciliation_killed_mid_run_keeps_what_it_did_and_the_next_run_takes_over_at_once(routed, tmp_path):
    from execution.adapters import AlpacaAdapter
    from execution.adapters.base import OrderRequest

    routed.set_fault("down")  # both brokers close the connections: every order is left pending
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(6)]
    assert {r.status for r in rows} == {"pending"}
    routed.set_fault("ok")
    alpaca = AlpacaAdapter("k", "s", url_override=routed.alpaca.url)
    for row in rows[3:]:  # the last three did reach a broker
        alpaca.submit(OrderRequest(row.client_order_id, "AAPL", "buy", row.submitted_qty))
    env = {"TRADING_LEAN_RUNNER_URL": routed.lean.url, "ALPACA_BASE_URL": routed.alpaca.url,
           "ALPACA_API_KEY_ID": "k", "ALPACA_API_SECRET_KEY": "s", "LOG_LEVEL": "WARNING"}

    settings_dict = connection.settings_dict
    with direct_connection(settings_dict) as blocker, \
            worker(["reconcile"], env, tmp_path / "reconcile.log") as proc:
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE execution_fills IN SHARE MODE")  # the first fill it records waits
        pid = wait_for_blocked_session(tmp_path / "reconcile.log", proc)
        kill_and_wait_for_session_end(proc, blocker, pid)

    killed = ReconciliationRun.objects.get()
    assert killed.finished_at is None
    after_kill = {r.pk: Execution.objects.get(pk=r.pk) for r in rows}
    # what it did before it died is kept, each change with the discrepancy that says why
    assert [after_kill[r.pk].status for r in rows] == ["rejected"] * 3 + ["pending"] * 3
    assert sorted(killed.discrepancies.values_list("execution_id", "kind")) == [
        (r.pk, "not_found_at_broker") for r in rows[:3]]
    assert Fill.objects.count() == 0  # the fill it was writing died with its transaction

    run = reconcile_run(trigger="test")  # the next run: no wait for the dead run's leases to run out
    killed.refresh_from_db()
    assert killed.finished_at is not None and killed.interrupted and "interrupted" in killed.errors[0]
    assert killed.discrepancy_count == 3  # the runs list counts what it recorded
    statuses = [Execution.objects.get(pk=r.pk).status for r in rows]
    assert statuses == ["rejected"] * 3 + ["filled"] * 3
    assert sorted(run.discrepancies.values_list("execution_id", "kind")) == [
        (r.pk, "found_at_broker") for r in rows[3:]]
    settled = Counter(ReconciliationDiscrepancy.objects.filter(kind__in=["found_at_broker", "not_found_at_broker"])
                      .values_list("execution_id", flat=True))
    assert settled == Counter(r.pk for r in rows)  # every row settled, each once over both runs
    assert Counter(Fill.objects.values_list("execution_id", flat=True)) == Counter(r.pk for r in rows[3:])

    again = reconcile_run(trigger="test")  # finished once: nothing left to do
    assert again.updated == 0 and not again.discrepancies.filter(
        kind__in=["found_at_broker", "not_found_at_broker"]).exists()
    assert Fill.objects.count() == 3
    assert routed.lean.orders() == [] and len(routed.alpaca.orders()) == 3  # reconciliation never submits


@pytest.mark.django_db(transaction=True)
def test_a_live_runs_leases_are_left_alone(routed):
    """An unfinished run whose session still holds its lock is running, not dead: the next run
    neither closes it nor takes the rows it leased."""
    routed.set_fault("down")
    leased, free = (order_submit(data=OrderInputFactory()).execution for _ in range(2))
    routed.set_fault("ok")
    live = ReconciliationRun.objects.create(trigger="elsewhere")
    Execution.objects.filter(pk=leased.pk).update(reconcile_lease_until=timezone.now() + timedelta(seconds=90))
    with direct_connection(connection.settings_dict) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"reconcile-run:{live.pk}"])
        run = reconcile_run(trigger="test")
    live.refresh_from_db()
    assert live.finished_at is None and live.errors == []
    assert Execution.objects.get(pk=leased.pk).status == "pending"  # still the live run's
    assert Execution.objects.get(pk=free.pk).status == "rejected"
    assert list(run.discrepancies.values_list("execution_id", flat=True)) == [free.pk]
