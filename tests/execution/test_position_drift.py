"""Reconciliation of positions with the broker: the Alpaca fake's positions (computed from its filled
orders) plus the LEAN-routed fills against the strategies' positions; unexplained drift alerts."""
from __future__ import annotations

from decimal import Decimal

import pytest

from autonomy.conditions import DriftFacts, position_drift
from autonomy.models import Alert, ConditionEvaluation, Position
from autonomy.selectors import positions_reconciled
from execution.adapters import AlpacaAdapter
from execution.adapters.base import OrderRequest
from execution.reconciliation import position_drift_check, reconcile_run
from execution.services import order_submit
from execution.wiring import adapters
from tests.execution.factories import ExecutionFactory, OrderInputFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("ours", "broker", "in_flight", "explained", "drift"), [
    ("10", "10", "0", True, "0"), ("10", "15", "5", True, "0"), ("10", "16", "5", False, "6"),
    ("-3", "0", "0", False, "3")])
def test_drift_is_what_orders_in_flight_cannot_explain(ours, broker, in_flight, explained, drift):
    verdict = position_drift(DriftFacts("AAPL", Decimal(ours), Decimal(broker), Decimal(in_flight)))
    assert verdict.explained is explained and verdict.drift == Decimal(drift)


def stranger_order(fakes, *, side="buy", qty="7", symbol="AAPL"):
    """An order placed at Alpaca behind the plane's back (a person in the broker's web UI)."""
    alpaca = AlpacaAdapter("k", "s", url_override=fakes.alpaca.url)
    alpaca.submit(OrderRequest(client_order_id=f"manual-{side}-{qty}", symbol=symbol, side=side, qty=Decimal(qty),
                               order_type="market", time_in_force="day"))


def drift_rows(symbol="AAPL"):
    return list(positions_reconciled(Position.objects.filter(symbol=symbol)).order_by("strategy__name")
                .values_list("strategy__name", "qty", "broker_qty", "drift"))


def test_positions_in_line_with_lean_and_alpaca_fills_have_no_drift(routed, settings):
    order_submit(data=OrderInputFactory(qty=Decimal(10)))  # LEAN
    order_submit(data=OrderInputFactory(strategy="tsmom", side="sell", qty=Decimal(4)))  # LEAN
    settings.TRADING_EXECUTION_ADAPTER = "alpaca"
    order_submit(data=OrderInputFactory(strategy="tsmom", qty=Decimal(6)))  # Alpaca
    run = reconcile_run(trigger="test")
    assert run.drift == {"symbols": 1, "unexplained": []}
    assert drift_rows() == [("macd_rsi", Decimal(10), Decimal(12), Decimal(0)),
                            ("tsmom", Decimal(2), Decimal(12), Decimal(0))]
    assert not Alert.objects.filter(dedup_key__startswith="position_drift").exists()
    assert all(p.reconciled_at is not None for p in positions_reconciled(Position.objects.all()))


def test_an_order_placed_behind_the_planes_back_is_unexplained_drift_then_resolves(routed, settings):
    settings.TRADING_EXECUTION_ADAPTER = "alpaca"
    order_submit(data=OrderInputFactory(qty=Decimal(10)))
    stranger_order(routed, qty="7")
    run = reconcile_run(trigger="test")
    assert run.drift == {"symbols": 1, "unexplained": ["AAPL"]}
    assert drift_rows() == [("macd_rsi", Decimal(10), Decimal(17), Decimal(7))]
    alert = Alert.objects.get(dedup_key="position_drift:AAPL")
    assert alert.severity == "critical" and alert.evidence["broker"] == "17" and alert.evidence["ours"] == "10"
    evaluation = ConditionEvaluation.objects.get(condition="position_drift")
    assert evaluation.breached and evaluation.inputs["broker"] == "17" and evaluation.outcome["drift"] == "7"
    reconcile_run(trigger="test")  # still there: the same alert, seen again
    alert.refresh_from_db()
    assert alert.occurrences == 2 and Alert.objects.filter(dedup_key="position_drift:AAPL").count() == 1
    stranger_order(routed, side="sell", qty="7")  # someone undoes it at the broker
    reconcile_run(trigger="test")
    alert.refresh_from_db()
    assert alert.status == "resolved" and drift_rows() == [("macd_rsi", Decimal(10), Decimal(10), Decimal(0))]


def test_orders_in_flight_explain_a_difference(routed, settings):
    settings.TRADING_EXECUTION_ADAPTER = "alpaca"
    order_submit(data=OrderInputFactory(qty=Decimal(10)))
    stranger_order(routed, qty="3")
    ExecutionFactory(symbol="AAPL", status="pending", submitted_qty=Decimal(5), filled_qty=Decimal(0),
                     execution_actual_adapter="alpaca", execution_expected_adapter="alpaca", broker_order_id=None)
    alpaca = adapters()[1]
    result = position_drift_check(alpaca)
    assert result["unexplained"] == []
    assert drift_rows() == [("macd_rsi", Decimal(10), Decimal(13), Decimal(0))]
    assert not Alert.objects.exists()
    assert ConditionEvaluation.objects.get(condition="position_drift").breached is False


def test_positions_api_shows_broker_qty_and_drift(routed, settings, make_client):
    settings.TRADING_EXECUTION_ADAPTER = "alpaca"
    order_submit(data=OrderInputFactory(qty=Decimal(10)))
    stranger_order(routed, qty="2")
    reconcile_run(trigger="test")
    [row] = make_client("auditor").get("/api/v1/trading/positions?symbol=aapl").json()["results"]
    assert (row["strategy"], row["qty"], row["broker_qty"], row["drift"]) == ("macd_rsi", "10", "12", "2")


def test_unreachable_broker_positions_are_a_run_error_not_a_drift(routed, settings):
    settings.TRADING_EXECUTION_ADAPTER = "alpaca"
    order_submit(data=OrderInputFactory(qty=Decimal(10)))
    routed.alpaca.set_fault("error")
    run = reconcile_run(trigger="test")
    assert run.drift is None and any("alpaca positions" in e for e in run.errors)
    assert drift_rows() == [("macd_rsi", Decimal(10), None, Decimal(0))]
