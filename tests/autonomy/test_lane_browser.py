"""The lane in a real browser after real cycles (one that filed handoffs, an empty window, a deterministic
failure that paused the lane): the home tile and the lane page show what the API answers, fit 390 px and
1280 px, and an operator resumes the lane through the confirmation page (screenshots in var/screenshots/)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.autonomy import test_lane as lane_tests
from tests.autonomy.test_lane import NOW, run
from tests.browser import ARGS, CHROMIUM, MARKS, PASSWORD, SHOTS, log_in

pytestmark = MARKS
# the lane tests' fixtures
lane_settings, lenient_policy = lane_tests.lane_settings, lane_tests.lenient_policy
policies, signing_key = lane_tests.policies, lane_tests.signing_key
WIDTHS = (1280, 390)


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.django_db(transaction=True)
def test_the_lane_on_the_home_page_and_its_own_page(live_server, monkeypatch, lane_settings, lenient_policy):
    from django.contrib.auth import get_user_model

    from access.services import principal_create
    from autonomy.choices import LaneTrigger
    from autonomy.models import LaneState

    first = run(trigger=LaneTrigger.COMMAND).cycle
    assert first.status == "succeeded" and first.handoffs == 2
    assert run(now=NOW + timedelta(seconds=30)).cycle.status == "skipped"
    lane_settings.LANE_SYMBOLS = []
    failed = run(now=NOW + timedelta(minutes=5)).cycle
    assert run(now=failed.next_retry_at).cycle.status == "paused"
    principal_create(name="olga", roles=["operator"])
    user = get_user_model().objects.get(username="olga")
    user.set_password(PASSWORD)
    user.save()

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright
    from rest_framework.test import APIClient
    api = APIClient()
    api.force_authenticate(user)
    health = api.get("/api/v1/autonomy/lane").json()

    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in WIDTHS:
            page = log_in(browser, live_server.url, width=width)
            page.goto(f"{live_server.url}/")
            tile = page.locator("#tile-lane")
            assert tile.locator("[data-figure=lane-state]").inner_text() == "paused"
            assert tile.locator("[data-figure=lane-last]").inner_text() == f"#{health['last_cycle']['id']}"
            assert tile.locator("[data-figure=lane-streak]").inner_text() == str(health["no_signal_streak"])
            assert float(tile.locator("[data-figure=lane-signals]").inner_text()) == health["signals_per_cycle"]
            assert "deterministic failure 2 of 2" in tile.locator("[data-figure=lane-paused-reason]").inner_text()
            tile.screenshot(path=str(SHOTS / f"home-lane-tile-{width}.png"))
            page.screenshot(path=str(SHOTS / f"home-lane-{width}.png"), full_page=True)
            too_wide += [f"/ at {width}px"] if _overflow(page) > 0 else []

            tile.locator("h2 a").click()
            page.wait_for_url("**/autonomy/lane/")
            assert page.locator("[data-lane-paused]").is_visible()
            assert page.locator("[data-cycle]").count() == 3
            page.screenshot(path=str(SHOTS / f"lane-cycles-{width}.png"), full_page=True)
            too_wide += [f"lane at {width}px"] if _overflow(page) > 0 else []

            page.goto(f"{live_server.url}/autonomy/lane/cycles/{first.pk}/")
            assert page.locator("[data-stage]").count() == 5
            page.screenshot(path=str(SHOTS / f"lane-cycle-{width}.png"), full_page=True)
            too_wide += [f"cycle at {width}px"] if _overflow(page) > 0 else []

            page.goto(f"{live_server.url}/autonomy/lane/resume/")
            page.screenshot(path=str(SHOTS / f"lane-resume-{width}.png"), full_page=True)
            too_wide += [f"resume at {width}px"] if _overflow(page) > 0 else []
            if width == WIDTHS[-1]:
                page.fill("textarea[name=reason]", "LANE_SYMBOLS set again")
                page.click(".confirm-form button[type=submit]")
                page.wait_for_url("**/autonomy/lane/")
                assert page.locator("[data-figure=lane-state]").inner_text() == "running"
            page.close()
        browser.close()
    assert not too_wide, too_wide
    assert not LaneState.objects.get().paused
