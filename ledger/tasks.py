"""django-q2 tasks of the ledger (paths are stored in the queue: a contract)."""
from ledger import services


def run_summaries_refresh() -> int:
    """Recompute every run's summary (enqueued when a gate policy is activated)."""
    return services.run_summaries_refresh()
