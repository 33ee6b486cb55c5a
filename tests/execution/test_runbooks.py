"""The README's runbooks, step by step, with the calls they name: a LEAN outage and a kill-switch trip (a budget
breach that halts trading). Real PostgreSQL, the real order path and the sandbox brokers over loopback HTTP."""
from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from autonomy.models import Alert, Incident, TradingState
from autonomy.selectors import trading_state_get
from autonomy.services import lean_lane_set
from execution.models import Execution

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(make_client):
    return make_client("operator", name="ops1")


@pytest.fixture
def agent(make_client):
    return make_client("agent", name="lane-1")


def order(client, n: int, **extra):
    body = {"client_order_id": f"rb-{n:04d}", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "1",
            "decision_price": "100", **extra}
    return client.post("/api/v1/trading/orders", body, format="json")


def open_critical(client, key: str) -> dict:
    alerts = client.get("/api/v1/alerts?status=open&severity=critical").json()["results"]
    return next(a for a in alerts if a["dedup_key"] == key)


def acknowledge(client, key: str) -> None:
    alert = open_critical(client, key)
    answer = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"comment": "on it"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"


def criterion(client, cid: str) -> dict:
    return next(c for c in client.get("/api/v1/readiness").json()["criteria"] if c["id"] == cid)


def test_a_lean_outage_runbook(routed, ops, agent, settings):
    # Signs: LEAN closes connections unanswered; the first orders may be held by LEAN and stay pending, and the
    # third failure in a row opens the outage, which disables the lane with a critical alert and an incident.
    routed.lean.set_fault("down")
    answers = [order(agent, n) for n in range(4)]
    assert [a.status_code for a in answers] == [201] * 4
    pending = [a.json()["client_order_id"] for a in answers if a.json()["status"] == "pending"]
    assert pending
    assert trading_state_get().lean_enabled is False
    assert len(ops.get("/api/v1/trading/lean-outages?open=true").json()["results"]) == 1
    assert Incident.objects.get(kind="lean_circuit").status == "open"

    # 1. acknowledge, not resolve
    acknowledge(ops, "lean_lane")
    assert criterion(ops, "critical_flags_alerting")["status"] == "pass"  # acknowledged still stands for the flag

    # 3. while LEAN cannot answer, reconciliation leaves the pending orders as they are
    call_command("reconcile", stdout=StringIO())
    assert set(Execution.objects.filter(status="pending").values_list("client_order_id", flat=True)) == set(pending)

    # 2.-4. LEAN repaired: reconciliation settles what LEAN may have held and its probe closes the outage;
    # the lane stays off
    routed.lean.set_fault("ok")
    # a row a run looked at waits out its lease (LEASE_SECONDS, 90 s) before the next run asks again
    call_command("reconcile", stdout=StringIO())
    assert Execution.objects.filter(status="pending").count() == len(pending)
    Execution.objects.update(reconcile_lease_until=timezone.now() - timedelta(hours=1))  # the lease is over
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "reconciliation run" in out.getvalue()
    assert not Execution.objects.filter(status="pending").exists()
    assert set(Execution.objects.filter(client_order_id__in=pending).values_list("status", flat=True)) == {"rejected"}
    assert ops.get("/api/v1/trading/lean-outages?open=true").json()["results"] == []
    assert trading_state_get().lean_enabled is False

    # 5.-6. the control room's switch, as an operator: refused while readiness does not hold (Phase D) ...
    user = get_user_model().objects.get(username="ops1")
    page = Client()
    page.force_login(user)
    settings.READINESS_PHASE_D = True
    refused = page.post("/autonomy/control/lean-lane/", {"enabled": "true", "reason": "LEAN repaired"})
    assert refused.status_code == 422 and "readiness_not_met" in refused.content.decode()
    settings.READINESS_PHASE_D = False
    # ... and an agent may never enable it
    as_agent = Client()
    as_agent.force_login(get_user_model().objects.get(username="lane-1"))
    forbidden = as_agent.post("/autonomy/control/lean-lane/", {"enabled": "true", "reason": "LEAN repaired"})
    assert forbidden.status_code == 403 and "agent_forbidden" in forbidden.content.decode()
    assert agent.get("/api/v1/autonomy/status").json()["lean"]["enabled"] is False
    enabled = page.post("/autonomy/control/lean-lane/", {"enabled": "true", "reason": "LEAN repaired"})
    assert enabled.status_code == 302

    # Done: the alert resolved and the incident closed by the enabling; new orders expected and taken by LEAN
    assert Alert.objects.get(dedup_key="lean_lane").status == "resolved"
    assert Incident.objects.get(kind="lean_circuit").status == "closed"
    after = order(agent, 99).json()
    assert (after["execution_expected_adapter"], after["execution_actual_adapter"]) == ("lean", "lean")


def test_a_lean_lane_alert_cannot_be_resolved_by_hand_while_the_lane_is_off(routed, ops):
    """Why the runbook says acknowledge: resolving the alert of a flag that still holds is refused (the readiness
    criterion would fail and nothing would raise the alert again while the lane stays off)."""
    lean_lane_set(enabled=False, reason="lean_circuit: a LEAN outage is open", actor="system:lean-circuit")
    alert = open_critical(ops, "lean_lane")
    refused = ops.post(f"/api/v1/alerts/{alert['id']}/resolve", {"comment": "noise"}, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "alert_condition_holds"
    assert criterion(ops, "critical_flags_alerting")["status"] == "pass"
    assert Alert.objects.filter(dedup_key="lean_lane").exclude(status="resolved").exists()


def test_a_kill_switch_trip_runbook(routed, ops, agent):
    limit = ops.put("/api/v1/autonomy/budgets/order_count", {"limit": "2", "reason": "runbook"}, format="json")
    assert limit.status_code == 200
    assert [order(agent, n).status_code for n in range(2)] == [201, 201]

    # Signs: the order past the limit is refused and is the breach; trading HALTED with cause budget, two alerts
    breach = order(agent, 2)
    assert breach.status_code == 423 and breach.json()["error"]["code"] == "budget_exceeded"
    status = ops.get("/api/v1/autonomy/status").json()
    assert status["trading_state"] == "HALTED" and TradingState.objects.get().cause == "budget"
    assert next(b for b in status["budgets"] if b["name"] == "order_count")["breached"] is True
    assert order(agent, 3).json()["error"]["code"] in {"trading_halted", "budget_exceeded"}
    # 1. acknowledge both alerts
    acknowledge(ops, "budget:order_count")
    acknowledge(ops, "trading_state:global")

    # Who lifts: never an agent
    lift = {"state": "ACTIVE", "reason": "budget raised, breach reviewed"}
    refused = agent.post("/api/v1/autonomy/trading-state", lift, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "agent_forbidden"

    # Lifting without room in the budget: the next order past the limit trips it again
    assert ops.post("/api/v1/autonomy/trading-state", lift, format="json").status_code == 200
    again = order(agent, 4)
    assert again.status_code == 423 and again.json()["error"]["code"] == "budget_exceeded"
    assert TradingState.objects.get().state == "HALTED"

    # 4. room in the budget, 5. lift
    raised = ops.put("/api/v1/autonomy/budgets/order_count", {"limit": "100", "reason": "approved by risk"},
                     format="json")
    assert raised.status_code == 200 and raised.json()["limit"] == "100"
    lifted = ops.post("/api/v1/autonomy/trading-state", lift, format="json")
    assert lifted.status_code == 200 and lifted.json()["state"] == "ACTIVE"

    # 6. the switch still trips
    drill = ops.post("/api/v1/autonomy/drills", {"kind": "kill_switch"}, format="json")
    assert drill.status_code == 201 and drill.json()["passed"] is True

    # Done: ACTIVE, the state's alert resolved by the lift, the next order admitted
    assert ops.get("/api/v1/autonomy/status").json()["trading_state"] == "ACTIVE"
    assert set(Alert.objects.filter(dedup_key="trading_state:global").values_list("status", flat=True)) == {"resolved"}
    assert order(agent, 5).status_code == 201
