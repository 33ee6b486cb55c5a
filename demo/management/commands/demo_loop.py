"""Prove the whole chain in one run, on a scratch database, and print each step with its evidence.

The steps (demo/loop.py):
  1. an agent ingests a walk-forward run (POST /api/v1/research/runs with its token);
  2. an evaluation is signed (after the operator's drills; hash and Ed25519 signature checked);
  3. the AgentRun handoff is made (the promotion waits for approval);
  4. a scripted approver approves (the agent's own approval is refused 403);
  5. the candidate goes to paper (the strategy's stage, the signed apply decision);
  6. orders route through LEAN; a LEAN outage injected at the sandbox broker (/_fault "error") makes them
     fall back to Alpaca, the circuit opens, the LEAN lane is disabled at once and the critical alert is
     delivered to a loopback webhook whose HMAC signature is checked;
  7. a budget breach halts trading and the next order is refused (their codes);
  8. the promotion replays (replay_promotion) and its evidence bundle verifies offline (verify_evidence).
Each step reads its evidence back from the database, the brokers' books or the webhook receiver.

Everything runs on a database of its own, torghut_demo_loop_<pid>, created on the embedded server (or on
the server of DATABASE_URL when it is set), migrated, and dropped at the end: the demo's data is never
touched. The sandbox brokers, the API server and the webhook receiver listen on free loopback ports and
stop at the end, also on Ctrl-C or SIGTERM (exit status 130). Exit status 1, naming the step and the
evidence that is missing, when any step's evidence is missing.

Example:
  python manage.py demo_loop                        # what `make e2e` runs
  python manage.py demo_loop --no-alert-delivery    # the plane gets no webhook: step 6 fails, exit 1
"""
import signal
import time

from django.core.management.base import CommandError

from core.commands import BaseCommand
from demo.loop import Loop, LoopOptions, ScratchDatabaseError, StepFailed


def _interrupt(signum, frame):
    """The first Ctrl-C or SIGTERM stops the run; later ones must not cut its clean-up short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = __doc__
    requires_migrations_checks = False  # it migrates a scratch database of its own

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-alert-delivery", action="store_true",
            help="Give the plane no alert webhook (ALERT_WEBHOOK_URL unset, as on a deployment without one); the "
                 "receiver still listens, gets nothing, and step 6 fails for want of the delivery.")

    def handle(self, *args, no_alert_delivery: bool, **options):
        # SIGTERM stops the run like Ctrl-C: the brokers, servers and the scratch database are cleaned up on the
        # way out, then manage.py says "interrupted" (exit status 130).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        started = time.monotonic()

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        loop = Loop(say=say, options=LoopOptions(deliver_alerts=not no_alert_delivery))
        try:
            loop.run()
        except ScratchDatabaseError as exc:
            raise CommandError(str(exc)) from None
        except StepFailed as failed:
            say(self.style.ERROR(f"FAILED {failed}"))
            raise CommandError(f"demo_loop failed at step {failed.step}: its evidence is missing (see above)") from None
        say(self.style.SUCCESS(f"demo_loop: all 8 steps proved in {time.monotonic() - started:.1f} s; "
                               "the scratch database was dropped"))
