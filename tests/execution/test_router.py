"""Router reliability against the fake brokers over real HTTP (short timeouts and delays)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from execution.models import AdapterHealthEvent, Execution, LeanOutage
from execution.routing import RoutePolicy, expected_adapter, fallback_reason_for
from execution.services import order_submit
from tests.execution.conftest import ROUTER_TIMEOUT
from tests.execution.factories import OrderInputFactory

pytestmark = pytest.mark.django_db


def alpaca_orders(fakes):
    return fakes.alpaca.orders()


def test_lean_ok_routes_to_lean_and_records_fill(routed):
    result = order_submit(data=OrderInputFactory())
    row = result.execution
    row.refresh_from_db()
    assert result.created
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "lean")
    assert row.execution_fallback_count == 0 and row.execution_fallback_reason == ""
    assert row.status == "filled" and row.filled_qty == 10 and row.avg_fill_price == 190
    assert row.fills.count() == 1
    assert len(routed.lean.orders()) == 1 and alpaca_orders(routed) == []


def test_same_client_order_id_returns_stored_row(routed):
    data = OrderInputFactory()
    first = order_submit(data=data)
    second = order_submit(data=data)
    assert not second.created and second.execution.pk == first.execution.pk
    assert len(routed.lean.orders()) == 1


@pytest.mark.parametrize("mode,reason", [
    ("down", "lean_submit_network_error"),
    ("error", "lean_submit_http_500"),
])
def test_lean_failure_falls_back_with_reason(routed, mode, reason):
    routed.lean.set_fault(mode)
    row = order_submit(data=OrderInputFactory()).execution
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == reason and row.execution_fallback_count == 1
    assert row.status == "filled"
    assert len(alpaca_orders(routed)) == 1


def test_malformed_lean_answer_is_looked_up_then_falls_back(routed):
    routed.lean.set_fault("malformed")
    row = order_submit(data=OrderInputFactory()).execution
    # the look-up also answers malformed, so the order is ambiguous and is NOT sent to Alpaca
    assert row.status == "pending" and row.execution_actual_adapter == "lean"
    assert row.last_error == "lean_submit_contract_violation"
    assert alpaca_orders(routed) == []


def test_lean_accepts_then_times_out_no_second_order_at_alpaca(routed):
    routed.lean.set_fault("accept_then_timeout")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.execution_actual_adapter == "lean" and row.execution_fallback_count == 0
    assert row.status == "filled"  # found at LEAN by client order id
    assert row.last_error == "lean_submit_timeout"
    assert len(routed.lean.orders()) == 1
    assert alpaca_orders(routed) == []


def test_lean_down_outage_opens_then_closes(routed):
    routed.lean.set_fault("down")
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(5)]
    assert all(r.execution_actual_adapter == "alpaca" and r.execution_fallback_count == 1 for r in rows)
    reasons = [r.execution_fallback_reason for r in rows]
    assert reasons[:3] == ["lean_submit_network_error"] * 3
    # the breaker opened after 3 consecutive failures; the probe fails too, so orders go straight to Alpaca
    assert set(reasons[3:]) == {"lean_circuit_open"}
    outage = LeanOutage.objects.get()
    assert outage.ended_at is None and outage.reason == "lean_submit_network_error" and outage.failures >= 3
    assert len(alpaca_orders(routed)) == 5 and routed.lean.orders() == []

    routed.lean.set_fault("ok")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.execution_actual_adapter == "lean" and row.execution_fallback_count == 0
    outage.refresh_from_db()
    assert outage.ended_at is not None and outage.closed_reason == "probe_ok"
    assert AdapterHealthEvent.objects.filter(kind="circuit_close").count() == 1


def test_both_down_order_is_kept_pending_and_nothing_is_sent_twice(routed):
    routed.set_fault("down")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "pending"
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == "lean_submit_network_error"
    assert row.last_error == "alpaca_submit_network_error"
    assert Execution.objects.count() == 1


def test_both_erroring_order_is_rejected_with_route_fields(routed):
    routed.set_fault("error")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "rejected"
    assert row.execution_fallback_reason == "lean_submit_http_500"
    assert row.last_error == "alpaca_submit_http_500"


def test_allowlist_policy_routes_other_symbols_to_alpaca_without_fallback(routed, settings):
    settings.TRADING_EXECUTION_ADAPTER_POLICY = "allowlist"
    settings.TRADING_EXECUTION_ADAPTER_SYMBOLS = ["MSFT"]
    aapl = order_submit(data=OrderInputFactory(symbol="AAPL")).execution
    msft = order_submit(data=OrderInputFactory(symbol="MSFT")).execution
    assert (aapl.execution_expected_adapter, aapl.execution_actual_adapter, aapl.execution_fallback_count) == (
        "alpaca", "alpaca", 0)
    assert msft.execution_actual_adapter == "lean"


def test_lane_disable_switch(routed, settings):
    settings.TRADING_LEAN_LANE_DISABLE_SWITCH = True
    row = order_submit(data=OrderInputFactory()).execution
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("alpaca", "alpaca")
    assert row.raw_order["_execution_route_policy"] == "lean_lane_disable_switch"


def test_failure_ratio_over_window_opens_the_breaker(routed, settings):
    settings.TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES = 100
    settings.TRADING_LEAN_CIRCUIT_MIN_REQUESTS = 2
    settings.TRADING_LEAN_CIRCUIT_FAILURE_RATIO = 0.4
    settings.TRADING_LEAN_CIRCUIT_PROBE_SECONDS = 60
    order_submit(data=OrderInputFactory())
    routed.lean.set_fault("error")
    order_submit(data=OrderInputFactory())  # 1 failure / 2 LEAN orders = 0.5 > 0.4
    outage = LeanOutage.objects.get()
    assert outage.ended_at is None and outage.reason == "lean_submit_http_500"
    routed.lean.set_fault("ok")
    row = order_submit(data=OrderInputFactory()).execution  # no probe before 60 s: straight to Alpaca
    assert row.execution_actual_adapter == "alpaca" and row.execution_fallback_reason == "lean_circuit_open"


@pytest.mark.parametrize("policy,symbol,lean_enabled,expected", [
    (RoutePolicy(), "AAPL", True, ("lean", "lean_first")),
    (RoutePolicy(primary="alpaca"), "AAPL", True, ("alpaca", "primary_adapter")),
    (RoutePolicy(policy="allowlist", symbols=frozenset({"MSFT"})), "aapl", True,
     ("alpaca", "symbol_not_in_allowlist")),
    (RoutePolicy(policy="allowlist", symbols=frozenset({"MSFT"})), "msft", True, ("lean", "lean_first")),
    (RoutePolicy(lean_lane_disabled=True), "AAPL", True, ("alpaca", "lean_lane_disable_switch")),
    (RoutePolicy(), "AAPL", False, ("alpaca", "lean_lane_disabled_by_autonomy")),
])
def test_expected_adapter_policy(policy, symbol, lean_enabled, expected):
    assert expected_adapter(policy, symbol, lean_enabled=lean_enabled) == expected


def test_fallback_reason_rule():
    assert fallback_reason_for("lean", "alpaca") == ("fallback_from_lean_to_alpaca", 1)
    assert fallback_reason_for("lean", "alpaca", "lean_submit_timeout") == ("lean_submit_timeout", 1)
    assert fallback_reason_for("lean", "lean") == ("", 0)


def test_autonomy_lean_switch_routes_to_alpaca(routed):
    from autonomy.services import lean_lane_set
    lean_lane_set(enabled=False, reason="maintenance")
    row = order_submit(data=OrderInputFactory()).execution
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("alpaca", "alpaca")
    assert routed.lean.orders() == []


def test_fake_brokers_command_serves_both_and_prints_urls():
    import subprocess
    import sys

    import requests
    proc = subprocess.Popen([sys.executable, "manage.py", "fake_brokers", "--lean-port", "0", "--alpaca-port", "0",
                             "--quiet"], stdout=subprocess.PIPE, text=True)
    try:
        urls = [proc.stdout.readline().split()[-1] for _ in range(2)]
        assert all(u.startswith("http://127.0.0.1:") for u in urls)
        assert requests.get(f"{urls[0]}/healthz", timeout=5).json()["status"] == "ok"
        assert requests.post(f"{urls[1]}/_fault", json={"mode": "error"}, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


# --- a LEAN runner that loses submissions: submit misbehaves, look-ups answer 404 ---------------
class _LosingRunner(BaseHTTPRequestHandler):
    submit_behaviour = "hang"  # hang | not_an_order

    def do_POST(self):
        self.server.seen.append(("POST", self.path))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.submit_behaviour == "hang":
            time.sleep(ROUTER_TIMEOUT * 3)
            self.close_connection = True
            return
        self._json(200, {"accepted": True})

    def do_GET(self):
        self.server.seen.append(("GET", self.path))
        self._json(404, {"message": "no such order"})

    def _json(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


@pytest.fixture
def losing_runner(routed, settings):
    servers = []

    def start(behaviour):
        handler = type("Runner", (_LosingRunner,), {"submit_behaviour": behaviour})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.seen = []
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        settings.TRADING_LEAN_RUNNER_URL = f"http://127.0.0.1:{server.server_address[1]}"
        return routed, server.seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("behaviour,reason", [
    ("hang", "lean_submit_timeout"),
    ("not_an_order", "lean_submit_contract_violation"),
])
def test_ambiguous_lean_answer_looked_up_then_falls_back_when_lean_has_no_such_order(losing_runner, behaviour,
                                                                                    reason):
    fakes, seen = losing_runner(behaviour)
    row = order_submit(data=OrderInputFactory()).execution
    assert seen == [("POST", "/v1/orders/submit"), ("GET", f"/v1/orders/client/{row.client_order_id}")]
    # LEAN said (by client order id) it holds no such order, so Alpaca may take it: once
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == reason and row.execution_fallback_count == 1
    assert row.status == "filled" and len(alpaca_orders(fakes)) == 1
    attempts = row.raw_order["_execution_route_attempts"]
    assert [(a["adapter"], a["ok"], a["reason"]) for a in attempts] == [("lean", False, reason), ("alpaca", True, "")]
