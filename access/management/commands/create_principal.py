from datetime import timedelta

from django.core.management.base import CommandError

from access.choices import Outcome, Via
from access.roles import Role
from access.services import audit_record, command_actor, principal_create
from core.commands import BaseCommand


class Command(BaseCommand):
    help = """Create a user (or add roles to an existing one) and print a new API token alone on the last
line. The token is shown once and stored hashed; list_tokens shows its key, revoke_token ends it.

Examples:
  manage.py create_principal research-bot --role agent --expires-days 90
  manage.py create_principal olga --role approver --strategy tsmom
  TOKEN=$(manage.py create_principal ci-agent --role agent | tail -n 1)"""

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", action="append", default=[], choices=Role.values,
                            help="A role to grant; repeat for several.")
        parser.add_argument("--strategy", action="append", default=[],
                            help="Grant approver/operator rights on this strategy only (created if "
                                 "missing); repeat for several.")
        parser.add_argument("--expires-days", type=int, default=None,
                            help="Token lifetime in days (default: no expiry).")

    def handle(self, *args, name, role, strategy, expires_days, **options):
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        expires = timedelta(days=expires_days) if expires_days else None
        try:
            result = principal_create(name=name, roles=role, strategies=strategy, expires_in=expires,
                                      actor=command_actor())
        except ValueError as exc:
            audit_record(actor=command_actor(), via=Via.COMMAND, action="principal_create",
                         outcome=Outcome.INVALID, object_ref=f"user:{name}",
                         details={"roles": role, "strategies": strategy, "error": str(exc)})
            raise CommandError(str(exc)) from exc
        verb = "created" if result.created else "updated"
        self.stdout.write(f"{verb} {result.username} with roles: {', '.join(result.roles)}")
        for strategy_name, perm in result.strategies:
            self.stdout.write(f"strategy {strategy_name}: {perm}")
        self.stdout.write(f"token key {result.token_key} (expires: "
                          f"{'never' if not expires else f'in {expires_days} days'})")
        self.stdout.write(result.token)
