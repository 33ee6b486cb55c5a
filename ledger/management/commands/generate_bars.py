"""Generate a seeded, deterministic synthetic dataset of 1-minute bars (trending, mean-reverting and
volatile regimes) and store it like any other dataset: the same arguments give the same fingerprint.

Example:
  manage.py generate_bars --dataset-version synthetic-60d --symbols AAPL,MSFT --days 60 --seed 7
"""
import datetime as dt

from django.core.management.base import CommandError

from access.commands import AuditedCommand
from core.errors import ApplicationError
from ledger.choices import DatasetSource
from ledger.services import dataset_store_bars


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dataset-version", "--label", dest="version", required=True)
        parser.add_argument("--symbols", default="AAPL,MSFT,NVDA,AMZN,SPY")
        parser.add_argument("--days", type=int, default=60, help="Trading days of 1-minute bars")
        parser.add_argument("--start", default="2025-01-02", help="First calendar day (YYYY-MM-DD)")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, version, symbols, days, start, seed, **options):
        from ledger.walkforward.synthetic import generate_bars

        try:
            start_day = dt.date.fromisoformat(start)
        except ValueError:
            raise CommandError(f"--start {start!r} is not a YYYY-MM-DD date") from None
        names = [s.strip().upper() for s in symbols.split(",") if s.strip()]
        if not names:
            raise CommandError("--symbols needs at least one symbol")
        self.stdout.write(f"generating {days} days × {len(names)} symbols (seed {seed})…")
        try:
            bars = generate_bars(names, start=start_day, n_days=days, seed=seed)
            dataset, created = dataset_store_bars(
                bars=bars, version=version, source=DatasetSource.SYNTHETIC,
                snapshot_ref=f"synthetic:seed={seed}:start={start}:days={days}:symbols={','.join(names)}",
                actor="command:generate_bars")
        except (ValueError, ApplicationError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        verb = "stored" if created else "already stored (identical rows)"
        self.stdout.write(f"{verb}: dataset {dataset.version} {dataset.fingerprint} ({dataset.bar_count} bars)")
