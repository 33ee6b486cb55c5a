"""LEAN and Alpaca adapters against the loopback fakes: happy paths and fault classification."""

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from execution.adapters import (
    AdapterError,
    AlpacaAdapter,
    BrokerAdapter,
    BrokerOrder,
    HealthResult,
    LeanAdapter,
    OrderRequest,
)


def market(cid="c-1", symbol="AAPL", qty="10", side="buy"):
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side, qty=Decimal(qty))


def limit(cid, price, symbol="MSFT", qty="2", side="buy"):
    return OrderRequest(
        client_order_id=cid,
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        order_type="limit",
        time_in_force="gtc",
        limit_price=Decimal(price),
    )


@pytest.fixture(params=["lean", "alpaca"])
def adapter_and_fake(request, fakes, lean_adapter, alpaca_adapter):
    if request.param == "lean":
        return lean_adapter, fakes.lean
    return alpaca_adapter, fakes.alpaca


# ------------------------------------------------------------------------ contract
def test_both_adapters_satisfy_the_protocol(lean_adapter, alpaca_adapter):
    assert isinstance(lean_adapter, BrokerAdapter) and lean_adapter.name == "lean"
    assert isinstance(alpaca_adapter, BrokerAdapter) and alpaca_adapter.name == "alpaca"


def test_order_request_validation():
    with pytest.raises(ValueError):
        OrderRequest("c", "AAPL", "buy", Decimal(0))
    with pytest.raises(ValueError):
        OrderRequest("c", "AAPL", "short", Decimal(1))
    with pytest.raises(ValueError):
        OrderRequest("c", "AAPL", "buy", Decimal(1), order_type="limit")
    with pytest.raises(ValueError):
        OrderRequest("", "AAPL", "buy", Decimal(1))


def test_adapter_error_reason():
    err = AdapterError("submit", "http_500", "boom", adapter="lean", status_code=500)
    assert err.reason == "lean_submit_http_500"
    assert str(err) == "lean_submit_http_500: boom"
    assert not err.is_timeout
    assert AdapterError("submit", "timeout", adapter="alpaca").is_timeout


# ---------------------------------------------------------------------- happy path
def test_round_trip(adapter_and_fake):
    adapter, fake = adapter_and_fake
    filled = adapter.submit(market("m-1", qty="3"))
    assert isinstance(filled, BrokerOrder)
    assert filled.client_order_id == "m-1"
    assert filled.status == "filled"
    assert filled.filled_qty == Decimal(3)
    assert filled.filled_avg_price == Decimal("190.00")
    assert filled.raw["symbol"] == "AAPL"

    resting = adapter.submit(limit("l-1", "100"))
    assert resting.status == "new"
    assert resting.filled_qty == 0 and resting.filled_avg_price is None

    assert adapter.get_by_client_order_id("l-1") == resting
    assert adapter.get_by_client_order_id("unknown") is None
    assert adapter.get_order(filled.broker_order_id) == filled

    assert adapter.cancel(resting.broker_order_id) is None
    assert adapter.get_by_client_order_id("l-1").status == "canceled"

    assert {o.client_order_id for o in adapter.list_orders("all")} == {"m-1", "l-1"}
    assert len(fake.orders()) == 2
    assert adapter.list_orders("open") == []

    health = adapter.health()
    assert isinstance(health, HealthResult) and health and health.reason is None


def test_cancel_of_filled_order_is_an_http_error(adapter_and_fake):
    adapter, _fake = adapter_and_fake
    filled = adapter.submit(market("m-1"))
    with pytest.raises(AdapterError) as exc:
        adapter.cancel(filled.broker_order_id)
    assert exc.value.reason in ("lean_cancel_http_409", "alpaca_cancel_http_422")


def test_lean_duplicate_submit_is_http_409_with_existing_order(lean_adapter, fakes):
    first = lean_adapter.submit(market("dup"))
    with pytest.raises(AdapterError) as exc:
        lean_adapter.submit(market("dup", qty="5"))
    assert exc.value.reason == "lean_submit_http_409"
    assert exc.value.status_code == 409
    assert exc.value.payload["order"]["id"] == first.broker_order_id
    # the broker says it holds an order under this id: worth a look-up, not a refusal
    assert exc.value.duplicate and exc.value.ambiguous and not exc.value.refused
    assert len(fakes.lean.orders()) == 1


def test_alpaca_duplicate_client_order_id_rejected_even_after_cancel(alpaca_adapter, fakes):
    first = alpaca_adapter.submit(limit("dup", "1"))
    alpaca_adapter.cancel(first.broker_order_id)
    with pytest.raises(AdapterError) as exc:
        alpaca_adapter.submit(limit("dup", "1"))
    assert exc.value.reason == "alpaca_submit_http_422"
    assert "client_order_id must be unique" in exc.value.detail
    assert exc.value.duplicate and exc.value.ambiguous and not exc.value.refused
    assert len(fakes.alpaca.orders()) == 1
    assert len(alpaca_adapter.list_orders("all")) == 1


def test_list_orders_after_a_time(adapter_and_fake):
    adapter, _ = adapter_and_fake
    adapter.submit(market("old-1"))
    time.sleep(0.01)
    cut = datetime.now(UTC)
    time.sleep(0.01)
    adapter.submit(market("new-1"))
    adapter.submit(market("new-2"))
    assert {o.client_order_id for o in adapter.list_orders("all", after=cut)} == {"new-1", "new-2"}
    assert len(adapter.list_orders("all")) == 3


def test_alpaca_list_orders_pages_past_the_page_size(alpaca_adapter):
    """Alpaca answers at most 500 orders per call; the adapter pages back through ``until``."""
    for i in range(7):
        alpaca_adapter.submit(market(f"p-{i}"))
    listed = alpaca_adapter.list_orders("all", page_size=3)
    assert [o.client_order_id for o in listed] == [f"p-{i}" for i in reversed(range(7))]  # newest first, once each
    # a bounded read: two pages of 3, the second starting again at the first page's oldest order
    assert [o.client_order_id for o in alpaca_adapter.list_orders("all", page_size=3, max_pages=2)] \
        == ["p-6", "p-5", "p-4", "p-3", "p-2"]


def test_alpaca_fake_refuses_a_bad_time_filter(fakes):
    import requests
    answer = requests.get(f"{fakes.alpaca.url}/v2/orders", params={"status": "all", "after": "yesterday"},
                          headers={"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}, timeout=5)
    assert answer.status_code == 422 and "after" in answer.json()["message"]


def test_alpaca_account_and_positions(alpaca_adapter):
    alpaca_adapter.submit(market("m-1", symbol="SPY", qty="2"))
    account = alpaca_adapter.account()
    assert Decimal(account["cash"]) == Decimal(100000) - 2 * Decimal("550.00")
    assert [(p["symbol"], p["qty"]) for p in alpaca_adapter.positions()] == [("SPY", "2")]


# ----------------------------------------------------------------------- fault modes
@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("down", "network_error"),
        ("slow", "timeout"),
        ("error", "http_500"),
        ("malformed", "contract_violation"),
    ],
)
def test_submit_fault_classification(adapter_and_fake, adapter_timeout, mode, kind):
    adapter, fake = adapter_and_fake
    fake.set_fault(mode)
    started = time.monotonic()
    with pytest.raises(AdapterError) as exc:
        adapter.submit(market("f-1"))
    elapsed = time.monotonic() - started
    assert exc.value.reason == f"{adapter.name}_submit_{kind}"
    assert exc.value.kind == kind
    assert elapsed < adapter_timeout + 0.4  # the adapter timeout applies; no retries
    assert fake.orders() == []
    if kind == "http_500":
        assert exc.value.status_code == 500


@pytest.mark.parametrize("mode", ["down", "slow", "error", "malformed"])
def test_lookup_and_health_under_faults(adapter_and_fake, mode):
    adapter, fake = adapter_and_fake
    fake.set_fault(mode)
    health = adapter.health()
    assert not health
    assert health.reason.startswith(f"{adapter.name}_health_")
    with pytest.raises(AdapterError) as exc:
        adapter.get_by_client_order_id("x")
    assert exc.value.reason.startswith(f"{adapter.name}_get_by_client_order_id_")


def test_slow_answer_closed_before_adapter_timeout_is_network_error(fakes):
    fakes.lean.set_fault("slow", delay_seconds=0.2)
    adapter = LeanAdapter(fakes.lean.url, timeout_seconds=2)
    with pytest.raises(AdapterError) as exc:
        adapter.submit(market())
    assert exc.value.reason == "lean_submit_network_error"


def test_accept_then_timeout_then_lookup_finds_order(adapter_and_fake):
    adapter, fake = adapter_and_fake
    fake.set_fault("accept_then_timeout")
    with pytest.raises(AdapterError) as exc:
        adapter.submit(market("att-1"))
    assert exc.value.reason == f"{adapter.name}_submit_timeout"
    assert exc.value.is_timeout

    started = time.monotonic()
    found = adapter.get_by_client_order_id("att-1")
    assert time.monotonic() - started < 0.4
    assert found is not None and found.status == "filled"
    assert [o["client_order_id"] for o in fake.orders()] == ["att-1"]

    fake.set_fault("ok")
    with pytest.raises(AdapterError) as dup:
        adapter.submit(market("att-1"))  # blind resubmission is refused by both brokers
    assert dup.value.kind in ("http_409", "http_422")


def test_unreachable_broker_is_network_error(adapter_and_fake):
    adapter, fake = adapter_and_fake
    fake.shutdown()
    with pytest.raises(AdapterError) as exc:
        adapter.submit(market())
    assert exc.value.reason == f"{adapter.name}_submit_network_error"
    # refused: the request never left, so the broker cannot hold the order
    assert not exc.value.request_sent and not exc.value.ambiguous


@pytest.mark.parametrize("mode", ["down", "accept_then_reset"])
def test_connection_closed_after_the_request_was_sent_is_ambiguous(adapter_and_fake, mode):
    adapter, fake = adapter_and_fake
    fake.set_fault(mode)
    with pytest.raises(AdapterError) as exc:
        adapter.submit(market("cl-1"))
    assert exc.value.reason == f"{adapter.name}_submit_network_error"
    assert exc.value.request_sent and exc.value.ambiguous and not exc.value.refused
    assert len(fake.orders()) == (1 if mode == "accept_then_reset" else 0)


def test_reject_is_a_final_refusal_carrying_the_brokers_reason(adapter_and_fake):
    adapter, fake = adapter_and_fake
    fake.set_fault("reject")
    with pytest.raises(AdapterError) as exc:
        adapter.submit(market("rj-1", symbol="NVDA"))
    err = exc.value
    assert err.reason == f"{adapter.name}_submit_http_422" and err.status_code == 422
    assert err.refused and not err.ambiguous and not err.duplicate
    assert err.broker_code == "insufficient_buying_power"
    assert "NVDA" in err.detail
    assert fake.orders() == []


# ------------------------------------------------------- contract violations (2xx JSON)
class _WrongShapeHandler(BaseHTTPRequestHandler):
    """Answers every request 200 with JSON that is not an order."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"ok": True, "status": "weird"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format, *args):
        pass


@pytest.fixture
def wrong_shape_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WrongShapeHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_json_without_order_fields_is_contract_violation(wrong_shape_url):
    lean = LeanAdapter(wrong_shape_url, timeout_seconds=1)
    with pytest.raises(AdapterError) as exc:
        lean.submit(market())
    assert exc.value.reason == "lean_submit_contract_violation"
    assert not lean.health()

    alpaca = AlpacaAdapter("k", "s", url_override=wrong_shape_url, timeout_seconds=1)
    with pytest.raises(AdapterError) as exc:
        alpaca.submit(market())
    assert exc.value.reason == "alpaca_submit_contract_violation"
    with pytest.raises(AdapterError) as exc:
        alpaca.get_by_client_order_id("c-1")
    assert exc.value.reason == "alpaca_get_by_client_order_id_contract_violation"


# ------------------------------------------------------------------ base URL with a path prefix
PREFIX = "/runner/v2"


class _PrefixProxy(BaseHTTPRequestHandler):
    """A runner published under a path prefix (as behind a reverse proxy): requests under PREFIX go to
    the LEAN fake with the prefix stripped; anything else is 404, so a dropped prefix cannot pass."""

    protocol_version = "HTTP/1.1"
    target = ""  # the fixture sets both on its own subclass
    seen: list[str]

    def _forward(self):
        self.seen.append(f"{self.command} {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        if not self.path.startswith(PREFIX + "/"):
            status, data = 404, b'{"error": "not_found"}'
        else:
            request = urllib.request.Request(self.target + self.path[len(PREFIX):], data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    status, data = answer.status, answer.read()
            except urllib.error.HTTPError as exc:
                status, data = exc.code, exc.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward

    def log_message(self, format, *args):
        pass


@pytest.fixture
def prefixed_lean_url(fakes):
    handler = type("Proxy", (_PrefixProxy,), {"target": fakes.lean.url.rstrip("/"), "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}{PREFIX}/", handler.seen
    server.shutdown()
    server.server_close()


def test_lean_base_url_with_a_path_prefix_keeps_the_prefix_on_every_operation(prefixed_lean_url, fakes):
    url, seen = prefixed_lean_url
    lean = LeanAdapter(url, timeout_seconds=2)
    resting = lean.submit(limit("p-1", "100"))
    assert resting.status == "new"
    assert lean.get_by_client_order_id("p-1") == resting
    assert lean.get_order(resting.broker_order_id) == resting
    assert lean.cancel(resting.broker_order_id) is None
    assert lean.get_by_client_order_id("p-1").status == "canceled"
    assert [o.client_order_id for o in lean.list_orders("all")] == ["p-1"]
    assert lean.health()
    assert [o["client_order_id"] for o in fakes.lean.orders()] == ["p-1"]
    assert seen and all(line.split()[1].startswith(PREFIX + "/") for line in seen), seen

    # the same runner without the prefix is not found: the prefix is what reached it
    bare = LeanAdapter(url.removesuffix(PREFIX + "/"), timeout_seconds=2)
    with pytest.raises(AdapterError) as exc:
        bare.submit(market("p-2"))
    assert exc.value.status_code == 404
    assert not bare.health()
