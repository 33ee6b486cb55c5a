"""Site-wide behaviour: authentication everywhere, the schema and docs, navigation."""
import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_schema_and_docs_need_authentication(anon_client):
    for path in ["/api/v1/schema", "/api/v1/schema/", "/api/v1/docs/"]:
        assert anon_client.get(path).status_code in (401, 403), path


@pytest.mark.smoke
def test_schema_lists_the_ledger_operations(make_client):
    response = make_client("agent").get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    import json

    paths = json.loads(response.content)["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/research/runs"])
    assert "get" in paths["/api/v1/research/runs/{run_id}"]


def test_docs_page_uses_local_assets(browser):
    html = browser.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_home_needs_login_and_shows_navigation(client):
    assert client.get("/").status_code == 302
    client.force_login(get_user_model().objects.create_user("nav", password="pw-12345678"))
    html = client.get("/").content.decode()
    for label in ["Research", "Promotions", "Executions", "Autonomy", "Log out"]:
        assert label in html
    import re

    nav = re.search(r"<nav aria-label=\"Main\">(.*?)</nav>", html, re.S).group(1)
    links = re.findall(r'href="([^"]+)"', nav)
    assert len(links) == len(set(links)), f"a navigation link is listed twice: {links}"
    for path in ["/autonomy/", "/autonomy/alerts/", "/autonomy/llm/"]:
        assert path in links
    active = client.get("/autonomy/llm/").content.decode()
    active_nav = re.search(r"<nav aria-label=\"Main\">(.*?)</nav>", active, re.S).group(1)
    assert re.findall(r'<a href="([^"]+)" class="active"', active_nav) == ["/autonomy/llm/"]


def test_login_page_has_csrf_and_logout_is_post_only(client):
    html = client.get("/accounts/login/").content.decode()
    assert "csrfmiddlewaretoken" in html
    client.force_login(get_user_model().objects.create_user("leaver", password="pw-12345678"))
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
