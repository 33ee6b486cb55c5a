"""The recovery playbook's rules (a versioned JSON document): load a version, activate one, list them.

Examples:
  manage.py playbook load autonomy/playbooks/playbook-v1.json
  manage.py playbook load --shipped
  manage.py playbook activate playbook-v1 --reason "tighter slippage limits"
  manage.py playbook list
"""
from pathlib import Path

from django.core.management.base import CommandError

from access.commands import AuditedCommand, read_json_documents
from access.services import command_actor
from autonomy import selectors, services
from core.errors import ApplicationError

SHIPPED = Path(services.SHIPPED_PLAYBOOK).parent


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Store playbook documents (JSON files); a stored version never changes.")
        load.add_argument("files", nargs="*")
        load.add_argument("--shipped", action="store_true", help=f"load every playbook in {SHIPPED}")
        activate = sub.add_parser("activate", help="Run a stored version from the next sweep on.")
        activate.add_argument("version")
        activate.add_argument("--reason", required=True, help="why (recorded as a control event)")
        sub.add_parser("list", help="Stored versions, the active one marked.")

    def handle(self, *args, action, **options):
        try:
            getattr(self, f"_{action}")(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc

    def _load(self, files, shipped, **_):
        for _path, document in read_json_documents(files, SHIPPED if shipped else None):
            row, created = services.playbook_load(document=document, actor=command_actor())
            self.stdout.write(f"{'stored' if created else 'already stored'} {row.version} sha256 {row.sha256}")

    def _activate(self, version, reason, **_):
        services.playbook_activate(version=version, actor=command_actor(), reason=reason)
        self.stdout.write(f"{version} is now the active playbook")

    def _list(self, **_):
        from autonomy.models import PlaybookVersion

        active = selectors.playbook_active()
        for row in PlaybookVersion.objects.order_by("id"):
            self.stdout.write(f"{'*' if active and active.pk == row.pk else ' '} {row.version} {row.sha256} "
                              f"{row.created_by} {row.created_at:%Y-%m-%d %H:%M}")
