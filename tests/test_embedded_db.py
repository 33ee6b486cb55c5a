"""The embedded PostgreSQL start-up path: stale pid files and clear errors."""
import os

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
