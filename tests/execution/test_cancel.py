"""Cancelling an order (``POST /api/v1/trading/orders/{client_order_id}/cancel``) at the broker that holds it,
through the real adapters against the sandbox brokers over loopback HTTP, in every trading state."""
from __future__ import annotations

import socket

import pytest

from access.models import AuditEvent
from autonomy.services import lean_lane_set, trading_state_set
from execution.models import Execution
from execution.reconciliation import reconcile_run

pytestmark = pytest.mark.django_db

# AAPL's sandbox price is 190: a buy limit at 150 rests (status accepted) until it is canceled
RESTING = {"client_order_id": "cx-1", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "5",
           "type": "limit", "limit_price": "150", "time_in_force": "day"}


def _resting(client, **changes) -> dict:
    resp = client.post("/api/v1/trading/orders", {**RESTING, **changes}, format="json")
    assert resp.status_code == 201 and resp.json()["status"] == "accepted", resp.content
    return resp.json()


def _cancel(client, cid: str, slash: str = ""):
    return client.post(f"/api/v1/trading/orders/{cid}/cancel{slash}")


def test_cancel_while_halted_cancels_at_lean_and_halted_still_admits_nothing(routed, make_client):
    agent = make_client("agent")
    order = _resting(agent)
    trading_state_set(state="HALTED", reason="kill switch drill", actor="ops", roles={"operator"})

    resp = _cancel(agent, "cx-1")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "canceled" and body["client_order_id"] == "cx-1"
    assert body["cancel"] == {"outcome": "canceled", "adapter": "lean", "broker_order_id": order["broker_order_id"],
                              "reason": ""}
    assert routed.lean.get_order_by_client_id("cx-1")["status"] == "canceled"
    assert Execution.objects.get(client_order_id="cx-1").status == "canceled"
    audit = AuditEvent.objects.get(action="order_cancel")
    assert audit.details["outcome"] == "canceled" and audit.object_ref == "execution:cx-1"
    # HALTED admits no new order; the cancel did not change that
    refused = agent.post("/api/v1/trading/orders", {**RESTING, "client_order_id": "cx-2"}, format="json")
    assert refused.status_code == 423 and refused.json()["error"]["code"] == "trading_halted"
    # cancelling again: already final
    again = _cancel(agent, "cx-1", "/")
    assert again.status_code == 409 and again.json()["error"]["code"] == "order_final"


def test_cancel_goes_to_alpaca_when_alpaca_holds_the_order(routed, make_client):
    lean_lane_set(enabled=False, reason="maintenance", actor="ops", roles={"operator"})
    agent = make_client("agent")
    order = _resting(agent, client_order_id="cx-a")
    assert order["execution_actual_adapter"] == "alpaca"

    resp = _cancel(agent, "cx-a")
    assert resp.status_code == 200 and resp.json()["cancel"]["adapter"] == "alpaca"
    assert routed.alpaca.get_order_by_client_id("cx-a")["status"] == "canceled"
    assert routed.lean.get_order_by_client_id("cx-a") is None
    assert Execution.objects.get(client_order_id="cx-a").status == "canceled"


def test_a_cancel_alpaca_has_not_confirmed_yet_is_requested_and_reconciliation_records_it(routed, make_client):
    lean_lane_set(enabled=False, reason="maintenance", actor="ops", roles={"operator"})
    agent = make_client("agent")
    _resting(agent, client_order_id="cx-p")
    routed.alpaca.set_cancel_lag(True)

    resp = _cancel(agent, "cx-p")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "accepted" and body["cancel"]["outcome"] == "requested"
    assert body["cancel"]["reason"] == "alpaca_cancel_not_confirmed: the broker reports pending_cancel"
    assert AuditEvent.objects.get(action="order_cancel").details["outcome"] == "requested"

    assert routed.alpaca.settle_cancels() == 1
    reconcile_run(trigger="test")
    assert Execution.objects.get(client_order_id="cx-p").status == "canceled"


@pytest.mark.parametrize("mode,at_broker", [
    ("accept_then_timeout", "canceled"),  # LEAN cancels it, its answer comes too late
    ("accept_then_reset", "canceled"),    # LEAN cancels it, the connection closes unanswered
    ("slow", "new"),                      # LEAN hangs: nothing was canceled
])
def test_a_lost_cancel_answer_leaves_the_row_and_reconciliation_decides(routed, make_client, mode, at_broker):
    agent = make_client("agent")
    _resting(agent)
    routed.lean.set_fault(mode)

    resp = _cancel(agent, "cx-1")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "accepted"  # never guessed
    assert body["cancel"]["outcome"] == "unknown" and body["cancel"]["reason"].startswith("lean_cancel_")
    assert "reconciliation decides" in body["last_error"]
    row = Execution.objects.get(client_order_id="cx-1")
    assert row.status == "accepted" and row.last_error == body["last_error"]
    assert AuditEvent.objects.get(action="order_cancel").details["outcome"] == "unknown"
    assert routed.lean.get_order_by_client_id("cx-1")["status"] == at_broker

    routed.lean.set_fault("ok")
    reconcile_run(trigger="test")
    assert Execution.objects.get(client_order_id="cx-1").status == ("canceled" if at_broker == "canceled"
                                                                    else "accepted")


def test_cancel_when_the_broker_is_unreachable_changes_nothing(routed, make_client, settings):
    agent = make_client("agent")
    _resting(agent)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        settings.TRADING_LEAN_RUNNER_URL = f"http://127.0.0.1:{closed.getsockname()[1]}"
        resp = _cancel(agent, "cx-1")
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "broker_unavailable"
    row = Execution.objects.get(client_order_id="cx-1")
    assert row.status == "accepted" and row.last_error == ""
    assert routed.lean.get_order_by_client_id("cx-1")["status"] == "new"


def test_cancel_of_a_filled_or_unknown_order(routed, make_client):
    agent = make_client("agent")
    filled = agent.post("/api/v1/trading/orders", {**RESTING, "client_order_id": "cx-f", "type": "market",
                                                   "limit_price": None}, format="json")
    assert filled.json()["status"] == "filled"
    resp = _cancel(agent, "cx-f")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "order_final"
    assert resp.json()["error"]["details"]["status"] == "filled"
    missing = _cancel(agent, "nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "order_not_found"
    assert not AuditEvent.objects.filter(action="order_cancel").exists()


def test_the_broker_says_the_order_is_no_longer_open(routed, make_client):
    """LEAN filled (here: canceled) it meanwhile: the row takes the broker's state and the answer is 409."""
    agent = make_client("agent")
    order = _resting(agent)
    routed.lean._orders[order["broker_order_id"]].update(status="canceled")  # canceled at LEAN's own console
    resp = _cancel(agent, "cx-1")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "order_final"
    assert Execution.objects.get(client_order_id="cx-1").status == "canceled"


def test_a_pending_order_no_broker_holds_is_left_to_reconciliation(routed, make_client):
    routed.lean.set_fault("down")
    agent = make_client("agent")
    resp = agent.post("/api/v1/trading/orders", RESTING, format="json")
    assert resp.json()["status"] == "pending" and resp.json()["broker_order_id"] is None
    routed.lean.set_fault("ok")
    refused = _cancel(agent, "cx-1")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_not_at_broker"
    assert Execution.objects.get(client_order_id="cx-1").status == "pending"


def test_operators_cancel_only_the_strategies_they_operate(routed, make_client):
    from django.contrib.auth import get_user_model

    from access.services import strategy_grant

    _resting(make_client("agent"))
    outsider = make_client("operator")
    assert _cancel(outsider, "cx-1").status_code == 404
    insider = make_client("operator", name="ops-macd")
    strategy_grant(user=get_user_model().objects.get(username="ops-macd"), strategy_name="macd_rsi",
                   perm="operate_strategy")
    assert _cancel(insider, "cx-1").status_code == 200
    assert _cancel(make_client("auditor"), "cx-1").status_code == 403
