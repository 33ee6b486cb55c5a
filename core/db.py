"""Database building blocks shared by every app.

The database going away (a lost or refused connection, a server shutting down, a terminated
backend): psycopg raises ``OperationalError`` (or ``InterfaceError`` when the connection was
already closed), and Django re-raises them as its own classes of the same names. Whatever the
request was doing, the answer is the same: 503 ``database_unavailable`` with ``Retry-After``,
never a 500. Retrying is safe: an order retried with the same ``client_order_id`` returns the
stored row and is never placed twice.
"""
from __future__ import annotations

import logging

import pgtrigger
from django.db import connections
from django.db import utils as django_db_errors


def append_only(name: str = "append_only") -> pgtrigger.Protect:
    """A row trigger that refuses UPDATE and DELETE (TRUNCATE stays possible for test teardown;
    production blocks it with privileges)."""
    return pgtrigger.Protect(name=name, operation=pgtrigger.Update | pgtrigger.Delete)


# --- The database going away ------------------------------------------------------------------
RETRY_AFTER_SECONDS = 5
CODE = "database_unavailable"
MESSAGE = (f"The database is unavailable; retry in {RETRY_AFTER_SECONDS} seconds. Retrying is safe: "
           "an order retried with the same client_order_id returns the stored order and is never placed twice.")


def _error_classes() -> tuple[type[BaseException], ...]:
    import psycopg

    return (django_db_errors.OperationalError, django_db_errors.InterfaceError,
            psycopg.OperationalError, psycopg.InterfaceError)


_CLASSES = _error_classes()


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True when ``exc`` (or an exception it was raised from or while handling) is a lost,
    refused or broken database connection, rather than a bad statement or a constraint."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, _CLASSES):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def discard_broken_connections() -> None:
    """Close this thread's connections that psycopg knows are lost, so the next statement of the
    same request (the audit row, the session) connects afresh instead of failing on a dead socket.

    A connection inside ``atomic()`` is left alone: the atomic block's own exit deals with it.
    """
    for conn in connections.all(initialized_only=True):
        raw = conn.connection
        if raw is None or conn.in_atomic_block:
            continue
        if raw.closed or getattr(raw, "broken", False):
            conn.close()


class QuietDatabaseUnavailable(logging.Filter):
    """For ``django.request``: an exception that reached a middleware layer is logged as
    "Internal Server Error" with its traceback. When it is the database going away the answer is a
    503 (``core.middleware``); log that in one line, without the traceback, once per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and is_database_unavailable(exc):
            request = getattr(record, "request", None)
            first_line = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
            record.msg, record.args = "Service Unavailable: %s (the database is unavailable: %s)", (
                getattr(request, "path", "?"), first_line)
            record.exc_info = record.exc_text = None
        return True
