import pytest

from tests.ledger.factories import ArtifactFactory, RunFactory

pytestmark = pytest.mark.django_db



def test_pages_need_login(client):
    response = client.get("/research/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_runs_page_uses_the_api_filters(browser):
    RunFactory(body=ArtifactFactory(run_id="wf-keep", status="passed"))
    RunFactory(body=ArtifactFactory(run_id="wf-drop", status="failed"))
    html = browser.get("/research/", {"status": "passed"}).content.decode()
    assert "wf-keep" in html and "wf-drop" not in html


def test_runs_page_paginates_by_keyset(browser):
    for i in range(55):
        RunFactory(body=ArtifactFactory(run_id=f"wf-page-{i:03d}", candidates=[]))
    first = browser.get("/research/").content.decode()
    assert "wf-page-054" in first and "wf-page-000" not in first and 'rel="next"' in first
    assert "rows 1–50 of 55 · page 1 of 2" in first
    import re
    before = re.search(r"before=(\d+)", first).group(1)
    second = browser.get("/research/", {"before": before, "page": 2}).content.decode()
    assert "wf-page-000" in second and "wf-page-054" not in second
    assert "rows 51–55 of 55 · page 2 of 2" in second


def test_run_detail_shows_charts_stress_and_fingerprints(browser):
    body = ArtifactFactory()
    RunFactory(body=body)
    html = browser.get(f"/research/runs/{body['run_id']}/").content.decode()
    assert body["dataset"]["fingerprint"] in html
    assert body["features"]["spec_hash"] in html
    assert "Net P&amp;L by fold" in html or "Net P&L by fold" in html
    assert "Max drawdown by fold" in html
    assert "Halt gap" in html
    assert "plotly.min.js" in html


def test_unknown_run_page_is_404(browser):
    assert browser.get("/research/runs/nope/").status_code == 404


def test_plotly_js_is_served_locally(browser):
    response = browser.get("/static/plotly/plotly.min.js")
    assert response.status_code == 200
