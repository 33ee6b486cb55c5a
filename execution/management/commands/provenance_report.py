"""Null and unknown route counts by day."""
from datetime import timedelta

from django.utils import timezone

from core.commands import BaseCommand
from execution.selectors import provenance_by_day


class Command(BaseCommand):
    help = """Print, per day, how many executions have NULL or unknown expected/actual adapters (what
backfill_routes has left to recover).

Examples:
  manage.py provenance_report
  manage.py provenance_report --days 30"""

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=3650, help="How many days back (default: all history).")

    def handle(self, *args, days, **options):
        rows = provenance_by_day(since=timezone.now() - timedelta(days=days))
        header = f"{'day':<10} {'total':>8} {'null_exp':>9} {'null_act':>9} {'unk_exp':>8} {'unk_act':>8} {'legacy':>8}"
        self.stdout.write(header)
        totals = dict.fromkeys(["total", "null_expected", "null_actual", "unknown_expected", "unknown_actual",
                                "legacy"], 0)
        for r in rows:
            for k in totals:
                totals[k] += r[k]
            self.stdout.write(f"{r['day']!s:<10} {r['total']:>8} {r['null_expected']:>9} {r['null_actual']:>9} "
                              f"{r['unknown_expected']:>8} {r['unknown_actual']:>8} {r['legacy']:>8}")
        self.stdout.write(f"{'all':<10} {totals['total']:>8} {totals['null_expected']:>9} {totals['null_actual']:>9} "
                          f"{totals['unknown_expected']:>8} {totals['unknown_actual']:>8} {totals['legacy']:>8}")
