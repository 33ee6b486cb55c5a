"""The kill-switch drill rehearses the autonomy conditions without trading."""
from __future__ import annotations

from decimal import Decimal

import pytest

from autonomy import conditions, drill, services
from autonomy.admission import AdmissionFacts
from autonomy.models import Alert, ControlEvent
from promotions.services import drill_run

SAMPLE = AdmissionFacts(trading_state="ACTIVE", trading_reason="", symbol="SPY", symbol_mode="enabled",
                        symbol_reason="", strategy="s", strategy_known=True, stage="live", notional=Decimal(1),
                        side="buy", qty=Decimal(1))


def rehearse(**overrides):
    kw = {"sample": SAMPLE, "freshness": conditions.FreshnessPolicy(), "session": conditions.MarketSession(),
          "lean": conditions.LeanCircuitPolicy(), "failure_threshold": 3,
          "budgets": [("order_count", Decimal(500), "HALTED"), ("daily_realized_loss", Decimal(1000), "REDUCING")]}
    return {c["condition"]: c for c in drill.rehearse(**{**kw, **overrides})}


def test_each_condition_trips_and_says_whether_the_sample_order_would_be_refused():
    checks = rehearse()
    assert set(checks) == {"stale_signals", "failure_streak", "budget:order_count", "budget:daily_realized_loss",
                           "lean_circuit"}
    assert all(c["passed"] for c in checks.values())
    assert checks["stale_signals"]["refused_with"] == "trading_reducing"
    assert checks["stale_signals"]["verdict"]["action"] == "reduce"
    assert checks["failure_streak"]["refused_with"] == "trading_reducing"
    assert checks["budget:order_count"]["refused_with"] == "budget_exceeded"
    assert checks["budget:daily_realized_loss"]["refused_with"] == "budget_exceeded"
    assert checks["budget:daily_realized_loss"]["simulated_state"] == "REDUCING"
    lean = checks["lean_circuit"]
    assert lean["verdict"]["action"] == "disable_lean" and lean["refused_with"] is None


def test_a_condition_that_cannot_trip_fails_the_drill():
    # a lag threshold nobody reaches and a no-signal streak that never counts: the stale rule is disarmed
    broken = conditions.FreshnessPolicy(lag_seconds=10 ** 9, no_signal_cycles=10 ** 6)
    assert rehearse(freshness=broken)["stale_signals"]["passed"] is False
    assert rehearse(failure_threshold=10)["failure_streak"]["passed"] is False
    assert rehearse(lean=conditions.LeanCircuitPolicy(fallback_ratio=0.5))["lean_circuit"]["passed"] is False


@pytest.mark.django_db
def test_the_drill_records_the_conditions_and_changes_nothing(settings):
    from strategies.services import strategy_register

    strategy_register(name="breakout")
    record = drill_run(kind="kill_switch", strategy_name="breakout", actor="olga")
    [check] = record.evidence["checks"]
    assert record.passed and check["refused_with"] == "trading_halted"
    assert {c["condition"] for c in check["conditions"]} >= {"stale_signals", "failure_streak", "lean_circuit",
                                                             "budget:order_count", "budget:gross_notional"}
    assert all(c["passed"] for c in check["conditions"])
    lean = next(c for c in check["conditions"] if c["condition"] == "lean_circuit")
    assert lean["inputs"]["requests"] == services.lean_circuit_policy().min_requests == 20
    assert lean["inputs"]["fallbacks"] == 6
    assert not ControlEvent.objects.exists() and not Alert.objects.exists()  # rehearsed, not done
    settings.AUTONOMY_LEAN_FALLBACK_RATIO = 0.5  # loosened past a 30 % fallback ratio: the drill fails
    assert drill_run(kind="kill_switch", strategy_name="breakout", actor="olga").passed is False
