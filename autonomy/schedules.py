"""django-q2 schedules of the autonomy app (synced by name with execution's: ``manage.py sync_schedules``)."""
from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule

DELIVER_ALERTS = "autonomy.deliver_alerts"
SWEEP_STALENESS = "autonomy.sweep_staleness"
ROLL_BUDGETS = "autonomy.roll_budgets"


def desired_schedules() -> list[dict]:
    return [
        {"name": DELIVER_ALERTS, "func": "autonomy.tasks.deliver_alerts", "schedule_type": Schedule.MINUTES,
         "minutes": 1, "repeats": -1},
        {"name": SWEEP_STALENESS, "func": "autonomy.tasks.sweep_staleness", "schedule_type": Schedule.MINUTES,
         "minutes": settings.AUTONOMY_SWEEP_MINUTES, "repeats": -1},
        # claims each UTC day once; running every 5 minutes rolls soon after midnight, also after a restart
        {"name": ROLL_BUDGETS, "func": "autonomy.tasks.roll_budgets", "schedule_type": Schedule.MINUTES,
         "minutes": 5, "repeats": -1},
    ]
