"""Reconcile open and recent orders with the brokers once (same service as the scheduled task)."""

from access.commands import AuditedCommand
from execution.reconciliation import reconcile_run


class Command(AuditedCommand):
    help = "Compare open and recent executions with LEAN and Alpaca by client order id; record the run."

    def add_arguments(self, parser):
        parser.add_argument("--lookback-hours", type=int, default=None)
        parser.add_argument("--max-rows", type=int, default=5000)

    def handle(self, *args, lookback_hours, max_rows, **options):
        run = reconcile_run(trigger="command", lookback_hours=lookback_hours, max_rows=max_rows)
        self.stdout.write(f"reconciliation run {run.id}: checked {run.checked}, updated {run.updated}, "
                          f"discrepancies {run.discrepancy_count}")
        for d in run.discrepancies.order_by("id")[:50]:
            self.stdout.write(f"  {d.kind:<22} {d.adapter:<7} {d.client_order_id} {d.broker_order_id}")
        for error in run.errors:
            self.stderr.write(f"  error: {error}")
