from django.core.management.base import BaseCommand

from access.services import command_actor, roles_bootstrap


class Command(BaseCommand):
    help = "Create the application roles (researcher, operator, approver, auditor, agent). Idempotent."

    def handle(self, *args, **options):
        for role, created in roles_bootstrap(actor=command_actor()):
            self.stdout.write(f"{role}: {'created' if created else 'exists'}")
