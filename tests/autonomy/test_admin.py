"""The autonomy admin: rows read-only; every change through an action (or add form) that asks for a
reason and calls the service, which records the control event."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model

from access.services import principal_create
from autonomy import services
from autonomy.models import BudgetPolicy, ControlEvent, StrategyTradingState, SymbolControl, TradingState
from tests.access.factories import StrategyFactory

pytestmark = pytest.mark.django_db
STATE = "/admin/autonomy/tradingstate/"


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="a-long-password-1"))
    return client


def test_halt_goes_through_a_confirmation_page_asking_for_a_reason(admin_client):
    assert admin_client.get(STATE).status_code == 200  # shows the default row
    ask = admin_client.post(STATE, {"action": "set_halted", "_selected_action": [1]})
    assert ask.status_code == 200 and "Set HALTED?" in ask.content.decode() and 'name="reason"' in ask.content.decode()
    assert TradingState.objects.get(id=1).state == "ACTIVE"
    again = admin_client.post(STATE, {"action": "set_halted", "_selected_action": [1], "confirm": "yes"})
    assert again.status_code == 200 and "This field is required" in again.content.decode()
    assert not ControlEvent.objects.exists()
    done = admin_client.post(STATE, {"action": "set_halted", "_selected_action": [1], "confirm": "yes",
                                     "reason": "desk closed"}, follow=True)
    assert done.status_code == 200 and "trading set to HALTED" in done.content.decode()
    event = ControlEvent.objects.get()
    assert (event.actor, event.via, event.reason, event.after["state"]) == ("root", "admin", "desk closed", "HALTED")
    admin_client.post(STATE, {"action": "lean_disable", "_selected_action": [1], "confirm": "yes",
                              "reason": "runner upgrade"})
    assert TradingState.objects.get(id=1).lean_enabled is False


def test_an_agent_superuser_cannot_lift_a_halt_in_the_admin(client):
    services.trading_state_set(state="HALTED", reason="x", actor="ops")
    principal_create(name="bot", roles=["agent"])
    bot = get_user_model().objects.get(username="bot")
    bot.is_staff = bot.is_superuser = True
    bot.save()
    client.force_login(bot)
    done = client.post(STATE, {"action": "set_active", "_selected_action": [1], "confirm": "yes", "reason": "go"},
                       follow=True)
    assert "Agents may only move trading toward" in done.content.decode()
    assert TradingState.objects.get(id=1).state == "HALTED"


def test_strategy_state_added_and_changed_through_the_service(admin_client):
    strategy = StrategyFactory(name="alpha")
    url = "/admin/autonomy/strategytradingstate/"
    assert admin_client.post(url + "add/", {"strategy": strategy.pk, "state": "REDUCING"}).status_code == 200
    assert not StrategyTradingState.objects.exists()  # no reason, nothing stored
    admin_client.post(url + "add/", {"strategy": strategy.pk, "state": "REDUCING", "reason": "drift"})
    row = StrategyTradingState.objects.get()
    assert row.state == "REDUCING"
    admin_client.post(url, {"action": "set_halted", "_selected_action": [row.pk], "confirm": "yes",
                            "reason": "worse"})
    assert StrategyTradingState.objects.get().state == "HALTED"
    assert list(ControlEvent.objects.order_by("id").values_list("scope", "via")) == [
        ("strategy:alpha", "admin"), ("strategy:alpha", "admin")]


def test_symbol_add_and_canary_with_caps(admin_client):
    url = "/admin/autonomy/symbolcontrol/"
    bad = admin_client.post(url + "add/", {"symbol": "nvda", "mode": "canary", "reason": "x",
                                           "max_qty_per_order": "0"})
    assert bad.status_code == 200 and not SymbolControl.objects.exists()
    admin_client.post(url + "add/", {"symbol": "nvda", "mode": "disabled", "reason": "earnings"})
    row = SymbolControl.objects.get()
    assert (row.symbol, row.mode, row.health_reason) == ("NVDA", "disabled", "earnings")
    admin_client.post(url, {"action": "set_canary", "_selected_action": [row.pk], "confirm": "yes",
                            "reason": "reopen small", "max_qty_per_order": "5"})
    row.refresh_from_db()
    assert (row.mode, row.max_qty_per_order) == ("canary", D(5))
    admin_client.post(url, {"action": "lean_allow", "_selected_action": [row.pk], "confirm": "yes", "reason": "ok"})
    row.refresh_from_db()
    assert row.lean_allowed is True and row.mode == "canary"
    assert ControlEvent.objects.filter(scope="symbol:NVDA", via="admin").count() == 3


def test_budget_limits_through_the_service(admin_client):
    url = "/admin/autonomy/budgetpolicy/"
    admin_client.post(url + "add/", {"name": "order_count", "limit": "500", "on_breach": "HALTED", "reason": "r"})
    row = BudgetPolicy.objects.get()
    assert row.limit == 500
    admin_client.post(url, {"action": "change_limit", "_selected_action": [row.pk], "confirm": "yes",
                            "limit": "800", "on_breach": "REDUCING", "reason": "busy"})
    row.refresh_from_db()
    assert (row.limit, row.on_breach) == (800, "REDUCING")
    assert ControlEvent.objects.filter(kind="budget", via="admin").count() == 2


def test_control_events_are_read_only_in_the_admin(admin_client):
    services.lean_lane_set(enabled=False, reason="r", actor="ops")
    event = ControlEvent.objects.get()
    url = "/admin/autonomy/controlevent/"
    assert admin_client.get(url).status_code == 200
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert ControlEvent.objects.count() == 1
    page = admin_client.get(f"{url}{event.pk}/change/").content.decode()
    assert 'type="submit"' not in page or "Save" not in page


def test_an_operator_retires_a_signal_source_behind_a_confirmation_page_with_a_reason(admin_client):
    from django.utils import timezone

    from autonomy.models import SignalSource

    source = services.heartbeat_record(source="breakout", observed_at=timezone.now(), actor="lane")
    url = "/admin/autonomy/signalsource/"
    confirm = admin_client.post(url, {"action": "retire_selected", "_selected_action": [source.pk]})
    assert confirm.status_code == 200 and b"Yes, retire" in confirm.content
    admin_client.post(url, {"action": "retire_selected", "_selected_action": [source.pk], "confirm": "yes",
                            "comment": ""})
    assert SignalSource.objects.get(pk=source.pk).expected is True  # no reason: refused
    admin_client.post(url, {"action": "retire_selected", "_selected_action": [source.pk], "confirm": "yes",
                            "comment": "loop decommissioned"})
    assert SignalSource.objects.get(pk=source.pk).expected is False
    event = ControlEvent.objects.get(kind="signal_source")
    assert (event.actor, event.via, event.reason) == ("root", "admin", "loop decommissioned")
