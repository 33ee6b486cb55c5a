"""Drill-down in a real browser, at desktop and phone width: executions list → an order's page → the outage
it fell in → another order that outage affected; the outage timeline's bar opens the outage; refused orders
filtered by code, and a bad date shown next to its field. Screenshots in var/screenshots/."""
from __future__ import annotations

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, PASSWORD, SHOTS, log_in

pytestmark = MARKS


def _seed(routed) -> None:
    """LEAN answers 500 (two orders fall back, the third opens an outage, the fourth goes to Alpaca by policy),
    a reconciliation run corrects one of them, and admission refuses three orders."""
    from django.contrib.auth import get_user_model

    from autonomy import services as autonomy
    from core.errors import ApplicationError
    from execution.models import Execution, ReconciliationDiscrepancy, ReconciliationRun
    from execution.services import order_submit
    from tests.execution.factories import OrderInputFactory

    get_user_model().objects.create_user("olga", password=PASSWORD)
    for n in range(1, 3):
        order_submit(data=OrderInputFactory(client_order_id=f"calm-{n}", symbol="MSFT"), actor="lane-7")
    routed.lean.set_fault("error")
    for n in range(1, 5):
        order_submit(data=OrderInputFactory(client_order_id=f"out-{n}"), actor="lane-7")
    run = ReconciliationRun.objects.create(trigger="schedule", checked=6, updated=1, discrepancy_count=1)
    ReconciliationDiscrepancy.objects.create(run=run, execution=Execution.objects.get(client_order_id="out-3"),
                                             kind="status_changed", adapter="alpaca", client_order_id="out-3",
                                             details={"before": "accepted", "after": "filled"})
    autonomy.trading_state_set(state="HALTED", reason="drawdown over 2% today", actor="ops")
    for cid, strategy in (("halted-1", "macd_rsi"), ("halted-2", "tsmom"), ("shadow-1", "never_promoted")):
        if cid == "shadow-1":
            autonomy.trading_state_set(state="ACTIVE", reason="drawdown reviewed", actor="ops")
        with pytest.raises(ApplicationError):
            order_submit(data=OrderInputFactory(client_order_id=cid, strategy=strategy), actor="lane-7")


WIDER = """(width) => [...document.querySelectorAll('body *')].filter(
  (el) => el.getBoundingClientRect().right > width + 1 && !el.closest('.table-scroll, .chart, pre')
).slice(0, 5).map((el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))"""


def _fits(page, width: int) -> None:
    """No horizontal overflow: wide tables scroll in their own box."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width, (page.url, page.evaluate(WIDER, width))


@pytest.mark.django_db(transaction=True)
def test_drill_down_from_the_list_to_an_outage_and_back_and_refused_orders(routed, live_server, monkeypatch):
    _seed(routed)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = log_in(browser, base, width=width)
            page.set_default_timeout(15_000)

            page.goto(f"{base}/executions/")
            _fits(page, width)
            page.screenshot(path=SHOTS / f"drill-executions-{width}.png", full_page=True)
            page.click("text=out-3")
            page.wait_for_selector("#attempts")
            assert page.locator("h1").inner_text().startswith("Order out-3")
            attempts = page.locator("#attempts tbody tr")
            assert attempts.count() == 2 and "lean_submit_http_500" in attempts.nth(0).inner_text()
            assert "accepted → filled" in page.locator("#reconciliation").inner_text()
            _fits(page, width)
            page.screenshot(path=SHOTS / f"drill-execution-{width}.png", full_page=True)

            page.click("#order-outage a")
            page.wait_for_url("**/executions/outages/*/")
            listed = page.locator("table tbody tr")
            assert listed.count() == 2
            assert "sent to Alpaca: the LEAN lane was disabled" in listed.nth(1).inner_text()
            _fits(page, width)
            page.screenshot(path=SHOTS / f"drill-outage-{width}.png", full_page=True)
            outage_url = page.url
            page.click("table tbody >> text=out-4")
            page.wait_for_selector("#attempts")
            assert "lean_lane_disabled" in page.locator("dl.facts").first.inner_text()
            assert page.locator("#order-outage a").get_attribute("href") in outage_url

            page.goto(f"{base}/executions/dashboards/", wait_until="domcontentloaded", timeout=60_000)
            bar = page.locator("#chart-outages g.trace.bars path").first
            bar.wait_for(timeout=60_000)
            page.screenshot(path=SHOTS / f"drill-dashboards-{width}.png", full_page=True)
            with page.expect_navigation():
                bar.click(force=True)
            assert page.url == outage_url

            page.goto(f"{base}/executions/")
            page.click("text=Refused orders")
            page.wait_for_url("**/executions/refused/")
            page.select_option("select[name=code]", "trading_halted")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**code=trading_halted**")
            rows = page.locator("table tbody tr")
            assert rows.count() == 2 and "shadow-1" not in page.locator("table").inner_text()
            _fits(page, width)
            page.screenshot(path=SHOTS / f"drill-refused-{width}.png", full_page=True)
            # the range picker's date input cannot hold "yesterday": a link or an edited address can
            page.goto(page.url + "&since=yesterday")
            page.wait_for_selector("#error-since")
            assert page.locator("#error-since").is_visible()
            assert "No refused order matches." not in page.content() and "halted-1" not in page.locator(
                "table").inner_text()
            _fits(page, width)
            page.screenshot(path=SHOTS / f"drill-refused-error-{width}.png", full_page=True)
            page.close()
        browser.close()
