"""Stopping the demo (Ctrl-C: SIGINT to the foreground process group; or SIGTERM) stops every process
it started — web server, django-q2 cluster, fake brokers — and prints no traceback."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db(transaction=True)

READY_BOUND_SECONDS = 120  # a bound on start-up on a busy machine, not a measure
STOP_BOUND_SECONDS = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    from django.db import connection

    d = connection.settings_dict
    host = d["HOST"] or (d.get("OPTIONS") or {}).get("host", "")
    return (f"postgresql://{d['USER']}@/{d['NAME']}?host={host}" if host.startswith("/")
            else f"postgresql://{d['USER']}@{host}:{d['PORT']}/{d['NAME']}")


def _wait_until_serving(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_BOUND_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve_demo ended while starting"
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the demo's web server did not answer")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_the_demo_stops_everything_quietly(signum, tmp_path):
    port, lean, alpaca = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "TORGHUT_VAR_DIR": str(tmp_path),
           "FAKE_BROKER_BOOK_DIR": str(tmp_path / "books"), "Q_WORKERS": "1"}
    env.pop("EMBEDDED_DATABASE_USER", None)
    proc = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve_demo", "--port", str(port),
         "--lean-port", str(lean), "--alpaca-port", str(alpaca)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)  # its own process group: what a terminal's Ctrl-C reaches
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/accounts/login/", proc)
        started = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        assert "qcluster" in names and "runserver" in names
        os.killpg(proc.pid, signum)
        output, _ = proc.communicate(timeout=STOP_BOUND_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    _, alive = psutil.wait_procs(started, timeout=1)
    assert not alive, f"still running: {[' '.join(p.cmdline()) for p in alive]}"
    for fake_port in (lean, alpaca):  # the fake brokers' ports are free again
        with socket.socket() as s:
            s.bind(("127.0.0.1", fake_port))


def test_ctrl_c_while_the_demo_starts_is_quiet_too(tmp_path):
    """Whenever the Ctrl-C comes (here: while Django still loads), no traceback and nothing left behind."""
    env = {**os.environ, "DATABASE_URL": _database_url(), "TORGHUT_VAR_DIR": str(tmp_path),
           "FAKE_BROKER_BOOK_DIR": str(tmp_path / "books")}
    env.pop("EMBEDDED_DATABASE_USER", None)
    proc = subprocess.Popen(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve_demo", "--port", str(_free_port()),
         "--lean-port", str(_free_port()), "--alpaca-port", str(_free_port())],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        time.sleep(0.3)  # an early moment: the outcome must be the same at any moment
        descendants = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=STOP_BOUND_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in output, output
    assert proc.returncode in (0, 130), output
    _, alive = psutil.wait_procs(descendants, timeout=1)
    assert not alive
