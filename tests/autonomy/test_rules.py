"""The pure decisions of the autonomy app: position arithmetic, the REDUCING rule, admission, budgets and
who may move a control which way. No database."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from autonomy.admission import AdmissionFacts, admission_block, admission_decide
from autonomy.conditions import BudgetFacts, budget_in_breach, budget_would_breach
from autonomy.positions import order_reduces, position_after_fill
from autonomy.rules import (
    AGENT,
    PERSON,
    SYSTEM,
    actor_kind,
    budget_change_refusal,
    lean_change_refusal,
    state_change_refusal,
    symbol_change_refusal,
)


@pytest.mark.parametrize("qty,avg,side,fill_qty,price,expected", [
    (D(0), None, "buy", D(10), D(100), (D(10), D(100), D(0))),
    (D(10), D(100), "buy", D(10), D(110), (D(20), D(105), D(0))),
    (D(10), D(100), "sell", D(4), D(90), (D(6), D(100), D(-40))),
    (D(10), D(100), "sell", D(10), D(120), (D(0), None, D(200))),
    (D(10), D(100), "sell", D(15), D(90), (D(-5), D(90), D(-100))),  # flips: the rest opens at the fill price
    (D(-5), D(50), "buy", D(5), D(40), (D(0), None, D(50))),  # a short closed lower makes money
    (D(-5), D(50), "sell", D(5), D(60), (D(-10), D(55), D(0))),
])
def test_position_after_fill(qty, avg, side, fill_qty, price, expected):
    change = position_after_fill(qty=qty, avg_entry_price=avg, side=side, fill_qty=fill_qty, fill_price=price)
    assert (change.qty, change.avg_entry_price, change.realized_pnl) == expected


def test_position_after_fill_refuses_nonsense():
    with pytest.raises(ValueError):
        position_after_fill(qty=D(0), avg_entry_price=None, side="buy", fill_qty=D(0), fill_price=D(1))
    with pytest.raises(ValueError):
        position_after_fill(qty=D(0), avg_entry_price=None, side="hold", fill_qty=D(1), fill_price=D(1))


@pytest.mark.parametrize("position,open_qty,side,qty,reduces", [
    (D(10), D(0), "sell", D(10), True),
    (D(10), D(0), "sell", D(11), False),  # would flip
    (D(10), D(6), "sell", D(5), False),  # with the open sells it would flip
    (D(10), D(0), "buy", D(1), False),  # adds
    (D(-3), D(0), "buy", D(3), True),
    (D(0), D(0), "sell", D(1), False),  # flat: nothing to reduce
])
def test_order_reduces(position, open_qty, side, qty, reduces):
    assert order_reduces(position_qty=position, open_reducing_qty=open_qty, side=side, qty=qty) is reduces


def facts(**kw) -> AdmissionFacts:
    base = {"trading_state": "ACTIVE", "trading_reason": "", "symbol": "AAPL", "symbol_mode": "enabled",
            "symbol_reason": "", "strategy": "s", "strategy_known": True, "stage": "paper", "side": "buy",
            "qty": D(1), "notional": D(100)}
    return AdmissionFacts(**{**base, **kw})


@pytest.mark.parametrize("kw,code", [
    ({}, None),
    ({"trading_state": "HALTED"}, "trading_halted"),
    ({"strategy_state": "HALTED"}, "trading_halted"),
    ({"trading_state": "REDUCING"}, "trading_reducing"),
    ({"strategy_state": "REDUCING", "side": "sell", "position_qty": D(5)}, None),
    ({"strategy_state": "REDUCING", "side": "sell", "qty": D(6), "position_qty": D(5)}, "trading_reducing"),
    ({"trading_state": "REDUCING", "strategy_state": "HALTED", "side": "sell", "position_qty": D(5)},
     "trading_halted"),  # the strictest applies
    ({"symbol_mode": "disabled"}, "symbol_disabled"),
    ({"strategy_known": False}, "strategy_not_live"),
    ({"stage": "shadow"}, "strategy_not_live"),
    ({"symbol_mode": "canary", "symbol_caps": {"max_qty_per_order": D(1)}, "qty": D(2)}, "canary_cap_exceeded"),
    ({"symbol_mode": "canary", "symbol_caps": {"max_notional_per_order": D(50)}}, "canary_cap_exceeded"),
    ({"symbol_mode": "canary", "symbol_caps": {"max_notional_per_order": D(50)}, "notional": None},
     "canary_cap_exceeded"),
    ({"symbol_mode": "canary", "symbol_caps": {"max_notional_per_day": D(150)}, "symbol_notional_today": D(60)},
     "canary_cap_exceeded"),
    ({"symbol_mode": "canary", "symbol_caps": {"max_notional_per_day": D(150)}, "symbol_notional_today": D(50)},
     None),
    ({"symbol_mode": "enabled", "symbol_caps": {"max_qty_per_order": D(1)}, "qty": D(2)}, None),
    ({"budgets": (BudgetFacts("order_count", D(10), D(9), D(1)),)}, None),
    ({"budgets": (BudgetFacts("order_count", D(10), D(10), D(1)),)}, "budget_exceeded"),
    ({"budgets": (BudgetFacts("daily_realized_loss", D(10), D(11), D(0), "HALTED"),)}, "budget_exceeded"),
    ({"budgets": (BudgetFacts("daily_realized_loss", D(10), D(11), D(0), "REDUCING"),)}, "budget_exceeded"),
    ({"budgets": (BudgetFacts("daily_realized_loss", D(10), D(11), D(0), "REDUCING"),), "side": "sell",
      "position_qty": D(3)}, None),  # a loss breach that only reduces lets exits through
])
def test_admission(kw, code):
    block = admission_block(facts(**kw))
    assert (block[0] if block else None) == code


def test_admission_names_the_breached_budgets_only_when_the_order_passes_the_limit():
    decision = admission_decide(facts(budgets=(BudgetFacts("gross_notional", D(1000), D(950), D(100)),
                                               BudgetFacts("order_count", D(10), D(1), D(1)))))
    assert decision.code == "budget_exceeded" and decision.breached_budgets == ("gross_notional",)
    halted = admission_decide(facts(trading_state="HALTED", budgets=(BudgetFacts("order_count", D(1), D(1), D(1)),)))
    assert halted.code == "trading_halted" and halted.breached_budgets == ()


def test_budget_conditions():
    assert budget_would_breach(BudgetFacts("order_count", D(2), D(2), D(1)))
    assert not budget_would_breach(BudgetFacts("order_count", D(2), D(1), D(1)))
    assert not budget_would_breach(BudgetFacts("order_count", D(2), D(5), D(0)))
    assert budget_in_breach(BudgetFacts("llm_tokens", D(2), D(3)))
    assert not budget_in_breach(BudgetFacts("llm_tokens", D(2), D(2)))


def test_actor_kind():
    assert actor_kind("lane-7", {"agent", "operator"}) == AGENT
    assert actor_kind("system:budget", ()) == SYSTEM
    assert actor_kind("alice", {"operator"}) == PERSON


@pytest.mark.parametrize("kind,current,cause,new,allowed", [
    (AGENT, "ACTIVE", "manual", "REDUCING", True),
    (AGENT, "ACTIVE", "manual", "HALTED", True),
    (AGENT, "REDUCING", "manual", "HALTED", True),
    (AGENT, "HALTED", "manual", "REDUCING", False),
    (AGENT, "HALTED", "manual", "ACTIVE", False),
    (AGENT, "ACTIVE", "manual", "ACTIVE", False),
    (SYSTEM, "ACTIVE", "manual", "HALTED", True),
    (SYSTEM, "REDUCING", "freshness", "ACTIVE", True),
    (SYSTEM, "HALTED", "budget", "ACTIVE", False),
    (SYSTEM, "REDUCING", "failure_streak", "ACTIVE", False),
    (PERSON, "HALTED", "budget", "ACTIVE", True),
])
def test_state_change_rules(kind, current, cause, new, allowed):
    assert (state_change_refusal(kind=kind, current=current, current_cause=cause, new=new) is None) is allowed


def test_lean_symbol_and_budget_rules():
    assert lean_change_refusal(kind=AGENT, enabled=True)
    assert lean_change_refusal(kind=AGENT, enabled=False) is None
    assert symbol_change_refusal(kind=AGENT, current_mode="disabled", new_mode="enabled", current_caps={},
                                 new_caps={}, lean_allowed=None)
    assert symbol_change_refusal(kind=AGENT, current_mode="canary", new_mode="canary",
                                 current_caps={"max_qty_per_order": "5"}, new_caps={"max_qty_per_order": D(6)},
                                 lean_allowed=None)
    assert symbol_change_refusal(kind=AGENT, current_mode="enabled", new_mode="canary",
                                 current_caps={"max_qty_per_order": "5"}, new_caps={"max_qty_per_order": D(4)},
                                 lean_allowed=None) is None
    assert budget_change_refusal(kind=AGENT, current_limit=D(10), new_limit=D(11), current_on_breach="HALTED",
                                 new_on_breach="HALTED")
    assert budget_change_refusal(kind=AGENT, current_limit=D(10), new_limit=D(10), current_on_breach="HALTED",
                                 new_on_breach="REDUCING")
    assert budget_change_refusal(kind=AGENT, current_limit=D(10), new_limit=D(9), current_on_breach="REDUCING",
                                 new_on_breach="HALTED") is None
    assert budget_change_refusal(kind=PERSON, current_limit=D(10), new_limit=D(99), current_on_breach="HALTED",
                                 new_on_breach="REDUCING") is None
