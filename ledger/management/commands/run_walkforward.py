"""Run the walk-forward backtest on a stored dataset, for every registered strategy or the ones named,
and store each run in the ledger (with the code commit it ran).

Examples:
  manage.py run_walkforward --dataset synthetic-60d
  manage.py run_walkforward --dataset synthetic-60d --strategy tsmom --train-days 20 --test-days 5
"""
import subprocess

from django.conf import settings
from django.core.management.base import CommandError

from access.commands import AuditedCommand
from core.errors import ApplicationError
from ledger import selectors
from ledger.models import Dataset
from ledger.services import walkforward_run


def current_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=settings.BASE_DIR,
                             capture_output=True, text=True, timeout=5, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset version label or sha256: fingerprint")
        parser.add_argument("--strategy", action="append", default=[],
                            help="Strategy to run (repeatable; default: every registered strategy)")
        parser.add_argument("--train-days", type=int, default=None)
        parser.add_argument("--test-days", type=int, default=None)
        parser.add_argument("--code-commit", default=None, help="Defaults to the checkout's git commit")

    def handle(self, *args, dataset, strategy, train_days, test_days, code_commit, **options):
        from ledger.walkforward import FoldSpec
        from ledger.walkforward.strategies import strategy_names

        try:
            ds = selectors.dataset_get(ref=dataset)
        except Dataset.DoesNotExist:
            raise CommandError(f"no dataset {dataset!r}; create one with generate_bars or import_bars") from None
        spec = None
        if train_days or test_days:
            defaults = FoldSpec()
            spec = FoldSpec(train_days=train_days or defaults.train_days, test_days=test_days or defaults.test_days)
        try:
            outcomes = walkforward_run(dataset=ds, strategies=strategy or strategy_names(),
                                       code_commit=code_commit or current_commit(), fold_spec=spec,
                                       actor="command:run_walkforward", progress=self.stdout.write)
        except (ApplicationError, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        for outcome in outcomes:
            r = outcome.result
            verb = "stored" if r.created else "unchanged (identical run already stored)"
            self.stdout.write(f"{outcome.strategy}: {verb} {r.run.run_id} status={r.run.status} "
                              f"candidates={len(r.candidate_ids)} sha256={r.artifact_sha256}")
