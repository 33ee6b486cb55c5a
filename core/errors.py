"""Errors that services raise, known to every door (API, admin, commands, tasks) alike.

Services never import DRF: they raise :class:`ApplicationError` (or a subclass with a stable
``code``), and the one DRF exception handler (:func:`core.api.exception_handler`) turns it into
the envelope ``{"error": {"code", "message", "details"}}`` with ``http_status``. Commands print
``message``; the admin shows it.
"""
from __future__ import annotations

from typing import Any

from core import db as db_faults


class ApplicationError(Exception):
    """A refusal with a stable snake_case ``code`` that agents can branch on."""

    http_status = 400
    default_code = "invalid"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 details: dict[str, Any] | None = None, http_status: int | None = None):
        self.code = code or self.default_code
        self.message = message or self.default_message
        self.details = details or {}
        if http_status is not None:
            self.http_status = http_status
        super().__init__(self.message)


class InvalidInput(ApplicationError):
    """Malformed or invalid input; ``details["fields"]`` names the field paths (400)."""


class PermissionRefused(ApplicationError):
    """Authenticated, but not allowed to do this (403)."""

    http_status = 403
    default_code = "permission_denied"
    default_message = "You may not do this."


class NotFound(ApplicationError):
    """Unknown, or outside what the caller may see (404)."""

    http_status = 404
    default_code = "not_found"
    default_message = "Not found."


class PayloadTooLarge(ApplicationError):
    """A request body over the size limit (413)."""

    http_status = 413
    default_code = "payload_too_large"
    default_message = "The request body is too large."

    @classmethod
    def for_limit(cls, limit: int) -> PayloadTooLarge:
        return cls(f"The request body is larger than the limit of {limit} bytes.", details={"limit_bytes": limit})


class Conflict(ApplicationError):
    """Conflicts with stored state (409)."""

    http_status = 409
    default_code = "conflict"
    default_message = "The request conflicts with stored state."


class PolicyRefused(ApplicationError):
    """Well-formed, but refused by policy (422)."""

    http_status = 422
    default_code = "policy_refused"
    default_message = "Refused by policy."


class Blocked(ApplicationError):
    """Blocked by a control flag: kill switch, disabled symbol or lane (423)."""

    http_status = 423
    default_code = "blocked"
    default_message = "Blocked by a control flag."


class DatabaseUnavailable(ApplicationError):
    """The database went away while the request was served (503, with ``Retry-After``).

    Raised by services that know more than the bare database error (an order whose broker
    outcome could not be stored names its ``client_order_id``); any other lost connection is
    mapped to it by the API's exception handler and by ``core.middleware``.
    """

    http_status = 503
    default_code = db_faults.CODE
    default_message = db_faults.MESSAGE
    retry_after_seconds = db_faults.RETRY_AFTER_SECONDS

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        super().__init__(message, details={"retry_after_seconds": self.retry_after_seconds, **(details or {})})


def fields_message(prefix: str, fields: dict[str, list[str]], *, limit: int = 3) -> str:
    """``"<prefix>: a: msg; b: msg (and 2 more)"`` from ``{"a": [...], ...}``."""
    first = "; ".join(f"{k}: {' '.join(v)}" for k, v in list(fields.items())[:limit])
    more = f" (and {len(fields) - limit} more)" if len(fields) > limit else ""
    return f"{prefix}: {first}{more}"


def invalid_fields(prefix: str, fields: dict[str, list[str]], *, code: str = "invalid") -> InvalidInput:
    """An :class:`InvalidInput` whose message lists the first fields and whose details hold them all."""
    return InvalidInput(fields_message(prefix, fields), code=code, details={"fields": fields})
