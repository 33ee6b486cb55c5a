"""Past one machine: several ``qcluster`` processes on one Redis and one database.

django-q2 runs its scheduler in every cluster. It guards a schedule with ``SELECT ... FOR UPDATE``
inside a transaction (a second cluster waits for the row, then finds it no longer due), but it
pushes the task to the broker before that transaction commits, and a broker delivers at least
once: the same sweep can still arrive twice. So every scheduled task guards its own work: the sweeps
claim their period (``SweepCycle`` rows for one-transaction sweeps, ``core.locks.once_per_period`` for
work spanning many transactions), alert deliveries are claimed row by row, pruning finds nothing left.
These tests show both layers: two real clusters fire each schedule once, and each sweep delivered three
times in one period does its work once.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.dbfaults import (
    REDIS_SKIP_REASON,
    DatabaseProxy,
    QCluster,
    direct_connection,
    redis_answers,
    redis_queue,
    redis_url,
    server_address,
)

PERIOD_MINUTES = 60  # every sweep's period in the clusters: the whole test falls in one or two periods


def wait_until(predicate, *, timeout: float, message) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(0.25)


# --- The claims, in one process ----------------------------------------------------------------

@pytest.fixture
def brokers(settings):
    from execution.fake_brokers.server import FakeBrokers

    with FakeBrokers(delay_seconds=1) as fakes:
        settings.TRADING_LEAN_RUNNER_URL = fakes.lean.url
        settings.ALPACA_BASE_URL = fakes.alpaca.url
        yield fakes


@pytest.mark.django_db
def test_the_scheduled_reconciliation_runs_once_per_period_and_again_after_a_killed_run(brokers, settings):
    from execution.models import ReconciliationRun
    from execution.tasks import reconcile_executions

    settings.TRADING_RECONCILE_INTERVAL_MINUTES = PERIOD_MINUTES
    killed = ReconciliationRun.objects.create(trigger="schedule")  # a worker died half-way: never finished
    first = reconcile_executions()
    assert first["run_id"] != killed.pk  # the unfinished run did not count: this period's run ran
    again = reconcile_executions()  # the same period delivered again (a second cluster, a redelivery)
    assert "skipped" in again
    killed.refresh_from_db()
    assert killed.interrupted and killed.finished_at  # closed by the run that took over, never counted
    assert ReconciliationRun.objects.filter(finished_at__isnull=False, interrupted=False).count() == 1
    call_command("reconcile", stdout=StringIO())  # an operator's run is never held back
    assert ReconciliationRun.objects.filter(finished_at__isnull=False, interrupted=False).count() == 2


@pytest.mark.django_db
def test_a_run_closed_as_interrupted_does_not_count_as_the_periods_run(brokers, settings):
    from execution.models import ReconciliationRun
    from execution.tasks import reconcile_executions

    settings.TRADING_RECONCILE_INTERVAL_MINUTES = PERIOD_MINUTES
    ReconciliationRun.objects.create(trigger="schedule")  # the schedule's run died half-way
    call_command("reconcile", stdout=StringIO())  # an operator's run closes it as interrupted
    assert ReconciliationRun.objects.filter(trigger="schedule", interrupted=True).count() == 1
    ran = reconcile_executions()  # the schedule's run of this period still has to run
    assert "skipped" not in ran
    assert ReconciliationRun.objects.filter(trigger="schedule", interrupted=False,
                                            finished_at__isnull=False).count() == 1


@pytest.mark.django_db
def test_a_reconciliation_running_elsewhere_makes_the_schedule_skip(brokers, settings):
    from django.db import connection

    from execution.models import ReconciliationRun
    from execution.reconciliation import SCHEDULED_RUN_LOCK
    from execution.tasks import reconcile_executions

    with direct_connection(connection.settings_dict) as other:  # another machine's worker, mid-run
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [SCHEDULED_RUN_LOCK])
        assert "skipped" in reconcile_executions()
    assert not ReconciliationRun.objects.exists()
    assert "run_id" in reconcile_executions()  # its connection gone, the lock went with it


@pytest.mark.django_db
def test_the_readiness_sweep_stores_one_snapshot_per_period(settings):
    from access.models import AuditEvent
    from autonomy.models import ReadinessSnapshot
    from autonomy.tasks import readiness_sweep

    settings.READINESS_SWEEP_MINUTES = PERIOD_MINUTES
    assert "snapshot_id" in readiness_sweep()
    assert "skipped" in readiness_sweep()
    assert ReadinessSnapshot.objects.count() == 1
    assert AuditEvent.objects.filter(action="task:readiness_sweep").count() == 1  # a skipped run is quiet


@pytest.mark.django_db
def test_the_staleness_sweep_evaluates_once_per_cycle(settings):
    from autonomy.models import ConditionEvaluation
    from autonomy.tasks import sweep_staleness

    settings.AUTONOMY_SWEEP_MINUTES = PERIOD_MINUTES
    first = sweep_staleness()
    assert first["evaluated"] and first["stale"] is False
    assert sweep_staleness() == {"evaluated": False}
    assert ConditionEvaluation.objects.filter(condition="stale_signals").count() == 1


@pytest.mark.django_db(transaction=True)
def test_servers_starting_together_on_several_machines_take_turns_at_the_owner_steps(monkeypatch):
    """``make serve`` / ``make worker`` on two machines at once: the second waits while the first holds the
    owner's steps (migrate...), then runs them itself (finding nothing left to do)."""
    import threading

    from django.db import connection, connections
    from django_q.models import Schedule

    from core import serving
    from tests.dbfaults import advisory_lock_free

    monkeypatch.setattr(serving, "owner_steps", lambda kind, embedded: [["sync_schedules"]])
    results = []

    def second_machine() -> None:
        try:
            results.append(serving.run_owner_steps("worker", False))
        finally:
            connections.close_all()

    lock = "SELECT pg_advisory_{}(hashtextextended(%s, 0))"
    with direct_connection(connection.settings_dict) as first_machine:
        first_machine.execute(lock.format("lock"), [serving.OWNER_STEPS_LOCK])
        thread = threading.Thread(target=second_machine)
        thread.start()
        thread.join(2)
        assert thread.is_alive() and not Schedule.objects.exists()  # waiting for its turn
        first_machine.execute(lock.format("unlock"), [serving.OWNER_STEPS_LOCK])
        thread.join(60)
    assert results == [0] and Schedule.objects.exists()
    assert advisory_lock_free(connection.settings_dict, serving.OWNER_STEPS_LOCK)  # given back


# --- Two clusters -------------------------------------------------------------------------------

SCHEDULED = re.compile(r"created task \S+ from schedule \[([^\]]+)\]")


@pytest.mark.skipif(not redis_answers(), reason=REDIS_SKIP_REASON)
@pytest.mark.django_db(transaction=True)
def test_two_clusters_fire_each_schedule_once_and_do_each_sweeps_work_once(settings, monkeypatch, tmp_path):
    """Two ``qcluster`` processes (two workers each) on the same Redis queue and the same database,
    as two machines would run them. Every schedule is due when they start, and every scheduled task
    has also been queued twice more (a schedule fired by both clusters, a redelivery). Then:

    * django-q2's schedulers, racing, fired each schedule exactly once (one task per schedule, one
      "created task from schedule" line across both clusters' logs);
    * each sweep did its work once per period although it ran three times: one evaluation per
      condition and period, one finished reconciliation, one readiness snapshot, one budget day roll;
    * each alert notification reached the loopback webhook once.
    """
    from django.db import connection
    from django_q.brokers import get_broker
    from django_q.models import Schedule, Task
    from django_q.tasks import async_task

    from access.models import AuditEvent
    from autonomy import services
    from autonomy.choices import ConditionKind
    from autonomy.models import AlertDelivery, ConditionEvaluation, ReadinessSnapshot, SweepCycle
    from execution.fake_brokers.server import FakeBrokers
    from execution.models import ReconciliationRun
    from tests.autonomy.receivers import WebhookReceiver

    secret = "scale-out-secret"
    hook = WebhookReceiver(secret).start()
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET, settings.ALERT_EMAIL_TO = hook.url, secret, []
    with redis_queue(monkeypatch) as name, FakeBrokers(delay_seconds=1) as fakes:
        broker = get_broker()
        try:
            for n in range(3):  # three alerts: three webhook deliveries to send, once each
                services.alert_raise(dedup_key=f"scale:{n}", severity="warning", title=f"scale-out alert {n}",
                                     evidence={"n": n})
            deliveries = set(AlertDelivery.objects.values_list("pk", flat=True))
            assert len(deliveries) == 3

            call_command("sync_schedules", stdout=StringIO())
            schedules = dict(Schedule.objects.values_list("name", "func"))
            # due now, and not again while the test runs: a second firing would be the bug
            Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1), minutes=PERIOD_MINUTES)
            for func in schedules.values():
                for _ in range(2):
                    async_task(func, group="again", broker=broker)

            settings_dict = connection.settings_dict
            env = {"REDIS_URL": redis_url(), "Q_NAME": name, "Q_WORKERS": "2", "LOG_LEVEL": "INFO",
                   "ALERT_WEBHOOK_URL": hook.url, "ALERT_WEBHOOK_SECRET": secret,
                   "TRADING_LEAN_RUNNER_URL": fakes.lean.url, "ALPACA_BASE_URL": fakes.alpaca.url,
                   **{key: str(PERIOD_MINUTES) for key in ("AUTONOMY_SWEEP_MINUTES", "AUTONOMY_PLAYBOOK_MINUTES",
                                                           "TRADING_RECONCILE_INTERVAL_MINUTES",
                                                           "READINESS_SWEEP_MINUTES")}}
            with DatabaseProxy(*server_address(settings_dict)) as proxy:
                env["DATABASE_URL"] = proxy.url(settings_dict)
                with QCluster(env, log=tmp_path / "a.log") as a, QCluster(env, log=tmp_path / "b.log") as b:
                    def logs() -> str:
                        return f"--- cluster a:\n{a.log_tail()}\n--- cluster b:\n{b.log_tail()}"

                    def all_ran() -> bool:
                        fired = set(Task.objects.filter(group__in=list(schedules)).values_list("group", flat=True))
                        again = Task.objects.filter(group="again").count()
                        return fired == set(schedules) and again == 2 * len(schedules)

                    # the schedulers first look 30 s after a cluster starts
                    wait_until(all_ran, timeout=120, message=lambda: f"not every task ran:\n{logs()}")
                    wait_until(lambda: set(hook.delivered_ids()) >= {str(d) for d in deliveries}, timeout=30,
                               message=lambda: f"not every alert was delivered:\n{logs()}")
                    for cluster in (a, b):  # SIGTERM, as a supervisor sends it: each stops by itself
                        cluster.signal_stop()
                    assert (a.stop(), b.stop()) == (0, 0), logs()
            assert broker.queue_size() == 0  # nothing was fired that did not run

            log_text = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
            assert Counter(SCHEDULED.findall(log_text)) == Counter(list(schedules))
            tasks = list(Task.objects.all())
            assert Counter(t.group for t in tasks if t.group in schedules) == Counter(list(schedules))
            failed = [(t.func, t.result) for t in tasks if not t.success]
            assert not failed, failed
            assert all(s.next_run > timezone.now() for s in Schedule.objects.all())

            # each sweep, delivered three times, did its work once per period
            for condition in (ConditionKind.STALE_SIGNALS, ConditionKind.LEAN_CIRCUIT, ConditionKind.PLAYBOOK):
                cycles = SweepCycle.objects.filter(sweep=condition).count()
                assert 1 <= cycles <= 2  # two only when the run straddled a period's end
                assert ConditionEvaluation.objects.filter(condition=condition).count() == cycles, condition
            assert SweepCycle.objects.filter(sweep="budget_day_roll").count() \
                == AuditEvent.objects.filter(action="task:roll_budgets").count() >= 1
            runs = ReconciliationRun.objects.filter(trigger="schedule")
            assert all(r.finished_at is not None for r in runs)
            periods = Counter(_period(r.started_at) for r in runs)
            assert periods and set(periods.values()) == {1}, periods
            snapshots = Counter(_period(s.at) for s in ReadinessSnapshot.objects.all())
            assert snapshots and set(snapshots.values()) == {1}, snapshots

            # each notification reached the receiver once, and says so in its row
            received = Counter(hook.delivered_ids())
            assert {str(d) for d in deliveries} <= set(received) and set(received.values()) == {1}, received
            assert set(AlertDelivery.objects.filter(pk__in=deliveries).values_list("status", flat=True)) \
                == {"delivered"}
        finally:
            hook.stop()


def _period(at) -> int:
    return int(at.timestamp() // (PERIOD_MINUTES * 60))
