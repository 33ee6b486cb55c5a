"""The control room in a real browser: an operator halts trading and lifts the halt through the confirmation
dialog, at desktop and phone width; the admin's halt confirmation (screenshots in var/screenshots/)."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, SHOTS, log_in

pytestmark = MARKS
PASSWORD = "correct horse battery staple"


def _seed() -> None:
    """A control room with something in every section."""
    from django.utils import timezone

    from autonomy import services
    from autonomy.models import Position, PositionReconciliation, SymbolDrift
    from tests.access.factories import StrategyFactory

    strategies = [StrategyFactory(name=name) for name in ("macd_rsi", "mean_reversion_intraday_v2")]
    services.trading_state_set(state="REDUCING", reason="slippage over 30 bps for an hour", actor="ops",
                               strategy="mean_reversion_intraday_v2")
    services.symbol_mode_set(symbol="NVDA", mode="canary", reason="earnings week: small orders only", actor="ops",
                             caps={"max_qty_per_order": "5", "max_notional_per_order": "2500",
                                   "max_notional_per_day": "25000"}, lean_allowed=False)
    services.symbol_mode_set(symbol="TSLA", mode="disabled", reason="halted at the exchange", actor="ops")
    services.symbol_mode_set(symbol="BRK.B", mode="enabled", reason="allowlisted for LEAN", actor="ops",
                             lean_allowed=True)
    services.budget_use(name="order_count", amount=D("120"), actor="test")
    now = timezone.now()
    services.heartbeat_record(source="momentum-lane", observed_at=now - timedelta(seconds=20), actor="lane")
    services.heartbeat_record(source="pairs-lane", symbol="NVDA", observed_at=now - timedelta(seconds=1500),
                              actor="lane")
    services.alert_raise(dedup_key="route_concentration", severity="warning",
                         title="NVDA takes 62% of today's notional", evidence={"share": "0.62"})
    Position.objects.create(strategy=strategies[0], symbol="NVDA", qty=D("10"), avg_entry_price=D("101.25"))
    Position.objects.create(strategy=strategies[1], symbol="AAPL", qty=D("-3.5"), avg_entry_price=D("189.1"))
    PositionReconciliation.objects.create(at=now, symbols=2, unexplained=1, changed=2, actor="system:reconcile")
    for symbol, ours, broker, drift in (("NVDA", "10", "12", "2"), ("AAPL", "-3.5", "-3.5", "0")):
        SymbolDrift.objects.create(symbol=symbol, ours_qty=D(ours), broker_qty=D(broker), drift=D(drift),
                                   changed_at=now)


def _confirm(page, opener: str, reason: str) -> None:
    page.click(opener)
    dialog = page.locator("dialog#state-dialog")
    assert dialog.is_visible()
    dialog.locator("textarea[name=reason]").fill(reason)
    with page.expect_navigation():
        dialog.locator("button[type=submit]").click()


@pytest.mark.django_db(transaction=True)
def test_operator_trips_and_clears_a_halt_through_the_dialog(live_server, monkeypatch, settings):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    settings.AUTONOMY_MARKET_SESSION = "always"
    from playwright.sync_api import sync_playwright

    from autonomy import selectors
    from autonomy.models import ControlEvent
    from tests.access.factories import UserFactory

    UserFactory(username="olga", roles=["operator"])
    _seed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/autonomy/")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/autonomy/")

        # Cancel closes the dialog and changes nothing.
        page.click("#global-state button.move-halted")
        assert "Move global trading from ACTIVE to HALTED." in page.locator("#state-dialog [data-summary]").inner_text()
        page.click("#state-dialog button[data-close]")
        assert not page.locator("dialog#state-dialog").is_visible()
        assert selectors.trading_state_get().trading_state == "ACTIVE"

        _confirm(page, "#global-state button.move-halted", "drawdown 8% in the first hour")
        assert page.locator("#global-state .badge.state").inner_text() == "HALTED"
        assert "Trading globally is now HALTED." in page.locator(".messages").inner_text()
        assert selectors.trading_state_get().trading_state == "HALTED"
        event = page.locator("table.events tbody tr").first
        assert "drawdown 8% in the first hour" in event.inner_text()
        assert event.locator(".before").first.inner_text() == "ACTIVE"
        assert event.locator(".after").first.inner_text() == "HALTED"
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(SHOTS / f"autonomy-control-room-halted-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the control room is {overflow}px wider than {width}px"

        # At phone width: open the dialog to lift the halt, look at it, confirm.
        page.click("#global-state button.move-active")
        page.locator("#state-dialog textarea[name=reason]").fill("drawdown explained: a stale price feed")
        page.screenshot(path=str(SHOTS / "autonomy-control-room-dialog-390.png"))
        box = page.locator("dialog#state-dialog").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        with page.expect_navigation():
            page.click("#state-dialog button[type=submit]")
        assert page.locator("#global-state .badge.state").inner_text() == "ACTIVE"
        assert selectors.trading_state_get().trading_state == "ACTIVE"
        latest = ControlEvent.objects.order_by("-id")[0]
        assert (latest.actor, latest.via, latest.before["state"], latest.after["state"]) == (
            "olga", "page", "HALTED", "ACTIVE")
        event = page.locator("table.events tbody tr").first
        assert "drawdown explained" in event.inner_text() and event.locator(".after").first.inner_text() == "ACTIVE"

        # The symbol dialog opens filled from the row.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.click('tr[data-symbol="NVDA"] button')
        dialog = page.locator("dialog#symbol-dialog")
        assert dialog.locator("input[name=symbol]").input_value() == "NVDA"
        assert dialog.locator("input[name=symbol]").get_attribute("readonly") is not None
        assert dialog.locator("input[name=max_qty_per_order]").input_value() == "5"
        page.screenshot(path=str(SHOTS / "autonomy-control-room-symbol-dialog-1280.png"))
        page.set_viewport_size({"width": 390, "height": 900})
        page.screenshot(path=str(SHOTS / "autonomy-control-room-symbol-dialog-390.png"))
        page.click("#symbol-dialog button[data-close]")

        # Acknowledge the warning through its dialog.
        row = page.locator("table.alerts tr", has_text="NVDA takes 62%")
        row.locator("button").click()
        page.locator("#alert-dialog textarea[name=comment]").fill("moving half to AAPL")
        with page.expect_navigation():
            page.click("#alert-dialog button[type=submit]")
        row = page.locator("table.alerts tr", has_text="NVDA takes 62%")
        assert "acknowledged" in row.inner_text() and "olga: moving half to AAPL" in row.inner_text()
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_autonomy_page_and_admin_halt_at_1280_and_390(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from autonomy import services
    from autonomy.models import ControlEvent, TradingState
    from tests.access.factories import StrategyFactory

    StrategyFactory(name="breakout_momentum_long_name")
    services.trading_state_set(state="REDUCING", reason="slippage drift over the window", actor="ops",
                               strategy="breakout_momentum_long_name")
    services.symbol_mode_set(symbol="NVDA", mode="canary", reason="earnings week", actor="ops",
                             caps={"max_qty_per_order": "5", "max_notional_per_order": "25000.5",
                                   "max_notional_per_day": "100000"}, lean_allowed=False)
    services.budget_use(name="llm_tokens", amount=123456, actor="lane-7")
    get_user_model().objects.create_superuser("olga", password="a-long-password-1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = log_in(browser, live_server.url, width=width)
            page.goto(f"{live_server.url}/autonomy/")
            assert page.locator("h1").count() == 1 and "earnings week" in page.content()
            page.screenshot(path=str(SHOTS / f"autonomy-index-superuser-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"/autonomy/ is {overflow}px wider than {width}px"
            page.close()
        # the admin: halt behind the confirmation page that asks for a reason
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/admin/login/?next=/admin/autonomy/tradingstate/")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", "a-long-password-1")
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/autonomy/tradingstate/")
        page.check("input[name=_selected_action]")
        page.select_option("select[name=action]", "set_halted")
        page.click("button[name=index]")
        page.wait_for_selector("textarea[name=reason]")
        page.screenshot(path=str(SHOTS / "autonomy-admin-confirm-halt-1280.png"), full_page=True)
        page.fill("textarea[name=reason]", "desk closed for the afternoon")
        page.click("input[type=submit][value^='Yes']")
        page.wait_for_url("**/admin/autonomy/tradingstate/")
        assert "trading set to HALTED" in page.content()
        browser.close()
    assert TradingState.objects.get(id=1).state == "HALTED"
    assert ControlEvent.objects.filter(via="admin", reason="desk closed for the afternoon").exists()
