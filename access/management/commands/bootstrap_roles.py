from access.services import command_actor, roles_bootstrap
from core.commands import BaseCommand


class Command(BaseCommand):
    help = """Create the application roles (researcher, operator, approver, auditor, agent) as Django groups if
missing. Idempotent and audited: run it once per deployment (make demo does).

Example:
  manage.py bootstrap_roles"""

    def handle(self, *args, **options):
        for role, created in roles_bootstrap(actor=command_actor()):
            self.stdout.write(f"{role}: {'created' if created else 'exists'}")
