"""django-q2 tasks. Their dotted paths are stored in the schedule table: treat them as a contract."""
from execution.reconciliation import reconcile_run


def reconcile_executions() -> dict:
    """Scheduled reconciliation (idempotent; concurrent runs claim disjoint rows)."""
    run = reconcile_run(trigger="schedule", time_budget_seconds=60.0)
    return {"run_id": run.id, "checked": run.checked, "updated": run.updated,
            "discrepancies": run.discrepancy_count}
