"""Verify a promotion's evidence bundle offline: no database is opened.

The bundle comes from GET /api/v1/promotions/{id}/evidence. Every hash (policy, each ledger row the
evaluation read, the artifact, each decision), the decision chain and every Ed25519 signature are
checked, and the gates are recomputed from the bundled rows.

Example:
  curl -H "Authorization: Token $TOKEN" http://127.0.0.1:8000/api/v1/promotions/42/evidence > bundle.json
  manage.py verify_evidence bundle.json
Exit status 0 when everything holds; 1 and one line per problem otherwise.
"""
import json
import sys

from django.core.management.base import CommandError

from core.commands import BaseCommand
from promotions.bundle import verify


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON (a bundle holds no non-finite numbers)")


class Command(BaseCommand):
    help = __doc__
    requires_system_checks: list = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("file", help="the bundle JSON file, or - for standard input")

    def handle(self, *args, file, **options):
        try:
            text = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()
            bundle = json.loads(text, parse_constant=_refuse_constant)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{file}: {exc}") from exc
        problems = verify(bundle)
        promotion = bundle.get("promotion", {}) if isinstance(bundle, dict) else {}
        label = f"promotion #{promotion.get('id', '?')} ({promotion.get('strategy', '?')})"
        if problems:
            for problem in problems:
                self.stdout.write(f"FAIL {problem}")
            self.stdout.write(f"{label}: {len(problems)} problem(s)")
            raise SystemExit(1)
        self.stdout.write(f"OK {label}: every hash and signature verifies; the gates recompute identically")
