
from access.commands import AuditedCommand
from access.selectors import token_list
from access.services import tokens_purge_expired


def _fmt(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


class Command(AuditedCommand):
    help = """List API tokens (key prefix, created, expiry, last used), of everyone or of one principal; never
their secrets. Expired tokens are purged first.

Examples:
  manage.py list_tokens
  manage.py list_tokens research-bot"""

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")

    def handle(self, *args, name, **options):
        purged = tokens_purge_expired()
        if purged:
            self.stdout.write(f"(deleted {purged} expired token(s))")
        self.stdout.write(f"{'user':<24}{'key':<18}{'created':<22}{'expires':<22}last used")
        for token in token_list(username=name):
            usage = getattr(token, "usage", None)
            self.stdout.write(f"{token.user.username:<24}{token.token_key:<18}{_fmt(token.created):<22}"
                              f"{_fmt(token.expiry):<22}{_fmt(usage.last_used_at if usage else None)}")
