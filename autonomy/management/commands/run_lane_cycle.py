"""Run one cycle of the autonomous lane in the foreground, printing each stage as it goes.

The cycle takes the newest bars (Alpaca's data API when ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY are
set, else the synthetic feed), runs the walk-forward of every strategy that is not HALTED, evaluates each
new candidate's gates under the active policy, files an AgentRun handoff for each that passes, and rolls
back a strategy whose live evidence breaks the policy. It is recorded like a scheduled cycle (the lane
page, GET /api/v1/autonomy/lane/cycles). When a failed cycle's retry is due, this runs that retry instead.

Exits 0 when the cycle succeeded or was skipped (no new bars), 1 when it failed (a retry is due), paused
the lane, or could not run (the lane is paused, or another worker is running a cycle).

Example:
  manage.py run_lane_cycle
"""
from django.core.management.base import CommandError

from access.commands import AuditedCommand
from autonomy.choices import LaneCycleStatus, LaneTrigger
from autonomy.lane_services import lane_cycle_run


class Command(AuditedCommand):
    help = __doc__

    def handle(self, *args, **options):
        outcome = lane_cycle_run(trigger=LaneTrigger.COMMAND, progress=self.stdout.write)
        cycle = outcome.cycle
        if cycle is None:
            raise CommandError(f"no cycle ran: {outcome.message}")
        self.audit_details.update({"cycle": cycle.pk, "status": cycle.status})
        self.stdout.write(f"cycle #{cycle.pk} {cycle.status}: {cycle.signals} new bars, {cycle.runs} runs, "
                          f"{cycle.candidates} candidates, {cycle.evaluations} evaluated ({cycle.passed} passed), "
                          f"{cycle.handoffs} handoffs, {cycle.rollbacks} rollbacks")
        if cycle.status not in (LaneCycleStatus.SUCCEEDED, LaneCycleStatus.SKIPPED):
            raise CommandError(f"cycle #{cycle.pk} {cycle.status}: {cycle.reason}")
