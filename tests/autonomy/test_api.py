"""The autonomy API as agents and operators call it (../shared/API.md): status, trading state (global and
per strategy), symbols, budgets and positions; hostile input is a 400 naming the field and writes nothing."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone
from knox.models import AuthToken

from access.models import AuditEvent
from access.services import strategy_grant
from autonomy import selectors, services
from autonomy.models import Alert, ControlEvent, LlmCircuit, SymbolControl, TradingState
from autonomy.schemas import BudgetOut
from tests.access.factories import StrategyFactory
from tests.autonomy.llm_support import allow, force_stage

pytestmark = pytest.mark.django_db

STATE_URL = "/api/v1/autonomy/trading-state"


def user_of(client):
    return AuthToken.objects.get(token_key=client.principal.token_key).user


def test_status_shape(make_client):
    services.symbol_mode_set(symbol="NVDA", mode="canary", reason="earnings", actor="ops")
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    StrategyFactory(name="alpha")
    services.trading_state_set(state="REDUCING", reason="drift", actor="ops", strategy="alpha")
    body = make_client("auditor").get("/api/v1/autonomy/status").json()
    assert body["trading_state"] == "ACTIVE" and body["reason"] == ""
    assert body["lean"] == {"enabled": False, "disabled_reason": "runner upgrade"}
    assert body["llm"] == {"stage": "stage0", "effective_mode": "off"}
    assert body["symbols"] == [{"symbol": "NVDA", "mode": "canary", "health_reason": "earnings"}]
    assert [b["name"] for b in body["budgets"]] == ["daily_realized_loss", "gross_notional", "llm_tokens",
                                                    "order_count"]
    assert all(isinstance(b["limit"], str) and b["used"] == "0" and b["breached"] is False for b in body["budgets"])
    assert body["open_alerts"] == 2  # the LEAN lane off (critical) and alpha REDUCING (warning)
    assert body["strategies"] == [{"strategy": "alpha", "state": "REDUCING", "reason": "drift", "cause": "manual"}]


def test_status_agrees_with_each_control_read_on_its_own(make_client):
    """The status reads everything in one statement; each part equals what the control's own read says,
    in a state where every part is set: halted, LEAN off, an LLM stage above shadow with an open circuit,
    symbols in each mode, strategies with states, a stored budget policy and a breached budget."""
    for symbol, mode in (("TSLA", "disabled"), ("AAPL", "enabled"), ("NVDA", "canary")):
        services.symbol_mode_set(symbol=symbol, mode=mode, reason=f"{symbol} why", actor="ops")
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    for name, state in (("zeta", "HALTED"), ("alpha", "REDUCING")):
        StrategyFactory(name=name)
        services.trading_state_set(state=state, reason=f"{name} why", actor="ops", strategy=name)
    services.budget_policy_set(name="order_count", limit=D("5"), reason="tight", actor="ops")
    services.budget_use(name="llm_tokens", amount=D("12.5"), actor="worker")
    services.budget_use(name="order_count", amount=D("6"), actor="worker")  # breaches: trading HALTED
    force_stage("stage2")
    allow()
    services.alert_acknowledge(alert_id=Alert.objects.order_by("id").first().id, actor="ops")  # still unresolved
    LlmCircuit.objects.update_or_create(id=1, defaults={"open_until": timezone.now() + timedelta(minutes=5),
                                                        "opened_at": timezone.now()})

    body = make_client("auditor").get("/api/v1/autonomy/status").json()
    snapshot = selectors.trading_state_get()
    assert (body["trading_state"], body["reason"]) == (snapshot.trading_state, snapshot.trading_reason)
    assert body["trading_state"] == "HALTED"
    assert body["lean"] == {"enabled": False, "disabled_reason": "runner upgrade"}
    assert body["llm"] == selectors.llm_status_get() == {"stage": "stage2", "effective_mode": "circuit_open"}
    assert body["symbols"] == [{"symbol": s.symbol, "mode": s.mode, "health_reason": s.health_reason}
                               for s in SymbolControl.objects.order_by("symbol")]
    assert [s["symbol"] for s in body["symbols"]] == ["AAPL", "NVDA", "TSLA"]
    assert body["budgets"] == [BudgetOut.model_validate(b).model_dump(mode="json") for b in selectors.budget_status()]
    by_name = {b["name"]: b for b in body["budgets"]}
    assert by_name["order_count"]["limit"] == "5" and by_name["order_count"]["breached"] is True
    assert by_name["llm_tokens"]["used"] == "12.5" and by_name["llm_tokens"]["breached"] is False
    # the acknowledged alert still counts: only resolved ones leave the figure
    assert body["open_alerts"] == Alert.objects.exclude(status="resolved").count() > Alert.objects.filter(
        status="open").count()
    assert body["strategies"] == [
        {"strategy": "alpha", "state": "REDUCING", "reason": "alpha why", "cause": "manual"},
        {"strategy": "zeta", "state": "HALTED", "reason": "zeta why", "cause": "manual"}]


def test_operator_halts_and_lifts(make_client):
    ops = make_client("operator")
    resp = ops.post(STATE_URL, {"state": "HALTED", "reason": "drawdown 8%"}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["state"] == "HALTED" and resp.json()["scope"] == "global"
    assert ops.get("/api/v1/autonomy/status").json()["trading_state"] == "HALTED"
    assert ops.post(STATE_URL, {"state": "ACTIVE", "reason": "reviewed"}, format="json").status_code == 200
    events = list(ControlEvent.objects.order_by("id"))
    who = ops.principal.username
    assert [(e.before["state"], e.after["state"], e.actor, e.reason) for e in events] == [
        ("ACTIVE", "HALTED", who, "drawdown 8%"), ("HALTED", "ACTIVE", who, "reviewed")]
    assert {e.via for e in events} == {"api"}


def test_agent_cannot_lift_a_halt(make_client):
    agent = make_client("agent")
    assert agent.post(STATE_URL, {"state": "REDUCING", "reason": "lag"}, format="json").status_code == 200
    assert agent.post(STATE_URL, {"state": "HALTED", "reason": "worse"}, format="json").status_code == 200
    for state in ("REDUCING", "ACTIVE"):
        resp = agent.post(STATE_URL, {"state": state, "reason": "looks fine"}, format="json")
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "agent_forbidden"
    assert TradingState.objects.get(id=1).state == "HALTED"
    assert ControlEvent.objects.count() == 2
    refused = AuditEvent.objects.filter(path=STATE_URL, outcome="refused")
    assert refused.count() == 2  # the refusals leave their audit record, nothing else


def test_agent_holding_operator_role_still_cannot_lift(make_client):
    both = make_client("agent", "operator")
    services.trading_state_set(state="HALTED", reason="x", actor="ops")
    assert both.post(STATE_URL, {"state": "ACTIVE", "reason": "mine"}, format="json").status_code == 403


def test_strategy_state_needs_operate_permission(make_client):
    StrategyFactory(name="alpha")
    StrategyFactory(name="beta")
    ops = make_client("operator")
    strategy_grant(user=user_of(ops), strategy_name="alpha", perm="operate_strategy")
    resp = ops.post(STATE_URL, {"state": "HALTED", "reason": "slippage", "strategy": "alpha"}, format="json")
    assert resp.status_code == 200 and resp.json()["scope"] == "strategy:alpha"
    assert resp.json()["effective_state"] == "HALTED"
    resp = ops.post(STATE_URL, {"state": "HALTED", "reason": "x", "strategy": "beta"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "strategy_out_of_scope"
    resp = ops.post(STATE_URL, {"state": "HALTED", "reason": "x", "strategy": "gamma"}, format="json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "unknown_strategy"
    # an agent may make any known strategy stricter
    agent = make_client("agent")
    assert agent.post(STATE_URL, {"state": "REDUCING", "reason": "lag", "strategy": "beta"},
                      format="json").status_code == 200
    assert agent.post(STATE_URL, {"state": "ACTIVE", "reason": "ok", "strategy": "beta"},
                      format="json").status_code == 403
    assert ControlEvent.objects.count() == 2


@pytest.mark.parametrize("body,field", [
    ({}, "state"),
    ({"state": "PAUSED", "reason": "x"}, "state"),
    ({"state": "HALTED"}, "reason"),
    ({"state": "HALTED", "reason": "   "}, "reason"),
    ({"state": "HALTED", "reason": "x" * 2001}, "reason"),
    ({"state": "HALTED", "reason": 7}, "reason"),
    ({"state": ["HALTED"], "reason": "x"}, "state"),
    ({"state": "HALTED", "reason": "x", "strategy": "bad name!"}, "strategy"),
    ({"state": "HALTED", "reason": "x", "extra": 1}, "extra"),
])
def test_trading_state_hostile_input(make_client, body, field):
    resp = make_client("operator").post(STATE_URL, body, format="json")
    assert resp.status_code == 400
    assert field in resp.json()["error"]["details"]["fields"]
    assert not ControlEvent.objects.exists() and not TradingState.objects.exists()


def test_trading_state_hostile_bodies(make_client):
    ops = make_client("operator")
    for raw in (b'{"state": "HALTED", "reason": "a\\u0000b"}', b'{"state": "HALTED", "state": "ACTIVE", "reason": "x"}',
                b"[1, 2]", b"not json"):
        resp = ops.generic("POST", STATE_URL, raw, content_type="application/json")
        assert resp.status_code == 400, raw
    assert not ControlEvent.objects.exists()


def test_symbol_put(make_client):
    ops = make_client("operator")
    url = "/api/v1/autonomy/symbols/nvda"
    resp = ops.put(url, {"mode": "canary", "reason": "earnings week", "max_qty_per_order": "5",
                         "max_notional_per_day": "10000.50", "lean_allowed": False}, format="json")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert (body["symbol"], body["mode"], body["health_reason"], body["max_qty_per_order"],
            body["max_notional_per_day"], body["max_notional_per_order"], body["lean_allowed"]) == (
        "NVDA", "canary", "earnings week", "5", "10000.5", None, False)
    # caps not sent stay; a cap sent as null is removed
    body = ops.put(url, {"mode": "canary", "reason": "wider", "max_qty_per_order": None}, format="json").json()
    assert body["max_qty_per_order"] is None and body["max_notional_per_day"] == "10000.5"
    assert ControlEvent.objects.filter(scope="symbol:NVDA").count() == 2


@pytest.mark.parametrize("symbol,body,field", [
    ("NVDA", {"mode": "paused", "reason": "x"}, "mode"),
    ("NVDA", {"mode": "canary"}, "reason"),
    ("NVDA", {"mode": "canary", "reason": "x", "max_qty_per_order": 5}, "max_qty_per_order"),
    ("NVDA", {"mode": "canary", "reason": "x", "max_qty_per_order": "-1"}, "max_qty_per_order"),
    ("NVDA", {"mode": "canary", "reason": "x", "max_qty_per_order": "1e9"}, "max_qty_per_order"),
    ("NVDA", {"mode": "canary", "reason": "x", "max_notional_per_day": "99999999999999999"},
     "max_notional_per_day"),
    ("NVDA", {"mode": "canary", "reason": "x", "lean_allowed": "yes"}, "lean_allowed"),
    ("9X", {"mode": "canary", "reason": "x"}, "symbol"),
    ("A" * 40, {"mode": "canary", "reason": "x"}, "symbol"),
])
def test_symbol_hostile_input(make_client, symbol, body, field):
    resp = make_client("operator").put(f"/api/v1/autonomy/symbols/{symbol}", body, format="json")
    assert resp.status_code == 400 and field in resp.json()["error"]["details"]["fields"]
    assert not SymbolControl.objects.exists()


def test_symbol_put_is_for_operators(make_client):
    for role in ("agent", "researcher", "approver", "auditor"):
        resp = make_client(role).put("/api/v1/autonomy/symbols/NVDA", {"mode": "disabled", "reason": "x"},
                                     format="json")
        assert resp.status_code == 403, role


def test_agent_cannot_raise_a_budget(make_client, settings):
    settings.AUTONOMY_BUDGETS = {**settings.AUTONOMY_BUDGETS, "order_count": {"limit": "100", "on_breach": "HALTED"}}
    agent, ops = make_client("agent"), make_client("operator")
    url = "/api/v1/autonomy/budgets/order_count"
    resp = agent.put(url, {"limit": "50", "reason": "quiet"}, format="json")
    assert resp.status_code == 200 and resp.json()["limit"] == "50"
    resp = agent.put(url, {"limit": "500", "reason": "more please"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "agent_forbidden"
    resp = agent.put(url, {"limit": "50", "reason": "softer", "on_breach": "REDUCING"}, format="json")
    assert resp.status_code == 403
    resp = ops.put(url, {"limit": "500", "reason": "busy day"}, format="json")
    assert resp.status_code == 200 and resp.json() == {"name": "order_count", "limit": "500", "used": "0",
                                                       "breached": False, "on_breach": "HALTED"}
    assert ops.put("/api/v1/autonomy/budgets/nope", {"limit": "1", "reason": "x"}, format="json").status_code == 400
    assert ops.put(url, {"limit": 5, "reason": "x"}, format="json").status_code == 400
    assert ops.put(url, {"limit": "-5", "reason": "x"}, format="json").status_code == 400
    assert ControlEvent.objects.filter(kind="budget").count() == 2


def test_positions_list_filters_and_pages(make_client):
    alpha, beta = StrategyFactory(name="alpha"), StrategyFactory(name="beta")
    services.position_apply_fill(strategy_id=alpha.pk, symbol="AAPL", side="buy", qty=D(10), price=D("100.5"))
    services.position_apply_fill(strategy_id=alpha.pk, symbol="MSFT", side="sell", qty=D(2), price=D(300))
    services.position_apply_fill(strategy_id=beta.pk, symbol="AAPL", side="buy", qty=D(1), price=D(101))
    client = make_client("auditor")
    body = client.get("/api/v1/trading/positions").json()
    assert body["next"] is None and len(body["results"]) == 3
    row = client.get("/api/v1/trading/positions?strategy=alpha&symbol=aapl").json()["results"]
    assert row == [{"strategy": "alpha", "symbol": "AAPL", "qty": "10", "avg_entry_price": "100.5",
                    "broker_qty": None, "drift": "0", "realized_pnl": "0", "reconciled_at": None,
                    "updated_at": row[0]["updated_at"]}]
    assert client.get("/api/v1/trading/positions?strategy=alpha&symbol=MSFT").json()["results"][0]["qty"] == "-2"
    page = client.get("/api/v1/trading/positions?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    assert len(client.get(page["next"]).json()["results"]) == 1
    assert client.get("/api/v1/trading/positions?limit=501").status_code == 400
    assert client.get("/api/v1/trading/positions?strategy=nobody").json()["results"] == []
