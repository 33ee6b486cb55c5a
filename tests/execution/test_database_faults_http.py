"""Bursts of orders through the API served as deployed (gunicorn, gthread workers, persistent
database connections) while the database goes away: its sessions terminated, or the server cut off
altogether and back, or the server itself restarted (the worktree's embedded server only).

Every client gets 201/200 or a 503 ``database_unavailable`` with Retry-After, never a 500; every
broker order ends with exactly one execution row; a retry with the same client_order_id returns
the stored row and places nothing; one reconciliation run leaves no row pending whose broker state
is known; the workers serve again by themselves once the database is back.
"""
from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
import requests
from django.db import connection

from access.services import principal_create
from execution.adapters import AlpacaAdapter, LeanAdapter
from execution.choices import Adapter, status_from_broker
from execution.fake_brokers import FakeBrokers
from execution.models import Execution
from execution.reconciliation import reconcile_run
from tests.dbfaults import (
    DatabaseProxy,
    Gunicorn,
    is_superuser,
    restart_command,
    server_address,
    terminate_backends,
)

BROKER_LATENCY = 0.15  # orders spend most of their time at the broker: a fault hits them there


@pytest.fixture(scope="module")
def module_fakes():
    with FakeBrokers(delay_seconds=1) as fakes:
        yield fakes


@pytest.fixture(scope="module")
def api_server(django_db_setup, module_fakes, tmp_path_factory):
    """gunicorn (2 gthread workers x 8 threads, DEBUG off, persistent connections with health
    checks) on the test database, through a relay the tests can cut."""
    settings_dict = connection.settings_dict
    with DatabaseProxy(*server_address(settings_dict)) as proxy:
        server = Gunicorn({
            "DATABASE_URL": proxy.url(settings_dict), "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
            "SECRET_KEY": "database-fault-tests-only-0123456789-abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "127.0.0.1", "DB_CONN_MAX_AGE": "600", "DB_CONNECT_TIMEOUT_SECONDS": "2",
            "TRADING_LEAN_RUNNER_URL": module_fakes.lean.url, "ALPACA_BASE_URL": module_fakes.alpaca.url,
            "ALPACA_API_KEY_ID": "k", "ALPACA_API_SECRET_KEY": "s", "TRADING_LEAN_RUNNER_TIMEOUT_SECONDS": "5",
            "ALPACA_TIMEOUT_SECONDS": "5", "API_TOKEN_RATE": "1000000/min", "LOG_LEVEL": "WARNING",
        }, log=tmp_path_factory.mktemp("gunicorn") / "gunicorn.log").start()
        server.proxy = proxy
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def brokers(module_fakes):
    module_fakes.reset()
    module_fakes.set_latency(BROKER_LATENCY)
    yield module_fakes
    module_fakes.set_latency(0)


def _order(session: requests.Session, url: str, cid: str) -> requests.Response:
    return session.post(f"{url}/api/v1/trading/orders", timeout=60, json={
        "client_order_id": cid, "strategy": "s", "symbol": "MSFT", "side": "buy", "qty": "1"})


def _burst(server: Gunicorn, token: str, prefix: str, *, orders: int, clients: int, fault, fault_after: int):
    """``orders`` client_order_ids from ``clients`` keep-alive clients, every tenth request a replay
    of an earlier id; ``fault()`` runs once ``fault_after`` answers are in, while orders are in flight."""
    sequence = itertools.count()
    answers: dict[str, list[requests.Response]] = defaultdict(list)
    lock = threading.Lock()
    halfway = threading.Event()
    count = {"answers": 0}

    def client():
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        while True:
            with lock:
                n = next(sequence)
            if n >= orders:
                return
            cid = f"{prefix}-{n - 5 if n % 10 == 9 else n}"
            response = _order(session, server.url, cid)
            with lock:
                answers[cid].append(response)
                count["answers"] += 1
                if count["answers"] >= fault_after:
                    halfway.set()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    assert halfway.wait(120), "the burst did not get going"
    fault_result = fault()
    for t in threads:
        t.join(180)
    return answers, fault_result


def _broker_orders(fakes, prefix: str) -> Counter:
    lean = requests.get(f"{fakes.lean.url}/v1/orders", params={"status": "all"}, timeout=30).json()["orders"]
    alpaca = requests.get(f"{fakes.alpaca.url}/v2/orders", params={"status": "all"}, timeout=30,
                          headers={"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}).json()
    return Counter(o["client_order_id"] for o in lean + alpaca if o["client_order_id"].startswith(prefix + "-"))


def _assert_503_envelope(response: requests.Response) -> None:
    body = response.json()
    assert body["error"]["code"] == "database_unavailable", body
    assert "client_order_id" in body["error"]["message"]
    assert int(response.headers["Retry-After"]) > 0


def _check_story(server: Gunicorn, fakes, token: str, prefix: str, answers: dict[str, list[requests.Response]]):
    statuses = Counter(r.status_code for rs in answers.values() for r in rs)
    assert set(statuses) <= {200, 201, 503}, statuses
    for responses in answers.values():
        for response in responses:
            if response.status_code == 503:
                _assert_503_envelope(response)
            else:
                assert response.json()["client_order_id"] in answers

    # every client that got a 503 retries with the same client_order_id (the database is back)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    for cid, responses in answers.items():
        if responses[-1].status_code == 503:
            retry = _order(session, server.url, cid)
            assert retry.status_code in (200, 201), (cid, retry.status_code, retry.text[:300])
            assert retry.json()["client_order_id"] == cid

    connection.close()  # this process's own session may have been terminated too
    at_brokers = _broker_orders(fakes, prefix)
    assert at_brokers and max(at_brokers.values()) == 1, "an order was placed twice"
    rows = {e.client_order_id: e for e in Execution.objects.filter(client_order_id__startswith=prefix + "-")}
    assert set(rows) == set(answers)  # every order the clients sent is stored, once (client_order_id is unique)
    assert set(at_brokers) <= set(rows)  # every broker order has its execution row

    # replaying everything returns the stored rows and places nothing
    for cid in answers:
        replay = _order(session, server.url, cid)
        assert replay.status_code == 200 and replay.json()["id"] == rows[cid].pk
    assert _broker_orders(fakes, prefix) == at_brokers

    fakes.set_latency(0)
    unsettled_before = [cid for cid in at_brokers if rows[cid].status in ("pending_submit", "pending")]
    reconcile_run(trigger="test", brokers={
        Adapter.LEAN: LeanAdapter(fakes.lean.url, timeout_seconds=5),
        Adapter.ALPACA: AlpacaAdapter("k", "s", url_override=fakes.alpaca.url, timeout_seconds=5)})
    rows = {e.client_order_id: e for e in Execution.objects.filter(client_order_id__startswith=prefix + "-")}
    known = {o["client_order_id"]: o for o in fakes.lean.orders() + fakes.alpaca.orders()}
    for cid in at_brokers:
        assert rows[cid].status not in ("pending_submit", "pending"), (cid, rows[cid].status)
        assert rows[cid].status == status_from_broker(known[cid]["status"])
        assert rows[cid].broker_order_id == known[cid]["id"]
    return statuses, unsettled_before


def _fresh_orders_all_created(server: Gunicorn, token: str, prefix: str, n: int = 24) -> list[int]:
    """Orders sent one after another once the database is back: each worker thread's persistent
    connection died; none of them may answer anything but 201."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    codes = []
    for i in range(n):
        # a new connection per request spreads them over both workers and their threads
        session.close()
        codes.append(_order(session, server.url, f"{prefix}-after-{i}").status_code)
    return codes


@pytest.mark.django_db(transaction=True)
def test_sessions_terminated_mid_burst(api_server, brokers):
    if not is_superuser(connection.settings_dict):
        pytest.skip("terminating backends needs a superuser test database user")
    token = principal_create(name="burst-agent", roles=["agent"]).token
    prefix = f"term-{uuid.uuid4().hex[:6]}"
    killed = []

    def terminate_twice():
        killed.append(terminate_backends(connection.settings_dict))
        time.sleep(0.3)
        killed.append(terminate_backends(connection.settings_dict))

    answers, _ = _burst(api_server, token, prefix, orders=300, clients=12, fault=terminate_twice, fault_after=100)
    assert killed[0] >= 8, killed  # the workers' sessions, in the middle of orders
    statuses, _ = _check_story(api_server, brokers, token, prefix, answers)
    assert statuses[201] >= 200, statuses
    brokers.set_latency(0)
    terminate_backends(connection.settings_dict)  # idle persistent connections die too...
    connection.close()
    time.sleep(0.2)
    assert _fresh_orders_all_created(api_server, token, prefix) == [201] * 24  # ...and are replaced unseen
    assert "Traceback" not in api_server.log_tail(200_000)


@pytest.mark.django_db(transaction=True)
def test_database_cut_off_mid_burst_and_back(api_server, brokers):
    token = principal_create(name="cut-agent", roles=["agent"]).token
    prefix = f"cut-{uuid.uuid4().hex[:6]}"
    proxy = api_server.proxy

    def outage():
        proxy.cut()
        time.sleep(1.5)
        proxy.restore()

    try:
        answers, _ = _burst(api_server, token, prefix, orders=200, clients=8, fault=outage, fault_after=40)
    finally:
        proxy.restore() if proxy._listener is None else None
    statuses, unsettled = _check_story(api_server, brokers, token, prefix, answers)
    assert statuses[503] >= 1, statuses  # requests during the outage were told to retry
    # orders the brokers had taken when the database went away: answered 503, left pending_submit,
    # settled by reconciliation above
    unrecorded = [r for rs in answers.values() for r in rs
                  if r.status_code == 503 and r.json()["error"]["details"].get("outcome_recorded") is False]
    assert unrecorded and unsettled, (statuses, len(unrecorded), unsettled)
    assert _fresh_orders_all_created(api_server, token, prefix) == [201] * 24
    assert "Traceback" not in api_server.log_tail(200_000)


@pytest.mark.django_db(transaction=True)
def test_database_server_restarted_mid_burst(api_server, brokers):
    """PostgreSQL itself restarts (fast shutdown: every session ends, open transactions roll back,
    connections are refused until it is back) while orders are at the broker and in the database."""
    import subprocess

    command = restart_command(connection.settings_dict)
    if command is None:
        pytest.skip("only the worktree's own embedded server is restarted (not a server others use)")
    token = principal_create(name="restart-agent", roles=["agent"]).token
    prefix = f"restart-{uuid.uuid4().hex[:6]}"

    def restart():
        return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, timeout=120)

    answers, restarted = _burst(api_server, token, prefix, orders=200, clients=8, fault=restart, fault_after=40)
    assert restarted.returncode == 0, restarted.stderr
    statuses, _ = _check_story(api_server, brokers, token, prefix, answers)
    assert statuses[503] >= 1, statuses  # requests while it was down were told to retry
    assert _fresh_orders_all_created(api_server, token, prefix) == [201] * 24
    assert "Traceback" not in api_server.log_tail(200_000)
