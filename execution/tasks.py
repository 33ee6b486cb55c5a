"""django-q2 tasks. Their dotted paths are stored in the schedule table: treat them as a contract."""
from access.choices import Outcome, Via
from access.services import audit_record
from execution.reconciliation import reconcile_run


def reconcile_executions() -> dict:
    """Scheduled reconciliation (idempotent; concurrent runs claim disjoint rows), audited as the
    worker's own action."""
    try:
        run = reconcile_run(trigger="schedule", time_budget_seconds=60.0)
    except Exception as exc:
        audit_record(actor="system:reconcile", via=Via.WORKER, action="task:reconcile_executions",
                     outcome=Outcome.ERROR, details={"error": f"{exc.__class__.__name__}: {exc}"[:1000]})
        raise
    summary = {"run_id": run.id, "checked": run.checked, "updated": run.updated,
               "discrepancies": run.discrepancy_count}
    audit_record(actor="system:reconcile", via=Via.WORKER, action="task:reconcile_executions",
                 object_ref=f"reconciliation_run:{run.id}", details=summary)
    return summary
