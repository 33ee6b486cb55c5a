"""Ed25519 keys that sign gate evaluations and promotion decisions.

Private keys are files under TORGHUT_SIGNING_KEY_DIR; public keys and their status are stored in
the database and served at /api/v1/promotions/keys.

Examples:
  manage.py signing_keys generate          # the first key (same as rotate when none exists)
  manage.py signing_keys rotate            # a new key signs; the old one is retired, its signatures still verify
  manage.py signing_keys revoke ed25519:0123456789abcdef --reason "key file leaked"   # its signatures stop verifying
  manage.py signing_keys list
"""
from django.core.management.base import CommandError

from access.commands import AuditedCommand
from access.services import command_actor
from core.errors import ApplicationError
from promotions import selectors, services
from promotions.choices import KeyStatus


class Command(AuditedCommand):
    help = __doc__

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("generate", help="Create the first signing key (refused when one is active: use rotate).")
        sub.add_parser("rotate", help="Create a new active key and retire the current one.")
        revoke = sub.add_parser("revoke", help="Revoke a key: its signatures no longer verify.")
        revoke.add_argument("key_id")
        revoke.add_argument("--reason", required=True)
        sub.add_parser("list", help="Every key with its status.")

    def handle(self, *args, action, **options):
        try:
            if action == "generate":
                if selectors.signing_key_list().filter(status=KeyStatus.ACTIVE).exists():
                    raise CommandError("a signing key is already active; use `signing_keys rotate` for a new one")
                action = "rotate"
            if action == "rotate":
                key = services.signing_key_rotate(actor=command_actor())
                self.stdout.write(f"active signing key: {key.key_id}")
                self.audit_details["key_id"] = key.key_id
            elif action == "revoke":
                key = services.signing_key_revoke(key_id=options["key_id"], reason=options["reason"],
                                                  actor=command_actor())
                self.stdout.write(f"revoked {key.key_id}")
            else:
                for key in selectors.signing_key_list():
                    revoked = f"  revoked: {key.revoked_reason}" if key.revoked_reason else ""
                    self.stdout.write(f"{key.key_id}  {key.status:<8} created {key.created_at:%Y-%m-%d %H:%M} "
                                      f"by {key.created_by}{revoked}")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
