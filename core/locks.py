"""PostgreSQL advisory locks keyed by text (``"order:<client_order_id>"``, ``"run:<run_id>"``).

One key space for the whole project: the key is hashed with ``hashtextextended(key, 0)``, so
every caller that names the same thing takes the same lock.
"""
from __future__ import annotations

from django.db import connection

KEY_SQL = "hashtextextended(%s, 0)"


def xact_lock(key: str) -> None:
    """Take a transaction-level lock (released at commit or rollback); waits for a holder."""
    with connection.bound_cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({KEY_SQL})", [key])


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
