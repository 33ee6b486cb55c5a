"""The autonomy page and the admin's halt confirmation in a real browser at desktop and phone width
(screenshots in var/screenshots/)."""
from __future__ import annotations

import pytest

from tests.promotions.test_browser import ARGS, CHROMIUM, SHOTS, pytestmark  # noqa: F401 - the browser marks


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
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "olga")
            page.fill("input[name=password]", "a-long-password-1")
            page.click("button[type=submit]")
            page.wait_for_url("**/")
            page.goto(f"{live_server.url}/autonomy/")
            assert page.locator("h1").count() == 1 and "earnings week" in page.content()
            page.screenshot(path=str(SHOTS / f"autonomy-index-{width}.png"), full_page=True)
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
