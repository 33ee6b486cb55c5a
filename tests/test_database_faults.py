"""While the database is unreachable every request answers 503 (never a 500, never a traceback),
wherever the failure surfaces: in a view, in token authentication, in the audit middleware, in the
session. Once it is back the server answers again by itself.

The database goes away through a relay the tests cut (connections dropped, new ones refused).
"""
from __future__ import annotations

import time

import pytest
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from access.services import principal_create
from strategies.models import Strategy
from strategies.services import strategy_register
from tests.dbfaults import DatabaseProxy, Gunicorn, QCluster, server_address


@pytest.fixture(scope="module")
def debug_server(django_db_setup, tmp_path_factory):
    """gunicorn as ``make serve`` runs it by default (DEBUG on), persistent connections, on the
    test database through a relay."""
    settings_dict = connection.settings_dict
    with DatabaseProxy(*server_address(settings_dict)) as proxy:
        server = Gunicorn({"DATABASE_URL": proxy.url(settings_dict), "DEBUG": "1", "DB_CONN_MAX_AGE": "600",
                           "DB_CONNECT_TIMEOUT_SECONDS": "2", "LOG_LEVEL": "WARNING"},
                          log=tmp_path_factory.mktemp("gunicorn") / "gunicorn.log").start()
        server.proxy = proxy
        try:
            yield server
        finally:
            server.stop()


def _is_503_envelope(response) -> bool:
    body = response.json()
    return (response.status_code == 503 and body["error"]["code"] == "database_unavailable"
            and "client_order_id" in body["error"]["message"] and int(response.headers["Retry-After"]) > 0)


def _is_503_page(response) -> bool:
    text = response.text
    return (response.status_code == 503 and response.headers["Content-Type"].startswith("text/html")
            and "database is unavailable" in text and "Traceback" not in text and "File " not in text
            and int(response.headers["Retry-After"]) > 0)


@pytest.mark.django_db(transaction=True)
def test_unreachable_database_answers_503_everywhere_then_recovers_by_itself(debug_server):
    Strategy.objects.filter(pk=strategy_register(name="s").pk, stage="shadow").update(stage="paper")  # it trades
    token = principal_create(name="outage-agent", roles=["agent"]).token
    browser = Client()
    browser.force_login(get_user_model().objects.create_user("outage-viewer", password="a-long-password-1"))
    session_cookie = {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}
    agent = requests.Session()
    agent.headers["Authorization"] = f"Token {token}"
    url = debug_server.url
    order = {"client_order_id": "outage-1", "strategy": "s", "symbol": "AAPL", "side": "buy", "qty": "1"}

    calls = {
        # token authentication queries before any view code runs
        "token GET": lambda: agent.get(f"{url}/api/v1/access/me", timeout=30),
        "token POST": lambda: agent.post(f"{url}/api/v1/trading/orders", json=order, timeout=30),
        # a browser page: the session and its user are loaded from the database
        "page GET": lambda: requests.get(f"{url}/executions/", cookies=session_cookie, timeout=30),
        # a state-changing page request: the audit middleware looks at the user before the view
        "page POST": lambda: requests.post(f"{url}/accounts/logout/", cookies=session_cookie, timeout=30),
        # the same for the API, with a browser session instead of a token
        "session API POST": lambda: requests.post(f"{url}/api/v1/trading/orders", json=order,
                                                  cookies=session_cookie, timeout=30),
    }
    assert calls["token GET"]().status_code == 200
    assert calls["page GET"]().status_code == 200

    debug_server.proxy.cut()
    try:
        for _ in range(3):  # persistent connections dropped, then refused, again and again
            answers = {name: call() for name, call in calls.items()}
            for name in ("token GET", "token POST", "session API POST"):
                assert _is_503_envelope(answers[name]), (name, answers[name].status_code, answers[name].text[:500])
            for name in ("page GET", "page POST"):
                assert _is_503_page(answers[name]), (name, answers[name].status_code, answers[name].text[:500])
    finally:
        debug_server.proxy.restore()

    # back: no restart, and not one more failure
    assert calls["token GET"]().status_code == 200
    assert calls["page GET"]().status_code == 200
    created = calls["token POST"]()
    assert created.status_code == 201, created.text[:300]
    assert calls["token POST"]().status_code == 200  # the same client_order_id: the stored row
    assert "Traceback" not in debug_server.log_tail(200_000)


@pytest.mark.parametrize("debug", [False, True])
def test_pages_answer_a_plain_503_page_without_traceback(db_proxy, settings, debug):
    settings.DEBUG = debug
    browser = Client(raise_request_exception=False)
    browser.force_login(get_user_model().objects.create_user("page-viewer", password="a-long-password-1"))
    assert browser.get("/executions/").status_code == 200
    db_proxy.cut()
    try:
        page = browser.get("/executions/")
        assert page.status_code == 503 and page["Retry-After"]
        text = page.content.decode()
        assert "database is unavailable" in text and "Traceback" not in text and "OperationalError" not in text
        api = browser.post("/api/v1/trading/orders", {"client_order_id": "x"}, content_type="application/json")
        assert api.status_code == 503 and api.json()["error"]["code"] == "database_unavailable"
    finally:
        db_proxy.restore()
    assert browser.get("/executions/").status_code == 200


def _task_result(task_id: str, timeout: float):
    from django_q.tasks import fetch

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = fetch(task_id)
        if task is not None:
            return task
        time.sleep(0.5)
    return None


@pytest.mark.django_db(transaction=True)
def test_task_workers_serve_again_once_the_database_is_back(tmp_path):
    """django-q2 (ORM broker, persistent connections): the database goes away and comes back;
    the cluster runs the next task by itself, without a restart."""
    from django_q.tasks import async_task

    settings_dict = connection.settings_dict
    with DatabaseProxy(*server_address(settings_dict)) as proxy, QCluster(
            {"DATABASE_URL": proxy.url(settings_dict), "Q_WORKERS": "1", "DB_CONN_MAX_AGE": "600",
             "DB_CONNECT_TIMEOUT_SECONDS": "2", "LOG_LEVEL": "WARNING"}, log=tmp_path / "qcluster.log") as cluster:
        first = _task_result(async_task("tests.dbfaults.database_round_trip"), 120)
        assert first is not None and first.success, cluster.log_tail()
        proxy.cut()
        time.sleep(3)
        proxy.restore()
        second = _task_result(async_task("tests.dbfaults.database_round_trip"), 120)
        assert second is not None, cluster.log_tail()
        assert second.success and second.result == 1, second.result
