"""PostgreSQL advisory locks keyed by text (``"order:<client_order_id>"``, ``"run:<run_id>"``).

One key space for the whole project: the key is hashed with ``hashtextextended(key, 0)``, so
every caller that names the same thing takes the same lock.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from django.db import Error, connection
from django.utils import timezone

T = TypeVar("T")

KEY_SQL = "hashtextextended(%s, 0)"


def xact_lock(key: str) -> None:
    """Take a transaction-level lock (released at commit or rollback); waits for a holder."""
    with connection.bound_cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({KEY_SQL})", [key])


def xact_lock_shared(key: str) -> None:
    """Take a transaction-level lock in share mode: many sharers at once, none while a
    :func:`xact_lock` holder has it."""
    with connection.bound_cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock_shared({KEY_SQL})", [key])


def try_session_lock(key: str) -> bool:
    """Try a session-level lock (held until :func:`session_unlock`); never waits."""
    with connection.bound_cursor() as cursor:
        cursor.execute(f"SELECT pg_try_advisory_lock({KEY_SQL})", [key])
        return bool(cursor.fetchone()[0])


def session_lock(key: str) -> None:
    """Take a session-level lock, waiting for its holder."""
    with connection.bound_cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_lock({KEY_SQL})", [key])


def session_unlock(key: str) -> None:
    with connection.bound_cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_unlock({KEY_SQL})", [key])


def period_index(now: datetime, minutes: int) -> int:
    """The number of the period of ``minutes`` that ``now`` falls in, periods counted from the epoch: how the
    sweeps number their cycles, the lane keys its scheduled cycles and its feed counts sessions."""
    return int(now.timestamp() // (max(1, minutes) * 60))


def period_start(now: datetime, minutes: int) -> datetime:
    """The start of the period of ``minutes`` that ``now`` falls in (:func:`period_index`)."""
    return datetime.fromtimestamp(period_index(now, minutes) * max(1, minutes) * 60, tz=UTC)


def once_per_period(key: str, *, minutes: int, finished_in: Callable[[datetime, datetime], bool],
                    run: Callable[[], T], now: datetime | None = None) -> T | None:
    """Run ``run`` at most once per period of ``minutes``, across processes and machines: for work that
    spans many transactions (a reconciliation, a replay sweep), where a claim row inside one transaction
    does not fit.

    ``None`` while another session runs it (the session advisory lock ``key``, which a killed worker
    gives back with its connection), or when ``finished_in(start, end)`` (the period's bounds) says a run
    of this period already finished. A run that died half-way finished nothing, so the next delivery in the same
    period runs it again; a second cluster firing the same schedule, or a task delivered twice, does not.
    """
    now = now or timezone.now()
    if not try_session_lock(key):
        return None
    try:
        start = period_start(now, minutes)
        if finished_in(start, start + timedelta(minutes=max(1, minutes))):
            return None
        return run()
    finally:
        with contextlib.suppress(Error):  # a connection that died released the lock with it
            session_unlock(key)
