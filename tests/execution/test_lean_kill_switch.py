"""The LEAN circuit as a kill switch: in the order path, as the failures happen, the LEAN lane is
disabled with an incident and a critical alert; the sweep is a backstop; the lane comes back by an
operator, or after N clean probes where the policy allows."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from autonomy.models import Alert, ConditionEvaluation, Incident
from autonomy.selectors import trading_state_get
from autonomy.services import lean_lane_set
from execution.circuit import lean_circuit_sweep, lean_probe
from execution.models import LeanOutage
from execution.services import order_submit
from execution.wiring import adapters
from tests.execution.factories import OrderInputFactory

pytestmark = pytest.mark.django_db


def lean_enabled() -> bool:
    return trading_state_get().lean_enabled


def test_an_outage_opening_disables_lean_at_once_with_an_incident_and_a_critical_alert(routed):
    routed.lean.set_fault("error")
    first, second = (order_submit(data=OrderInputFactory()).execution for _ in range(2))
    assert lean_enabled() and not Alert.objects.exists()
    third = order_submit(data=OrderInputFactory()).execution  # the third failure in a row opens the outage
    assert third.execution_actual_adapter == "alpaca" and third.execution_fallback_reason == "lean_submit_http_500"
    # at once, in the order path: no sweep ran
    state = trading_state_get()
    assert not state.lean_enabled and state.lean_disabled_reason.startswith("lean_circuit: a LEAN outage is open")
    alert = Alert.objects.get(dedup_key="lean_lane")
    assert alert.severity == "critical" and alert.status == "open"
    assert alert.evidence["by"] == "system:lean-circuit"
    assert alert.evidence["evidence"]["trigger"] == "order_path" and alert.evidence["evidence"]["outage_open"] is True
    incident = Incident.objects.get()
    assert incident.kind == "lean_circuit" and incident.status == "open" and incident.alert_id == alert.pk
    evaluations = list(ConditionEvaluation.objects.filter(condition="lean_circuit").order_by("id"))
    assert [e.action for e in evaluations] == ["", "", "disable_lean"]
    assert evaluations[-1].inputs["requests"] == 3 and evaluations[-1].inputs["fallbacks"] == 3
    fourth = order_submit(data=OrderInputFactory()).execution
    assert (fourth.execution_expected_adapter, fourth.execution_fallback_count) == ("alpaca", 0)
    assert fourth.raw_order["_execution_route_policy"] == "lean_lane_disabled"
    assert Alert.objects.count() == 1 and Incident.objects.count() == 1


@pytest.mark.parametrize(("ok_orders", "disabled"), [(3, True), (4, False)])
def test_a_fallback_ratio_of_a_quarter_disables_lean_without_an_outage(routed, settings, ok_orders, disabled):
    settings.AUTONOMY_LEAN_MIN_REQUESTS = 4
    for _ in range(ok_orders):
        order_submit(data=OrderInputFactory())
    routed.lean.set_fault("error")
    order_submit(data=OrderInputFactory())  # 1 fallback of 4 LEAN orders = 0.25; of 5 = 0.2
    assert not LeanOutage.objects.exists()  # the breaker (3 in a row, or its own 0.5 ratio) stayed closed
    assert lean_enabled() is not disabled
    assert Alert.objects.filter(dedup_key="lean_lane", severity="critical").exists() is disabled
    last = ConditionEvaluation.objects.filter(condition="lean_circuit").latest("id")
    assert last.outcome["ratio"] == (0.25 if disabled else 0.2)


def test_the_sweep_is_a_backstop_evaluated_once_per_cycle(routed, settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    LeanOutage.objects.create(started_at=timezone.now(), reason="opened elsewhere", failures=5)
    assert lean_enabled()
    now = timezone.now()
    summary = lean_circuit_sweep(adapters()[0], now=now)
    assert summary["breached"] and summary["action"] == "disable_lean" and not lean_enabled()
    assert Alert.objects.get(dedup_key="lean_lane").evidence["evidence"]["trigger"] == "sweep"
    assert lean_circuit_sweep(adapters()[0], now=now)["action"] is None  # the same cycle: nothing again
    assert ConditionEvaluation.objects.filter(condition="lean_circuit").count() == 1


def trip(routed):
    routed.lean.set_fault("error")
    for _ in range(3):
        order_submit(data=OrderInputFactory())
    assert not lean_enabled()
    routed.lean.set_fault("ok")
    assert lean_probe(adapters()[0], force=True) is True  # the outage closes; the lane stays off


def test_the_sweep_task_raises_the_lane_alert_again_when_it_was_resolved_while_the_lane_is_off(routed):
    """Before resolving it was refused, an operator could resolve the ``lean_lane`` alert of a lane still off:
    readiness then failed (a critical flag without its alert) and kept the lane off. The sweep restores it."""
    from access.models import AuditEvent
    from execution.tasks import sweep_lean_circuit

    trip(routed)
    first = Alert.objects.get(dedup_key="lean_lane")
    Alert.objects.filter(pk=first.pk).update(status="resolved", resolved_at=timezone.now(), resolved_by="olga")
    summary = sweep_lean_circuit()
    assert summary["action"] == "raise_lean_alert" and not lean_enabled()
    again = Alert.objects.exclude(status="resolved").get(dedup_key="lean_lane")
    assert again.pk != first.pk and again.severity == "critical"
    assert again.title.startswith("LEAN lane disabled: lean_circuit: a LEAN outage is open")
    assert AuditEvent.objects.get(action="task:sweep_lean_circuit").details["action"] == "raise_lean_alert"
    assert Incident.objects.get().status == "open"  # the incident stays as it was


def test_only_an_operator_brings_lean_back_by_default(routed, settings):
    settings.READINESS_PHASE_D = False  # the circuit alone; the readiness rule has its own tests
    settings.AUTONOMY_SWEEP_MINUTES = 1
    trip(routed)
    start = timezone.now()
    for minute in range(1, 6):
        summary = lean_circuit_sweep(adapters()[0], now=start + timedelta(minutes=minute))
        assert summary["recovery"] is None
    assert not lean_enabled() and Incident.objects.get().status == "open"
    lean_lane_set(enabled=True, reason="runner restarted", actor="olga")
    assert lean_enabled()
    lean_circuit_sweep(adapters()[0], now=start + timedelta(minutes=7))  # the watch ends
    from autonomy.selectors import lean_recovery_watching

    assert not lean_recovery_watching()


def test_n_clean_probes_bring_lean_back_where_the_policy_allows(routed, settings):
    settings.READINESS_PHASE_D = False  # the probes alone; the readiness rule has its own tests
    settings.AUTONOMY_SWEEP_MINUTES = 1
    settings.AUTONOMY_LEAN_RECOVERY_PROBES = 3
    trip(routed)
    start = timezone.now()
    routed.lean.set_fault("error")  # a failing probe resets the count
    lean_circuit_sweep(adapters()[0], now=start + timedelta(minutes=1))
    routed.lean.set_fault("ok")
    results = [lean_circuit_sweep(adapters()[0], now=start + timedelta(minutes=m)) for m in (2, 3, 4)]
    assert [(r["clean_probes"], r["recovery"]) for r in results] == [(1, None), (2, None), (3, "enable_lean")]
    assert lean_enabled()
    incident = Incident.objects.get()
    assert incident.status == "closed" and incident.closed_by == "system:lean-circuit"
    alert = Alert.objects.get(dedup_key="lean_lane")
    assert alert.status == "resolved" and "3 clean health probes" in alert.resolve_comment
    row = order_submit(data=OrderInputFactory()).execution
    assert row.execution_actual_adapter == "lean"


def test_phase_d_holds_the_lane_off_after_clean_probes_until_readiness_holds(routed, settings):
    settings.READINESS_PHASE_D = True
    settings.AUTONOMY_SWEEP_MINUTES = 1
    settings.AUTONOMY_LEAN_RECOVERY_PROBES = 2
    trip(routed)
    routed.lean.set_fault("ok")
    start = timezone.now()
    results = [lean_circuit_sweep(adapters()[0], now=start + timedelta(minutes=m)) for m in (1, 2)]
    assert results[-1]["clean_probes"] == 2
    assert not lean_enabled()  # the readiness scorecard is not green: Phase D keeps the lane off
    held = ConditionEvaluation.objects.filter(condition="lean_recovery").order_by("-id").first()
    assert held.action == "held_by_readiness" and "readiness scorecard" in held.outcome["refused"]
    assert Alert.objects.get(dedup_key="lean_lane").status == "open"


def test_the_playbook_sweep_measures_slippage_from_fills_and_canaries_the_symbol(routed):
    """Buys decided at 189.00 fill at the fake's 190.00: 52.9 bps adverse over 6 fills -> AAPL on canary."""
    from decimal import Decimal

    from autonomy.models import SymbolControl
    from execution.tasks import sweep_playbook

    for _ in range(6):
        order_submit(data=OrderInputFactory(decision_price=Decimal("189.00")))
    order_submit(data=OrderInputFactory(symbol="NVDA", decision_price=Decimal("120.00")))  # no slippage
    summary = sweep_playbook()
    assert [(a["target"], a["value"]) for a in summary["actions"]] == [("AAPL", "canary")]
    assert summary["actions"][0]["evidence"] == {"bps": "52.91", "fills": 6, "threshold_bps": "25"}
    assert SymbolControl.objects.get(symbol="AAPL").mode == "canary"
    assert not SymbolControl.objects.filter(symbol="NVDA").exists()
    assert sweep_playbook()["evaluated"] is False  # the same period
