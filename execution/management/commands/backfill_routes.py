"""Recover execution routes of legacy rows from raw_order keys (see execution.backfill)."""
import time

from access.commands import AuditedCommand
from execution.backfill import backfill_plan, backfill_routes


class Command(AuditedCommand):
    help = """Backfill execution_expected_adapter / execution_actual_adapter on legacy rows from their raw_order
keys, in committed batches; resumes from its checkpoint after an interruption.

Examples:
  manage.py backfill_routes --dry-run
  manage.py backfill_routes --batch-size 10000
  manage.py backfill_routes --restart        # ignore the checkpoint"""

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print what would be written; change nothing.")
        parser.add_argument("--batch-size", type=int, default=50_000, help="Ids per committed batch.")
        parser.add_argument("--restart", action="store_true", help="Ignore the checkpoint and start from id 0.")

    def handle(self, *args, dry_run, batch_size, restart, **options):
        if dry_run:
            plan = backfill_plan()
            total = sum(n for _, _, n in plan)
            unknown = sum(n for e, a, n in plan if "unknown" in (e, a))
            self.stdout.write(f"dry run: {total} legacy rows need a route; {total - unknown} recoverable, "
                              f"{unknown} would become unknown")
            for expected, actual, n in plan:
                self.stdout.write(f"  expected={expected:<8} actual={actual:<8} rows={n}")
            return
        started = time.perf_counter()

        def progress(result, high):
            pct = 100.0 * high / result.upper_id if result.upper_id else 100.0
            self.stdout.write(f"  id <= {high} ({pct:5.1f}%): updated {result.updated}, unknown {result.unknown}, "
                              f"{time.perf_counter() - started:.1f}s")

        result = backfill_routes(batch_size=batch_size, restart=restart, progress=progress)
        if result.resumed_from:
            self.stdout.write(f"resumed after id {result.resumed_from}")
        self.stdout.write(self.style.SUCCESS(
            f"backfill done: {result.updated} rows updated ({result.unknown} unknown) in {result.batches} batches, "
            f"{time.perf_counter() - started:.1f}s"))
