"""Heartbeat retention: heartbeats older than HEARTBEAT_RETENTION_DAYS are pruned in batches by an hourly
schedule; each source's latest state stays, and the table refuses to lose a heartbeat younger than a day."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.db import transaction
from django.utils import timezone

from access.models import AuditEvent
from autonomy import schedules, services, tasks
from autonomy.models import Heartbeat, SignalSource

pytestmark = pytest.mark.django_db


def beat(source: str, *, age: timedelta) -> None:
    at = timezone.now() - age
    services.heartbeat_record(source=source, observed_at=at, actor="lane-7", now=at)


def test_heartbeats_past_retention_go_in_batches_recent_ones_and_every_source_stay(settings):
    settings.HEARTBEAT_RETENTION_DAYS = 7
    for days in (8, 9, 10, 11, 30):
        beat("old-lane", age=timedelta(days=days))
    beat("old-lane", age=timedelta(days=6, hours=23))
    beat("live-lane", age=timedelta(minutes=1))

    summary = services.heartbeats_prune(batch_size=2)

    assert (summary["deleted"], summary["batches"], summary["retention_days"]) == (5, 3, 7)
    kept = sorted(Heartbeat.objects.values_list("source", flat=True))
    assert kept == ["live-lane", "old-lane"]
    assert dict(SignalSource.objects.values_list("source", "beats")) == {"old-lane": 6, "live-lane": 1}
    assert services.heartbeats_prune(batch_size=2)["deleted"] == 0  # idempotent: a second run finds nothing


def test_the_hourly_task_prunes_and_audits_only_a_run_that_deleted_something(settings):
    settings.HEARTBEAT_RETENTION_DAYS = 2
    beat("lane", age=timedelta(days=3))
    assert tasks.prune_heartbeats()["deleted"] == 1
    assert tasks.prune_heartbeats()["deleted"] == 0
    audits = AuditEvent.objects.filter(action="task:prune_heartbeats")
    assert audits.count() == 1 and audits.get().actor == "system:heartbeat-retention"
    assert audits.get().details["deleted"] == 1
    [schedule] = [s for s in schedules.desired_schedules() if s["name"] == schedules.PRUNE_HEARTBEATS]
    assert schedule["func"] == "autonomy.tasks.prune_heartbeats"


def test_the_table_refuses_to_change_a_heartbeat_or_delete_one_younger_than_a_day(settings):
    beat("lane", age=timedelta(hours=20))
    with pytest.raises(Exception, match="Cannot delete"), transaction.atomic():
        Heartbeat.objects.all().delete()
    with pytest.raises(Exception, match="Cannot update"), transaction.atomic():
        Heartbeat.objects.update(detail="edited")
    settings.HEARTBEAT_RETENTION_DAYS = 0  # a misconfiguration the check names; the trigger holds anyway
    with pytest.raises(Exception, match="Cannot delete"), transaction.atomic():
        services.heartbeats_prune()
    assert Heartbeat.objects.count() == 1
    assert "autonomy.E004" in {e.id for e in run_checks()}
