"""Serve the fake LEAN runner and fake Alpaca on 127.0.0.1 in the foreground."""
import signal

from django.conf import settings
from django.core.management.base import CommandError

from core.commands import BaseCommand
from execution.fake_brokers import DEFAULT_ALPACA_PORT, DEFAULT_LEAN_PORT, FAULT_MODE_HELP, serve_forever_both


def _modes_help() -> str:
    lines = ["Change a broker's behaviour from its next request on with",
             "  curl -XPOST <url>/_fault -d '{\"mode\": \"<mode>\", \"delay_seconds\": 10}'",
             "(/_fault itself always answers). Modes:"]
    lines += [f"  {mode}: {text}" for mode, text in FAULT_MODE_HELP.items()]
    lines.append("GET <alpaca url>/v2/orders?status=all lists every order the Alpaca fake accepted.")
    lines += ["", "Examples:", "  manage.py fake_brokers --lean-port 8751 --alpaca-port 8752",
              "  manage.py fake_brokers --lean-port 0 --alpaca-port 0 --book-dir --quiet"]
    return "\n".join(lines)


class Command(BaseCommand):
    help = ("Serve the sandbox brokers (LEAN runner API + Alpaca REST subset) until Ctrl-C; prints both URLs.\n\n"
            + _modes_help())

    def add_arguments(self, parser):
        parser.add_argument("--lean-port", type=int, default=DEFAULT_LEAN_PORT, help="0 picks a free port.")
        parser.add_argument("--alpaca-port", type=int, default=DEFAULT_ALPACA_PORT, help="0 picks a free port.")
        parser.add_argument("--delay-seconds", type=float, default=10.0,
                            help="How long the slow and accept_then_timeout modes wait.")
        parser.add_argument("--quiet", action="store_true", help="Do not log each request.")
        parser.add_argument("--book-dir", nargs="?", const=str(settings.FAKE_BROKER_BOOK_DIR), default=None,
                            help="Keep the brokers' books of orders across restarts in lean.json and alpaca.json in "
                                 "this folder (with no value: FAKE_BROKER_BOOK_DIR, var/fake_brokers). Without it "
                                 "the books are in memory and start empty.")

    def handle(self, *args, lean_port, alpaca_port, delay_seconds, quiet, book_dir, **options):
        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        def stop(signum, frame):  # SIGTERM stops as Ctrl-C does: the brokers write their books first
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            serve_forever_both(lean_port=lean_port, alpaca_port=alpaca_port, delay_seconds=delay_seconds,
                               log_requests=not quiet, write=write, book_dir=book_dir)
        except (OSError, ValueError) as exc:  # a port in use, an unreadable book
            raise CommandError(str(exc)) from None
