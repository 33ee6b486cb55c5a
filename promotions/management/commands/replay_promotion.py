"""Recompute promotion decisions from the stored ledger rows and the stored policy version alone,
and verify every hash and signature; list what does not match.

Examples:
  manage.py replay_promotion 42
  manage.py replay_promotion --all            # every stored promotion, with promotions per second
Exit status 1 when any promotion does not reproduce. Each replay is recorded (its outcome and time:
the readiness scorecard reads the slowest of its window) unless --no-record.
"""
import time

from django.core.management.base import CommandError

from core.commands import BaseCommand
from promotions import selectors, services
from promotions.models import Promotion


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("promotion_id", nargs="?", type=int)
        parser.add_argument("--all", action="store_true", help="replay every stored promotion")
        parser.add_argument("--no-record", action="store_true", help="do not record the replays")

    def handle(self, *args, promotion_id, all, no_record=False, **options):
        if (promotion_id is None) == (not all):
            raise CommandError("name one promotion id, or --all")
        ids = (list(Promotion.objects.order_by("id").values_list("id", flat=True)) if all else [promotion_id])
        started, failed = time.perf_counter(), 0
        for n, pk in enumerate(ids, 1):
            try:
                promotion = selectors.promotion_get(promotion_id=pk)
            except Promotion.DoesNotExist:
                raise CommandError(f"no promotion #{pk}") from None
            result = selectors.promotion_replay(promotion=promotion)
            if not no_record:
                services.replay_record(promotion=promotion, result=result, actor="command:replay_promotion")
            if not result["reproducible"]:
                failed += 1
                self.stdout.write(f"#{pk} NOT reproducible:")
                for mismatch in result["mismatches"]:
                    self.stdout.write(f"  - {mismatch}")
            elif not all:
                self.stdout.write(f"#{pk} reproducible ({result['elapsed_ms']} ms): allowed="
                                  f"{result['replayed']['allowed']}, every hash and signature verifies")
            if all and n % 500 == 0:
                self.stderr.write(f"  {n}/{len(ids)} replayed ({n / (time.perf_counter() - started):.0f}/s)")
        elapsed = time.perf_counter() - started
        if all:
            rate = len(ids) / elapsed if elapsed else 0
            self.stdout.write(f"{len(ids)} promotions replayed in {elapsed:.1f} s ({rate:.0f} promotions/s), "
                              f"{failed} not reproducible")
        if failed:
            raise SystemExit(1)
