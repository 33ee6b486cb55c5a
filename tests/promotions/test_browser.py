"""The promotions pages in a real browser at desktop and phone width (screenshots in var/screenshots/)."""
from __future__ import annotations

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, SHOTS, log_in

pytestmark = MARKS


@pytest.mark.django_db(transaction=True)
def test_promotion_pages_render_without_overflow_at_1280_and_390(live_server, flow, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    promoted = flow.promote("paper")
    get_user_model().objects.create_user("olga", password="a-long-password-1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = {"pipeline": "/promotions/", "promotion": f"/promotions/{promoted['id']}/",
             "policies": "/promotions/policies/"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = log_in(browser, live_server.url, width=width)
            for name, path in pages.items():
                page.goto(f"{live_server.url}{path}")
                assert page.locator("h1").count() == 1, f"{path} did not render"
                if name == "promotion":
                    page.wait_for_selector(".chart .main-svg", state="attached")
                page.screenshot(path=str(SHOTS / f"promotions-{name}-{width}.png"), full_page=True)
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} is {overflow}px wider than {width}px"
            page.close()
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_readiness_page_at_1280_and_390(live_server, flow, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from autonomy.services import readiness_snapshot_take
    from autonomy.tasks import readiness_sweep, verify_audit_chain

    flow.promote("paper")
    verify_audit_chain()  # the worker's schedule: the scorecard shows the time of the newest verification
    readiness_sweep()  # once per period: the other two snapshots are taken directly
    for _ in range(2):
        readiness_snapshot_take()
    get_user_model().objects.create_user("olga", password="a-long-password-1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = log_in(browser, live_server.url, width=width)
            page.goto(f"{live_server.url}/autonomy/readiness/")
            assert page.locator("#criterion-promotion_replay_time .badge").inner_text() == "pass"
            chain = page.locator("#criterion-audit_chain_verified")
            assert chain.locator(".badge").inner_text() == "pass" and "verified at " in chain.inner_text()
            assert page.locator(".readiness-strip span").count() == 3
            page.screenshot(path=str(SHOTS / f"autonomy-readiness-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the readiness page is {overflow}px wider than {width}px"
            page.close()
        browser.close()
