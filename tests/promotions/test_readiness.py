"""The readiness scorecard measured from the database: fills without a route, activations without a
verifying signed chain, promotion replay times; green_since from the stored snapshots; the Phase D
rule's refusal while it is not green over the window."""
from __future__ import annotations

from datetime import timedelta

import pgtrigger
import pytest
from django.db import connection
from django.utils import timezone

from autonomy import readiness, selectors, services
from autonomy.models import ReadinessSnapshot
from autonomy.tasks import readiness_sweep
from promotions.models import Promotion, ReplayRecord
from promotions.services import replay_sweep
from tests.execution.factories import ExecutionFactory, LegacyExecutionFactory

pytestmark = pytest.mark.django_db

ARMED = {"critical_flags": 0, "flags_without_alert": [],
         "lean_circuit": {"in_order_path": True, "fallback_ratio": "0.25", "sweep_age_minutes": 1}}


VERIFIED = {"checked_at": "2026-12-01T23:00:00Z", "check": 1, "ok": True, "age_seconds": 60, "rows_checked": 10,
            "chains": 2, "first_break": None}


@pytest.fixture
def control_facts(monkeypatch):
    """The control facts as the autonomy app supplies them once its alerts and circuits exist, and a recent
    unbroken verification of the audit chains (tests/autonomy/test_audit_chain.py); here a fixed, healthy
    set, so these tests judge the other criteria alone."""
    monkeypatch.setitem(readiness._PROVIDERS, "control", lambda window_start, now: ARMED)
    monkeypatch.setitem(readiness._PROVIDERS, "audit_chain", lambda window_start, now: VERIFIED)


def criterion(body, cid):
    return next(c for c in body["criteria"] if c["id"] == cid)


def test_fills_without_a_recorded_route_fail_the_first_criterion(flow, control_facts):
    ExecutionFactory()
    missing = LegacyExecutionFactory(client_order_id="no-route-1")
    LegacyExecutionFactory(client_order_id="not-filled", filled_qty=0)

    body = flow.agent.get("/api/v1/readiness").json()

    first = criterion(body, "new_fills_route_recorded")
    assert first["status"] == "fail" and first["observed"] == 1 and first["threshold"] == 0
    assert missing.client_order_id in first["detail"]
    assert body["green"] is False and body["green_since"] is None


def test_an_activation_counts_once_its_promotion_replays_and_a_changed_row_fails_it(flow, control_facts):
    flow.promote("paper")
    promotion = Promotion.objects.get()

    before = flow.agent.get("/api/v1/readiness").json()
    chain = criterion(before, "activations_signed_chain")
    assert chain["status"] == "fail" and "not replayed in the window" in chain["detail"]
    assert criterion(before, "promotion_replay_time")["status"] == "fail"

    records = replay_sweep()
    assert [r.promotion_id for r in records] == [promotion.pk] and records[0].reproducible

    after = flow.agent.get("/api/v1/readiness").json()
    assert criterion(after, "activations_signed_chain")["status"] == "pass"
    replay = criterion(after, "promotion_replay_time")
    assert replay["status"] == "pass" and 0 < replay["observed"] < 1000
    assert after["green"] is True and after["green_since"] is not None

    fold = promotion.candidate.folds.order_by("fold_order").first()
    with pgtrigger.ignore("ledger.FoldMetric:append_only"), connection.cursor() as cursor:
        cursor.execute("UPDATE research_fold_metrics SET net_pnl = -999 WHERE id = %s", [fold.pk])
    replay_sweep()
    tampered = flow.agent.get("/api/v1/readiness").json()
    chain = criterion(tampered, "activations_signed_chain")
    assert chain["status"] == "fail" and f"promotion #{promotion.pk} does not replay" in chain["detail"]
    assert "research_fold_metrics" in chain["detail"]
    assert "1 not reproducible" in criterion(tampered, "promotion_replay_time")["detail"]


def test_a_strategy_above_shadow_without_an_applied_promotion_fails(flow, control_facts):
    from strategies.models import Strategy

    with pgtrigger.ignore("strategies.Strategy:strategy_stage_fsm"), connection.cursor() as cursor:
        cursor.execute("UPDATE strategies SET stage = 'paper' WHERE name = 'macd_rsi'")
    assert Strategy.objects.get(name="macd_rsi").stage == "paper"
    chain = criterion(flow.agent.get("/api/v1/readiness").json(), "activations_signed_chain")
    assert chain["status"] == "fail" and "macd_rsi (no applied promotion brought it to paper)" in chain["detail"]


def test_critical_flags_need_their_alert_and_the_lean_circuit_its_recent_sweep(flow):
    from autonomy.choices import AlertStatus
    from autonomy.models import Alert

    flow.promote("paper")
    replay_sweep()
    body = flow.agent.get("/api/v1/readiness").json()
    armed = criterion(body, "lean_auto_disable_armed")
    assert armed["status"] == "fail" and "never run" in armed["detail"] and body["green"] is False

    services.lean_circuit_check(requests=10, fallbacks=0, outage_open=False, trigger="sweep")  # the backstop sweep
    assert criterion(flow.agent.get("/api/v1/readiness").json(), "lean_auto_disable_armed")["status"] == "pass"

    services.trading_state_set(state="HALTED", reason="drill", actor="ops")  # raises its critical alert
    alerting = criterion(flow.agent.get("/api/v1/readiness").json(), "critical_flags_alerting")
    assert alerting["status"] == "pass" and alerting["detail"].startswith("1 critical flag(s) set")

    Alert.objects.filter(dedup_key="trading_state:global").update(status=AlertStatus.RESOLVED,
                                                                  resolved_at=timezone.now())
    alerting = criterion(flow.agent.get("/api/v1/readiness").json(), "critical_flags_alerting")
    assert alerting["status"] == "fail" and "trading HALTED globally" in alerting["detail"]


def test_phase_d_refuses_enabling_lean_until_readiness_holds_and_the_recovery_waits_too(flow, settings):
    from core.errors import PolicyRefused

    settings.READINESS_PHASE_D = True
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    with pytest.raises(PolicyRefused) as refused:
        services.lean_lane_set(enabled=True, reason="upgrade done", actor="ops")
    assert refused.value.code == "readiness_not_met" and "not green" in refused.value.message
    assert selectors.trading_state_get().lean_enabled is False
    services.lean_lane_set(enabled=False, reason="still off", actor="ops")  # disabling is never refused

    settings.READINESS_PHASE_D = False
    services.lean_lane_set(enabled=True, reason="rule off", actor="ops")
    assert selectors.trading_state_get().lean_enabled is True


def test_green_since_is_the_start_of_the_unbroken_green_run_and_phase_d_waits_for_the_window(
        flow, control_facts, settings):
    settings.READINESS_GREEN_HOURS = 24
    flow.promote("paper")
    replay_sweep()
    now = timezone.now()
    ReadinessSnapshot.objects.create(at=now - timedelta(hours=30), green=True, criteria=[], facts={},
                                     window_start=now - timedelta(hours=54), created_by="test")
    ReadinessSnapshot.objects.create(at=now - timedelta(hours=20), green=False, criteria=[], facts={},
                                     window_start=now - timedelta(hours=44), created_by="test")
    first_green = ReadinessSnapshot.objects.create(at=now - timedelta(hours=10), green=True, criteria=[], facts={},
                                                   window_start=now - timedelta(hours=34), created_by="test")

    state = selectors.readiness_get(now=now)
    assert state["green"] and state["green_since"] == first_green.at
    why = selectors.readiness_block(now=now)
    assert why is not None and "24 h of green are required" in why

    assert selectors.readiness_block(now=now + timedelta(hours=15)) is None


def test_the_sweep_replays_records_and_stores_a_snapshot_with_its_facts(flow, control_facts):
    flow.promote("paper")
    summary = readiness_sweep()
    assert summary["replays"] == 1 and summary["green"] is True and summary["failing"] == []
    snapshot = ReadinessSnapshot.objects.get()
    assert snapshot.green and snapshot.facts["replays"]["count"] == 1
    assert snapshot.facts["activations"]["activations"] == 1
    assert ReplayRecord.objects.count() == 1
    assert services.readiness_snapshot_take().pk != snapshot.pk  # each run appends


def test_replay_promotion_records_each_replay_unless_told_not_to(flow):
    from io import StringIO

    from django.core.management import call_command

    flow.promote("paper")
    promotion = Promotion.objects.get()
    call_command("replay_promotion", str(promotion.pk), stdout=StringIO())
    call_command("replay_promotion", "--all", "--no-record", stdout=StringIO())
    assert list(ReplayRecord.objects.values_list("promotion_id", "reproducible", "created_by")) == [
        (promotion.pk, True, "command:replay_promotion")]


def test_the_readiness_page_shows_each_criterion_and_the_refusal(flow, control_facts, client):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("viewer", password="pw-12345678")
    client.force_login(user)
    page = client.get("/autonomy/readiness/")
    assert page.status_code == 200
    text = page.content.decode()
    for cid in ("new_fills_route_recorded", "activations_signed_chain", "promotion_replay_time",
                "critical_flags_alerting", "lean_auto_disable_armed"):
        assert f'id="criterion-{cid}"' in text
    assert "not green" in text and "refused" in text


def test_phase_d_refuses_an_llm_stage_above_stage1_until_readiness_holds(settings):
    from autonomy.selectors import llm_stage_readiness_block

    settings.READINESS_PHASE_D = True
    assert "readiness scorecard is not green" in llm_stage_readiness_block()
    settings.READINESS_PHASE_D = False
    assert llm_stage_readiness_block() is None


def test_the_lean_lane_comes_back_through_the_control_room_after_its_alert_was_resolved_by_hand(flow, settings):
    """The defect: an operator resolved the ``lean_lane`` alert while the lane was off, readiness' critical
    flag criterion failed, Phase D refused enabling the lane, and nothing raised the alert again. Now the
    resolve is refused (acknowledge instead), an alert resolved that way earlier is raised again by the LEAN
    circuit's sweep, and the lane is enabled through the control room once readiness is otherwise green."""
    from django.test import Client

    from autonomy.models import Alert
    from tests.access.factories import UserFactory

    settings.READINESS_PHASE_D, settings.READINESS_GREEN_HOURS = True, 24
    flow.promote("paper")
    replay_sweep()
    services.lean_circuit_check(requests=10, fallbacks=0, outage_open=False, trigger="sweep", cycle=1)  # armed
    assert services.audit_chain_verify().ok  # the worker's verification of the audit chains
    now = timezone.now()
    ReadinessSnapshot.objects.create(at=now - timedelta(hours=25), green=True, criteria=[], facts={},
                                     window_start=now - timedelta(hours=49), created_by="test")
    page = Client()
    page.force_login(UserFactory(username="olga", roles=["operator"]))
    lean_url = "/autonomy/control/lean-lane/"
    assert page.post(lean_url, {"enabled": "false", "reason": "runner upgrade"}).status_code == 302
    alert = Alert.objects.get(dedup_key="lean_lane")
    assert selectors.readiness_get()["green"] is True  # the lane is off, and its alert stands

    refused = flow.operator.post(f"/api/v1/alerts/{alert.pk}/resolve", {"comment": "runner is back"}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "alert_condition_holds"
    assert flow.operator.post(f"/api/v1/alerts/{alert.pk}/acknowledge", {}, format="json").status_code == 200
    assert selectors.readiness_get()["green"] is True

    # an alert resolved by hand before that refusal existed: the trap as it was
    Alert.objects.filter(pk=alert.pk).update(status="resolved", resolved_at=timezone.now(), resolved_by="olga")
    alerting = criterion(flow.agent.get("/api/v1/readiness").json(), "critical_flags_alerting")
    assert alerting["status"] == "fail" and "LEAN lane disabled" in alerting["detail"]
    stuck = page.post(lean_url, {"enabled": "true", "reason": "runner upgraded"})
    assert stuck.status_code == 422 and "readiness_not_met" in stuck.content.decode()

    services.lean_circuit_check(requests=10, fallbacks=0, outage_open=False, trigger="sweep", cycle=2)  # backstop
    assert criterion(flow.agent.get("/api/v1/readiness").json(), "critical_flags_alerting")["status"] == "pass"
    assert page.post(lean_url, {"enabled": "true", "reason": "runner upgraded"}).status_code == 302
    assert selectors.trading_state_get().lean_enabled is True
    again = Alert.objects.get(dedup_key="lean_lane", raised_by="system:lean-circuit")
    assert again.status == "resolved" and again.resolved_by == "olga"  # it resolved with the lane coming back
