"""Create or update the django-q2 schedules (reconciliation, sweeps, alert delivery) by name."""

from access.commands import AuditedCommand
from execution.schedules import sync_schedules


class Command(AuditedCommand):
    help = """Create or update the django-q2 schedules (reconciliation, the kill-switch sweeps, alert delivery,
readiness, budgets, heartbeat retention) by unique name with an explicit next_run; never duplicates
one. make worker runs it before qcluster; run it once per deployment, whatever the number of workers.

Example:
  manage.py sync_schedules"""

    def handle(self, *args, **options):
        for name, created in sync_schedules():
            self.stdout.write(f"{'created' if created else 'updated'} {name}")
