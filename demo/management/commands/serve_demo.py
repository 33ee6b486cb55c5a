"""Serve the demo: the sandbox brokers, a django-q2 worker and the web server, until Ctrl-C (which
stops all three and leaves nothing running).

Example:
  manage.py serve_demo --port 8000 --lean-port 8751 --alpaca-port 8752
"""
import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import CommandError

from core.commands import BaseCommand
from demo.services import DEMO_PASSWORD, DEMO_USERNAME

STOP_SECONDS = 10  # how long the children have to stop before they are killed


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _stop_children(children: list[subprocess.Popen]) -> None:
    """SIGTERM to each child, then SIGKILL to each child's process group (it leads one: start_new_session)
    if anything is left of it after STOP_SECONDS. SIGTERM, not SIGINT: qcluster stops its workers on it,
    runserver ends at once, and a child still starting ends quietly (a SIGINT would print the traceback of
    the import it interrupted). The embedded database lets go of a process that ended so (its handle is
    pruned) and stops with the last one."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # whatever is left of its group (qcluster's workers)
        child.wait()


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--lean-port", type=int, default=8751)
        parser.add_argument("--alpaca-port", type=int, default=8752)

    def handle(self, *args, port, lean_port, alpaca_port, **options):
        # Ctrl-C (SIGINT) and SIGTERM stop everything, quietly, whenever they come: also while starting,
        # and also when this process was started with SIGINT ignored (a background job of a script).
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            self.serve(port=port, lean_port=lean_port, alpaca_port=alpaca_port)
        except KeyboardInterrupt:
            self.stdout.write("\nstopped")

    def serve(self, *, port: int, lean_port: int, alpaca_port: int) -> None:
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
        # Each child in its own session: the terminal's Ctrl-C does not reach them, the SIGTERM passed on
        # below does, once (qcluster hangs on a second signal while it stops).
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

        died = None
        try:
            while died is None:
                died = next((child for child in children if child.poll() is not None), None)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            _stop_children(children)
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
