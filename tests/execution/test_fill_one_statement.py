"""A fill that opens or grows a position is stored with the order's outcome in one statement; everything
else (a fill against the position, a budget at its limit) goes through the locked transaction. Both paths
must leave exactly what the pure position arithmetic says."""
from __future__ import annotations

import random
from decimal import Decimal as D

import pytest
from django.db import connection

from autonomy import selectors as autonomy_selectors
from autonomy import services as autonomy
from autonomy.models import BudgetUsage, ConditionEvaluation, Position
from autonomy.positions import grown_average, position_after_fill
from execution.fake_brokers import base_price
from execution.services import order_submit
from strategies.models import Strategy
from tests.execution.factories import OrderInputFactory

pytestmark = pytest.mark.django_db


def submit(**kw):
    return order_submit(data=OrderInputFactory(**kw), actor="lane-7")


def _sql_average(qty: D, avg: D, fill_qty: D, fill_price: D) -> D:
    with connection.cursor() as cursor:
        cursor.execute("SELECT autonomy_price_half_even(abs(%s::numeric) * %s::numeric + %s::numeric * %s::numeric,"
                       " abs(%s::numeric) + %s::numeric)", [qty, avg, fill_qty, fill_price, qty, fill_qty])
        return cursor.fetchone()[0]


def test_the_database_rounds_the_average_exactly_as_python_does():
    ties = [  # exact halves at the 9th place: half-even keeps the even 8th digit
        (D("1"), D("0.00000001"), D("1"), D("0.00000002")),   # 0.000000015 -> ...02
        (D("1"), D("0.00000002"), D("1"), D("0.00000003")),   # 0.000000025 -> ...02
        (D("3"), D("10.00000001"), D("1"), D("10.00000003")),  # 10.000000015 -> ...02
        (D("-3"), D("7.00000001"), D("1"), D("7.00000003")),  # a short grown by a sell
        (D("0"), D("0"), D("3"), D("1.00000001")),            # opened from flat
    ]
    rng = random.Random(20261202)
    drawn = [(D(rng.randint(-10**9, 10**9)) / 100, D(rng.randint(1, 10**12)) / 10**8,
              D(rng.randint(1, 10**9)) / 10**4, D(rng.randint(1, 10**12)) / 10**8) for _ in range(300)]
    for qty, avg, fill_qty, fill_price in ties + drawn:
        expected = grown_average(qty=qty, avg_entry_price=avg, fill_qty=fill_qty, fill_price=fill_price)
        assert _sql_average(qty, avg, fill_qty, fill_price) == expected, (qty, avg, fill_qty, fill_price)
    assert grown_average(qty=D(1), avg_entry_price=D("0.00000001"), fill_qty=D(1),
                         fill_price=D("0.00000002")) == D("0.00000002")


def test_a_fill_that_grows_the_position_weights_the_average(routed):
    strategy = Strategy.objects.get(name="macd_rsi")
    Position.objects.create(strategy=strategy, symbol="AAPL", qty=D(7), avg_entry_price=D("100.12345679"))
    submit(side="buy", qty=D(3))
    expected = position_after_fill(qty=D(7), avg_entry_price=D("100.12345679"), side="buy", fill_qty=D(3),
                                   fill_price=base_price("AAPL"))
    pos = Position.objects.get(strategy=strategy, symbol="AAPL")
    assert (pos.qty, pos.avg_entry_price, pos.realized_pnl) == (D(10), expected.avg_entry_price, 0)


def test_a_short_grows_with_sells_and_opens_from_flat(routed):
    submit(side="sell", qty=D(2), decision_price=None)
    submit(side="sell", qty=D(3), decision_price=None)
    pos = Position.objects.get(strategy__name="macd_rsi", symbol="AAPL")
    assert (pos.qty, pos.avg_entry_price) == (D(-5), base_price("AAPL"))
    assert BudgetUsage.objects.get(name="gross_notional").used == 5 * base_price("AAPL")


def test_a_fill_against_the_position_realizes_through_the_locked_path(routed):
    strategy = Strategy.objects.get(name="macd_rsi")
    entry = base_price("AAPL") + 10  # bought above today's price: selling realizes a loss of 10 a share
    Position.objects.create(strategy=strategy, symbol="AAPL", qty=D(10), avg_entry_price=entry)
    submit(side="sell", qty=D(4))
    pos = Position.objects.get(strategy=strategy, symbol="AAPL")
    assert (pos.qty, pos.avg_entry_price, pos.realized_pnl) == (D(6), entry, D(-40))
    assert BudgetUsage.objects.get(name="daily_realized_loss").used == 40


def test_an_unpriced_fill_that_would_breach_gross_notional_records_the_breach(routed):
    price = base_price("AAPL")
    autonomy.budget_policy_set(name="gross_notional", limit=price * 3, on_breach="HALTED", reason="t", actor="ops")
    submit(side="buy", qty=D(2), decision_price=None)  # within the limit: no breach
    assert autonomy_selectors.trading_state_get().trading_state == "ACTIVE"
    submit(side="buy", qty=D(2), decision_price=None)  # the fill takes it past the limit
    assert BudgetUsage.objects.get(name="gross_notional").used == price * 4
    assert autonomy_selectors.trading_state_get().trading_state == "HALTED"
    assert ConditionEvaluation.objects.filter(inputs__name="gross_notional").exists()
    assert Position.objects.get(strategy__name="macd_rsi", symbol="AAPL").qty == 4


def _position_statements(**kw) -> list[str]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        submit(**kw)
    writes = ("INSERT INTO autonomy_positions", "UPDATE autonomy_positions")  # the look-up only reads it
    return [q["sql"] for q in captured.captured_queries if any(w in q["sql"] for w in writes)]


def test_the_path_each_fill_takes(routed):
    opening = _position_statements(side="buy", qty=D(5))
    assert len(opening) == 1 and "autonomy_fill_guard" in opening[0]  # outcome, fill and position together
    growing = _position_statements(side="buy", qty=D(5), decision_price=None)  # gross notional used at the fill
    assert len(growing) == 1 and "autonomy_fill_guard" in growing[0]
    # against the position admission read: straight to the locked transaction (P&L realized)
    reducing = _position_statements(side="sell", qty=D(2))
    assert not any("autonomy_fill_guard" in s for s in reducing)
    assert any("UPDATE autonomy_positions SET qty" in s for s in reducing)
    assert Position.objects.get(strategy__name="macd_rsi", symbol="AAPL").qty == 8


def test_a_fill_against_a_position_admission_did_not_see_is_refused_by_the_statement(routed):
    """The position read at admission is only a hint: a fill that meets a position opened meanwhile (here one
    written behind admission's back) is refused by the one statement and takes the locked path."""
    from unittest import mock

    from autonomy import selectors

    strategy = Strategy.objects.get(name="macd_rsi")
    real = selectors.admission_snapshot_from_row

    def stale(row, *, day):  # admission read the position before another fill made it long
        snapshot = real(row, day=day)
        Position.objects.update_or_create(strategy=strategy, symbol="AAPL",
                                          defaults={"qty": D(10), "avg_entry_price": base_price("AAPL") + 1})
        return snapshot

    with mock.patch("execution.services.admission_snapshot_from_row", stale):
        statements = _position_statements(side="sell", qty=D(3))
    assert "autonomy_fill_guard" in statements[0]
    assert any("UPDATE autonomy_positions SET qty" in s for s in statements[1:])
    pos = Position.objects.get(strategy=strategy, symbol="AAPL")
    assert (pos.qty, pos.realized_pnl) == (D(7), D(-3))
