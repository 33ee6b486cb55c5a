"""Gate policies: load a version, activate one, compare two, list them.

Examples:
  manage.py gate_policy load promotions/policies/v4-gates-1.json
  manage.py gate_policy load --shipped                  # every policy this project ships
  manage.py gate_policy activate v4-gates-1 --reason "selection-bias gate from today"
  manage.py gate_policy diff v3-gates-1 v4-gates-1
  manage.py gate_policy list
"""
import json
from pathlib import Path

from django.core.management.base import CommandError

from access.commands import AuditedCommand, read_json_documents
from access.services import command_actor
from core.errors import ApplicationError
from promotions import selectors, services
from promotions.policy_diff import policy_diff

SHIPPED = Path(__file__).resolve().parents[2] / "policies"


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Store policy documents (JSON files); a stored version never changes.")
        load.add_argument("files", nargs="*", help="policy JSON files")
        load.add_argument("--shipped", action="store_true", help=f"load every policy in {SHIPPED}")
        activate = sub.add_parser("activate", help="Make a stored version the one new evaluations use.")
        activate.add_argument("version")
        activate.add_argument("--reason", required=True, help="why (recorded with the decision)")
        diff = sub.add_parser("diff", help="What changed between two stored versions.")
        diff.add_argument("a")
        diff.add_argument("b")
        sub.add_parser("list", help="Stored versions, the active one marked.")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _load(self, files, shipped, **_):
        for _path, document in read_json_documents(files, SHIPPED if shipped else None):
            policy, created = services.policy_load(document=document, actor=command_actor())
            self.stdout.write(f"{'loaded' if created else 'unchanged'} {policy.version} sha256 {policy.sha256}")

    def _activate(self, version, reason, **_):
        activation = services.policy_activate(version=version, reason=reason, actor=command_actor())
        before = activation.previous.version if activation.previous else "none"
        self.stdout.write(f"active policy: {version} (was {before})")

    def _diff(self, a, b, **_):
        try:
            left, right = selectors.policy_get(version=a), selectors.policy_get(version=b)
        except Exception:
            raise CommandError("both versions must be stored; see `gate_policy list`") from None
        rows = policy_diff(left.document, right.document)
        for path, old, new in rows:
            self.stdout.write(f"{path}: {json.dumps(old)} -> {json.dumps(new)}")
        self.stdout.write(f"{len(rows)} difference(s) between {a} and {b}")

    def _list(self, **_):
        active = selectors.policy_active()
        for policy in selectors.policy_list():
            mark = "*" if active and policy.pk == active.pk else " "
            self.stdout.write(f"{mark} {policy.version}  sha256 {policy.sha256}  "
                              f"loaded {policy.created_at:%Y-%m-%d %H:%M} by {policy.created_by}")
