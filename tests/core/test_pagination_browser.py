"""The pager in a browser: page numbers, a gap, the total, at 1280 and 390 px without overflow."""
from __future__ import annotations

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, PASSWORD, SHOTS, log_in

pytestmark = MARKS


@pytest.mark.django_db(transaction=True)
def test_the_pager_reads_and_fits(live_server, monkeypatch):
    from django.contrib.auth import get_user_model

    from execution.models import ReconciliationRun

    get_user_model().objects.create_user("olga", password=PASSWORD)
    ReconciliationRun.objects.bulk_create([ReconciliationRun(trigger="schedule", checked=n) for n in range(400)])
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = log_in(browser, live_server.url, width=width)
            page.goto(f"{live_server.url}/executions/reconciliation/?page=4")
            pager = page.locator("nav.pager")
            assert "rows 151–200 of 400 · page 4 of 8" in pager.inner_text()
            assert page.locator("nav.pager [aria-current=page]").inner_text() == "4"
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=SHOTS / f"pager-reconciliation-{width}.png", full_page=True)
            pager.locator("a", has_text="8").click()
            page.wait_for_url("**page=8")
            assert "rows 351–400 of 400 · page 8 of 8" in page.locator("nav.pager").inner_text()
            page.close()
        browser.close()
