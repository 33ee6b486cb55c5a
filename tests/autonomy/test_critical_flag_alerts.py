"""A critical control flag keeps its critical alert while it is set (the readiness criterion
``critical_flags_alerting`` requires one): resolving that alert by hand is refused, the same from every door
(service, API, page, admin) and audited; the alert resolves by itself when the flag is lifted. And the LEAN
circuit's sweep raises the ``lean_lane`` alert again when the lane is off without one (an alert resolved
before that refusal existed)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from access.models import AuditEvent
from autonomy import selectors, services
from autonomy.models import Alert, ConditionEvaluation
from core.errors import Conflict
from tests.access.factories import StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db


def unresolved(key: str) -> Alert | None:
    return Alert.objects.exclude(status="resolved").filter(dedup_key=key).first()


def silent_flags() -> list[str]:
    """The flags readiness' ``critical_flags_alerting`` finds without an unresolved critical alert."""
    now = timezone.now()
    return selectors.readiness_control(window_start=now, now=now)["flags_without_alert"]


def lane_off(reason: str = "runner upgrade") -> Alert:
    services.lean_lane_set(enabled=False, reason=reason, actor="olga")
    return unresolved("lean_lane")


def resolved_by_hand_before_the_fix(alert: Alert) -> None:
    """What an operator could do before the refusal existed (the trigger allows open -> resolved)."""
    Alert.objects.filter(pk=alert.pk).update(status="resolved", resolved_at=timezone.now(), resolved_by="olga")


def operator(name: str = "ops1") -> Client:
    client = Client()
    client.force_login(UserFactory(username=name, roles=["operator"]))
    return client


# --- The refusal ---------------------------------------------------------------------------------------

def test_resolving_the_lean_alert_while_the_lane_is_off_is_refused_and_audited():
    alert = lane_off()
    with pytest.raises(Conflict) as refused:
        services.alert_resolve(alert_id=alert.pk, actor="olga", comment="runner is back")
    error = refused.value
    assert (error.code, error.http_status) == ("alert_condition_holds", 409)
    assert "(LEAN lane disabled)" in error.message and "Acknowledge it instead" in error.message
    assert "resolves by itself when the LEAN lane is enabled again" in error.message
    assert error.details == {"dedup_key": "lean_lane", "status": "open", "condition": "LEAN lane disabled",
                             "resolves": "when the LEAN lane is enabled again (control room or admin)"}
    alert.refresh_from_db()
    assert alert.status == "open" and alert.resolved_at is None
    audit = AuditEvent.objects.get(action="alert_resolve")
    assert (audit.outcome, audit.actor, audit.object_ref) == ("refused", "olga", f"alert:{alert.pk}")
    assert audit.details["error_code"] == "alert_condition_holds" and audit.details["comment"] == "runner is back"
    assert silent_flags() == []  # readiness still sees the lane's alert

    services.alert_acknowledge(alert_id=alert.pk, actor="olga", comment="on it")  # what to do instead
    with pytest.raises(Conflict) as again:
        services.alert_resolve(alert_id=alert.pk, actor="olga")
    assert again.value.code == "alert_condition_holds" and "Leave it acknowledged" in again.value.message
    assert Alert.objects.get(pk=alert.pk).status == "acknowledged" and silent_flags() == []


def test_the_alert_resolves_by_itself_when_the_lane_comes_back(settings):
    settings.READINESS_PHASE_D = False  # the alert's life; enabling under readiness is tested with the flow
    alert = lane_off()
    services.alert_acknowledge(alert_id=alert.pk, actor="olga")
    services.lean_lane_set(enabled=True, reason="runner upgraded", actor="olga")
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == "olga" and "enabled again" in alert.resolve_comment


def test_alerts_whose_condition_is_gone_or_not_a_critical_flag_resolve_as_before():
    lean = services.alert_raise(dedup_key="lean_lane", severity="critical", title="left over", evidence={})
    assert services.alert_resolve(alert_id=lean.pk, actor="olga").status == "resolved"  # the lane is on
    services.trading_state_set(state="REDUCING", reason="lag", actor="olga")  # a warning, not a critical flag
    reducing = unresolved("trading_state:global")
    assert services.alert_resolve(alert_id=reducing.pk, actor="olga").status == "resolved"
    stale = services.alert_raise(dedup_key="stale_signals", severity="warning", title="stale", evidence={})
    assert services.alert_resolve(alert_id=stale.pk, actor="olga").status == "resolved"
    assert not AuditEvent.objects.filter(action="alert_resolve", outcome="refused").exists()


def _halt_globally() -> tuple[str, str]:
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="olga")
    return "trading_state:global", "trading HALTED globally"


def _halt_a_strategy() -> tuple[str, str]:
    StrategyFactory(name="breakout")
    services.trading_state_set(state="HALTED", reason="slippage", actor="olga", strategy="breakout")
    return "trading_state:strategy:breakout", "breakout HALTED"


def _breach_a_budget() -> tuple[str, str]:
    services.budget_use(name="order_count", amount=Decimal(6), actor="system:test")
    return "budget:order_count", "budget order_count breached"


@pytest.mark.parametrize("set_flag", [_halt_globally, _halt_a_strategy, _breach_a_budget])
def test_every_critical_flag_readiness_requires_keeps_its_alert(settings, set_flag):
    settings.AUTONOMY_BUDGETS = {**settings.AUTONOMY_BUDGETS, "order_count": {"limit": "5", "on_breach": "REDUCING"}}
    key, what = set_flag()
    alert = unresolved(key)
    assert alert.severity == "critical"
    with pytest.raises(Conflict) as refused:
        services.alert_resolve(alert_id=alert.pk, actor="olga")
    assert refused.value.code == "alert_condition_holds" and f"({what})" in refused.value.message
    assert unresolved(key).pk == alert.pk and silent_flags() == []


def test_lifting_a_halt_resolves_its_alert():
    key, _ = _halt_globally()
    alert = unresolved(key)
    services.alert_acknowledge(alert_id=alert.pk, actor="olga")
    services.trading_state_set(state="ACTIVE", reason="reviewed", actor="olga")
    alert.refresh_from_db()
    assert alert.status == "resolved" and unresolved(key) is None


# --- Every door says the same -----------------------------------------------------------------------

def test_the_api_answers_409_with_the_code_and_what_to_do(make_client):
    alert = lane_off()
    client = make_client("operator")
    answer = client.post(f"/api/v1/alerts/{alert.pk}/resolve", {"comment": "runner is back"}, format="json")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "alert_condition_holds" and "Acknowledge it instead" in error["message"]
    assert error["details"]["condition"] == "LEAN lane disabled"
    assert Alert.objects.get(pk=alert.pk).status == "open"
    service_row = AuditEvent.objects.get(action="alert_resolve")
    assert (service_row.outcome, service_row.via, service_row.actor) == ("refused", "api", client.principal.username)
    request_row = AuditEvent.objects.filter(method="POST", path__endswith="/resolve").get()
    assert request_row.status_code == 409 and request_row.details["error_code"] == "alert_condition_holds"


def test_the_alerts_page_offers_no_resolve_for_a_flag_still_set_and_shows_the_refusal():
    alert = lane_off()
    other = services.alert_raise(dedup_key="stale_signals", severity="warning", title="stale", evidence={})
    client = operator()
    listed = client.get("/autonomy/alerts/").content.decode()
    row, other_row = (listed.split(f'<tr id="alert-{a.pk}">')[1].split("</tr>")[0] for a in (alert, other))
    assert "Resolve</button>" not in row and "Acknowledge</button>" in row
    assert "Resolves by itself when the LEAN lane is enabled again" in row
    assert "Resolve</button>" in other_row and "Resolves by itself" not in other_row
    page = client.post(f"/autonomy/alerts/{alert.pk}/resolve/", {"comment": "runner is back"}, follow=True)
    text = page.content.decode()
    assert page.status_code == 200 and f"Alert #{alert.pk} cannot be resolved while its condition holds" in text
    assert "Acknowledge it instead" in text and "resolved." not in text
    assert Alert.objects.get(pk=alert.pk).status == "open"
    assert AuditEvent.objects.get(action="alert_resolve").via == "page"


def test_the_admin_action_shows_the_refusal_and_resolves_the_others():
    from django.contrib.auth import get_user_model

    alert = lane_off()
    other = services.alert_raise(dedup_key="stale_signals", severity="warning", title="stale", evidence={})
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@x.test", "a-long-password-1"))
    page = client.post("/admin/autonomy/alert/", {"action": "resolve_selected", "confirm": "yes", "comment": "done",
                                                  "_selected_action": [alert.pk, other.pk]}, follow=True)
    text = page.content.decode()
    assert f"#{alert.pk}: Alert #{alert.pk} cannot be resolved while its condition holds" in text
    assert f"#{other.pk}: done." in text
    assert Alert.objects.get(pk=alert.pk).status == "open" and Alert.objects.get(pk=other.pk).status == "resolved"
    assert AuditEvent.objects.get(action="alert_resolve", outcome="refused").via == "admin"


# --- The sweep raises the alert again ----------------------------------------------------------------

def test_the_lean_circuit_sweep_raises_the_alert_again_when_the_lane_is_off_without_one():
    alert = lane_off()
    resolved_by_hand_before_the_fix(alert)
    assert silent_flags() == ["LEAN lane disabled"]  # the trap: readiness fails, nothing raised it again

    verdict = services.lean_circuit_check(requests=0, fallbacks=0, outage_open=False, trigger="sweep", cycle=1)
    assert verdict.action == "raise_lean_alert" and not verdict.breached
    again = unresolved("lean_lane")
    assert again.pk != alert.pk and again.severity == "critical" and again.status == "open"
    assert again.title == "LEAN lane disabled: runner upgrade" and again.raised_by == "system:lean-circuit"
    assert again.evidence["trigger"] == "sweep" and again.evidence["disabled_by"] == "olga"
    assert silent_flags() == []
    stored = ConditionEvaluation.objects.get(condition="lean_circuit")
    assert stored.action == "raise_lean_alert" and stored.inputs["alert_open"] is False

    services.alert_acknowledge(alert_id=again.pk, actor="olga")  # standing (acknowledged): nothing more to do
    assert services.lean_circuit_check(requests=0, fallbacks=0, outage_open=False, trigger="sweep",
                                       cycle=2).action is None
    again.refresh_from_db()
    assert again.occurrences == 1 and again.status == "acknowledged"


def test_the_sweep_raises_nothing_while_the_lane_is_on():
    verdict = services.lean_circuit_check(requests=0, fallbacks=0, outage_open=False, trigger="sweep", cycle=1)
    assert verdict.action is None and not Alert.objects.exists()


def test_the_schema_names_the_refusal():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    resolve = next(item["post"] for path, item in schema["paths"].items() if path.endswith("/resolve"))
    assert "`alert_condition_holds`" in resolve["responses"]["409"]["description"]


@pytest.mark.django_db(transaction=True)
def test_the_refusal_is_committed_while_the_alert_is_left_as_it_was(make_client):
    """Outside any test transaction: the service's refusal row is committed, the alert untouched."""
    alert = lane_off()
    answer = make_client("operator").post(f"/api/v1/alerts/{alert.pk}/resolve", {}, format="json")
    assert answer.status_code == 409
    assert AuditEvent.objects.filter(action="alert_resolve", outcome="refused", via="api").count() == 1
    assert Alert.objects.get(pk=alert.pk).status == "open"
