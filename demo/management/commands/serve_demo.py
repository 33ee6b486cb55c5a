"""Serve the demo: fake brokers, a django-q2 worker and the web server, until Ctrl-C."""
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.services import DEMO_PASSWORD, DEMO_USERNAME


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--lean-port", type=int, default=8751)
        parser.add_argument("--alpaca-port", type=int, default=8752)

    def handle(self, *args, port, lean_port, alpaca_port, **options):
        from execution.fake_brokers.server import FakeBrokers

        try:
            fakes = FakeBrokers(lean_port, alpaca_port).start()
        except OSError as exc:
            raise CommandError(f"cannot start the fake brokers on ports {lean_port}/{alpaca_port}: {exc}. "
                               "Pick others with LEAN_PORT=… ALPACA_PORT=… make demo") from None
        env = {**os.environ, "TRADING_LEAN_RUNNER_URL": fakes.lean.url, "ALPACA_BASE_URL": fakes.alpaca.url,
               "ALPACA_API_KEY_ID": os.environ.get("ALPACA_API_KEY_ID", "demo-key"),
               "ALPACA_API_SECRET_KEY": os.environ.get("ALPACA_API_SECRET_KEY", "demo-secret")}
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        children = [
            subprocess.Popen([*manage, "qcluster"], env=env),
            subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env),
        ]
        self.stdout.write(self.style.SUCCESS(f"\nTorghut demo: http://127.0.0.1:{port}/"))
        self.stdout.write(f"login: {DEMO_USERNAME} / {DEMO_PASSWORD}   (admin: http://127.0.0.1:{port}/admin/)")
        self.stdout.write(f"fake LEAN runner: {fakes.lean.url}   fake Alpaca: {fakes.alpaca.url}")
        self.stdout.write('fault switch: curl -XPOST -d \'{"mode":"down"}\' ' + fakes.lean.url + "/_fault")
        self.stdout.write("worker: django-q2 qcluster running. Ctrl-C stops everything.\n")

        def stop(signum, frame):  # a SIGTERM (from a supervisor or `timeout`) stops cleanly, like Ctrl-C
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        died = None
        try:
            while died is None:
                died = next((child for child in children if child.poll() is not None), None)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    child.kill()
            fakes.shutdown()
        if died is not None:
            raise CommandError(f"{' '.join(died.args[2:3])} exited unexpectedly (code {died.returncode}); "
                               "the demo was stopped. See its output above.")
