"""Alerts: dedup, the state machine held by PostgreSQL, the services and the API."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from access.models import AuditEvent
from autonomy import services
from autonomy.models import Alert, AlertDelivery

pytestmark = pytest.mark.django_db


def raise_alert(key="lean_circuit", severity="critical", title="LEAN lane disabled", **kw):
    return services.alert_raise(dedup_key=key, severity=severity, title=title, evidence=kw.pop("evidence", {"n": 1}),
                                **kw)


def test_a_repeated_condition_updates_the_open_alert_instead_of_opening_another():
    first = raise_alert(evidence={"ratio": 0.3})
    again = raise_alert(evidence={"ratio": 0.4}, title="LEAN lane disabled (again)")
    assert again.pk == first.pk
    stored = Alert.objects.get()
    assert stored.occurrences == 2 and stored.evidence == {"ratio": 0.4}
    assert stored.title == "LEAN lane disabled (again)" and stored.last_seen_at > stored.opened_at
    assert AuditEvent.objects.filter(action="alert_raise", object_ref=f"alert:{first.pk}").count() == 2


def test_severity_only_rises_while_unresolved():
    raise_alert(key="k", severity="warning")
    assert raise_alert(key="k", severity="critical").severity == "critical"
    assert raise_alert(key="k", severity="info").severity == "critical"


def test_after_resolution_the_same_condition_opens_a_new_alert():
    first = raise_alert()
    services.alert_resolve(alert_id=first.pk, actor="ops", comment="runner restarted")
    second = raise_alert()
    assert second.pk != first.pk and second.status == "open"
    assert list(Alert.objects.order_by("id").values_list("status", flat=True)) == ["resolved", "open"]


def test_the_database_allows_one_unresolved_alert_per_key():
    raise_alert(key="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(dedup_key="dup", severity="info", title="second", raised_by="x")


@pytest.mark.parametrize(("start", "target", "allowed"), [
    ("open", "acknowledged", True), ("open", "resolved", True), ("acknowledged", "resolved", True),
    ("acknowledged", "open", False), ("resolved", "open", False), ("resolved", "acknowledged", False)])
def test_status_transitions_are_enforced_by_a_trigger(start, target, allowed):
    alert = raise_alert(key=f"t-{start}-{target}")
    with connection.cursor() as cursor:
        if start in ("acknowledged", "resolved"):
            cursor.execute("UPDATE autonomy_alerts SET status = 'acknowledged', acknowledged_at = now() WHERE id = %s",
                           [alert.pk])
        if start == "resolved":
            cursor.execute("UPDATE autonomy_alerts SET status = 'resolved', resolved_at = now() WHERE id = %s",
                           [alert.pk])
    sql = "UPDATE autonomy_alerts SET status = %s, acknowledged_at = now(), resolved_at = now() WHERE id = %s"
    if allowed:
        with connection.cursor() as cursor:
            cursor.execute(sql, [target, alert.pk])
        assert Alert.objects.get(pk=alert.pk).status == target
    else:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [target, alert.pk])


def test_a_resolved_alert_never_changes_and_no_alert_is_deleted():
    alert = raise_alert()
    services.alert_resolve(alert_id=alert.pk, actor="ops")
    with pytest.raises(DatabaseError), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).update(title="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        Alert.objects.filter(pk=alert.pk).delete()
    open_one = raise_alert(key="other")
    with pytest.raises(DatabaseError), transaction.atomic():
        Alert.objects.filter(pk=open_one.pk).update(dedup_key="renamed")


def test_acknowledge_then_resolve_records_who_and_audits_before_and_after():
    alert = raise_alert()
    acked = services.alert_acknowledge(alert_id=alert.pk, actor="olga", comment="on it")
    assert (acked.status, acked.acknowledged_by, acked.acknowledge_comment) == ("acknowledged", "olga", "on it")
    resolved = services.alert_resolve(alert_id=alert.pk, actor="olga", comment="fixed")
    assert resolved.status == "resolved" and resolved.resolved_by == "olga" and resolved.resolved_at
    audit = AuditEvent.objects.get(action="alert_resolve")
    assert audit.details["before"] == "acknowledged" and audit.details["after"] == "resolved"


def test_illegal_service_transitions_are_conflicts():
    from core.errors import Conflict, NotFound

    alert = raise_alert()
    services.alert_acknowledge(alert_id=alert.pk, actor="a")
    with pytest.raises(Conflict) as exc:
        services.alert_acknowledge(alert_id=alert.pk, actor="b")
    assert exc.value.code == "alert_not_open"
    services.alert_resolve(alert_id=alert.pk, actor="a")
    with pytest.raises(Conflict) as exc:
        services.alert_resolve(alert_id=alert.pk, actor="b")
    assert exc.value.code == "alert_already_resolved"
    with pytest.raises(NotFound):
        services.alert_acknowledge(alert_id=999999, actor="a")


def test_alert_clear_resolves_the_unresolved_alert_and_is_idempotent():
    raise_alert(key="stale_signals", severity="warning")
    cleared = services.alert_clear(dedup_key="stale_signals", actor="system:staleness", reason="fresh again")
    assert cleared.status == "resolved" and cleared.resolve_comment == "fresh again"
    assert services.alert_clear(dedup_key="stale_signals") is None


def test_notifications_are_queued_for_open_escalate_and_resolve_on_configured_channels(settings):
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = "http://127.0.0.1:9/hook", "s3cret"
    settings.ALERT_EMAIL_TO = ["ops@example.com", "oncall@example.com"]
    settings.ALERT_NOTIFY_MIN_SEVERITY = "warning"
    raise_alert(key="info-only", severity="info")
    assert not AlertDelivery.objects.exists()
    alert = raise_alert(key="k", severity="warning")
    raise_alert(key="k", severity="warning")  # a repeat notifies nobody
    raise_alert(key="k", severity="critical")  # escalation does
    services.alert_resolve(alert_id=alert.pk, actor="ops")
    rows = list(AlertDelivery.objects.order_by("id").values_list("event", "channel", "target"))
    assert rows == [("opened", "webhook", "http://127.0.0.1:9/hook"),
                    ("opened", "email", "ops@example.com,oncall@example.com"),
                    ("escalated", "webhook", "http://127.0.0.1:9/hook"),
                    ("escalated", "email", "ops@example.com,oncall@example.com"),
                    ("resolved", "webhook", "http://127.0.0.1:9/hook"),
                    ("resolved", "email", "ops@example.com,oncall@example.com")]
    payload = AlertDelivery.objects.filter(event="resolved").first().payload
    assert payload["alert"]["status"] == "resolved" and payload["alert"]["dedup_key"] == "k"


# --- API ---------------------------------------------------------------------------------------

def test_alert_list_filters_by_status_and_severity_and_paginates(make_client):
    for n in range(3):
        raise_alert(key=f"w{n}", severity="warning")
    crit = raise_alert(key="c", severity="critical")
    services.alert_acknowledge(alert_id=crit.pk, actor="ops")
    client = make_client("auditor")
    body = client.get("/api/v1/alerts?severity=critical").json()
    assert [a["id"] for a in body["results"]] == [crit.pk]
    row = body["results"][0]
    assert set(row) >= {"id", "dedup_key", "severity", "status", "title", "evidence", "opened_at", "acknowledged_by",
                        "resolved_at"}
    assert row["status"] == "acknowledged" and row["acknowledged_by"] == "ops" and row["resolved_at"] is None
    assert len(client.get("/api/v1/alerts?status=open").json()["results"]) == 3
    page = client.get("/api/v1/alerts?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    assert client.get("/api/v1/alerts?status=closed").status_code == 400
    assert client.get("/api/v1/alerts?status=").status_code == 200


def test_operators_acknowledge_and_resolve_through_the_api(make_client):
    alert = raise_alert()
    operator = make_client("operator")
    answer = operator.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {"comment": "looking"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == operator.principal.username
    again = operator.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "alert_not_open"
    done = operator.post(f"/api/v1/alerts/{alert.pk}/resolve", {"comment": "fixed"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "resolved" and done.json()["resolved_at"]
    assert operator.post(f"/api/v1/alerts/{alert.pk}/resolve", {}, format="json").status_code == 409
    assert operator.post("/api/v1/alerts/987654/resolve", {}, format="json").status_code == 404


def test_agents_cannot_acknowledge_and_bad_bodies_write_nothing(make_client):
    alert = raise_alert()
    assert make_client("agent").post(f"/api/v1/alerts/{alert.pk}/acknowledge", {}, format="json").status_code == 403
    bad = make_client("operator").post(f"/api/v1/alerts/{alert.pk}/resolve", {"comment": 5, "x": 1}, format="json")
    assert bad.status_code == 400 and set(bad.json()["error"]["details"]["fields"]) == {"comment", "x"}
    assert Alert.objects.get().status == "open"
