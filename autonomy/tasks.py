"""django-q2 tasks of the autonomy app. Their dotted paths are stored in the schedule table: treat
them as a contract. Each is idempotent and claims its work with ``select_for_update(skip_locked=True)``
in the service it calls, so a task delivered twice, or run by two clusters at once, does the work once."""
from __future__ import annotations

from collections.abc import Callable

from access.choices import Outcome, Via
from access.services import audit_record
from autonomy import services


def run_audited(*, worker: str, task: str, run: Callable[[], dict], did_work: Callable[[dict], bool]) -> dict:
    """Run one sweep as ``system:<worker>``; audit a run that changed something or failed (a quiet
    sweep every minute would bury the trail)."""
    try:
        summary = run()
    except Exception as exc:
        audit_record(actor=f"system:{worker}", via=Via.WORKER, action=f"task:{task}", outcome=Outcome.ERROR,
                     details={"error": f"{exc.__class__.__name__}: {exc}"[:1000]})
        raise
    if did_work(summary):
        audit_record(actor=f"system:{worker}", via=Via.WORKER, action=f"task:{task}", details=summary)
    return summary


def deliver_alerts() -> dict:
    """Send the alert notifications that are due (webhook, email), with retries and backoff."""
    return run_audited(worker="alert-delivery", task="deliver_alerts", run=services.alert_deliveries_run,
                       did_work=lambda s: s["sent"] > 0)


def sweep_staleness() -> dict:
    """One cycle of the stale-signal kill switch."""
    def run() -> dict:
        evaluation = services.staleness_sweep()
        if evaluation is None:
            return {"evaluated": False}
        return {"evaluated": True, "evaluation_id": evaluation.pk, "stale": evaluation.breached,
                "action": evaluation.action}

    return run_audited(worker="staleness", task="sweep_staleness", run=run, did_work=lambda s: bool(s.get("action")))


def roll_budgets() -> dict:
    """Once per UTC day: today's budget rows, and earlier days' breach alerts resolved."""
    return run_audited(worker="budget-day-roll", task="roll_budgets", run=services.budgets_day_roll,
                       did_work=lambda s: s["rolled"])


def readiness_sweep() -> dict:
    """Replay the promotions every activation rests on (recording each outcome), then store a readiness
    snapshot; once per ``READINESS_SWEEP_MINUTES`` period. The scorecard reads the newest snapshot."""
    def run() -> dict:
        return services.readiness_sweep_run() or {"skipped": "this period's readiness sweep is running or done"}

    return run_audited(worker="readiness", task="readiness_sweep", run=run, did_work=lambda s: "skipped" not in s)


def prune_heartbeats() -> dict:
    """Delete the heartbeats older than ``HEARTBEAT_RETENTION_DAYS`` (in batches; each source's latest state
    stays in its signal-source row)."""
    return run_audited(worker="heartbeat-retention", task="prune_heartbeats", run=services.heartbeats_prune,
                       did_work=lambda s: s["deleted"] > 0)


def lane_cycle() -> dict:
    """One cycle of the autonomous lane (or the retry that is due); nothing when another worker holds the
    lane, the lane is paused, or this period's cycle already ran."""
    from autonomy.lane_services import lane_cycle_run

    def run() -> dict:
        outcome = lane_cycle_run()
        cycle = outcome.cycle
        if cycle is None:
            return {"ran": False, "message": outcome.message}
        return {"ran": True, "cycle": cycle.pk, "key": cycle.key, "status": cycle.status, "attempt": cycle.attempt,
                "signals": cycle.signals, "candidates": cycle.candidates, "handoffs": cycle.handoffs,
                "rollbacks": cycle.rollbacks, "message": outcome.message}

    # the cycle audits itself (lane_cycle rows); a run that found nothing to do is not worth a row
    return run_audited(worker="lane", task="lane_cycle", run=run, did_work=lambda s: False)


def verify_audit_chain() -> dict:
    """Verify the hash chains of the audit and control events and store the result (the readiness
    scorecard's ``audit_chain_verified``); a break raises the critical alert ``audit_chain``."""
    def run() -> dict:
        check = services.audit_chain_verify()
        return {"check": check.pk, "ok": check.ok, "rows_checked": check.rows_checked,
                "first_break": check.first_break}

    return run_audited(worker="audit-chain", task="verify_audit_chain", run=run, did_work=lambda s: not s["ok"])
