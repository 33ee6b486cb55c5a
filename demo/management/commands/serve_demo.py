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
            # the books load_demo's orders went to: reconciliation finds at the brokers what is real
            fakes = FakeBrokers(lean_port, alpaca_port, book_dir=settings.FAKE_BROKER_BOOK_DIR).start()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot start the fake brokers on ports {lean_port}/{alpaca_port}: {exc}. "
                               "Pick others with LEAN_PORT=… ALPACA_PORT=… make demo") from None
        env = {**os.environ, "TRADING_LEAN_RUNNER_URL": fakes.lean.url, "ALPACA_BASE_URL": fakes.alpaca.url,
               "ALPACA_API_KEY_ID": os.environ.get("ALPACA_API_KEY_ID", "demo-key"),
               "ALPACA_API_SECRET_KEY": os.environ.get("ALPACA_API_SECRET_KEY", "demo-secret")}
        role = self.serving_login(env)
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        # Each child in its own session: a Ctrl-C reaches them once, as the SIGINT passed on below, not
        # also from the terminal (qcluster hangs on a second SIGINT while it stops).
        children = [
            subprocess.Popen([*manage, "qcluster"], env=env, start_new_session=True),
            subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env,
                             start_new_session=True),
        ]
        self.stdout.write(self.style.SUCCESS(f"\nTorghut demo: http://127.0.0.1:{port}/"))
        self.stdout.write(f"login: {DEMO_USERNAME} / {DEMO_PASSWORD}   (admin: http://127.0.0.1:{port}/admin/)")
        self.stdout.write(f"fake LEAN runner: {fakes.lean.url}   fake Alpaca: {fakes.alpaca.url}")
        self.stdout.write('fault switch: curl -XPOST -d \'{"mode":"down"}\' ' + fakes.lean.url + "/_fault")
        self.stdout.write(f"web server and worker connect to PostgreSQL as {role}")
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

    def serving_login(self, env: dict) -> str:
        """Like `make serve`, the web server and the worker run as the service login: torghut_web on
        the embedded server, SERVICE_DATABASE_URL when it is set beside DATABASE_URL. Without it, an
        external server is used as its owner (a development target), and the demo says so."""
        from django.db import connection

        from access import db_roles

        env.pop("EMBEDDED_DATABASE_USER", None)
        service_url = env.pop("SERVICE_DATABASE_URL", "").strip()
        if settings.DATABASE_IS_EMBEDDED:
            db_roles.ensure_login(connection, db_roles.SERVICE_LOGIN)
            connection.close()  # this process serves nothing itself
            env["EMBEDDED_DATABASE_USER"] = db_roles.SERVICE_LOGIN
            return f"{db_roles.SERVICE_LOGIN} (member of {db_roles.APP})"
        if service_url:
            env["DATABASE_URL"] = service_url
            return "the login of SERVICE_DATABASE_URL"
        return f"{connection.settings_dict['USER'] or 'the default user'}, the owner (set SERVICE_DATABASE_URL)"
