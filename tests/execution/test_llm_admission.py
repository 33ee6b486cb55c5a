"""Order admission follows the applied verdict of the order's LLM review (423 llm_veto, 422
llm_adjustment_mismatch), through the order API against the fake brokers."""
from __future__ import annotations

import pytest

from autonomy.models import LlmDecisionReview
from execution.models import Execution, OrderRefusal
from tests.autonomy.llm_support import allow, force_stage, review_body

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/trading/orders"


def order(client_order_id: str, **overrides) -> dict:
    return {"client_order_id": client_order_id, "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy",
            "qty": "100", "type": "market", "time_in_force": "day", **overrides}


def reviewed(agent, client_order_id: str, **advice) -> dict:
    described = {k: v for k, v in order(client_order_id).items()
                 if k in ("strategy", "symbol", "side", "qty", "type")}
    resp = agent.post("/api/v1/llm/reviews", review_body(client_order_id, order=described, **advice), format="json")
    assert resp.status_code == 201, resp.content
    return resp.json()


@pytest.fixture
def agent(make_client):
    return make_client("agent")


def test_a_vetoed_order_is_423_llm_veto_and_never_reaches_a_broker(routed, agent):
    force_stage("stage2")
    allow()
    review = reviewed(agent, "veto-1", verdict="veto", rationale="earnings in 5 minutes")
    resp = agent.post(ORDERS, order("veto-1"), format="json")
    assert resp.status_code == 423, resp.content
    error = resp.json()["error"]
    assert error["code"] == "llm_veto" and review["review_id"] in error["message"]
    assert not Execution.objects.filter(client_order_id="veto-1").exists()
    assert OrderRefusal.objects.get(client_order_id="veto-1").code == "llm_veto"
    assert routed.lean.orders() == [] and routed.alpaca.orders() == []


def test_an_adjusted_order_is_admitted_only_as_adjusted(routed, agent):
    force_stage("stage3")
    allow()
    review = reviewed(agent, "adj-1", verdict="adjust", adjusted_qty="80", adjusted_order_type="limit",
                      limit_price="189.5")
    assert (review["adjusted_qty"], review["adjusted_order_type"], review["limit_price"]) == ("80", "limit", "189.5")
    as_planned = agent.post(ORDERS, order("adj-1"), format="json")
    assert as_planned.status_code == 422, as_planned.content
    assert as_planned.json()["error"]["code"] == "llm_adjustment_mismatch"
    wrong_price = agent.post(ORDERS, order("adj-1", qty="80", type="limit", limit_price="190"), format="json")
    assert wrong_price.json()["error"]["code"] == "llm_adjustment_mismatch"
    adjusted = agent.post(ORDERS, order("adj-1", qty="80", type="limit", limit_price="189.5"), format="json")
    assert adjusted.status_code == 201, adjusted.content
    assert (adjusted.json()["submitted_qty"], adjusted.json()["order_type"]) == ("80", "limit")
    assert OrderRefusal.objects.filter(client_order_id="adj-1", code="llm_adjustment_mismatch").count() == 2


@pytest.mark.parametrize("stage", ["stage0", "stage1"])
def test_a_veto_at_stage_zero_or_one_changes_nothing(routed, agent, stage):
    force_stage(stage)
    allow()
    assert reviewed(agent, f"shadow-{stage}", verdict="veto")["applied_verdict"] == "approve"
    assert agent.post(ORDERS, order(f"shadow-{stage}"), format="json").status_code == 201


def test_an_approved_order_and_an_order_nobody_reviewed_pass(routed, agent):
    force_stage("stage3")
    allow()
    reviewed(agent, "ok-1")
    assert agent.post(ORDERS, order("ok-1"), format="json").status_code == 201
    assert agent.post(ORDERS, order("unreviewed-1"), format="json").status_code == 201


def test_an_error_retried_by_a_real_review_gives_way_to_it(routed, agent):
    force_stage("stage2")
    allow()
    assert reviewed(agent, "retry-1", verdict=None, confidence=None, rationale=None, risk_flags=None,
                    error="timeout")["applied_verdict"] == "veto"
    assert agent.post(ORDERS, order("retry-1"), format="json").json()["error"]["code"] == "llm_veto"
    reviewed(agent, "retry-1")  # the retry approves
    assert agent.post(ORDERS, order("retry-1"), format="json").status_code == 201
    assert LlmDecisionReview.objects.filter(client_order_id="retry-1").count() == 2


def test_a_control_flag_answers_before_the_llm_verdict(routed, agent):
    from autonomy.services import trading_state_set

    force_stage("stage2")
    allow()
    reviewed(agent, "halt-1", verdict="veto")
    trading_state_set(state="HALTED", reason="drill", actor="ops", roles=frozenset({"operator"}))
    assert agent.post(ORDERS, order("halt-1"), format="json").json()["error"]["code"] == "trading_halted"
