"""Making the database go away in tests, for real: a relay that can be cut, backends terminated
from a separate superuser connection, and the web server as ``make serve`` runs it.

* :class:`DatabaseProxy` relays TCP connections to the test database's server (its Unix socket
  or host:port). ``cut()`` drops every relayed connection and refuses new ones, as a server
  that went away does (each PostgreSQL backend behind it ends, releasing its locks);
  ``restore()`` listens again on the same port.
* :func:`terminate_backends` runs ``pg_terminate_backend`` on every other session of a
  database, from a connection of its own.
* :func:`restart_command` restarts the server itself (``pg_ctl restart -m fast``: every session
  ends, connections are refused until it is back) — only the worktree's own embedded server.
* :class:`Gunicorn` serves ``torghut_site.wsgi`` with gthread workers in a subprocess, with
  the environment given (``DATABASE_URL`` pointing through a proxy, DEBUG, brokers...).
* :class:`QCluster` runs ``manage.py qcluster`` the same way; :func:`redis_queue` gives a test a
  django-q2 queue of its own on the machine's Redis (:func:`redis_answers` says whether one answers).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_address(settings_dict: dict) -> tuple[str, int]:
    """(host or socket directory, port) of the server a Django connection's settings name."""
    options = settings_dict.get("OPTIONS") or {}
    host = options.get("host") or settings_dict.get("HOST") or "/var/run/postgresql"
    port = int(options.get("port") or settings_dict.get("PORT") or 5432)
    return host, port


def direct_connection(settings_dict: dict, dbname: str | None = None) -> psycopg.Connection:
    """A psycopg connection of the test's own, straight to the server (not through any proxy)."""
    host, port = server_address(settings_dict)
    return psycopg.connect(host=host, port=port, user=settings_dict.get("USER") or None,
                           password=settings_dict.get("PASSWORD") or None,
                           dbname=dbname or settings_dict["NAME"], autocommit=True, connect_timeout=5)


def is_superuser(settings_dict: dict) -> bool:
    with direct_connection(settings_dict) as conn:
        return bool(conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0])


def terminate_backends(settings_dict: dict, *, spare: tuple[int, ...] = ()) -> int:
    """``pg_terminate_backend`` every other session of the database; returns how many."""
    with direct_connection(settings_dict) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s))",
            [list(spare)]).fetchone()
        return int(row[0])


def cancel_backend(settings_dict: dict, pid: int) -> bool:
    with direct_connection(settings_dict) as conn:
        return bool(conn.execute("SELECT pg_cancel_backend(%s)", [pid]).fetchone()[0])


def advisory_lock_free(settings_dict: dict, key: str) -> bool:
    """True when another session can take (and then gives back) the advisory lock ``key``."""
    with direct_connection(settings_dict) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key]).fetchone()[0]
        if got:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
        return bool(got)


def restart_command(settings_dict: dict) -> list[str] | None:
    """The command that restarts the test database's server, or None when that must not or cannot be
    done here: only the embedded server of this worktree (``var/``) is ever restarted, never a server
    other people use, and only while no other database of it has a client. Run as the server's own
    OS user (root runs it through ``runuser``)."""
    import pwd

    with direct_connection(settings_dict) as conn:
        try:
            data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0]).resolve()
        except psycopg.Error:  # not a superuser: not ours to restart
            return None
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                              "AND datname IS DISTINCT FROM current_database()").fetchone()[0]
        if others:  # something else works on this server right now (a demo, a benchmark): leave it be
            return None
    var_dir = Path(os.environ.get("TORGHUT_VAR_DIR", ROOT / "var")).resolve()
    pid_file = data_dir / "postmaster.pid"
    if var_dir not in data_dir.parents or not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    try:
        binary = Path(os.readlink(f"/proc/{pid}/exe"))
        owner = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
    except (OSError, KeyError):
        return None
    pg_ctl = binary.with_name("pg_ctl")
    command = [str(pg_ctl), "restart", "-D", str(data_dir), "-m", "fast", "-w", "-t", "60", "-s",
               "-l", str(data_dir / "log")]  # the server's output to its log, not to the caller's pipes
    if owner == pwd.getpwuid(os.getuid()).pw_name:
        return command
    return ["runuser", "-u", owner, "--", *command] if os.getuid() == 0 else None


class DatabaseProxy:
    """A TCP relay on 127.0.0.1 in front of a PostgreSQL server, which a test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._pairs: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self.connections = 0

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> DatabaseProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(0.05)
        self._listener = listener
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True,
                                         name=f"db-proxy:{self.port}")
        self._thread.start()
        return self

    def cut(self) -> None:
        """The database goes away: every relayed connection is dropped, new ones are refused."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.drop_connections()

    def restore(self) -> None:
        """The database is back, at the same address."""
        self.start()

    def drop_connections(self) -> None:
        with self._lock:
            pairs, self._pairs = list(self._pairs), set()
        for sock in pairs:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.cut()

    def __enter__(self) -> DatabaseProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, settings_dict: dict) -> str:
        user = quote(settings_dict.get("USER") or "postgres")
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{quote(password)}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{settings_dict['NAME']}"

    # --- relaying ----------------------------------------------------------------------
    def _upstream(self) -> socket.socket:
        host, port = self.target
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(f"{host}/.s.PGSQL.{port}")
        else:
            sock = socket.create_connection((host, port), timeout=5)
            sock.settimeout(None)
        return sock

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = self._upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                if stop.is_set():
                    client.close()
                    upstream.close()
                    return
                self._pairs.update((client, upstream))
                self.connections += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._pairs.discard(src)
            self._pairs.discard(dst)


class Gunicorn:
    """``torghut_site.wsgi`` under gunicorn with gthread workers, as ``make serve`` runs it."""

    def __init__(self, env: dict[str, str], *, log: Path, workers: int = 2, threads: int = 8) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME")}
        self.env = {**base, **env}
        from core.serving import gunicorn_command

        self.args = gunicorn_command("torghut_site.wsgi", bind=f"127.0.0.1:{self.port}", workers=workers,
                                     threads=threads, extra=["--log-level", "warning", "--graceful-timeout", "5"])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Gunicorn:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, cwd=str(ROOT), env=self.env, stdout=self._log_file,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{self.log_tail()}")
            try:
                requests.get(f"{self.url}/api/v1/access/me", timeout=5)  # no template, no database
                return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log_file", None) is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def database_round_trip() -> int:
    """A django-q2 task for the worker tests: one query on the worker's connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


def redis_answers() -> bool:
    try:
        import redis

        return bool(redis.from_url(redis_url(), socket_timeout=1, socket_connect_timeout=1).ping())
    except Exception:  # noqa: BLE001 - no Redis here: the tests that need one are skipped
        return False


REDIS_SKIP_REASON = "no Redis answers at REDIS_URL (or redis://127.0.0.1:6379/15)"


@contextlib.contextmanager
def redis_queue(monkeypatch):
    """A django-q2 queue of the test's own on the shared Redis (its own name, prefix and cluster name),
    in this process's django-q2 configuration; yields the name to hand to ``qcluster`` as ``Q_NAME``.
    Every key of the queue is deleted afterwards."""
    import uuid

    import redis
    from django_q.conf import Conf

    name = f"torghut-test-{uuid.uuid4().hex[:8]}"
    for key, value in {"REDIS": redis_url(), "ORM": None, "PREFIX": name, "CLUSTER_NAME": name}.items():
        monkeypatch.setattr(Conf, key, value)
    try:
        yield name
    finally:
        client = redis.from_url(redis_url())
        for key in client.scan_iter(f"django_q:{name}:*"):
            client.delete(key)


class QCluster:
    """``manage.py qcluster`` in a process group of its own (its workers are child processes).

    It is stopped as a supervisor stops ``make worker``: SIGTERM to the main process, which stops its
    sentinel, pusher, workers and monitor itself (the tasks in hand finish). SIGTERM sent to every
    process of the group at once kills the sentinel and workers on the spot and leaves the main
    process waiting for them (django-q2 sets SIGTERM to its default action in them), so it is never
    sent that way. Whatever is still running after ``timeout`` is killed, the whole group."""

    def __init__(self, env: dict[str, str], *, log: Path) -> None:
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME")}
        self.env = {**base, **env}
        self.log = log
        self.proc: subprocess.Popen | None = None
        self._signalled = False

    def __enter__(self) -> QCluster:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=str(ROOT), env=self.env,
                                     stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def signal_stop(self) -> None:
        """SIGTERM to the main process, once: the cluster begins to stop (see :meth:`stop`). A second
        SIGTERM while it stops can end the main process by the signal's default action."""
        if self.proc is not None and self.proc.poll() is None and not self._signalled:
            self._signalled = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int | None:
        """Stop the cluster; its exit status (0: it stopped by itself), None when it had to be killed."""
        if self.proc is None:
            return None
        self.signal_stop()
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
        with contextlib.suppress(ProcessLookupError):  # nothing of the group is left running
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        return status

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._log_file.close()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]
