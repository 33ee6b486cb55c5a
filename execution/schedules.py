"""django-q2 schedules of the execution and autonomy apps, synced by unique name (never duplicated).

Every task they run is idempotent and claims its work with ``select_for_update(skip_locked=True)``:
django-q2 delivers at least once, and two clusters may run the same schedule."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from autonomy import schedules as autonomy_schedules

RECONCILE = "execution.reconcile_executions"
SWEEP_LEAN_CIRCUIT = "execution.sweep_lean_circuit"
SWEEP_PLAYBOOK = "execution.sweep_playbook"


def desired_schedules() -> list[dict]:
    return [
        {"name": RECONCILE, "func": "execution.tasks.reconcile_executions", "schedule_type": Schedule.MINUTES,
         "minutes": settings.TRADING_RECONCILE_INTERVAL_MINUTES, "repeats": -1},
        {"name": SWEEP_LEAN_CIRCUIT, "func": "execution.tasks.sweep_lean_circuit", "schedule_type": Schedule.MINUTES,
         "minutes": settings.AUTONOMY_SWEEP_MINUTES, "repeats": -1},
        {"name": SWEEP_PLAYBOOK, "func": "execution.tasks.sweep_playbook", "schedule_type": Schedule.MINUTES,
         "minutes": settings.AUTONOMY_PLAYBOOK_MINUTES, "repeats": -1},
        *autonomy_schedules.desired_schedules(),
    ]


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
