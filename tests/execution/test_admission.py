"""Order admission against the control flags, end to end through order_submit and the fake brokers:
the strictest state, REDUCING against the strategy's position, symbol canary caps, budgets as kill
switches, and positions kept from fills in the transaction that stores them."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from autonomy import selectors as autonomy_selectors
from autonomy import services as autonomy
from autonomy.models import BudgetUsage, ConditionEvaluation, ControlEvent, Position, TradingState
from core.errors import Blocked
from execution.fake_brokers import base_price
from execution.models import Execution, OrderRefusal
from execution.services import fill_ingest, order_submit
from strategies.models import Strategy
from tests.execution.factories import OrderInputFactory

pytestmark = pytest.mark.django_db


def submit(**kw):
    return order_submit(data=OrderInputFactory(**kw), actor="lane-7")


def refused(**kw) -> str:
    with pytest.raises(Blocked) as exc:
        submit(**kw)
    return exc.value.code


def position(strategy="macd_rsi", symbol="AAPL") -> Position | None:
    return Position.objects.filter(strategy__name=strategy, symbol=symbol).first()


def test_fills_move_the_strategys_position(routed):
    submit(side="buy", qty=D(10))
    submit(side="sell", qty=D(4))
    pos = position()
    assert (pos.qty, pos.avg_entry_price) == (D(6), base_price("AAPL"))
    assert position("tsmom") is None


def test_halt_committed_before_admission_refuses(routed):
    autonomy.trading_state_set(state="HALTED", reason="drawdown", actor="ops")
    assert refused() == "trading_halted"
    assert Execution.objects.count() == 0 and routed.lean.orders() == []
    assert OrderRefusal.objects.get().code == "trading_halted"


def test_strategy_state_applies_to_its_orders_only(routed):
    autonomy.trading_state_set(state="HALTED", reason="slippage", actor="ops", strategy="macd_rsi")
    assert refused(strategy="macd_rsi") == "trading_halted"
    assert submit(strategy="tsmom").created


def test_reducing_admits_only_orders_that_reduce_without_flipping(routed):
    submit(side="buy", qty=D(10))
    autonomy.trading_state_set(state="REDUCING", reason="signal quality", actor="ops", strategy="macd_rsi")
    assert refused(side="buy", qty=D(1)) == "trading_reducing"
    assert refused(side="sell", qty=D(11)) == "trading_reducing"  # would flip to short
    assert refused(strategy="macd_rsi", symbol="MSFT", side="sell", qty=D(1)) == "trading_reducing"  # flat there
    assert submit(side="sell", qty=D(6)).created
    assert refused(side="sell", qty=D(5)) == "trading_reducing"  # only 4 left
    assert submit(side="sell", qty=D(4)).created
    assert position().qty == 0
    assert submit(strategy="tsmom", side="buy", qty=D(1)).created  # other strategies trade on
    autonomy.trading_state_set(state="REDUCING", reason="global", actor="ops")
    assert refused(strategy="tsmom", side="buy", qty=D(1)) == "trading_reducing"


def test_reducing_counts_open_orders_on_the_reducing_side(routed):
    submit(side="buy", qty=D(10))
    autonomy.trading_state_set(state="REDUCING", reason="x", actor="ops")
    # a sell limit above the market rests at the broker, open and unfilled
    first = submit(side="sell", qty=D(8), order_type="limit", limit_price=base_price("AAPL") + 50).execution
    assert first.status == "accepted" and first.filled_qty == 0
    assert refused(side="sell", qty=D(3)) == "trading_reducing"  # 8 open + 3 would flip the 10


def test_symbol_canary_caps(routed):
    autonomy.symbol_mode_set(symbol="AAPL", mode="canary", reason="new listing", actor="ops",
                             caps={"max_qty_per_order": "5", "max_notional_per_order": "1000",
                                   "max_notional_per_day": "1500"})
    assert refused(qty=D(6), decision_price=D(10)) == "canary_cap_exceeded"
    assert refused(qty=D(5), decision_price=D(300)) == "canary_cap_exceeded"
    assert refused(qty=D(1), decision_price=None) == "canary_cap_exceeded"  # unpriced: caps cannot be checked
    assert submit(qty=D(5), decision_price=D(180)).created  # 900
    assert refused(qty=D(4), decision_price=D(180)) == "canary_cap_exceeded"  # 900 + 720 > 1500 today
    assert submit(qty=D(3), decision_price=D(180)).created  # 1440
    assert submit(symbol="MSFT", qty=D(50), decision_price=D(300)).created  # other symbols are not capped


def test_order_count_breach_halts_and_is_not_lifted_automatically(routed, settings):
    autonomy.budget_policy_set(name="order_count", limit=D(2), on_breach="HALTED", reason="test", actor="ops")
    assert submit().created and submit().created
    assert refused() == "budget_exceeded"
    state = TradingState.objects.get(id=1)
    assert (state.state, state.cause) == ("HALTED", "budget")
    evaluation = ConditionEvaluation.objects.get(condition="budget")
    assert evaluation.inputs["name"] == "order_count" and evaluation.inputs["used"] == "2"
    assert evaluation.inputs["refused"]["side"] == "buy" and evaluation.action == "HALTED"
    assert ControlEvent.objects.filter(kind="trading_state", actor="system:budget").count() == 1
    assert refused() == "trading_halted"
    assert BudgetUsage.objects.get(name="order_count").used == 2
    # the operator lifts the halt, but the budget is still spent: the next order breaches it again
    autonomy.trading_state_set(state="ACTIVE", reason="reviewed", actor="ops", roles={"operator"})
    assert refused() == "budget_exceeded"
    autonomy.trading_state_set(state="ACTIVE", reason="reviewed again", actor="ops", roles={"operator"})
    autonomy.budget_policy_set(name="order_count", limit=D(10), reason="raise for the day", actor="ops")
    assert submit().created
    assert Execution.objects.count() == 3


def test_gross_notional_breach_moves_to_reducing_per_policy(routed):
    autonomy.budget_policy_set(name="gross_notional", limit=D(2500), on_breach="REDUCING", reason="t", actor="ops")
    assert submit(qty=D(10), decision_price=D(200)).created  # 2000
    assert refused(qty=D(5), decision_price=D(200)) == "budget_exceeded"
    assert autonomy_selectors.trading_state_get().trading_state == "REDUCING"
    # REDUCING: exits still pass (they consume nothing past the limit when unpriced)
    assert submit(side="sell", qty=D(10), decision_price=None).created


def test_unpriced_orders_use_the_gross_notional_budget_when_filled(routed):
    submit(qty=D(10), decision_price=None)
    used = BudgetUsage.objects.get(name="gross_notional").used
    assert used == D(10) * base_price("AAPL")
    submit(qty=D(1), decision_price=D(100))
    assert BudgetUsage.objects.get(name="gross_notional").used == used + 100


def test_realized_loss_from_fills_breaches(routed, settings):
    autonomy.budget_policy_set(name="daily_realized_loss", limit=D(5), on_breach="HALTED", reason="t", actor="ops")
    submit(side="buy", qty=D(10))
    # a later fill reported by reconciliation, at a price 1 under the entry: a realized loss of 10
    sell = submit(side="sell", qty=D(1), decision_price=None).execution
    assert position().qty == 9
    fill_ingest(execution=sell, adapter="lean", broker_fill_id="manual-1", qty=D(1), price=base_price("AAPL") - 10)
    assert autonomy_selectors.trading_state_get().trading_state == "HALTED"
    assert BudgetUsage.objects.get(name="daily_realized_loss").used == 10


def test_fill_ingest_moves_the_position_once(routed):
    execution = submit(side="buy", qty=D(10), decision_price=None).execution
    before = position().qty
    assert fill_ingest(execution=execution, adapter="lean", broker_fill_id="extra-1", qty=D(2), price=D(100))
    assert not fill_ingest(execution=execution, adapter="lean", broker_fill_id="extra-1", qty=D(2), price=D(100))
    assert position().qty == before + 2


def test_orders_of_unknown_strategies_move_nothing(routed):
    assert refused(strategy="nobody") == "strategy_not_live"
    assert not Position.objects.exists()
    assert Strategy.objects.filter(name="nobody").count() == 0
