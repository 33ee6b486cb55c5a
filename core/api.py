"""API conventions shared by every app: the error envelope, pagination and URL helpers.

Errors always look like ``{"error": {"code", "message", "details"}}`` (see the agent
contract). Services raise :class:`core.errors.ApplicationError` (transport-neutral); the
handler below is the one place that turns it, and DRF's own exceptions, into the envelope.
"""
from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.urls import path, register_converter
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core import db as db_faults
from core.errors import ApplicationError, DatabaseUnavailable, InvalidInput, PayloadTooLarge


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into ``{"field.path": [messages]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            key = str(key)
            child = f"{prefix}.{key}" if prefix and key != "non_field_errors" else (prefix or key)
            out.update(_flatten(value, child))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    out.update(_flatten(item, f"{prefix}[{index}]"))
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


_DEFAULT_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "policy_refused",
    423: "blocked",
    429: "throttled",
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # Django's own limit, should a body be read through it
        exc = PayloadTooLarge.for_limit(settings.API_MAX_BODY_BYTES)
    elif not isinstance(exc, ApplicationError) and db_faults.is_database_unavailable(exc):
        db_faults.discard_broken_connections()  # the audit row of this request may still be written
        exc = DatabaseUnavailable()
    if isinstance(exc, ApplicationError):
        set_rollback()
        response = Response(error_body(exc.code, exc.message, exc.details), status=exc.http_status)
        if isinstance(exc, DatabaseUnavailable):
            response["Retry-After"] = str(exc.retry_after_seconds)
        return response
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = _DEFAULT_CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        message = "Invalid input: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in list(details.items())[:5])
        response.data = error_body("invalid", message, {"fields": details})
        return response
    if isinstance(exc, exceptions.AuthenticationFailed):
        code = "authentication_failed"
    elif isinstance(exc, exceptions.Throttled):
        response.data = error_body("throttled", str(exc.detail), {"wait_seconds": exc.wait})
        return response
    message = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = error_body(code, message)
    return response


@csrf_exempt  # it writes nothing; without this a POST there would get the CSRF middleware's HTML 403
def api_not_found(request, *args, **kwargs):
    """Any path under /api/ that no route serves: the JSON envelope, never an HTML page."""
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)


_BIGINT = re.compile(r"-?[0-9]{1,18}")  # cursors hold ids (``ordering = "-id"``)


class LimitCursorPagination(CursorPagination):
    """``?limit=`` (at most 500) and ``{"results": [...], "next": url|null}``.

    Cursor (keyset) pagination: each page costs the same few queries however deep it is.
    """

    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = "-id"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput("limit must be a whole number from 1 to 500.",
                               details={"fields": {"limit": ["Not a whole number."]}}) from None
        if value < 1 or value > self.max_page_size:
            raise InvalidInput("limit must be a whole number from 1 to 500.",
                               details={"fields": {"limit": ["Out of range 1..500."]}})
        return value

    def decode_cursor(self, request):
        """A cursor that is not one of ours is invalid input (400), not an unknown page (DRF's 404)."""
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = None
        else:
            if cursor is None or cursor.position is None or _BIGINT.fullmatch(cursor.position):
                return cursor
        raise InvalidInput("cursor is not valid: pass the next link of a previous page as it is.",
                           details={"fields": {"cursor": ["Not a cursor of this list."]}})

    def get_paginated_response(self, data):
        return Response({"results": data, "next": self.get_next_link()})

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "in": "query", "required": False,
             "description": "Opaque position from a previous page's `next` link.", "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "in": "query", "required": False,
             "description": f"Page size (default {self.page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size}},
        ]

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "nullable": True, "format": "uri"},
            },
        }


def page_schema(component: str) -> dict:
    """OpenAPI shape of a page of the named component, for a view that paginates by hand
    (a ``generics.ListAPIView`` gets it, and its ``cursor``/``limit`` parameters, by itself)."""
    return LimitCursorPagination().get_paginated_response_schema(
        {"type": "array", "items": {"$ref": f"#/components/schemas/{component}"}})


def slashless(route: str, view, name: str | None = None) -> list:
    """Serve ``route`` exactly as written and with a trailing slash, never redirecting."""
    return [path(route, view, name=name), path(route + "/", view)]


def schema_drop_slash_aliases(endpoints):
    """drf-spectacular hook: document each path once, without the trailing-slash alias."""
    return [(p, pr, m, c) for (p, pr, m, c) in endpoints if not p.endswith("/") or p == "/"]


class RowIdConverter:
    """``<id:name>``: a row id that fits a bigint (an int converter would pass 10**30 to the database)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(RowIdConverter, "id")
