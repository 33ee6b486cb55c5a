"""django-q2 schedules of the autonomy app (synced by name with execution's: ``manage.py sync_schedules``)."""
from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule

DELIVER_ALERTS = "autonomy.deliver_alerts"
SWEEP_STALENESS = "autonomy.sweep_staleness"


def desired_schedules() -> list[dict]:
    return [
        {"name": DELIVER_ALERTS, "func": "autonomy.tasks.deliver_alerts", "schedule_type": Schedule.MINUTES,
         "minutes": 1, "repeats": -1},
        {"name": SWEEP_STALENESS, "func": "autonomy.tasks.sweep_staleness", "schedule_type": Schedule.MINUTES,
         "minutes": settings.AUTONOMY_SWEEP_MINUTES, "repeats": -1},
    ]
