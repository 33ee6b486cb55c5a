"""Load the demo: principals (with a login and an agent token, printed), walk-forward research runs,
routed executions over simulated days against the sandbox brokers, and the autonomous lane's first
cycles (in the periods just before now). Idempotent.

Example:
  manage.py load_demo        # make demo runs it, then serve_demo
"""

from access.commands import AuditedCommand
from demo import services


class Command(AuditedCommand):
    help = __doc__

    def handle(self, *args, **options):
        login = services.demo_principals()
        runs = services.demo_research(progress=lambda m: self.stdout.write(f"  {m}"))
        self.stdout.write(self.style.SUCCESS(f"research: {runs} walk-forward runs in the ledger"))
        counts = services.demo_executions(progress=lambda m: self.stdout.write(f"  {m}"))
        self.stdout.write(self.style.SUCCESS(f"executions: {counts}"))
        cycles = services.demo_lane(progress=lambda m: self.stdout.write(f"  {m}"))
        self.stdout.write(self.style.SUCCESS(f"autonomous lane: {len(cycles)} cycles"))
        self.stdout.write(f"login: {login.username} / {login.password}")
        self.stdout.write(f"agent API token (demo-agent): {login.agent_token}")
