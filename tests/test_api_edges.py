"""The API's edges: unknown paths, unsupported methods, OPTIONS, and unreadable credentials all
answer in the JSON error envelope, never 5xx and never an HTML page."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from access.models import AuditEvent

pytestmark = pytest.mark.django_db


def envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and set(error) == {"code", "message", "details"}
    return error


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/v2/research/runs", "/api/v1/nope",
                                  "/api/v1/research/runs/x/y", "/api/v1/research/run",
                                  "/api/v1/promotions/7%0A/approve", "/api/v1/x%0D%0Ay"])
@pytest.mark.parametrize("who", ["anonymous", "agent"])
def test_unknown_api_paths_are_404_in_the_envelope(make_client, anon_client, path, who):
    client = anon_client if who == "anonymous" else make_client("agent")
    envelope(client.get(path), 404, "not_found")
    envelope(client.post(path, {}, format="json"), 404, "not_found")


def test_unknown_api_paths_are_404_for_a_client_the_csrf_middleware_checks(make_client):
    """The test client skips CSRF checks; a real client does not (a POST to an unknown path must not
    meet the middleware's HTML 403)."""
    client = make_client("agent")
    client.enforce_csrf_checks = True
    client.handler.enforce_csrf_checks = True
    envelope(client.post("/api/v1/nope", {}, format="json"), 404, "not_found")


@pytest.mark.parametrize("role", ["auditor", "agent"])
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_unsupported_methods_are_405_with_allow_whatever_the_roles(make_client, role, method):
    response = getattr(make_client(role), method)("/api/v1/research/runs", {}, format="json")
    envelope(response, 405, "method_not_allowed")
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in response["Allow"].split(",")}


def test_get_on_the_order_endpoint_is_405_not_403(make_client):
    response = make_client("agent").get("/api/v1/trading/orders")
    envelope(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"] and "GET" not in response["Allow"]


def test_unsupported_methods_still_need_credentials(anon_client):
    envelope(anon_client.put("/api/v1/research/runs", {}, format="json"), 401, "not_authenticated")


@pytest.mark.parametrize("path,role", [("/api/v1/research/runs", "auditor"), ("/api/v1/research/runs", "agent"),
                                       ("/api/v1/trading/orders", "agent"), ("/api/v1/access/me", "researcher")])
def test_options_describes_the_endpoint(make_client, path, role):
    response = make_client(role).options(path)
    assert response.status_code == 200, response.content
    assert response.json()["parses"] == ["application/json"]
    assert "OPTIONS" in response["Allow"]


def test_options_follows_the_roles_of_the_view(make_client, anon_client):
    envelope(make_client("auditor").options("/api/v1/trading/orders"), 403, "permission_denied")
    envelope(anon_client.options("/api/v1/research/runs"), 401, "not_authenticated")


BAD_TOKENS = [
    "Token \xff\xfe\xfd",            # latin-1 bytes that are not UTF-8
    "Token caf\xc3\xa9",             # UTF-8 bytes of a non-ASCII character
    "Token abc\x00def",              # NUL
    "Token " + "a" * 10_000,         # absurdly long
    "Token \x7f\x01",                # control characters
]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("header", BAD_TOKENS)
@pytest.mark.parametrize("method,path", [("get", "/api/v1/research/runs"), ("get", "/api/v1/access/me"),
                                         ("post", "/api/v1/trading/orders"), ("options", "/api/v1/research/runs")])
def test_unreadable_tokens_are_401_never_a_traceback(settings, header, debug, method, path):
    settings.DEBUG = debug
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=header)
    response = getattr(client, method)(path, {}, format="json") if method == "post" else getattr(client, method)(path)
    envelope(response, 401, "authentication_failed")
    assert b"Traceback" not in response.content


def test_a_refused_token_on_a_write_is_audited(settings):
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION="Token \xff\xfe")
    client.post("/api/v1/research/runs", {}, format="json")
    event = AuditEvent.objects.get(path="/api/v1/research/runs")
    assert (event.actor, event.status_code, event.details["error_code"]) == ("anonymous", 401,
                                                                             "authentication_failed")
