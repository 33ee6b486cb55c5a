"""Request ids and the audit trail of every state-changing request.

Each request gets an id (the caller's ``X-Request-ID`` when it is a safe token, otherwise a new
UUID), echoed in the response header. After the response is built (outside the view's
transaction, so a rolled-back write still leaves its refusal behind), every non-safe request
(POST, PUT, PATCH, DELETE), successful or refused, is appended to ``audit_events``.
Views may describe what happened with :func:`annotate`.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.shortcuts import resolve_url

from access.choices import Outcome, Via, outcome_for_status
from access.context import new_request_id, reset_request_id, set_request_id
from access.selectors import user_roles
from access.services import audit_record
from core.db import is_database_unavailable

logger = logging.getLogger("access.audit")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def annotate(request, *, action: str | None = None, object_ref: str | None = None,
             outcome: str | None = None, **details) -> None:
    """Let a view or form add to the audit row the middleware will write for this request."""
    request = getattr(request, "_request", request)  # DRF Request -> HttpRequest
    note = request.__dict__.setdefault("_audit", {"details": {}})
    if action:
        note["action"] = action
    if object_ref:
        note["object_ref"] = object_ref
    if outcome:
        note["outcome"] = Outcome(outcome)
    note["details"].update(details)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def via_for(path: str) -> str:
    if path.startswith("/api/"):
        return Via.API
    if path.startswith("/admin/"):
        return Via.ADMIN
    return Via.PAGE


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = new_request_id(request.headers.get("X-Request-ID"))
        token = set_request_id(request.request_id)
        if request.method not in SAFE_METHODS:
            # Who came in: a logout ends the session before the response is built.
            user = getattr(request, "user", None)
            request._audit_user_before = user if user is not None and user.is_authenticated else None
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request.request_id
        if request.method not in SAFE_METHODS:
            self.record(request, response)
        return response

    def record(self, request, response) -> None:
        note = request.__dict__.get("_audit", {"details": {}})
        user = getattr(request, "user", None)
        if not (user is not None and user.is_authenticated):
            user = getattr(request, "_audit_user_before", None)
        authenticated = bool(user is not None and user.is_authenticated)
        match = getattr(request, "resolver_match", None)
        action = note.get("action") or (match.view_name if match and match.view_name else "unresolved")
        object_ref = note.get("object_ref") or ",".join(f"{k}={v}" for k, v in sorted((match.kwargs if match else {})
                                                                                   .items()))
        details = dict(note["details"])
        outcome = note.get("outcome") or outcome_for_status(response.status_code)
        if outcome == Outcome.OK and _redirects_to_login(response):
            outcome = Outcome.REFUSED
            details.setdefault("reason", "login_required")
        if response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
            code = _error_code(response)
            if code:
                details.setdefault("error_code", code)
        try:
            audit_record(
                actor=user.get_username() if authenticated else "anonymous",
                actor_roles=user_roles(user) if authenticated else (),
                via=via_for(request.path), method=request.method, path=request.get_full_path()[:500],
                action=action, object_ref=object_ref, request_id=request.request_id,
                outcome=outcome,
                status_code=response.status_code, client_ip=client_ip(request), details=details,
                after_commit_flush=False,  # its own transaction: the chain lock is not held for a disk flush
            )
        except Exception as exc:  # the response is already decided; never turn it into a 500
            if is_database_unavailable(exc):
                logger.warning("could not write the audit record of %s %s (request %s): the database is "
                               "unavailable (%s)", request.method, request.path, request.request_id, exc)
            else:
                logger.exception("could not write the audit record of %s %s (request %s)",
                                 request.method, request.path, request.request_id)


def _redirects_to_login(response) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    location = response.get("Location", "")
    # login_required and the admin send refused visitors to the login page with ?next=
    return location.startswith((resolve_url(settings.LOGIN_URL), "/admin/login/")) and "next=" in location


def _error_code(response) -> str | None:
    data = getattr(response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"].get("code")
    return None
