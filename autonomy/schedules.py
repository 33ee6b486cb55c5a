"""django-q2 schedules of the autonomy app (synced by name with execution's: ``manage.py sync_schedules``)."""
from __future__ import annotations

from django.conf import settings
from django_q.models import Schedule

DELIVER_ALERTS = "autonomy.deliver_alerts"
SWEEP_STALENESS = "autonomy.sweep_staleness"
ROLL_BUDGETS = "autonomy.roll_budgets"
READINESS = "autonomy.readiness_sweep"
PRUNE_HEARTBEATS = "autonomy.prune_heartbeats"
LANE_CYCLE = "autonomy.lane_cycle"
VERIFY_AUDIT_CHAIN = "autonomy.verify_audit_chain"


def desired_schedules() -> list[dict]:
    return [
        {"name": DELIVER_ALERTS, "func": "autonomy.tasks.deliver_alerts", "schedule_type": Schedule.MINUTES,
         "minutes": 1, "repeats": -1},
        {"name": SWEEP_STALENESS, "func": "autonomy.tasks.sweep_staleness", "schedule_type": Schedule.MINUTES,
         "minutes": settings.AUTONOMY_SWEEP_MINUTES, "repeats": -1},
        # claims each UTC day once; running every 5 minutes rolls soon after midnight, also after a restart
        {"name": ROLL_BUDGETS, "func": "autonomy.tasks.roll_budgets", "schedule_type": Schedule.MINUTES,
         "minutes": 5, "repeats": -1},
        # replays the promotions activations rest on, then stores a readiness snapshot (Phase D)
        {"name": READINESS, "func": "autonomy.tasks.readiness_sweep", "schedule_type": Schedule.MINUTES,
         "minutes": settings.READINESS_SWEEP_MINUTES, "repeats": -1},
        # deletes heartbeats older than HEARTBEAT_RETENTION_DAYS, in batches
        {"name": PRUNE_HEARTBEATS, "func": "autonomy.tasks.prune_heartbeats", "schedule_type": Schedule.MINUTES,
         "minutes": 60, "repeats": -1},
        # the autonomous lane: bars, walk-forward, gates, handoffs, rollbacks (a failed cycle's retry is woken
        # by the one-off `autonomy.lane_retry` schedule the cycle sets)
        {"name": LANE_CYCLE, "func": "autonomy.tasks.lane_cycle", "schedule_type": Schedule.MINUTES,
         "minutes": settings.LANE_CYCLE_MINUTES, "repeats": -1},
        # walks the hash chains of the audit and control events; a break raises the critical alert audit_chain
        {"name": VERIFY_AUDIT_CHAIN, "func": "autonomy.tasks.verify_audit_chain", "schedule_type": Schedule.MINUTES,
         "minutes": settings.AUDIT_CHAIN_VERIFY_MINUTES, "repeats": -1},
    ]
