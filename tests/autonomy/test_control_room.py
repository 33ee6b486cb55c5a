"""The control room (/autonomy/): what each principal sees and may change there, through the same services
and rules as the API; refusals are shown on the page with their status, never a 500."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.utils import timezone

from access.models import AuditEvent
from access.services import strategy_grant
from autonomy import selectors, services
from autonomy.conditions import DriftFacts
from autonomy.models import (
    Alert,
    BudgetUsage,
    ControlEvent,
    Position,
    StrategyTradingState,
    SymbolControl,
    SymbolDrift,
)
from tests.access.factories import StrategyFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/autonomy/"
STATE_URL = "/autonomy/control/trading-state/"
LEAN_URL = "/autonomy/control/lean-lane/"
SYMBOL_URL = "/autonomy/control/symbols/"


def login(*roles: str, name: str | None = None, superuser: bool = False, csrf: bool = False) -> Client:
    user = UserFactory(username=name or f"{'-'.join(roles) or 'viewer'}-user", roles=list(roles))
    if superuser:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    client.user = user
    return client


def html(response) -> str:
    return response.content.decode()


def dialog_buttons(page: str, dialog: str) -> list[str]:
    return re.findall(rf'data-dialog="{dialog}"\s+data-fill=\'([^\']*)\'', page)


# --- Seeing ------------------------------------------------------------------------------------------

def test_the_control_room_shows_state_lane_budgets_strategies_symbols_positions_and_events():
    strategy = StrategyFactory(name="macd_rsi")
    services.trading_state_set(state="REDUCING", reason="lag 700 s", actor="ops")
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="ops", strategy="macd_rsi")
    services.lean_lane_set(enabled=False, reason="runner upgrade", actor="ops")
    services.symbol_mode_set(symbol="NVDA", mode="canary", reason="earnings", actor="ops",
                             caps={"max_qty_per_order": "5", "max_notional_per_day": "25000"}, lean_allowed=False)
    Position.objects.create(strategy=strategy, symbol="NVDA", qty=D("10"), avg_entry_price=D("101.25"))
    services.positions_reconcile(facts=[DriftFacts("NVDA", ours=D("10"), broker=D("12"), in_flight=D("0"))])

    page = html(login().get(URL))

    assert "<h1>Control room</h1>" in page
    assert 'data-state="REDUCING"' in page and "lag 700 s" in page
    assert "runner upgrade" in page and "Enable LEAN" not in page  # a viewer changes nothing
    row = re.search(r'<tr data-strategy="macd_rsi">(.*?)</tr>', page, re.S).group(1)
    assert "HALTED" in row and "drawdown 8%" in row
    symbol = re.search(r'<tr data-symbol="NVDA">(.*?)</tr>', page, re.S).group(1)
    assert "canary" in symbol and "earnings" in symbol and ">5<" in symbol and ">25000<" in symbol
    assert "not allowed" in symbol
    assert "1 with unexplained drift" in page and '<td class="num drift">2</td>' in page
    for budget in ("daily_realized_loss", "gross_notional", "order_count", "llm_tokens"):
        assert f'data-budget="{budget}"' in page
    assert page.count("<tr data-event=") == 4
    assert "<code>state</code>: <span class=\"before\">ACTIVE</span> → <span class=\"after\">REDUCING</span>" in page
    assert not dialog_buttons(page, "state-dialog") and not dialog_buttons(page, "symbol-dialog")


def test_budget_gauges_show_limit_use_and_breach(settings):
    settings.AUTONOMY_BUDGETS = {**settings.AUTONOMY_BUDGETS, "order_count": {"limit": 10, "on_breach": "HALTED"}}
    services.budget_use(name="order_count", amount=D("4"), actor="test")
    page = html(login().get(URL))
    gauge = re.search(r'data-budget="order_count">(.*?)</li>', page, re.S).group(1)
    assert "4 / 10" in gauge and 'value="40.0"' in gauge and "breached" not in gauge

    services.budget_use(name="order_count", amount=D("7"), actor="test")
    page = html(login(name="second").get(URL))
    gauge = re.search(r'data-budget="order_count">(.*?)</li>', page, re.S).group(1)
    assert "11 / 10" in gauge and 'value="100.0"' in gauge and "breached → HALTED" in gauge
    assert BudgetUsage.objects.get(name="order_count").breached_at is not None
    assert 'data-state="HALTED"' in page  # the breach moved trading


def test_an_operator_sees_moves_for_the_strategies_they_operate_only():
    StrategyFactory(name="mine")
    StrategyFactory(name="theirs")
    client = login("operator", name="olga")
    strategy_grant(user=client.user, strategy_name="mine", perm="operate_strategy")
    fills = dialog_buttons(html(client.get(URL)), "state-dialog")
    assert '{"strategy": "", "state": "HALTED"}' in fills  # the global state
    assert '{"strategy": "mine", "state": "HALTED"}' in fills
    assert not [f for f in fills if '"theirs"' in f]


def test_an_agent_is_offered_only_stricter_states():
    services.trading_state_set(state="REDUCING", reason="lag", actor="ops")
    fills = dialog_buttons(html(login("agent").get(URL)), "state-dialog")
    assert fills == ['{"strategy": "", "state": "HALTED"}']


# --- Changing the trading state ----------------------------------------------------------------------

def test_an_operator_halts_and_resumes_trading_through_the_page():
    client = login("operator", name="olga")
    response = client.post(STATE_URL, {"state": "HALTED", "reason": "drawdown 8%", "strategy": ""})
    assert response.status_code == 302 and response["Location"] == URL
    assert selectors.trading_state_get().trading_state == "HALTED"
    event = ControlEvent.objects.get()
    assert (event.kind, event.scope, event.actor, event.via, event.reason) == (
        "trading_state", "global", "olga", "page", "drawdown 8%")
    assert event.before["state"] == "ACTIVE" and event.after["state"] == "HALTED"

    page = html(client.get(URL))
    assert "Trading globally is now HALTED." in page
    assert '"state": "ACTIVE"' in page  # the operator is offered to resume

    client.post(STATE_URL, {"state": "ACTIVE", "reason": "drawdown understood", "strategy": ""})
    assert selectors.trading_state_get().trading_state == "ACTIVE"
    audit = AuditEvent.objects.filter(action="trading_state_set", via="page").order_by("id")
    assert [a.outcome for a in audit] == ["ok"] * audit.count() and audit.count() >= 2


def test_an_agent_cannot_lift_a_halt_and_sees_why():
    services.trading_state_set(state="HALTED", reason="drawdown 8%", actor="ops")
    client = login("agent", name="lane-7")
    response = client.post(STATE_URL, {"state": "ACTIVE", "reason": "all good now", "strategy": ""})
    assert response.status_code == 403
    page = html(response)
    assert "agent_forbidden" in page and "lifting a halt needs an operator" in page
    assert "<h1>Control room</h1>" in page and 'role="alert"' in page
    assert selectors.trading_state_get().trading_state == "HALTED"
    assert ControlEvent.objects.count() == 1
    refusal = AuditEvent.objects.filter(path=STATE_URL).latest("id")
    assert (refusal.outcome, refusal.status_code, refusal.details["error_code"]) == ("refused", 403, "agent_forbidden")

    assert client.post(STATE_URL, {"state": "HALTED", "reason": "still bad", "strategy": ""}).status_code == 302


def test_a_change_without_a_reason_is_refused_with_a_clear_message_and_nothing_written():
    client = login("operator")
    response = client.post(STATE_URL, {"state": "HALTED", "reason": "   ", "strategy": ""})
    assert response.status_code == 400
    page = html(response)
    assert "A reason is required for every control change." in page and "<code>reason</code>" in page
    assert selectors.trading_state_get().trading_state == "ACTIVE"
    assert not ControlEvent.objects.exists()
    assert AuditEvent.objects.filter(path=STATE_URL).latest("id").outcome == "invalid"


def test_bad_input_is_a_400_on_the_page_never_a_500():
    client = login("operator")
    for body, field in (({"state": "PAUSED", "reason": "x"}, "state"),
                        ({"state": "HALTED", "reason": "x", "strategy": "no such; drop"}, "strategy")):
        response = client.post(STATE_URL, body)
        assert response.status_code == 400 and f"<code>{field}</code>" in html(response)
    response = login(superuser=True, name="root").post(STATE_URL, {"state": "HALTED", "reason": "x",
                                                                   "strategy": "ghost"})
    assert response.status_code == 400 and "unknown_strategy" in html(response)
    assert client.get(STATE_URL).status_code == 405
    assert not ControlEvent.objects.exists()


def test_an_operator_changes_only_the_strategies_they_operate():
    StrategyFactory(name="mine")
    StrategyFactory(name="theirs")
    client = login("operator", name="olga")
    strategy_grant(user=client.user, strategy_name="mine", perm="operate_strategy")

    response = client.post(STATE_URL, {"state": "HALTED", "reason": "not mine", "strategy": "theirs"})
    assert response.status_code == 403 and "strategy_out_of_scope" in html(response)
    assert not StrategyTradingState.objects.exists()

    response = client.post(STATE_URL, {"state": "REDUCING", "reason": "slippage", "strategy": "mine"})
    assert response.status_code == 302
    row = StrategyTradingState.objects.get()
    assert (row.strategy.name, row.state, row.reason) == ("mine", "REDUCING", "slippage")
    event = ControlEvent.objects.get()
    assert (event.kind, event.scope, event.before["state"], event.after["state"]) == (
        "strategy_state", "strategy:mine", "ACTIVE", "REDUCING")


def test_principals_without_an_operating_role_change_nothing():
    for roles in ((), ("researcher",), ("auditor",), ("approver",)):
        client = login(*roles, name=f"u-{'-'.join(roles) or 'none'}")
        for url, body in ((STATE_URL, {"state": "HALTED", "reason": "x"}),
                          (LEAN_URL, {"enabled": "false", "reason": "x"}),
                          (SYMBOL_URL, {"symbol": "NVDA", "mode": "disabled", "reason": "x"})):
            response = client.post(url, body)
            assert response.status_code == 403, (roles, url)
            assert "Your roles do not allow this action." in html(response)
    assert not ControlEvent.objects.exists()


def test_posts_need_the_csrf_token():
    client = login("operator", csrf=True)
    assert client.post(STATE_URL, {"state": "HALTED", "reason": "no token"}).status_code == 403
    assert selectors.trading_state_get().trading_state == "ACTIVE"
    page = html(client.get(URL))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(STATE_URL, {"state": "HALTED", "reason": "with token", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert selectors.trading_state_get().trading_state == "HALTED"


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().post(STATE_URL, {"state": "HALTED", "reason": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert selectors.trading_state_get().trading_state == "ACTIVE"


# --- LEAN lane -------------------------------------------------------------------------------------

def test_the_lean_switch_through_the_page(settings):
    client = login("operator", name="olga")
    assert client.post(LEAN_URL, {"enabled": "false", "reason": "runner upgrade"}).status_code == 302
    snapshot = selectors.trading_state_get()
    assert (snapshot.lean_enabled, snapshot.lean_disabled_reason) == (False, "runner upgrade")
    assert "Enable LEAN…" in html(client.get(URL))

    agent = login("agent")
    response = agent.post(LEAN_URL, {"enabled": "true", "reason": "looks fine"})
    assert response.status_code == 403 and "Agents may disable the LEAN lane, never enable it" in html(response)
    assert selectors.trading_state_get().lean_enabled is False

    refused = client.post(LEAN_URL, {"enabled": "true", "reason": "runner upgraded"})  # Phase D: not ready yet
    assert refused.status_code == 422 and "readiness_not_met" in html(refused)
    assert "readiness scorecard" in html(refused) and selectors.trading_state_get().lean_enabled is False

    settings.READINESS_PHASE_D = False
    assert client.post(LEAN_URL, {"enabled": "true", "reason": "runner upgraded"}).status_code == 302
    assert selectors.trading_state_get().lean_enabled is True
    event = ControlEvent.objects.filter(kind="lean_lane").latest("id")
    assert event.before["enabled"] is False and event.after["enabled"] is True and event.via == "page"


def test_an_operator_sets_a_symbols_mode_caps_and_lean_entry():
    client = login("operator", name="olga")
    response = client.post(SYMBOL_URL, {"symbol": "nvda", "mode": "canary", "health_reason": "earnings week",
                                        "max_qty_per_order": "5", "max_notional_per_order": "",
                                        "max_notional_per_day": "25000.50", "lean_allowed": "false",
                                        "reason": "earnings"})
    assert response.status_code == 302
    row = SymbolControl.objects.get()
    assert (row.symbol, row.mode, row.health_reason, row.max_qty_per_order, row.max_notional_per_order,
            row.max_notional_per_day, row.lean_allowed) == ("NVDA", "canary", "earnings week", D("5"), None,
                                                            D("25000.5"), False)
    event = ControlEvent.objects.get()
    assert event.before["mode"] == "enabled" and event.after["mode"] == "canary" and event.via == "page"

    page = html(client.get(URL))
    edit = re.search(r'data-lock="symbol"\s+data-fill="([^"]*)"', page).group(1)
    assert "&quot;symbol&quot;: &quot;NVDA&quot;" in edit and "&quot;max_qty_per_order&quot;: &quot;5&quot;" in edit

    # the dialog posts every cap: an emptied one is removed; an unchanged LEAN entry stays
    client.post(SYMBOL_URL, {"symbol": "NVDA", "mode": "enabled", "max_qty_per_order": "",
                             "max_notional_per_day": "25000.5", "lean_allowed": "", "reason": "earnings done"})
    row.refresh_from_db()
    assert (row.mode, row.health_reason, row.max_qty_per_order, row.lean_allowed) == (
        "enabled", "earnings done", None, False)


def test_bad_symbol_input_names_the_field():
    client = login("operator")
    for body, field in (({"symbol": "NVDA", "mode": "canary", "max_qty_per_order": "-1", "reason": "x"},
                         "max_qty_per_order"),
                        ({"symbol": "NVDA", "mode": "canary", "max_qty_per_order": "lots", "reason": "x"},
                         "max_qty_per_order"),
                        ({"symbol": "NV DA!", "mode": "canary", "reason": "x"}, "symbol"),
                        ({"symbol": "NVDA", "mode": "sleepy", "reason": "x"}, "mode")):
        response = client.post(SYMBOL_URL, body)
        assert response.status_code == 400, body
        assert f"<code>{field}</code>" in html(response)
    assert not SymbolControl.objects.exists()


def test_agents_do_not_edit_symbols_on_the_page():
    """``PUT /api/v1/autonomy/symbols/{symbol}`` is for operators; so is the page's door."""
    response = login("agent").post(SYMBOL_URL, {"symbol": "NVDA", "mode": "disabled", "reason": "x"})
    assert response.status_code == 403
    assert not SymbolControl.objects.exists()


def test_the_symbol_grid_filters_by_text_and_mode_and_pages():
    for n in range(60):
        services.symbol_mode_set(symbol=f"S{n:03d}", mode="canary" if n % 2 else "enabled",
                                 reason="wide spreads" if n == 7 else "routine", actor="ops")
    client = login()
    page = html(client.get(URL))
    assert page.count("<tr data-symbol=") == 50
    assert "sym_page=2#sym_page" in page
    page2 = html(client.get(URL, {"sym_page": 2}))
    assert page2.count("<tr data-symbol=") == 10 and 'data-symbol="S059"' in page2

    page = html(client.get(URL, {"q": "spreads"}))
    assert re.findall(r'<tr data-symbol="(\w+)"', page) == ["S007"]
    page = html(client.get(URL, {"q": "S01", "mode": "canary"}))
    assert re.findall(r'<tr data-symbol="(\w+)"', page) == ["S011", "S013", "S015", "S017", "S019"]
    assert "No symbol matches the filters." in html(client.get(URL, {"q": "nothing-like-it"}))
    # a bad filter value is ignored, not a 500
    assert client.get(URL, {"mode": "sleepy", "sym_page": "x"}).status_code == 200


def test_control_events_are_paginated_newest_first_and_keep_the_filters():
    for n in range(30):
        services.symbol_mode_set(symbol="NVDA", mode="disabled" if n % 2 else "canary", reason=f"change {n}",
                                 actor="ops")
    client = login()
    page = html(client.get(URL, {"q": "NV"}))
    assert page.count("<tr data-event=") == 25
    assert '<td class="text">change 29</td>' in page and '<td class="text">change 4</td>' not in page
    older = re.search(r'href="([^"]*ev_page=2[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "q=NV" in older
    page = html(client.get(older))
    assert page.count("<tr data-event=") == 5 and '<td class="text">change 0</td>' in page


def test_a_failed_post_keeps_the_filters_and_pages_it_came_from():
    client = login("operator")
    response = client.post(STATE_URL, {"state": "HALTED", "reason": "", "back": "q=NV&mode=canary&evil=1"})
    page = html(response)
    assert 'name="q" value="NV"' in page and 'name="back" value="q=NV&amp;mode=canary"' in page
    response = client.post(STATE_URL, {"state": "HALTED", "reason": "ok", "back": "q=NV&mode=canary&evil=1"})
    assert response["Location"] == f"{URL}?q=NV&mode=canary"


def test_the_page_reads_a_fixed_number_of_queries_however_many_rows():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login("operator", name="olga")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    strategy = StrategyFactory(name="s-0")
    strategy_grant(user=client.user, strategy_name=strategy.name, perm="operate_strategy")
    services.trading_state_set(state="REDUCING", reason="r", actor="ops", strategy=strategy)  # raises an alert
    services.symbol_mode_set(symbol="A0", mode="canary", reason="r", actor="ops")
    services.heartbeat_record(source="lane", symbol="A0", observed_at=timezone.now(), actor="lane")
    Position.objects.create(strategy=strategy, symbol="A0", qty=D("1"), avg_entry_price=D("1"))
    queries()  # warm the caches (content types, permissions)
    few = queries()
    for n in range(1, 20):
        strategy = StrategyFactory(name=f"s-{n}")
        strategy_grant(user=client.user, strategy_name=strategy.name, perm="operate_strategy")
        services.trading_state_set(state="REDUCING", reason="r", actor="ops", strategy=strategy)
        services.symbol_mode_set(symbol=f"A{n}", mode="disabled", reason="r", actor="ops")
        services.heartbeat_record(source="lane", symbol=f"A{n}", observed_at=timezone.now(), actor="lane")
        services.alert_raise(dedup_key=f"k{n}", severity="warning", title=f"alert {n}")
        Position.objects.create(strategy=strategy, symbol=f"A{n}", qty=D("1"), avg_entry_price=D("1"))
        SymbolDrift.objects.create(symbol=f"A{n}", ours_qty=D("1"), broker_qty=D("2"), drift=D("1"),
                                   changed_at=timezone.now())
    assert queries() == few


def test_event_changes_list_only_what_changed_in_a_stable_order():
    changes = selectors.event_changes({"mode": "enabled", "caps": None, "lean_allowed": None},
                                      {"mode": "canary", "caps": None, "lean_allowed": False, "new": "x"})
    assert [(c.key, c.before, c.after) for c in changes] == [
        ("mode", "enabled", "canary"), ("lean_allowed", None, False), ("new", None, "x")]
    assert selectors.event_changes({}, {}) == []


# --- Alerts and heartbeats ---------------------------------------------------------------------------

def test_open_alerts_are_listed_and_an_operator_acknowledges_one():
    critical = services.alert_raise(dedup_key="lean_circuit", severity="critical", title="LEAN circuit open")
    warning = services.alert_raise(dedup_key="stale_signals", severity="warning", title="Signals are stale")
    gone = services.alert_raise(dedup_key="old", severity="critical", title="Long gone")
    services.alert_resolve(alert_id=gone.pk, actor="ops")

    viewer = html(login().get(URL))
    assert re.findall(r'<tr data-alert="(\d+)"', viewer) == [str(critical.pk), str(warning.pk)]
    assert "Long gone" not in viewer.split('id="al_page"')[1].split("</section>")[0]
    assert 'data-dialog="alert-dialog"' not in viewer
    response = login(name="nosy").post(f"/autonomy/control/alerts/{critical.pk}/acknowledge/", {"comment": "mine"})
    assert response.status_code == 403

    client = login("operator", name="olga")
    page = html(client.get(URL))
    assert f'data-action="/autonomy/control/alerts/{critical.pk}/acknowledge/"' in page
    response = client.post(f"/autonomy/control/alerts/{critical.pk}/acknowledge/",
                           {"comment": "looking at the runner", "back": "ev_page=1"})
    assert response.status_code == 302 and response["Location"] == f"{URL}?ev_page=1"
    critical.refresh_from_db()
    assert (critical.status, critical.acknowledged_by, critical.acknowledge_comment) == (
        "acknowledged", "olga", "looking at the runner")
    page = html(client.get(URL))
    row = re.search(rf'<tr data-alert="{critical.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "acknowledged" in row and "olga: looking at the runner" in row and "Acknowledge…" not in row
    assert f"Alert #{critical.pk} acknowledged." in page

    again = client.post(f"/autonomy/control/alerts/{critical.pk}/acknowledge/", {"comment": ""})
    assert again.status_code == 409 and "alert_not_open" in html(again)
    missing = client.post("/autonomy/control/alerts/999999/acknowledge/", {"comment": ""})
    assert missing.status_code == 404 and "<h1>Control room</h1>" in html(missing)
    assert Alert.objects.get(pk=warning.pk).status == "open"


def test_heartbeat_freshness_shows_the_stalest_sources_against_the_lag_threshold(settings):
    settings.AUTONOMY_MARKET_SESSION = "always"
    page = html(login().get(URL))
    assert "no heartbeat yet" in page
    now = timezone.now()
    services.heartbeat_record(source="lane-a", observed_at=now - timedelta(seconds=30), actor="lane-a")
    services.heartbeat_record(source="lane-b", symbol="nvda", observed_at=now - timedelta(seconds=900),
                              actor="lane-b")
    for _ in range(3):
        services.heartbeat_record(source="lane-c", observed_at=now - timedelta(seconds=5), status="failed",
                                  actor="lane-c")

    page = html(login(name="second").get(URL))
    panel = page.split('id="heartbeats"')[1].split("</section>")[0]
    assert "1 of 3 stale" in panel and "1 failing" in panel and "market in session" in panel
    assert re.findall(r'data-source="([^"]+)"', panel) == ["lane-b/NVDA", "lane-a", "lane-c"]
    stale = re.search(r'<tr class="stale" data-source="lane-b/NVDA">(.*?)</tr>', panel, re.S).group(1)
    assert "15 min" in stale
    assert '<tr class="stale" data-source="lane-c">' in panel  # three failed cycles in a row
    assert "stale at 600 s or more" in panel
