"""`manage.py demo_loop` (`make e2e`): the whole chain proved on a scratch database, each step printed with the
evidence it read back; exit status 1 naming the step whose evidence is missing; Ctrl-C/SIGTERM clean up."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from demo.loop import SCRATCH_PREFIX, STEPS

RUN_BOUND_SECONDS = 300  # a bound for a busy machine, not a measure


def _command(*args: str) -> list[str]:
    return [sys.executable, str(settings.BASE_DIR / "manage.py"), "demo_loop", *args]


def _run(*args: str) -> subprocess.CompletedProcess:
    # the same server as the tests' database (the embedded one, or DATABASE_URL's), inherited from the environment
    return subprocess.run(_command(*args), capture_output=True, text=True, timeout=RUN_BOUND_SECONDS,
                          cwd=settings.BASE_DIR)


def _scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [SCRATCH_PREFIX + "%"])
        return [row[0] for row in cursor.fetchall()]


def _scratch_of(out: str) -> str:
    return re.search(rf"scratch database ({SCRATCH_PREFIX}\d+) on ", out).group(1)


def _refused(url: str) -> bool:
    host, port = re.match(r"http://([\d.]+):(\d+)", url).groups()
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.django_db
def test_the_loop_proves_every_step_and_exits_0():
    result = _run()
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    positions = []
    for n, title in STEPS.items():
        assert f"[{n}/8] {title}" in out
        assert f"ok: step {n} proved" in out
        positions.append(out.index(f"ok: step {n} proved"))
    assert positions == sorted(positions)
    # the evidence each step printed, as read back
    assert re.search(r"read back: run #\d+ by demo-agent, sha256 [0-9a-f]{64} = the body's canonical JSON", out)
    assert "Ed25519 signature by ed25519:" in out and "verifies against the stored public key" in out
    assert re.search(r"POST /api/v1/agent-runs → 201 AgentRun [0-9a-f-]{36}", out)
    assert "demo-agent approving its own request → 403" in out
    assert "strategy breakout at paper" in out
    assert "reason lean_submit_http_500" in out and "LEAN lane disabled:" in out
    assert re.search(r"webhook received delivery \d+ \(opened\) of alert #\d+: X-Torghut-Signature t=\d+,v1=", out)
    assert "→ 423 budget_exceeded" in out and "→ 423 trading_halted" in out
    assert "manage.py verify_evidence, no database: exit 0, OK promotion" in out
    assert out.rstrip().endswith("the scratch database was dropped")
    assert result.stderr == ""
    assert _scratch_of(out) not in _scratch_databases()


@pytest.mark.django_db
def test_a_missing_alert_delivery_fails_step_6_and_names_what_is_missing():
    result = _run("--no-alert-delivery")
    assert result.returncode == 1
    out = result.stdout
    for n in range(1, 6):
        assert f"ok: step {n} proved" in out
    assert "ok: step 6 proved" not in out and "[7/8]" not in out
    assert ("FAILED step 6 (orders route through LEAN; an outage falls back to Alpaca, opens the circuit, disables "
            "LEAN and alerts): evidence missing: the loopback webhook received no notification of alert #") in out
    assert "webhook deliveries stored for it: 0 (the plane has no webhook configured" in out
    assert "demo_loop failed at step 6" in result.stderr and "Traceback" not in result.stderr
    assert _scratch_of(out) not in _scratch_databases()


@pytest.mark.django_db
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_mid_run_drops_the_scratch_database_and_closes_every_port(signum):
    proc = subprocess.Popen(_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=settings.BASE_DIR)
    try:
        urls: list[str] = []
        for line in proc.stdout:
            if line.startswith("API "):
                urls = re.findall(r"http://127\.0\.0\.1:\d+", line)
            if line.startswith("[1/8]"):
                break
        assert len(urls) == 4 and f"{SCRATCH_PREFIX}{proc.pid}" in _scratch_databases()
        proc.send_signal(signum)
        rest, err = proc.communicate(timeout=RUN_BOUND_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, rest + err
    assert "interrupted" in err and "Traceback" not in err
    assert f"{SCRATCH_PREFIX}{proc.pid}" not in _scratch_databases()
    assert all(_refused(url) for url in urls)
