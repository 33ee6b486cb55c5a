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


def test_runs_page_has_page_numbers_and_a_total(browser):
    import re

    for i in range(55):
        RunFactory(body=ArtifactFactory(run_id=f"wf-page-{i:03d}", candidates=[]))
    first = browser.get("/research/").content.decode()
    shown = re.findall(r">(wf-page-\d{3})</a>", first)
    assert shown[0] == "wf-page-054" and len(shown) == 50 and "wf-page-004" not in shown
    assert "55 runs · page 1 of 2" in first and 'href="?page=2"' in first
    second = browser.get("/research/", {"page": "2"}).content.decode()
    assert re.findall(r">(wf-page-\d{3})</a>", second) == [f"wf-page-{i:03d}" for i in range(4, -1, -1)]
    assert "page 2 of 2" in second
    assert browser.get("/research/", {"page": "3"}).status_code == 404
    assert browser.get("/research/", {"page": "x"}).status_code == 404


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
