"""Import bars from a CSV file (symbol,timestamp,open,high,low,close,volume[,spread_bps]) as a dataset,
fingerprinted by its content.

Example:
  manage.py import_bars var/bars-2026-02.csv --dataset-version bars-2026-02
"""
from django.core.management.base import CommandError

from access.commands import AuditedCommand
from core.errors import ApplicationError
from ledger.choices import DatasetSource
from ledger.services import dataset_store_bars


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("csv_path")
        parser.add_argument("--dataset-version", "--label", dest="version", required=True,
                            help="Dataset version label, e.g. bars-2026-02")
        parser.add_argument("--snapshot-ref", default="", help="Where the source file lives (defaults to its path)")

    def handle(self, *args, csv_path, version, snapshot_ref, **options):
        from ledger.walkforward.csv_io import BarsCsvError, read_bars_csv

        self.stdout.write(f"reading {csv_path}…")
        try:
            bars = read_bars_csv(csv_path)
        except FileNotFoundError:
            raise CommandError(f"{csv_path}: no such file") from None
        except BarsCsvError as exc:
            raise CommandError(f"{csv_path}: {exc}") from None
        total = sum(len(b) for b in bars.values())
        self.stdout.write(f"parsed {total} bars for {len(bars)} symbol(s); storing…")
        try:
            dataset, created = dataset_store_bars(bars=bars, version=version, source=DatasetSource.CSV,
                                                  snapshot_ref=snapshot_ref or csv_path,
                                                  actor="command:import_bars")
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        verb = "stored" if created else "already stored (identical rows)"
        self.stdout.write(f"{verb}: dataset {dataset.version} {dataset.fingerprint} ({dataset.bar_count} bars)")
