"""Map transport exceptions (``requests`` for alpaca-py, urllib3 for LEAN) onto adapter error kinds."""

from __future__ import annotations

import requests
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import ReadTimeoutError

from .base import KIND_FAILED, KIND_NETWORK_ERROR, KIND_TIMEOUT


def classify_request_exception(exc: BaseException) -> str:
    """``timeout`` / ``network_error`` / ``failed`` for an exception raised by requests."""
    if isinstance(exc, requests.Timeout):  # ConnectTimeout and ReadTimeout
        return KIND_TIMEOUT
    if isinstance(exc, requests.ConnectionError):
        # requests wraps a read timeout hit while streaming the body in ConnectionError.
        if any(isinstance(arg, ReadTimeoutError) for arg in exc.args):
            return KIND_TIMEOUT
        return KIND_NETWORK_ERROR  # refused, reset, RemoteDisconnected, ...
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return KIND_NETWORK_ERROR
    return KIND_FAILED


def classify_urllib3_exception(exc: BaseException) -> str:
    """``timeout`` / ``network_error`` / ``failed`` for an exception raised by a urllib3 pool (no retries)."""
    if isinstance(exc, urllib3_exceptions.NewConnectionError):  # a ConnectTimeoutError subclass: test it first
        return KIND_NETWORK_ERROR  # refused, unreachable, name not resolved
    if isinstance(exc, (urllib3_exceptions.TimeoutError, TimeoutError)):  # connect or read timeout
        return KIND_TIMEOUT
    if isinstance(exc, (urllib3_exceptions.HTTPError, OSError)):  # protocol errors, resets, decode errors
        return KIND_NETWORK_ERROR
    return KIND_FAILED


def urllib3_request_sent(exc: BaseException) -> bool:
    """False when a urllib3 pool never got a connection up, so the request was never written
    (refused, unreachable, name not resolved, connect timeout); True otherwise."""
    return not isinstance(exc, urllib3_exceptions.ConnectTimeoutError)  # NewConnectionError is one


def requests_request_sent(exc: BaseException) -> bool:
    """The same for an exception raised by requests (which wraps urllib3's in ``MaxRetryError``)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        for arg in exc.args:
            if isinstance(getattr(arg, "reason", arg), urllib3_exceptions.ConnectTimeoutError):
                return False
    return True


def describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]
