"""django-q2 tasks of the autonomy app. Their dotted paths are stored in the schedule table: treat
them as a contract."""
from access.choices import Via
from access.services import audit_record


def readiness_sweep() -> dict:
    """Replay the promotions every activation rests on (recording each outcome), then store a readiness
    snapshot. Idempotent: each run appends its own records; the scorecard reads the newest."""
    from autonomy.services import readiness_snapshot_take
    from promotions.services import replay_sweep

    replays = replay_sweep()
    snapshot = readiness_snapshot_take()
    summary = {"replays": len(replays), "green": snapshot.green,
               "failing": [c["id"] for c in snapshot.criteria if c["status"] != "pass"]}
    audit_record(actor="system:readiness", via=Via.WORKER, action="task:readiness_sweep",
                 object_ref=f"readiness_snapshot:{snapshot.pk}", details=summary)
    return summary
