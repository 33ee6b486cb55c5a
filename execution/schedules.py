"""django-q2 schedules of the execution app, synced by unique name (never duplicated)."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

RECONCILE = "execution.reconcile_executions"
READINESS = "autonomy.readiness_sweep"


def desired_schedules() -> list[dict]:
    return [{
        "name": RECONCILE,
        "func": "execution.tasks.reconcile_executions",
        "schedule_type": Schedule.MINUTES,
        "minutes": settings.TRADING_RECONCILE_INTERVAL_MINUTES,
        "repeats": -1,
    }, {
        "name": READINESS,
        "func": "autonomy.tasks.readiness_sweep",
        "schedule_type": Schedule.MINUTES,
        "minutes": settings.READINESS_SWEEP_MINUTES,
        "repeats": -1,
    }]


def sync_schedules() -> list[tuple[str, bool]]:
    """Create or update each schedule by name with an explicit next_run. Returns (name, created)."""
    out = []
    with transaction.atomic():
        for spec in desired_schedules():
            name = spec.pop("name")
            schedule = Schedule.objects.select_for_update().filter(name=name).first()
            if schedule is None:
                Schedule.objects.create(name=name, next_run=timezone.now() + timedelta(seconds=30), **spec)
                out.append((name, True))
                continue
            for key, value in spec.items():
                setattr(schedule, key, value)
            if schedule.next_run is None:
                schedule.next_run = timezone.now() + timedelta(seconds=30)
            schedule.save()
            out.append((name, False))
    return out
