from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from access.roles import Role
from access.services import principal_create


class Command(BaseCommand):
    help = ("Create a user (or add roles to an existing one) and print a new API token "
            "alone on the last line. The token is shown once and stored hashed.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--role", action="append", default=[], choices=Role.values,
                            help="A role to grant; repeat for several.")
        parser.add_argument("--strategy", action="append", default=[],
                            help="Narrow approver/operator rights to this strategy; repeat for several.")
        parser.add_argument("--expires-days", type=int, default=None,
                            help="Token lifetime in days (default: no expiry).")

    def handle(self, *args, name, role, strategy, expires_days, **options):
        expires = timedelta(days=expires_days) if expires_days else None
        try:
            result = principal_create(name=name, roles=role, strategies=strategy, expires_in=expires)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created" if result.created else "updated"
        self.stdout.write(f"{verb} {result.username} with roles: {', '.join(result.roles)}")
        if strategy:
            self.stdout.write(f"strategies: {', '.join(strategy)}")
        self.stdout.write(result.token)
