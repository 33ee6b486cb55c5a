from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from access.selectors import PERM_ROLE
from access.services import command_actor, strategy_grant_audited, strategy_revoke
from core.commands import BaseCommand


class Command(BaseCommand):
    help = """Grant (or --revoke) one per-strategy right to a user: approve_promotions (for approvers) or
operate_strategy (for operators). Audited.

Examples:
  manage.py grant_strategy olga tsmom --perm approve_promotions
  manage.py grant_strategy olga tsmom --perm approve_promotions --revoke"""

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("strategy")
        parser.add_argument("--perm", required=True, choices=sorted(PERM_ROLE))
        parser.add_argument("--revoke", action="store_true")

    def handle(self, *args, name, strategy, perm, revoke, **options):
        User = get_user_model()
        try:
            if revoke:
                user = User.objects.get(username=name)
                strategy_revoke(user=user, strategy_name=strategy, perm=perm, actor=command_actor())
                self.stdout.write(f"revoked {perm} on {strategy} from {name}")
            else:
                strategy_grant_audited(username=name, strategy_name=strategy, perm=perm, actor=command_actor())
                self.stdout.write(f"granted {perm} on {strategy} to {name}")
        except User.DoesNotExist:
            raise CommandError(f"No principal named {name}.")
        except ValueError as exc:
            raise CommandError(str(exc))
