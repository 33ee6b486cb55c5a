"""The autonomy services: every control change writes its control event (before and after) and audit row
in its transaction, who may move which way, budgets as kill switches, positions from fills."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.models import AuditEvent
from access.services import strategy_grant
from autonomy import selectors, services
from autonomy.conditions import DriftFacts
from autonomy.models import (
    Alert,
    BudgetUsage,
    ConditionEvaluation,
    ControlEvent,
    Position,
    PositionReconciliation,
    SymbolDrift,
    TradingState,
)
from core.errors import InvalidInput, PermissionRefused
from tests.access.factories import StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_global_state_change_writes_event_and_audit_with_before_and_after():
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="ops", roles={"operator"},
                               evidence={"drawdown": "0.08"})
    event = ControlEvent.objects.get()
    assert (event.kind, event.scope, event.actor, event.via, event.reason) == (
        "trading_state", "global", "ops", "api", "drawdown 8%")
    assert event.before == {"state": "ACTIVE", "reason": "", "cause": "manual"}
    assert event.after == {"state": "HALTED", "reason": "drawdown 8%", "cause": "manual"}
    assert event.evidence == {"drawdown": "0.08"}
    audit = AuditEvent.objects.get(action="trading_state_set")
    assert audit.details["before"]["state"] == "ACTIVE" and audit.details["after"]["state"] == "HALTED"
    assert selectors.trading_state_get().trading_state == "HALTED"


def test_control_events_are_append_only():
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 - the trigger's error class is the driver's
        ControlEvent.objects.update(reason="nothing happened")
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017
        ControlEvent.objects.all().delete()
    assert ControlEvent.objects.get().reason == "runner upgrade"


def test_a_reason_is_required_and_a_bad_state_is_refused():
    with pytest.raises(InvalidInput) as exc:
        services.trading_state_set(state="HALTED", reason="  ", actor="ops")
    assert "reason" in exc.value.details["fields"]
    with pytest.raises(InvalidInput):
        services.trading_state_set(state="PAUSED", reason="x", actor="ops")
    assert not ControlEvent.objects.exists()


def test_agent_may_halt_but_never_lift():
    services.trading_state_set(state="REDUCING", reason="lag", actor="lane-7", roles={"agent"})
    services.trading_state_set(state="HALTED", reason="worse", actor="lane-7", roles={"agent"})
    for state in ("REDUCING", "ACTIVE"):
        with pytest.raises(PermissionRefused) as exc:
            services.trading_state_set(state=state, reason="all good", actor="lane-7", roles={"agent", "operator"})
        assert exc.value.code == "agent_forbidden"
    assert selectors.trading_state_get().trading_state == "HALTED"
    assert ControlEvent.objects.count() == 2
    services.trading_state_set(state="ACTIVE", reason="reviewed", actor="ops", roles={"operator"})
    assert selectors.trading_state_get().trading_state == "ACTIVE"


def test_system_recovers_only_from_freshness():
    services.trading_state_set(state="REDUCING", reason="signal lag 700 s", actor="system:staleness",
                               cause="freshness")
    services.trading_state_set(state="ACTIVE", reason="3 clean cycles", actor="system:staleness")
    services.trading_state_set(state="HALTED", reason="budget", actor="system:budget", cause="budget")
    with pytest.raises(PermissionRefused):
        services.trading_state_set(state="ACTIVE", reason="3 clean cycles", actor="system:staleness")


def test_strategy_state_and_operator_scope():
    strategy = StrategyFactory(name="alpha")
    StrategyFactory(name="beta")
    ops = UserFactory(username="ops-alpha", roles=["operator"])
    strategy_grant(user=ops, strategy_name="alpha", perm="operate_strategy")
    row = services.trading_state_set(state="HALTED", reason="slippage", actor="ops-alpha", roles={"operator"},
                                     strategy="alpha", user=ops)
    assert row.strategy == strategy and row.state == "HALTED"
    with pytest.raises(PermissionRefused) as exc:
        services.trading_state_set(state="HALTED", reason="x", actor="ops-alpha", roles={"operator"},
                                   strategy="beta", user=ops)
    assert exc.value.code == "strategy_out_of_scope"
    with pytest.raises(InvalidInput) as exc:
        services.trading_state_set(state="HALTED", reason="x", actor="ops-alpha", strategy="nope", user=ops)
    assert exc.value.code == "unknown_strategy"
    event = ControlEvent.objects.get()
    assert (event.kind, event.scope) == ("strategy_state", "strategy:alpha")
    assert selectors.trading_state_get().trading_state == "ACTIVE"  # the global state is untouched
    assert selectors.strategy_states(strategy_ids=[strategy.pk]) == {strategy.pk: "HALTED"}


def test_lean_lane_one_switch(settings):
    settings.READINESS_PHASE_D = False  # the switch itself; the readiness rule has its own tests
    settings.TRADING_LEAN_LANE_DISABLE_SWITCH = True
    assert selectors.trading_state_get().lean_enabled is False  # the setting is the default
    with pytest.raises(PermissionRefused):
        services.lean_lane_set(enabled=True, reason="back", actor="lane-7", roles={"agent"})
    services.lean_lane_set(enabled=True, reason="runner back", actor="ops")
    assert selectors.trading_state_get().lean_enabled is True  # the flag is the live control
    services.lean_lane_set(enabled=False, reason="fallback ratio 0.3", actor="system:lean-circuit")
    state = selectors.trading_state_get()
    assert (state.lean_enabled, state.lean_disabled_reason) == (False, "fallback ratio 0.3")
    assert [e.after["enabled"] for e in ControlEvent.objects.order_by("id")] == [True, False]
    assert ControlEvent.objects.order_by("id").first().before == {
        "enabled": False, "disabled_reason": "TRADING_LEAN_LANE_DISABLE_SWITCH is set"}


def test_symbol_mode_caps_and_lean_entry():
    row = services.symbol_mode_set(symbol="nvda", mode="canary", reason="earnings week", actor="ops",
                                   caps={"max_qty_per_order": "5", "max_notional_per_day": D("10000")},
                                   lean_allowed=False)
    assert (row.symbol, row.mode, row.health_reason, row.max_qty_per_order, row.lean_allowed) == (
        "NVDA", "canary", "earnings week", D(5), False)
    services.symbol_mode_set(symbol="NVDA", mode="canary", reason="tighter", actor="lane-7", roles={"agent"},
                             caps={"max_qty_per_order": "2"})
    with pytest.raises(PermissionRefused):
        services.symbol_mode_set(symbol="NVDA", mode="enabled", reason="fine", actor="lane-7", roles={"agent"})
    with pytest.raises(InvalidInput):
        services.symbol_mode_set(symbol="NVDA", mode="canary", reason="x", actor="ops", caps={"max_qty": "1"})
    with pytest.raises(InvalidInput):
        services.symbol_mode_set(symbol="NVDA", mode="canary", reason="x", actor="ops",
                                 caps={"max_qty_per_order": "-1"})
    events = list(ControlEvent.objects.order_by("id"))
    assert [e.scope for e in events] == ["symbol:NVDA", "symbol:NVDA"]
    assert events[1].before["max_qty_per_order"] == "5" and events[1].after["max_qty_per_order"] == "2"
    assert events[1].after["max_notional_per_day"] == "10000"


def test_budget_policy_agents_may_lower_never_raise(settings):
    settings.AUTONOMY_BUDGETS = {**settings.AUTONOMY_BUDGETS, "order_count": {"limit": "100", "on_breach": "HALTED"}}
    services.budget_policy_set(name="order_count", limit=D(50), reason="quiet day", actor="lane-7", roles={"agent"})
    with pytest.raises(PermissionRefused):
        services.budget_policy_set(name="order_count", limit=D(60), reason="more", actor="lane-7", roles={"agent"})
    with pytest.raises(PermissionRefused):
        services.budget_policy_set(name="order_count", limit=D(50), on_breach="REDUCING", reason="softer",
                                   actor="lane-7", roles={"agent"})
    services.budget_policy_set(name="order_count", limit=D(500), reason="busy day", actor="ops", roles={"operator"})
    assert selectors.budget_limits()["order_count"].limit == D(500)
    assert [(e.before["limit"], e.after["limit"]) for e in ControlEvent.objects.order_by("id")] == [
        ("100", "50"), ("50", "500")]
    with pytest.raises(InvalidInput):
        services.budget_policy_set(name="nope", limit=D(1), reason="x", actor="ops")


def test_budget_use_breach_moves_trading_to_the_policy_state_and_stays():
    services.budget_policy_set(name="llm_tokens", limit=D(1000), on_breach="REDUCING", reason="r", actor="ops")
    services.budget_use(name="llm_tokens", amount=D(600), actor="lane-7")
    assert selectors.trading_state_get().trading_state == "ACTIVE"
    services.budget_use(name="llm_tokens", amount=D(600), actor="lane-7")
    state = TradingState.objects.get(id=1)
    assert (state.state, state.cause) == ("REDUCING", "budget")
    evaluation = ConditionEvaluation.objects.get()
    assert evaluation.breached and evaluation.inputs["used"] == "600" and evaluation.inputs["amount"] == "600"
    assert evaluation.action == "REDUCING"
    usage = BudgetUsage.objects.get(name="llm_tokens")
    assert usage.used == D(1200) and usage.breached_at is not None
    services.budget_use(name="llm_tokens", amount=D(10), actor="lane-7")  # already breached: no second event
    assert ConditionEvaluation.objects.count() == 1
    kinds = list(ControlEvent.objects.order_by("id").values_list("kind", "actor"))
    assert kinds[-1] == ("trading_state", "system:budget")
    # never lifted by the system
    with pytest.raises(PermissionRefused):
        services.trading_state_set(state="ACTIVE", reason="new day", actor="system:sweeps")
    status = {b["name"]: b for b in selectors.budget_status()}
    assert status["llm_tokens"]["breached"] and status["order_count"]["breached"] is False


def test_budget_use_refuses_negative_amounts():
    with pytest.raises(InvalidInput):
        services.budget_use(name="llm_tokens", amount=D(-1), actor="x")
    with pytest.raises(InvalidInput):
        services.budget_use(name="tokens", amount=D(1), actor="x")


def test_position_apply_fill_tracks_qty_avg_and_realized_loss():
    strategy = StrategyFactory(name="pos")
    services.position_apply_fill(strategy_id=strategy.pk, symbol="aapl", side="buy", qty=D(10), price=D(100))
    services.position_apply_fill(strategy_id=strategy.pk, symbol="AAPL", side="buy", qty=D(10), price=D(110))
    position = services.position_apply_fill(strategy_id=strategy.pk, symbol="AAPL", side="sell", qty=D(5),
                                            price=D(95))
    position.refresh_from_db()
    assert (position.qty, position.avg_entry_price, position.realized_pnl) == (D(15), D(105), D(-50))
    assert BudgetUsage.objects.get(name="daily_realized_loss").used == D(50)
    services.position_apply_fill(strategy_id=strategy.pk, symbol="AAPL", side="sell", qty=D(15), price=D(120))
    position.refresh_from_db()
    assert (position.qty, position.avg_entry_price) == (D(0), None)
    assert BudgetUsage.objects.get(name="daily_realized_loss").used == D(50)  # a profit does not offset losses
    assert Position.objects.count() == 1


def test_realized_loss_breach_halts(settings):
    settings.AUTONOMY_BUDGETS = {**settings.AUTONOMY_BUDGETS,
                                 "daily_realized_loss": {"limit": "100", "on_breach": "HALTED"}}
    strategy = StrategyFactory(name="loser")
    services.position_apply_fill(strategy_id=strategy.pk, symbol="MSFT", side="buy", qty=D(10), price=D(100))
    services.position_apply_fill(strategy_id=strategy.pk, symbol="MSFT", side="sell", qty=D(10), price=D(80))
    assert selectors.trading_state_get().trading_state == "HALTED"
    assert ControlEvent.objects.get().evidence["budget"]["name"] == "daily_realized_loss"


def test_position_rows_hold_their_invariants():
    strategy = StrategyFactory(name="inv")
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(strategy=strategy, symbol="AAPL", qty=D(1), avg_entry_price=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(strategy=strategy, symbol="aapl", qty=D(0))


# --- Position drift, kept per symbol -----------------------------------------------------------------

def _drift_view(symbol: str) -> list[tuple]:
    return [(p.strategy.name, p.broker_qty, p.drift, p.reconciled_at)
            for p in selectors.position_list(symbol=symbol).order_by("strategy__name")]


def test_reconciliation_keeps_one_row_per_symbol_and_every_position_of_it_reads_it():
    a, b = StrategyFactory(name="alpha"), StrategyFactory(name="beta")
    for strategy, qty in ((a, D(10)), (b, D(5))):
        services.position_apply_fill(strategy_id=strategy.pk, symbol="AAPL", side="buy", qty=qty, price=D(100))
    first = timezone.now()
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(15), broker=D(18), in_flight=D(0))], now=first)
    assert _drift_view("AAPL") == [("alpha", D(18), D(3), first), ("beta", D(18), D(3), first)]
    row = SymbolDrift.objects.get()
    assert (row.symbol, row.ours_qty, row.broker_qty, row.in_flight_qty, row.drift) == ("AAPL", D(15), D(18), D(0),
                                                                                          D(3))
    assert selectors.position_drift_count() == 2
    run = PositionReconciliation.objects.get()
    assert (run.at, run.symbols, run.unexplained, run.changed) == (first, 1, 1, 1)


def test_a_reconciliation_that_finds_nothing_new_writes_no_symbol_row_but_notes_when_it_compared():
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(15), broker=D(15), in_flight=D(0)),
                                        DriftFacts("MSFT", ours=D(2), broker=D(1), in_flight=D(1))])
    written = dict(SymbolDrift.objects.values_list("symbol", "changed_at"))
    later = timezone.now() + timedelta(minutes=1)
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(15), broker=D(15), in_flight=D(0)),
                                        DriftFacts("MSFT", ours=D(2), broker=D(1), in_flight=D(1))], now=later)
    assert dict(SymbolDrift.objects.values_list("symbol", "changed_at")) == written
    run = PositionReconciliation.objects.get()
    assert (run.at, run.symbols, run.changed) == (later, 2, 0)
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(15), broker=D(14), in_flight=D(0)),
                                        DriftFacts("MSFT", ours=D(2), broker=D(1), in_flight=D(1))], now=later)
    assert SymbolDrift.objects.get(symbol="AAPL").drift == D(-1)
    assert SymbolDrift.objects.get(symbol="MSFT").changed_at == written["MSFT"]
    assert PositionReconciliation.objects.get().changed == 1


def test_a_symbol_nobody_holds_any_more_leaves_the_drift_table_and_its_alert_resolves():
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(0), broker=D(4), in_flight=D(0)),
                                        DriftFacts("MSFT", ours=D(1), broker=D(1), in_flight=D(0))])
    assert Alert.objects.get(dedup_key="position_drift:AAPL").status == "open"
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(0), broker=D(0), in_flight=D(0))])
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(0), broker=D(0), in_flight=D(0))])
    assert list(SymbolDrift.objects.values_list("symbol", "drift")) == [("AAPL", D(0))]
    assert Alert.objects.get(dedup_key="position_drift:AAPL").status == "resolved"
    services.positions_reconcile(facts=[])
    assert not SymbolDrift.objects.exists() and PositionReconciliation.objects.get().changed == 1


def test_a_position_never_compared_has_no_broker_figure():
    strategy = StrategyFactory(name="alpha")
    services.position_apply_fill(strategy_id=strategy.pk, symbol="NVDA", side="buy", qty=D(1), price=D(10))
    services.positions_reconcile(facts=[DriftFacts("AAPL", ours=D(0), broker=D(2), in_flight=D(0))])
    assert _drift_view("NVDA") == [("alpha", None, D(0), None)]
    assert selectors.position_drift_count() == 0
