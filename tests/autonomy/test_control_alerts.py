"""Critical control changes raise alerts in the transaction that makes them, and resolve when lifted."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from autonomy import services
from autonomy.models import Alert, ControlEvent, Incident
from strategies.services import strategy_register

pytestmark = pytest.mark.django_db


def unresolved(key):
    return Alert.objects.exclude(status="resolved").filter(dedup_key=key).first()


def test_a_global_halt_is_critical_and_lifting_it_resolves_the_alert():
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="olga")
    alert = unresolved("trading_state:global")
    assert alert.severity == "critical" and alert.title == "Trading is HALTED globally: drawdown 8%"
    assert alert.evidence["before"]["state"] == "ACTIVE" and alert.evidence["by"] == "olga"
    services.trading_state_set(state="ACTIVE", reason="reviewed", actor="olga")
    alert.refresh_from_db()
    assert alert.status == "resolved" and "HALTED to ACTIVE" in alert.resolve_comment
    assert unresolved("trading_state:global") is None


def test_halted_to_reducing_resolves_the_critical_alert_and_opens_a_warning():
    services.trading_state_set(state="HALTED", reason="halt", actor="olga")
    halted = unresolved("trading_state:global")
    services.trading_state_set(state="REDUCING", reason="exits only", actor="olga")
    halted.refresh_from_db()
    reducing = unresolved("trading_state:global")
    assert halted.status == "resolved" and reducing.pk != halted.pk and reducing.severity == "warning"
    services.trading_state_set(state="HALTED", reason="again", actor="olga")
    reducing.refresh_from_db()
    assert reducing.severity == "critical" and reducing.occurrences == 2  # escalated in place


def test_a_strategy_halt_is_critical_for_that_strategy():
    strategy_register(name="breakout")
    services.trading_state_set(state="HALTED", reason="slippage", actor="olga", strategy="breakout")
    alert = unresolved("trading_state:strategy:breakout")
    assert alert.severity == "critical" and "for breakout" in alert.title
    assert unresolved("trading_state:global") is None


def test_the_alert_is_written_with_the_change_and_rolled_back_with_it():
    with pytest.raises(RuntimeError), transaction.atomic():
        services.trading_state_set(state="HALTED", reason="x", actor="olga")
        assert unresolved("trading_state:global") is not None
        raise RuntimeError("the change fails")
    assert not Alert.objects.exists() and not ControlEvent.objects.exists()


def test_disabling_lean_is_critical_and_enabling_closes_the_alert_and_the_circuit_incident():
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="olga")
    alert = unresolved("lean_lane")
    assert alert.severity == "critical" and alert.title == "LEAN lane disabled: runner upgrade"
    services.incident_open(kind="lean_circuit", reason="outage", evidence={}, alert=alert)
    services.lean_lane_set(enabled=True, reason="upgrade done", actor="olga")
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == "olga"
    incident = Incident.objects.get()
    assert incident.status == "closed" and incident.closed_by == "olga"


def test_a_budget_breach_is_critical_and_the_day_roll_resolves_it(settings):
    from autonomy.models import BudgetUsage

    settings.AUTONOMY_BUDGETS = {**settings.AUTONOMY_BUDGETS, "order_count": {"limit": "5", "on_breach": "HALTED"}}
    services.budget_use(name="order_count", amount=Decimal(6), actor="system:test")
    alert = unresolved("budget:order_count")
    assert alert.severity == "critical" and "order_count breached" in alert.title and "HALTED" in alert.title
    assert unresolved("trading_state:global").severity == "critical"  # the state it moved, too
    assert services.budgets_day_roll() == {"day": alert.evidence["day"], "resolved": 0, "rolled": True}
    assert services.budgets_day_roll()["rolled"] is False  # once per day
    # the next UTC day
    tomorrow = BudgetUsage.objects.get(name="order_count").day + timedelta(days=1)
    result = services.budgets_day_roll(day=tomorrow)
    assert result == {"day": tomorrow.isoformat(), "resolved": 1, "rolled": True}
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == "system:budget-day-roll"
    assert unresolved("trading_state:global") is not None  # the halt stays: only an operator lifts it
    assert BudgetUsage.objects.filter(day=tomorrow).count() == 4
