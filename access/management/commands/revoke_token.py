from django.core.management.base import CommandError

from access.services import command_actor, token_revoke
from core.commands import BaseCommand


class Command(BaseCommand):
    help = """Revoke a principal's API token by its key (the prefix list_tokens shows), or all of its tokens
with --all. A revoked token is refused from the next request on.

Examples:
  manage.py revoke_token research-bot --key 1a2b3c4d
  manage.py revoke_token research-bot --all"""

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--key", help="The token key shown by list_tokens (not secret).")
        parser.add_argument("--all", action="store_true", help="Revoke every token of this principal.")

    def handle(self, *args, name, key, all, **options):
        if bool(key) == bool(all):
            raise CommandError("Give exactly one of --key KEY or --all.")
        count = token_revoke(username=name, token_key=key, revoke_all=all, actor=command_actor())
        if not count:
            raise CommandError(f"No matching token for {name}.")
        self.stdout.write(f"revoked {count} token(s) of {name}")
