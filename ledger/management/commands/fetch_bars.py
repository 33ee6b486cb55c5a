"""Fetch 1-minute bars from Alpaca's historical data API (alpaca-py) and store them as a dataset.
Needs ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY (ALPACA_DATA_URL overrides the host).

Example:
  manage.py fetch_bars --dataset-version bars-2026-02 --symbols AAPL,MSFT --start 2026-02-02 --end 2026-02-27
"""
import datetime as dt

from django.core.management.base import CommandError

from access.commands import AuditedCommand
from core.errors import ApplicationError
from ledger.choices import DatasetSource
from ledger.services import dataset_store_bars
from ledger.sources.alpaca_bars import AlpacaBarsError, alpaca_credentials, fetch_alpaca_bars


def _when(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dataset-version", "--label", dest="version", required=True)
        parser.add_argument("--symbols", required=True, help="Comma-separated, e.g. AAPL,MSFT")
        parser.add_argument("--start", required=True, help="ISO date/time (UTC when no offset)")
        parser.add_argument("--end", required=True)
        parser.add_argument("--feed", default=None, help="iex or sip (default: the account's)")

    def handle(self, *args, version, symbols, start, end, feed, **options):
        try:
            start_at, end_at = _when(start), _when(end)
        except ValueError as exc:
            raise CommandError(f"bad --start/--end: {exc}") from None
        names = [s.strip().upper() for s in symbols.split(",") if s.strip()]
        self.stdout.write(f"fetching 1-minute bars for {', '.join(names)} from {start_at} to {end_at}…")
        try:
            bars = fetch_alpaca_bars(names, start_at, end_at, feed=feed, **alpaca_credentials())
            dataset, created = dataset_store_bars(bars=bars, version=version, source=DatasetSource.ALPACA,
                                                  snapshot_ref=f"alpaca:{','.join(names)}:{start}:{end}",
                                                  actor="command:fetch_bars")
        except AlpacaBarsError as exc:
            raise CommandError(str(exc)) from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        verb = "stored" if created else "already stored (identical rows)"
        self.stdout.write(f"{verb}: dataset {dataset.version} {dataset.fingerprint} ({dataset.bar_count} bars)")
