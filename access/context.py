"""The request id of the work in progress, so audit rows written deep inside a service carry it."""
from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("torghut_request_id", default=None)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(candidate: str | None = None) -> str:
    """A caller's X-Request-ID when it is a safe token, otherwise a fresh UUID."""
    if candidate and _SAFE_ID.match(candidate):
        return candidate
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None):
    return _request_id.set(value)


def reset_request_id(token) -> None:
    _request_id.reset(token)
