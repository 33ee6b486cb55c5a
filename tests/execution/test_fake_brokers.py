"""The fake LEAN runner and fake Alpaca over real loopback HTTP, incl. every fault mode."""

import socket
import threading
import time
from decimal import Decimal

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
)

from execution.fake_brokers import (
    FAULT_MODES,
    FakeLeanRunner,
    base_price,
    serve_forever_both,
)

ALPACA_HEADERS = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}


def lean_submit(url, cid="c-1", timeout=3.0, **overrides):
    body = {
        "client_order_id": cid,
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "type": "market",
        "time_in_force": "day",
        **overrides,
    }
    return requests.post(f"{url}/v1/orders/submit", json=body, timeout=timeout)


def alpaca_submit(url, cid="c-1", timeout=3.0, **overrides):
    body = {
        "client_order_id": cid,
        "symbol": "AAPL",
        "side": "buy",
        "qty": "10",
        "type": "market",
        "time_in_force": "day",
        **overrides,
    }
    return requests.post(f"{url}/v2/orders", json=body, headers=ALPACA_HEADERS, timeout=timeout)


def lean_lookup(url, cid):
    return requests.get(f"{url}/v1/orders/client/{cid}", timeout=3)


def alpaca_lookup(url, cid):
    return requests.get(
        f"{url}/v2/orders:by_client_order_id",
        params={"client_order_id": cid},
        headers=ALPACA_HEADERS,
        timeout=3,
    )


BROKERS = {
    "lean": (lambda f: f.lean, lean_submit, lean_lookup),
    "alpaca": (lambda f: f.alpaca, alpaca_submit, alpaca_lookup),
}


@pytest.fixture(params=sorted(BROKERS))
def broker(request, fakes):
    pick, submit, lookup = BROKERS[request.param]
    return pick(fakes), submit, lookup


# ----------------------------------------------------------------------------- LEAN
def test_lean_market_order_fills_at_base_price(fakes):
    r = lean_submit(fakes.lean.url, qty="2.5")
    assert r.status_code == 201
    order = r.json()
    assert order["status"] == "filled"
    assert order["client_order_id"] == "c-1"
    assert order["filled_qty"] == "2.5"
    assert Decimal(order["filled_avg_price"]) == base_price("AAPL") == Decimal("190.00")
    for key in ("id", "symbol", "side", "qty", "type", "time_in_force", "created_at"):
        assert key in order

    by_id = requests.get(f"{fakes.lean.url}/v1/orders/{order['id']}", timeout=3)
    by_cid = lean_lookup(fakes.lean.url, "c-1")
    assert by_id.status_code == by_cid.status_code == 200
    assert by_id.json() == by_cid.json() == order


def test_lean_limit_orders_rest_or_fill_and_cancel(fakes):
    url = fakes.lean.url
    resting = lean_submit(url, "c-rest", type="limit", limit_price="100").json()
    marketable = lean_submit(url, "c-fill", type="limit", limit_price="200").json()
    assert resting["status"] == "new" and resting["filled_qty"] == "0" and resting["filled_avg_price"] is None
    assert marketable["status"] == "filled" and marketable["filled_avg_price"] == "190.00"

    open_orders = requests.get(f"{url}/v1/orders", params={"status": "open"}, timeout=3).json()
    assert [o["client_order_id"] for o in open_orders["orders"]] == ["c-rest"]

    canceled = requests.post(f"{url}/v1/orders/{resting['id']}/cancel", timeout=3)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = requests.post(f"{url}/v1/orders/{resting['id']}/cancel", timeout=3)
    assert again.status_code == 409 and again.json()["error"] == "not_cancelable"
    assert requests.post(f"{url}/v1/orders/nope/cancel", timeout=3).status_code == 404

    lean_submit(url, "c-rest-2", type="limit", limit_price="1", side="buy")
    cancel_all = requests.post(f"{url}/v1/orders/cancel-all", timeout=3).json()
    assert [o["client_order_id"] for o in cancel_all["canceled"]] == ["c-rest-2"]

    statuses = requests.get(f"{url}/v1/orders", params={"status": "canceled"}, timeout=3).json()
    assert statuses["count"] == 2
    assert requests.get(f"{url}/v1/orders?status=all", timeout=3).json()["count"] == 3


def test_lean_duplicate_client_order_id_is_409_with_existing_order(fakes):
    first = lean_submit(fakes.lean.url, "dup").json()
    second = lean_submit(fakes.lean.url, "dup", qty="99")
    assert second.status_code == 409
    assert second.json()["error"] == "duplicate_client_order_id"
    assert second.json()["order"] == first
    assert len(fakes.lean.orders()) == 1


def test_lean_unknown_and_invalid(fakes):
    url = fakes.lean.url
    assert lean_lookup(url, "missing").status_code == 404
    assert requests.get(f"{url}/v1/orders/missing", timeout=3).status_code == 404
    assert lean_submit(url, qty="-1").status_code == 400
    assert lean_submit(url, type="limit").status_code == 400
    assert lean_submit(url, side="hold").status_code == 400
    bad = requests.post(f"{url}/v1/orders/submit", data=b"{not json", timeout=3)
    assert bad.status_code == 400
    assert fakes.lean.orders() == []
    assert requests.get(f"{url}/healthz", timeout=3).json()["status"] == "ok"


# --------------------------------------------------------------------------- Alpaca
@pytest.fixture
def trading_client(fakes):
    return TradingClient("test-key", "test-secret", paper=True, url_override=fakes.alpaca.url)


def test_alpaca_trading_client_round_trip(fakes, trading_client):
    market = trading_client.submit_order(
        MarketOrderRequest(
            symbol="AAPL", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id="m-1"
        )
    )
    assert market.status == OrderStatus.FILLED
    assert market.client_order_id == "m-1"
    assert Decimal(str(market.filled_qty)) == 3
    assert Decimal(str(market.filled_avg_price)) == Decimal("190.00")

    limit = trading_client.submit_order(
        LimitOrderRequest(
            symbol="MSFT",
            qty=1.5,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.GTC,
            limit_price=100,
            client_order_id="l-1",
        )
    )
    assert limit.status == OrderStatus.NEW
    assert limit.limit_price == "100.00"

    found = trading_client.get_order_by_client_id("l-1")
    assert found.id == limit.id
    assert trading_client.get_order_by_id(market.id).client_order_id == "m-1"

    assert trading_client.cancel_order_by_id(limit.id) is None
    assert trading_client.get_order_by_id(limit.id).status == OrderStatus.CANCELED
    with pytest.raises(APIError) as exc:
        trading_client.cancel_order_by_id(market.id)
    assert exc.value.status_code == 422

    account = trading_client.get_account()
    assert Decimal(account.cash) == Decimal(100000) - 3 * Decimal("190.00")
    assert account.status.value == "ACTIVE"

    positions = trading_client.get_all_positions()
    assert [(p.symbol, p.qty, p.side.value) for p in positions] == [("AAPL", "3", "long")]
    assert trading_client.get_open_position("AAPL").avg_entry_price == "190.00"

    open_orders = trading_client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert open_orders == []
    closed = trading_client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    assert {o.client_order_id for o in closed} == {"m-1", "l-1"}


def test_alpaca_rejects_reused_client_order_id_even_after_cancel(fakes, trading_client):
    def submit(cid):
        return trading_client.submit_order(
            LimitOrderRequest(
                symbol="SPY",
                qty=1,
                side=OrderSide.BUY,
                time_in_force=TimeInForce.DAY,
                limit_price=1,
                client_order_id=cid,
            )
        )

    first = submit("same")
    trading_client.cancel_order_by_id(first.id)
    with pytest.raises(APIError) as exc:
        submit("same")
    assert exc.value.status_code == 422
    assert exc.value.message == "client_order_id must be unique"
    assert len(fakes.alpaca.orders()) == 1


def test_alpaca_status_all_lists_every_accepted_order(fakes, trading_client):
    for i in range(60):  # more than Alpaca's default page of 50
        alpaca_submit(fakes.alpaca.url, f"c-{i}")
    alpaca_submit(fakes.alpaca.url, "c-0")  # rejected duplicate, not counted
    every = requests.get(f"{fakes.alpaca.url}/v2/orders?status=all", headers=ALPACA_HEADERS, timeout=3).json()
    assert len(every) == 60
    assert every[0]["client_order_id"] == "c-59"  # newest first, like Alpaca
    via_client = trading_client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert len(via_client) == 60
    limited = trading_client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=5))
    assert len(limited) == 5


def test_alpaca_requires_credentials_and_rejects_bad_orders(fakes):
    url = fakes.alpaca.url
    assert requests.get(f"{url}/v2/account", timeout=3).status_code == 401
    assert alpaca_submit(url, type="stop").status_code == 422
    assert alpaca_submit(url, qty="0").status_code == 422
    assert alpaca_submit(url, type="limit").status_code == 422
    missing = alpaca_lookup(url, "nope")
    assert missing.status_code == 404 and missing.json()["message"] == "order not found"
    assert fakes.alpaca.orders() == []


def test_alpaca_cancel_all_uses_207(fakes, trading_client):
    alpaca_submit(fakes.alpaca.url, "rest", type="limit", limit_price="1")
    responses = trading_client.cancel_orders()
    assert [(r.status, r.body["client_order_id"]) for r in responses] == [(200, "rest")]


# ---------------------------------------------------------------------- fault modes
def test_fault_endpoint_get_set_and_reset(fakes):
    for fake in (fakes.lean, fakes.alpaca):
        assert requests.get(f"{fake.url}/_fault", timeout=3).json() == {"mode": "ok", "delay_seconds": 1.0}
        r = requests.post(f"{fake.url}/_fault", json={"mode": "down", "delay_seconds": 0.25}, timeout=3)
        assert r.json() == {"mode": "down", "delay_seconds": 0.25}
        assert fake.mode == "down"
        # /_fault keeps answering in every mode
        assert requests.get(f"{fake.url}/_fault", timeout=3).json()["mode"] == "down"
        assert requests.post(f"{fake.url}/_fault", json={"mode": "bogus"}, timeout=3).status_code == 400
        assert requests.post(f"{fake.url}/_fault", json={"mode": "ok"}, timeout=3).status_code == 200
    lean_submit(fakes.lean.url)
    alpaca_submit(fakes.alpaca.url)
    for fake in (fakes.lean, fakes.alpaca):
        assert len(fake.orders()) == 1
        assert requests.post(f"{fake.url}/_reset", timeout=3).status_code == 200
        assert fake.orders() == []
    assert set(FAULT_MODES) == {"ok", "down", "slow", "error", "malformed", "accept_then_timeout",
                                "accept_then_reset", "reject"}


@pytest.mark.parametrize("mode", FAULT_MODES)
def test_fault_switch_answers_in_every_mode(broker, mode):
    fake, _submit, _lookup = broker
    fake.set_fault(mode)
    started = time.monotonic()
    assert requests.get(f"{fake.url}/_fault", timeout=3).json()["mode"] == mode
    assert requests.post(f"{fake.url}/_fault", json={"mode": "ok"}, timeout=3).json()["mode"] == "ok"
    assert time.monotonic() - started < 0.5


def test_down_closes_connections_without_answer(broker):
    fake, submit, _lookup = broker
    fake.set_fault("down")
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        submit(fake.url)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fake.url}/healthz", timeout=3)
    assert time.monotonic() - started < 0.5
    assert fake.orders() == []


def test_slow_holds_then_closes_and_records_nothing(broker, fault_delay):
    fake, submit, _lookup = broker
    fake.set_fault("slow")
    with pytest.raises(requests.ReadTimeout):
        submit(fake.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError) as exc:
        submit(fake.url, cid="c-2", timeout=5)
    assert not isinstance(exc.value, requests.Timeout)
    assert fault_delay - 0.1 <= time.monotonic() - started < fault_delay + 1.5
    assert fake.orders() == []


def test_error_answers_500_json(broker):
    fake, submit, _lookup = broker
    fake.set_fault("error")
    r = submit(fake.url)
    assert r.status_code == 500
    assert isinstance(r.json(), dict)
    assert fake.orders() == []


def test_malformed_answers_200_not_json(broker):
    fake, submit, _lookup = broker
    fake.set_fault("malformed")
    r = submit(fake.url)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    assert fake.orders() == []


def test_accept_then_timeout_records_at_once_answers_late(broker, fault_delay):
    fake, submit, lookup = broker
    fake.set_fault("accept_then_timeout")
    with pytest.raises(requests.ReadTimeout):
        submit(fake.url, cid="att", timeout=0.3)
    started = time.monotonic()
    found = lookup(fake.url, "att")
    assert time.monotonic() - started < 0.5
    assert found.status_code == 200 and found.json()["client_order_id"] == "att"
    assert [o["client_order_id"] for o in fake.orders()] == ["att"]

    started = time.monotonic()
    late = submit(fake.url, cid="att-2", timeout=5)
    assert late.status_code in (200, 201)
    assert time.monotonic() - started >= fault_delay - 0.1


def test_accept_then_reset_records_the_order_then_closes_without_answer(broker):
    fake, submit, lookup = broker
    fake.set_fault("accept_then_reset")
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError) as exc:
        submit(fake.url, cid="atr", timeout=3)
    assert not isinstance(exc.value, requests.Timeout)
    assert time.monotonic() - started < 0.5
    assert [o["client_order_id"] for o in fake.orders()] == ["atr"]
    found = lookup(fake.url, "atr")  # look-ups answer at once
    assert found.status_code == 200 and found.json()["client_order_id"] == "atr"
    assert lookup(fake.url, "nope").status_code == 404
    assert time.monotonic() - started < 1.0


def test_reject_refuses_the_order_with_422_naming_why_and_records_nothing(broker):
    fake, submit, lookup = broker
    fake.set_fault("reject")
    answer = submit(fake.url, cid="rj")
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "insufficient_buying_power"
    assert "AAPL" in body["message"] and "buying power" in body["message"]
    assert fake.orders() == []
    assert lookup(fake.url, "rj").status_code == 404  # look-ups answer as usual
    assert requests.get(f"{fake.url}/healthz", timeout=3).status_code == 200


def test_alpaca_reject_and_reset_through_trading_client(fakes, trading_client):
    order = MarketOrderRequest(symbol="SPY", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                               client_order_id="tc-1")
    fakes.alpaca.set_fault("reject")
    with pytest.raises(APIError) as exc:
        trading_client.submit_order(order)
    assert exc.value.status_code == 422 and exc.value.code == "insufficient_buying_power"
    fakes.alpaca.set_fault("accept_then_reset")
    with pytest.raises(requests.ConnectionError):
        trading_client.submit_order(order)
    assert trading_client.get_order_by_client_id("tc-1").status == OrderStatus.FILLED
    every = requests.get(f"{fakes.alpaca.url}/v2/orders?status=all", headers=ALPACA_HEADERS, timeout=3).json()
    assert [o["client_order_id"] for o in every] == ["tc-1"]


def test_fake_brokers_command_help_names_every_mode():
    from django.core.management import load_command_class
    parser = load_command_class("execution", "fake_brokers").create_parser("manage.py", "fake_brokers")
    text = " ".join(parser.format_help().split())
    for mode in FAULT_MODES:
        assert f"{mode}:" in text, mode
    assert "/_fault" in text


def test_delay_can_be_set_through_fault_body(fakes):
    requests.post(f"{fakes.lean.url}/_fault", json={"mode": "slow", "delay_seconds": 0.2}, timeout=3)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        lean_submit(fakes.lean.url, timeout=3)
    assert time.monotonic() - started < 1.0


# -------------------------------------------------------------------------- lifecycle
def test_shutdown_is_quick_with_a_request_stuck_in_slow_mode():
    fake = FakeLeanRunner(delay_seconds=30).start()
    fake.set_fault("slow")
    errors = []

    def call():
        try:
            requests.get(f"{fake.url}/healthz", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    time.sleep(0.2)
    started = time.monotonic()
    fake.shutdown()
    caller.join(timeout=5)
    assert time.monotonic() - started < 2.0
    assert not caller.is_alive()
    assert len(errors) == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fake.url}/healthz", timeout=1)


def test_serve_forever_both_prints_urls_and_stops():
    lines = []
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_forever_both,
        kwargs={"lean_port": 0, "alpaca_port": 0, "write": lines.append, "stop_event": stop, "log_requests": False},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 5
    while len(lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    lean_url = lines[0].split()[-1]
    alpaca_url = lines[1].split()[-1]
    assert requests.get(f"{lean_url}/healthz", timeout=3).status_code == 200
    assert requests.get(f"{alpaca_url}/v2/account", headers=ALPACA_HEADERS, timeout=3).status_code == 200
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


# ------------------------------------------------------------------ kept-alive connections
def test_connections_are_kept_alive_and_answers_are_not_held_back(broker):
    """The adapters pool their connections: a broker that closed each one made every order pay for a new
    connection (and a server thread). A kept connection must also send each answer at once: with Nagle's
    algorithm on, an answer's body waited ~40 ms behind the client's delayed ACK of its head."""
    fake, _submit, _lookup = broker
    with requests.Session() as session:
        for _ in range(5):
            response = session.get(f"{fake.url}/_fault", timeout=3)
            assert response.status_code == 200
            assert response.headers.get("Connection", "").lower() != "close"
        connections = list(fake._httpd._connections)
    assert len(connections) == 1  # five answers, one connection
    assert connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.parametrize("mode", ["error", "malformed", "reject"])
def test_a_fault_answer_closes_its_connection(broker, mode):
    fake, submit, _lookup = broker
    fake.set_fault(mode)
    assert submit(fake.url).headers["Connection"].lower() == "close"


def test_shutdown_closes_kept_connections():
    """A stopped broker leaves no kept connection behind that would still answer (from its old book)
    a client that keeps it in its pool, e.g. after a restart on the same port."""
    fake = FakeLeanRunner().start()
    with requests.Session() as session:
        assert session.get(f"{fake.url}/healthz", timeout=3).status_code == 200
        assert len(fake._httpd._connections) == 1
        fake.shutdown()
        with pytest.raises(requests.ConnectionError):
            session.get(f"{fake.url}/healthz", timeout=1)
