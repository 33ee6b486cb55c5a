"""In a real browser: sort the runs by Sharpe, open the best run's summary, compare two candidates;
at 1280 and 390 px, with no page wider than the screen."""
from __future__ import annotations

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, PASSWORD, SHOTS, log_in

pytestmark = [*MARKS, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def research(transactional_db):
    """The user and three runs of several candidates, stored before Playwright starts its event loop."""
    from django.contrib.auth import get_user_model

    from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, FoldFactory, RunFactory

    get_user_model().objects.create_user("olga", password=PASSWORD)

    def cand(cid, pnl, sharpe, **params):
        return CandidateArtifactFactory(candidate_id=cid, parameter_set=params, folds=[
            FoldFactory(index=i, net_pnl=f"{v:.2f}", sharpe=sharpe, max_drawdown=f"{20 + 3 * i:.2f}")
            for i, v in enumerate(pnl)])

    for run_id, sharpe in (("wf-brw-low", "0.40"), ("wf-brw-top", "2.10"), ("wf-brw-mid", "1.10")):
        RunFactory(body=ArtifactFactory(run_id=run_id, candidates=[
            cand(f"{run_id}-a", [12, -4, 9, 7, 3, 11], sharpe, lookback=20, z=1.5),
            cand(f"{run_id}-b", [5, 6, -2, 4, 8, 1], "0.30", lookback=60, z=2.5),
            cand(f"{run_id}-c", [-3, 2, 1, -5, 4, 0], "0.10", lookback=120, z=1.0)]))


@pytest.fixture
def chromium(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1280, 390])
def test_sort_by_sharpe_open_the_summary_compare_two(research, chromium, live_server, width):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = log_in(chromium, live_server.url, width=width)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/research/")
    page.click("th a.sort:has-text('Sharpe'):not(:has-text('Deflated'))")
    page.wait_for_url("**sort=-sharpe**")
    first = page.locator("table.runs tbody tr").first
    assert first.locator("td").nth(1).inner_text() == "wf-brw-top"
    assert _fits(page)
    page.screenshot(path=str(SHOTS / f"research-runs-{width}.png"), full_page=True)

    first.locator("td").nth(1).locator("a").click()
    page.wait_for_url("**/research/runs/wf-brw-top/")
    summary = page.locator("section.summary-card")
    assert "lookback=20, z=1.5" in summary.inner_text()
    assert "Impact ×3" in summary.inner_text()
    page.wait_for_selector(".chart .main-svg")
    assert "lookback=60, z=2.5" in page.locator(".chart").first.inner_text()  # the legend names parameters
    assert _fits(page)
    page.screenshot(path=str(SHOTS / f"research-run-{width}.png"), full_page=False)

    page.check("input[name=c][value='wf-brw-top-a']")
    page.check("input[name=c][value='wf-brw-top-b']")
    page.click("text=Compare selected")
    page.wait_for_url("**/research/compare/**")
    table = page.locator("table.compare").inner_text()
    assert "lookback=20, z=1.5" in table and "lookback=60, z=2.5" in table and "Impact ×3" in table
    page.wait_for_selector(".chart .main-svg")
    assert _fits(page)
    page.screenshot(path=str(SHOTS / f"research-compare-{width}.png"), full_page=True)

    page.goto(f"{live_server.url}/research/compare/?c=wf-brw-top-a")
    assert "Choose 2 to 4 candidates" in page.locator("p.error").inner_text()


def test_a_bad_bound_is_an_error_next_to_its_field(research, chromium, live_server):
    page = log_in(chromium, live_server.url, width=390)
    page.goto(f"{live_server.url}/research/")
    page.fill("input[name=pbo_max]", "2")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**pbo_max=2**")
    label = page.locator("label.invalid")
    assert label.count() == 1
    assert "less than or equal to 1" in label.inner_text() and label.locator("input[name=pbo_max]").count() == 1
    assert page.locator("table.runs").count() == 0  # no list that ignores the bound
    assert _fits(page)
    page.screenshot(path=str(SHOTS / "research-runs-invalid-390.png"), full_page=True)
