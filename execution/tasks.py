"""django-q2 tasks. Their dotted paths are stored in the schedule table: treat them as a contract."""
from datetime import timedelta

from django.utils import timezone

from access.choices import Outcome, Via
from access.services import audit_record
from autonomy.services import playbook_ensure, playbook_run
from autonomy.tasks import run_audited
from execution import selectors
from execution.circuit import lean_circuit_sweep
from execution.reconciliation import reconcile_scheduled
from execution.wiring import adapters


def reconcile_executions() -> dict:
    """Scheduled reconciliation, once per period (a second cluster or a second delivery of the same
    period does nothing), audited as the worker's own action."""
    try:
        run = reconcile_scheduled()
    except Exception as exc:
        audit_record(actor="system:reconcile", via=Via.WORKER, action="task:reconcile_executions",
                     outcome=Outcome.ERROR, details={"error": f"{exc.__class__.__name__}: {exc}"[:1000]})
        raise
    if run is None:
        return {"skipped": "this period's scheduled reconciliation is running or finished"}
    summary = {"run_id": run.id, "checked": run.checked, "updated": run.updated,
               "discrepancies": run.discrepancy_count, "drift": getattr(run, "drift", None)}
    audit_record(actor="system:reconcile", via=Via.WORKER, action="task:reconcile_executions",
                 object_ref=f"reconciliation_run:{run.id}", details=summary)
    return summary


def sweep_lean_circuit() -> dict:
    """Backstop of the LEAN kill switch (the order path trips it at once) and its recovery probes."""
    def run() -> dict:
        lean, _ = adapters()
        return lean_circuit_sweep(lean)

    return run_audited(worker="lean-circuit", task="sweep_lean_circuit", run=run,
                       did_work=lambda s: bool(s.get("action") or s.get("recovery")))


def sweep_playbook() -> dict:
    """One cycle of the recovery playbook: the window's slippage and route notional, measured here."""
    def run() -> dict:
        document = playbook_ensure().document
        since = timezone.now() - timedelta(minutes=document["window_minutes"])
        routes = [{"adapter": r["adapter"], "symbol": r["symbol"], "notional": r["notional"], "share": r["share"]}
                  for r in selectors.route_concentration(since=since)]
        outcome = playbook_run(slippage=selectors.slippage_by_symbol(since=since), routes=routes)
        return {"evaluated": outcome is not None, "actions": outcome["actions"] if outcome else []}

    return run_audited(worker="playbook", task="sweep_playbook", run=run, did_work=lambda s: bool(s["actions"]))
