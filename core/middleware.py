"""The outermost middleware: a request that failed because the database went away answers 503.

API views answer 503 themselves (the DRF exception handler). Everything else that touches the
database before or after the view — the session, the user of a browser request, the audit
middleware's look at who is calling — raises outside DRF, and Django turns the exception into a
500 at the middleware layer where it happened (the debug page with its traceback when
``DEBUG`` is on). Django announces each such exception with ``got_request_exception`` first;
the receiver below marks the request when the exception is a lost database, and this
middleware, which sees every response last, replaces that 5xx with a 503: the JSON error
envelope under ``/api/``, a plain page elsewhere, both with ``Retry-After``.
"""
from __future__ import annotations

import sys

from django.core.signals import got_request_exception
from django.http import HttpResponse, JsonResponse

from core import db as db_faults

_FLAG = "_torghut_database_unavailable"

_PAGE = (
    "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Service unavailable</title></head>\n"
    "<body>\n  <h1>Service unavailable</h1>\n"
    f"  <p>The database is unavailable. Please try again in {db_faults.RETRY_AFTER_SECONDS} seconds.</p>\n"
    "</body>\n</html>\n")


def _note_database_unavailable(sender, request=None, **kwargs) -> None:
    exc = sys.exc_info()[1]
    if request is not None and db_faults.is_database_unavailable(exc):
        request.__dict__[_FLAG] = True
        db_faults.discard_broken_connections()


def database_unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": {"code": db_faults.CODE, "message": db_faults.MESSAGE,
                                           "details": {"retry_after_seconds": db_faults.RETRY_AFTER_SECONDS}}},
                                status=503)
    else:
        response = HttpResponse(_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(db_faults.RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    request_id = getattr(request, "request_id", None)
    if request_id:
        response["X-Request-ID"] = request_id
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        got_request_exception.connect(_note_database_unavailable, dispatch_uid="core.middleware.database_unavailable")

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code >= 500 and response.status_code != 503 and request.__dict__.get(_FLAG):
            return database_unavailable_response(request)
        return response
