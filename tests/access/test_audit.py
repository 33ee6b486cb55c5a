"""The audit trail: every state-changing request (accepted, refused or invalid), commands, and
the auditors' page with filters and CSV export."""
import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, transaction

from access.middleware import annotate
from access.models import AuditEvent
from access.services import audit_record
from tests.access.factories import AuditEventFactory, UserFactory
from tests.ledger.factories import ArtifactFactory

pytestmark = pytest.mark.django_db


def test_an_accepted_write_is_recorded_with_who_what_when_and_the_request_id(make_client):
    client = make_client("researcher", name="rita")
    body = ArtifactFactory()
    response = client.post("/api/v1/research/runs", body, format="json", HTTP_X_REQUEST_ID="req-123")
    assert response.status_code == 201 and response["X-Request-ID"] == "req-123"
    event = AuditEvent.objects.get(request_id="req-123")
    assert (event.actor, event.actor_roles, event.via, event.method) == ("rita", ["researcher"], "api", "POST")
    assert (event.path, event.action, event.outcome, event.status_code) == (
        "/api/v1/research/runs", "api-run-list", "ok", 201)
    assert event.client_ip == "127.0.0.1" and event.at is not None


@pytest.mark.parametrize("roles,body,status,outcome,code", [
    (("auditor",), "valid", 403, "refused", "permission_denied"),
    (("researcher",), {"schema_version": "nope"}, 400, "invalid", "invalid_artifact"),
])
def test_refused_and_invalid_writes_are_recorded_and_write_nothing_else(make_client, roles, body, status, outcome,
                                                                        code):
    from ledger.models import ResearchRun

    client = make_client(*roles)
    response = client.post("/api/v1/research/runs", ArtifactFactory() if body == "valid" else body, format="json")
    assert response.status_code == status
    event = AuditEvent.objects.get(path="/api/v1/research/runs")
    assert (event.outcome, event.status_code, event.details["error_code"]) == (outcome, status, code)
    assert response["X-Request-ID"] == event.request_id
    assert not ResearchRun.objects.exists()


@pytest.mark.smoke
def test_a_conflict_rolled_back_mid_write_still_leaves_its_refusal(make_client):
    client = make_client("agent")
    body = ArtifactFactory()
    assert client.post("/api/v1/research/runs", body, format="json").status_code == 201
    body["status"] = "failed"
    assert client.post("/api/v1/research/runs", body, format="json").status_code == 409
    assert list(AuditEvent.objects.filter(via="api").order_by("id").values_list("outcome", "status_code")) == [
        ("ok", 201), ("refused", 409)]


def test_anonymous_and_bad_token_writes_are_recorded_as_refusals(anon_client):
    assert anon_client.post("/api/v1/research/runs", {}, format="json").status_code == 401
    anon_client.credentials(HTTP_AUTHORIZATION="Token notarealtoken")
    assert anon_client.post("/api/v1/research/runs", {}, format="json").status_code == 401
    assert list(AuditEvent.objects.order_by().values_list("actor", "outcome", "status_code").distinct()) == [
        ("anonymous", "refused", 401)]


def test_reads_are_not_recorded_but_still_get_a_request_id(make_client):
    response = make_client("auditor").get("/api/v1/research/runs")
    assert response.status_code == 200 and len(response["X-Request-ID"]) == 32
    assert not AuditEvent.objects.filter(via="api").exists()


def test_an_unsafe_request_id_is_replaced(make_client):
    response = make_client("agent").post("/api/v1/research/runs", {}, format="json",
                                         HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert AuditEvent.objects.get(via="api").request_id == response["X-Request-ID"]


def test_csrf_refusals_of_pages_are_recorded(client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403
    event = AuditEvent.objects.get()
    assert (event.via, event.outcome, event.status_code) == ("page", "refused", 403)


def test_admin_writes_are_recorded_via_admin(client):
    admin_user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    response = client.post("/admin/auth/group/add/", {"name": "desk"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(via="admin")
    assert (event.actor, event.method, event.outcome) == ("root", "POST", "ok")


def test_the_audit_table_is_append_only():
    event = AuditEventFactory()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(outcome="error")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_audit_record_for_workers_and_annotations():
    event = audit_record(actor="system:kill_switch", via="worker", action="trading_halt",
                         object_ref="trading_state", details={"reason": "drawdown"})
    assert event.request_id and event.outcome == "ok" and event.via == "worker"
    from django.test import RequestFactory

    request = RequestFactory().post("/x")
    annotate(request, action="promotion_approve", object_ref="promotion:7", outcome="refused", why="self")
    assert request._audit == {"action": "promotion_approve", "object_ref": "promotion:7", "outcome": "refused",
                              "details": {"why": "self"}}


# --- the auditors' page ------------------------------------------------------------------------

@pytest.fixture
def events():
    AuditEventFactory(actor="rita", via="api", outcome="ok", path="/api/v1/research/runs",
                      at=datetime(2026, 2, 1, 10, tzinfo=UTC))
    AuditEventFactory(actor="otto", via="admin", outcome="refused", status_code=403, path="/admin/x/",
                      at=datetime(2026, 2, 2, 10, tzinfo=UTC))
    AuditEventFactory(actor="rita", via="page", outcome="invalid", status_code=400, path="/accounts/login/",
                      at=datetime(2026, 2, 3, 10, tzinfo=UTC), details={"note": "comma, \"quote\""})


def auditor_client(client):
    client.force_login(UserFactory(roles=["auditor"]))
    return client


def test_only_auditors_and_superusers_see_the_audit_pages(client, events):
    assert client.get("/audit/").status_code == 302
    client.force_login(UserFactory(roles=["operator", "approver", "researcher", "agent"]))
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    client.force_login(UserFactory(is_superuser=True))
    assert client.get("/audit/").status_code == 200
    page = auditor_client(client).get("/audit/")
    assert page.status_code == 200 and b"otto" in page.content


@pytest.mark.parametrize("query,actors", [
    ("actor=rita", ["rita", "rita"]),
    ("via=admin", ["otto"]),
    ("outcome=invalid", ["rita"]),
    ("since=2026-02-02T00:00:00Z", ["rita", "otto"]),
    ("until=2026-02-02T00:00:00Z", ["rita"]),
    ("path=login", ["rita"]),
])
def test_audit_page_filters(client, events, query, actors):
    response = auditor_client(client).get(f"/audit/?{query}")
    assert [e.actor for e in response.context["page"]] == actors


def test_audit_nav_link_only_for_auditors(client):
    client.force_login(UserFactory(roles=["operator"]))
    assert b'href="/audit/"' not in client.get("/").content
    assert b'href="/audit/"' in auditor_client(client).get("/").content


def test_csv_export_streams_the_filtered_rows_and_is_itself_audited(client, events):
    response = auditor_client(client).get("/audit/export.csv?actor=rita")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["actor"] for r in rows] == ["rita", "rita"]
    assert rows[0]["details"] == '{"note": "comma, \\"quote\\""}' and rows[0]["outcome"] == "invalid"
    assert rows[1]["at"] == "2026-02-01T10:00:00+00:00"
    assert AuditEvent.objects.filter(action="audit_export", details__filters__actor="rita").exists()


def test_audit_admin_is_read_only(client, events):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/admin/access/auditevent/").status_code == 200
    assert client.get("/admin/access/auditevent/add/").status_code == 403
    event = AuditEvent.objects.first()
    response = client.post("/admin/access/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk]})
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert response.status_code in (200, 302)


def test_logout_is_recorded_as_ok_and_login_required_redirects_as_refused(client):
    client.force_login(UserFactory(username="lou", roles=["operator"]))
    assert client.post("/accounts/logout/").status_code == 302
    assert client.post("/admin/auth/group/add/", {"name": "x"}).status_code == 302
    assert list(AuditEvent.objects.order_by("id").values_list("actor", "via", "outcome")) == [
        ("lou", "page", "ok"), ("anonymous", "admin", "refused")]


def test_text_postgresql_cannot_store_is_written_as_escapes_never_lost():
    """A refusal of a body holding NUL or a lone surrogate must still leave its row."""
    audit_record(actor="agent\x00", via="api", action="api-run-list", path="/api/v1/x\x00",
                 object_ref="run_id=\ud800", outcome="invalid",
                 details={"key\x00": ["value\udfff", {"\ud800": "ok"}], "error_code": "invalid_json"})
    event = AuditEvent.objects.get()
    assert (event.actor, event.path, event.object_ref) == ("agent\\u0000", "/api/v1/x\\u0000", "run_id=\\ud800")
    assert event.details == {"key\\u0000": ["value\\udfff", {"\\ud800": "ok"}], "error_code": "invalid_json"}
