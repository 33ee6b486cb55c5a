"""What an operator sees in a real browser: log in, filter runs, open a run, charts drawn.

Drives Debian's Chromium through Playwright; skipped (with the reason) where it is not installed.
"""
import pytest

from tests.browser import ARGS, CHROMIUM, MARKS

pytestmark = MARKS


@pytest.fixture
def page(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def runs(transactional_db):
    """The user and the runs, stored before Playwright starts its event loop in this thread."""
    from django.contrib.auth import get_user_model

    from tests.ledger.factories import ArtifactFactory, RunFactory

    get_user_model().objects.create_user("olga", password="a-long-password-1")
    RunFactory(body=ArtifactFactory(run_id="wf-browser-pass", status="passed"))
    RunFactory(body=ArtifactFactory(run_id="wf-browser-fail", status="failed"))


@pytest.mark.django_db(transaction=True)
def test_operator_logs_in_filters_runs_and_sees_charts(runs, page, live_server):
    page.goto(f"{live_server.url}/research/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", "a-long-password-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/research/")
    assert page.locator("text=wf-browser-fail").count() == 1

    page.select_option("select[name=status]", "passed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**status=passed**")
    assert page.locator("text=wf-browser-pass").count() == 1
    assert page.locator("text=wf-browser-fail").count() == 0

    page.click("text=wf-browser-pass")
    page.wait_for_selector(".chart .main-svg")  # drawn by plotly.js, served from our static files
    assert page.locator(".chart .main-svg").count() >= 3
    assert "Net P&L by fold" in page.content()
