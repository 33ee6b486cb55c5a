"""Reconcile open and recent orders with the brokers once (same service as the scheduled task)."""

from access.commands import AuditedCommand
from execution.reconciliation import reconcile_run


class Command(AuditedCommand):
    help = """Compare open and recent executions with LEAN and Alpaca by client order id, settle what the brokers
say, check position drift, and record the run with its discrepancies (the schedule runs the same
service every TRADING_RECONCILE_INTERVAL_MINUTES; this run is never held back by it).

Examples:
  manage.py reconcile
  manage.py reconcile --lookback-hours 72 --max-rows 20000"""

    def add_arguments(self, parser):
        parser.add_argument("--lookback-hours", type=int, default=None,
                            help="How far back (default: TRADING_RECONCILE_LOOKBACK_HOURS).")
        parser.add_argument("--max-rows", type=int, default=5000, help="Stop after checking this many orders.")

    def handle(self, *args, lookback_hours, max_rows, **options):
        run = reconcile_run(trigger="command", lookback_hours=lookback_hours, max_rows=max_rows)
        self.stdout.write(f"reconciliation run {run.id}: checked {run.checked}, updated {run.updated}, "
                          f"discrepancies {run.discrepancy_count}")
        for d in run.discrepancies.order_by("id")[:50]:
            self.stdout.write(f"  {d.kind:<22} {d.adapter:<7} {d.client_order_id} {d.broker_order_id}")
        for error in run.errors:
            self.stderr.write(f"  error: {error}")
