"""`make serve` and `make worker`: the processes as deployed, each run as the service role.

    python -m core.serving web --bind 127.0.0.1:8000 --workers 2 --threads 8
    python -m core.serving worker

First, as the owner of the schema (``DATABASE_URL``, or the embedded server's superuser): ``web``
migrates (``db_roles apply`` runs after every migrate: grants, and ``pgtrigger.ignore`` closed to
the runtime roles) and collects the static files; ``worker`` checks that nothing is left to
migrate and syncs the schedules. On the embedded server both ensure the serving login
(``db_roles login``).

Then, as the service role: ``manage.py db_roles check-service`` on the serving connection, which
stops everything if that role could bypass the invariants (superuser, owner of a table, TRUNCATE,
CREATE, pgtrigger.ignore), and finally the process itself, exec'd in the foreground so that
SIGINT and SIGTERM reach it directly: gunicorn, or ``manage.py qcluster``.

- Embedded server (no ``DATABASE_URL``): the login ``torghut_web`` (``EMBEDDED_DATABASE_USER``);
  the server trusts its Unix socket, so there is no password.
- ``DATABASE_URL``: ``SERVICE_DATABASE_URL`` is required and becomes the processes'
  ``DATABASE_URL``; they never see the owner's URL. The operator creates that login (README,
  "PostgreSQL roles").

DEBUG is off. The secret key comes from ``SECRET_KEY``, else ``SECRET_KEY_FILE``, else
``var/secret_key``, generated on first use (mode 0600) and kept. ``ALLOWED_HOSTS`` defaults to the
loopback names; ``SECURE_SSL_REDIRECT`` is passed through (the Makefile sets 0 for plain HTTP on
loopback). This module never imports the Django settings: every step runs in its own process.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import secrets
import signal
import stat
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SERVICE_LOGIN = "torghut_web"  # access.db_roles.SERVICE_LOGIN (not imported: no Django here)
LOOPBACK_HOSTS = "localhost,127.0.0.1,[::1]"
# Never handed on as such: the serving processes get their own DATABASE_URL or embedded user.
_SCRUBBED = ("SERVICE_DATABASE_URL", "EMBEDDED_DATABASE_USER")


class ServingError(Exception):
    """Something the operator must fix before the processes may start."""


@dataclasses.dataclass
class Plan:
    owner_env: dict[str, str]
    service_env: dict[str, str]
    embedded: bool
    owner_role: str
    service_role: str
    database: str
    secret_source: str

    def describe(self) -> list[str]:
        env = self.service_env
        redirect = env.get("SECURE_SSL_REDIRECT") or "unset (on: settings' default with DEBUG off)"
        return [f"database: {self.database}",
                f"migrations as {self.owner_role} (owner of the schema); serving as {self.service_role}",
                f"DEBUG off; secret key: {self.secret_source}",
                f"ALLOWED_HOSTS={env['ALLOWED_HOSTS']}; SECURE_SSL_REDIRECT={redirect}"]


def _user(url: str) -> str:
    return urlsplit(url).username or os.environ.get("PGUSER") or "(the libpq default user)"


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'local socket'}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def secret_key(env: Mapping[str, str], var_dir: Path) -> tuple[dict[str, str], str]:
    """(variables to set, where the key comes from). Creates ``var/secret_key`` (0600) if needed."""
    if env.get("SECRET_KEY"):
        return {}, "SECRET_KEY from the environment"
    if env.get("SECRET_KEY_FILE", "").strip():
        path = Path(env["SECRET_KEY_FILE"].strip())
        _check_key_file(path)
        return {"SECRET_KEY_FILE": str(path)}, f"SECRET_KEY_FILE {path}"
    path = var_dir / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _check_key_file(path)
        return {"SECRET_KEY_FILE": str(path)}, f"{path} (kept from an earlier start; mode 0600)"
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(50) + "\n")
    return {"SECRET_KEY_FILE": str(path)}, f"{path} (generated now; mode 0600)"


def _check_key_file(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text().strip()
    except OSError as exc:
        raise ServingError(f"cannot read the secret key file {path}: {exc}") from None
    if mode & 0o077:
        raise ServingError(f"{path} can be read by other users (mode {mode:o}): `chmod 600 {path}`, or delete "
                           "it to generate a new key (sessions and signed links then end).")
    if not text:
        raise ServingError(f"{path} is empty; delete it to generate a new key.")


def prepare(env: Mapping[str, str]) -> Plan:
    """The environments of the owner's steps and of the serving processes. Creates the secret key
    file if needed; touches nothing else."""
    env = dict(env)
    var_dir = Path(env.get("TORGHUT_VAR_DIR") or BASE_DIR / "var")
    base = {k: v for k, v in env.items() if k not in _SCRUBBED}
    base["DEBUG"] = "0"
    base["ALLOWED_HOSTS"] = env.get("ALLOWED_HOSTS") or LOOPBACK_HOSTS
    updates, source = secret_key(env, var_dir)
    base.update(updates)
    owner_url = env.get("DATABASE_URL", "").strip()
    service_url = env.get("SERVICE_DATABASE_URL", "").strip()
    if not owner_url:
        if service_url:
            raise ServingError("SERVICE_DATABASE_URL is set but DATABASE_URL (the migrating user) is not; set "
                               "both, or neither to use the embedded server.")
        base.pop("DATABASE_URL", None)
        return Plan(owner_env=base, service_env={**base, "EMBEDDED_DATABASE_USER": SERVICE_LOGIN}, embedded=True,
                    owner_role="postgres", service_role=SERVICE_LOGIN,
                    database=f"embedded PostgreSQL in {var_dir / 'pgdata'}", secret_source=source)
    if not service_url:
        raise ServingError(
            "DATABASE_URL is set (the migrating user, owner of the schema) but SERVICE_DATABASE_URL is not: the web "
            "server and the workers must not run as the owner. Create a login that is a member of torghut_app "
            "(README, \"PostgreSQL roles\") and set SERVICE_DATABASE_URL=postgresql://LOGIN:PASSWORD@HOST/DB.")
    if _user(service_url) == _user(owner_url) and _where(service_url) == _where(owner_url):
        raise ServingError(f"SERVICE_DATABASE_URL logs in as {_user(owner_url)}, the migrating user; it must name "
                           "the serving login (a member of torghut_app that owns nothing).")
    return Plan(owner_env=base, service_env={**base, "DATABASE_URL": service_url}, embedded=False,
                owner_role=_user(owner_url), service_role=_user(service_url), database=_where(owner_url),
                secret_source=source)


def gunicorn_command(app: str, *, bind: str, workers: int, threads: int, extra: Sequence[str] = ()) -> list[str]:
    """The web server as deployed (also what the throughput benchmark drives)."""
    return [sys.executable, "-m", "gunicorn", app, "--config", "python:core.gunicorn_conf",
            "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads), "--bind", bind, *extra]


def _manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def owner_steps(kind: str, embedded: bool) -> list[list[str]]:
    """The management commands run as the owner before the processes start (in one process)."""
    steps = ([["migrate", "--noinput"], ["collectstatic", "--noinput", "-v0"]] if kind == "web"
             else [["migrate", "--check", "--noinput", "-v0"]])
    if embedded:
        steps.append(["db_roles", "login", SERVICE_LOGIN])
    if kind == "worker":
        steps.append(["sync_schedules"])
    return steps


OWNER_STEPS_LOCK = "serving:owner-steps"


def run_owner_steps(kind: str, embedded: bool) -> int:
    """In the owner's process: run ``owner_steps`` one after the other (one Django start-up, and one
    start of the embedded server, for all of them), holding the database's advisory lock
    ``serving:owner-steps``: web servers and workers started at once on several machines against one
    database take turns, so one migrates and the others find nothing left to do."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torghut_site.settings")
    import django
    from django.core.management import CommandError, call_command

    django.setup()
    from django.db import Error

    from core import locks

    locks.session_lock(OWNER_STEPS_LOCK)  # several machines starting at once migrate one after the other
    try:
        for step in owner_steps(kind, embedded):
            name, *options = step
            try:
                call_command(name, *options, **({"skip_checks": False} if name == "migrate" else {}))
            except (CommandError, SystemExit) as exc:
                if isinstance(exc, SystemExit) and not exc.code:
                    continue
                why = f"exit {exc.code}" if isinstance(exc, SystemExit) else str(exc)
                hint = "; run `make serve` or `manage.py migrate` first" if "--check" in options else ""
                print(f"serve: error: `manage.py {' '.join(step)}` failed ({why}{hint})", file=sys.stderr,
                      flush=True)
                return 2
        return 0
    finally:
        with contextlib.suppress(Error):  # a connection that went away took the lock with it
            locks.session_unlock(OWNER_STEPS_LOCK)


def _run(command: list[str], env: Mapping[str, str]) -> int:
    """Run a step in the foreground; SIGINT/SIGTERM sent to this process are passed on to it."""
    proc = subprocess.Popen(command, env=dict(env), cwd=BASE_DIR)

    def forward(signum, frame):
        proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say(text: str) -> None:
    print(f"serve: {text}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.serving", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    web = sub.add_parser("web", help="migrate, collectstatic, then gunicorn as the service role")
    web.add_argument("--bind", default="127.0.0.1:8000")
    web.add_argument("--workers", type=int, default=2)
    web.add_argument("--threads", type=int, default=8)
    sub.add_parser("worker", help="check migrations, sync schedules, then qcluster as the service role")
    steps = sub.add_parser("owner-steps", help="(internal) the owner's steps, in the owner's environment")
    steps.add_argument("for_kind", choices=["web", "worker"])
    steps.add_argument("--embedded", action="store_true")
    args = parser.parse_args(argv)
    if args.kind == "owner-steps":
        return run_owner_steps(args.for_kind, args.embedded)
    try:
        plan = prepare(os.environ)
        for line in plan.describe():
            _say(line)
        owner = [sys.executable, "-m", "core.serving", "owner-steps", args.kind]
        code = _run(owner + (["--embedded"] if plan.embedded else []), plan.owner_env)
        if code:
            return 128 - code if code < 0 else code  # said why; or stopped by a signal
        code = _run(_manage("db_roles", "check-service"), plan.service_env)
        if code < 0:
            return 128 - code
        if code:
            raise ServingError(f"refusing to serve as {plan.service_role}: it could bypass the database's invariants "
                               "(see above).")
    except ServingError as exc:
        print(f"serve: error: {exc}", file=sys.stderr, flush=True)
        return 2
    if args.kind == "web":
        command = gunicorn_command("torghut_site.wsgi", bind=args.bind, workers=args.workers, threads=args.threads,
                                   extra=["--access-logfile", "-"])
        _say(f"gunicorn on http://{args.bind}/ as {plan.service_role}; Ctrl-C (SIGINT) or SIGTERM stops it")
    else:
        command = _manage("qcluster")
        _say(f"qcluster as {plan.service_role}; Ctrl-C (SIGINT) or SIGTERM stops it")
    os.execvpe(command[0], command, plan.service_env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
