"""The django-q2 side: schedules kept by name, and a task run through a real qcluster on Redis."""
from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string

from autonomy import schedules as autonomy_schedules
from execution import schedules
from tests.dbfaults import (
    REDIS_SKIP_REASON,
    DatabaseProxy,
    QCluster,
    redis_answers,
    redis_queue,
    redis_url,
    server_address,
)

EXPECTED = {schedules.RECONCILE: "execution.tasks.reconcile_executions",
            schedules.SWEEP_LEAN_CIRCUIT: "execution.tasks.sweep_lean_circuit",
            schedules.SWEEP_PLAYBOOK: "execution.tasks.sweep_playbook",
            autonomy_schedules.DELIVER_ALERTS: "autonomy.tasks.deliver_alerts",
            autonomy_schedules.SWEEP_STALENESS: "autonomy.tasks.sweep_staleness",
            autonomy_schedules.ROLL_BUDGETS: "autonomy.tasks.roll_budgets",
            autonomy_schedules.PRUNE_HEARTBEATS: "autonomy.tasks.prune_heartbeats",
            autonomy_schedules.LANE_CYCLE: "autonomy.tasks.lane_cycle",
            autonomy_schedules.VERIFY_AUDIT_CHAIN: "autonomy.tasks.verify_audit_chain"}


@pytest.mark.django_db
def test_sync_schedules_keeps_every_sweep_once_by_name_with_an_explicit_next_run(settings):
    from django_q.models import Schedule

    out = StringIO()
    call_command("sync_schedules", stdout=out)
    assert all(f"created {name}" in out.getvalue() for name in EXPECTED)
    stored = {s.name: s for s in Schedule.objects.all()}
    assert {name: s.func for name, s in stored.items() if name in EXPECTED} == EXPECTED
    for name in EXPECTED:
        assert stored[name].next_run is not None and stored[name].repeats == -1
        import_string(stored[name].func)  # the stored dotted path is a contract: it must resolve
    settings.AUTONOMY_SWEEP_MINUTES = 5
    settings.LANE_CYCLE_MINUTES = 15
    call_command("sync_schedules", stdout=StringIO())
    assert Schedule.objects.filter(name__in=list(EXPECTED)).count() == len(EXPECTED)
    assert Schedule.objects.get(name=autonomy_schedules.SWEEP_STALENESS).minutes == 5
    assert Schedule.objects.get(name=autonomy_schedules.LANE_CYCLE).minutes == 15


@pytest.mark.skipif(not redis_answers(), reason=REDIS_SKIP_REASON)
@pytest.mark.django_db(transaction=True)
def test_a_task_runs_through_qcluster_on_the_redis_broker(settings, monkeypatch, tmp_path):
    """An alert opens; its delivery task is queued on Redis (on commit) and a real ``qcluster`` with
    the Redis broker runs it: the loopback receiver gets the signed notification, and the task's
    result is stored in the database."""
    from django.db import connection
    from django_q.brokers import get_broker
    from django_q.models import Task

    from autonomy import services
    from tests.autonomy.receivers import WebhookReceiver

    with redis_queue(monkeypatch) as name:  # a queue of its own on a shared Redis
        broker = get_broker()
        assert type(broker).__name__ == "Redis"
        hook = WebhookReceiver("redis-secret").start()
        settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = hook.url, "redis-secret"
        settings.ALERT_EMAIL_TO = []
        try:
            alert = services.alert_raise(dedup_key="budget:orders", severity="critical",
                                         title="order budget breached", evidence={"used": 501})
            assert broker.queue_size() == 1  # queued on Redis once the alert committed
            settings_dict = connection.settings_dict
            env = {"REDIS_URL": redis_url(), "Q_NAME": name, "Q_WORKERS": "1",
                   "ALERT_WEBHOOK_SECRET": "redis-secret", "LOG_LEVEL": "WARNING"}
            with DatabaseProxy(*server_address(settings_dict)) as proxy, \
                    QCluster({**env, "DATABASE_URL": proxy.url(settings_dict)},
                             log=tmp_path / "qcluster.log") as cluster:
                deadline = time.monotonic() + 90
                while not hook.delivered_ids() and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert hook.delivered_ids(), cluster.log_tail()
                deadline = time.monotonic() + 30
                while not Task.objects.filter(func="autonomy.tasks.deliver_alerts").exists() \
                        and time.monotonic() < deadline:
                    time.sleep(0.2)
            [got] = hook.received
            assert got.signed and got.body["alert"]["id"] == alert.pk
            task = Task.objects.get(func="autonomy.tasks.deliver_alerts")
            assert task.success and task.result["delivered"] == 1
            assert broker.queue_size() == 0
        finally:
            hook.stop()
