"""The API root lists what is there; the docs send a logged-out browser to the login page and back."""
from __future__ import annotations

import pytest
from django.test import Client

from tests.access.factories import UserFactory
from tests.access.test_permission_matrix import API

pytestmark = pytest.mark.django_db

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("url", ["/api/v1/", "/api/v1"])
def test_the_root_lists_every_endpoint_for_an_agent(url, make_client):
    response = make_client("agent").get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["docs"] == "http://testserver/api/v1/docs/"
    assert body["schema"] == "http://testserver/api/v1/schema"
    listed = {e["path"]: e["methods"] for e in body["endpoints"]}
    assert listed["/api/v1/research/runs"] == ["GET", "POST"]
    assert listed["/api/v1/trading/orders"] == ["POST"]
    assert listed["/api/v1/promotions/<id:promotion_id>/approve"] == ["POST"]
    assert set(listed) == {"/api/v1/" + route for route in API if route}


def test_the_root_is_a_page_for_a_browser():
    client = Client()
    client.force_login(UserFactory(username="reader", roles=["auditor"]))
    response = client.get("/api/v1/", HTTP_ACCEPT=HTML)
    assert response.status_code == 200
    page = response.content.decode()
    assert "http://testserver/api/v1/docs/" in page and "/api/v1/trading/executions" in page


def test_the_root_answers_no_anonymous_agent(anon_client):
    response = anon_client.get("/api/v1/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/"])
def test_a_logged_out_browser_logs_in_and_comes_back(url):
    UserFactory(username="alice", password="correct horse battery staple", roles=["operator"])
    client = Client()
    response = client.get(url, HTTP_ACCEPT=HTML)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    login = client.post(response["Location"], {"username": "alice", "password": "correct horse battery staple"})
    assert login.status_code == 302 and login["Location"] == url
    page = client.get(url, HTTP_ACCEPT=HTML)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")


def test_the_docs_still_answer_an_agent_401(anon_client):
    response = anon_client.get("/api/v1/docs/", HTTP_ACCEPT="*/*")  # what curl sends
    assert response.status_code == 401


def test_a_bad_token_from_a_browser_is_still_401():
    response = Client().get("/api/v1/docs/", HTTP_ACCEPT=HTML, HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
