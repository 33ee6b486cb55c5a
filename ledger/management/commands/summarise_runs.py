"""Recompute the runs list's figures (best candidate, deflated Sharpe, PBO) from the stored rows."""
from access.commands import AuditedCommand
from ledger.services import run_summaries_refresh


class Command(AuditedCommand):
    help = """Recompute each run's summary: its best candidate (highest net P&L over the test folds) with net P&L,
mean fold Sharpe and worst drawdown, and the deflated Sharpe ratio and PBO as the active gate policy
computes them. A policy activation does this in the background; run it by hand after restoring a
database.

Examples:
  manage.py summarise_runs --missing
  manage.py summarise_runs"""

    def add_arguments(self, parser):
        parser.add_argument("--missing", action="store_true", help="Only runs without a summary.")

    def handle(self, *args, **options):
        count = run_summaries_refresh(only_missing=options["missing"])
        self.audit_details["runs"] = count
        self.stdout.write(f"{count} run summaries refreshed")
