"""Router reliability against the fake brokers over real HTTP (short timeouts and delays)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from execution.adapters.base import BrokerOrder
from execution.models import AdapterHealthEvent, Execution, LeanOutage
from execution.routing import Attempt, RoutePolicy, after_lean, expected_adapter, fallback_reason_for
from execution.services import order_submit
from tests.execution.conftest import ROUTER_TIMEOUT
from tests.execution.factories import OrderInputFactory

pytestmark = pytest.mark.django_db


def alpaca_orders(fakes):
    """Every order the Alpaca fake ever accepted, as its API lists them."""
    answer = requests.get(f"{fakes.alpaca.url}/v2/orders", params={"status": "all"},
                          headers={"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}, timeout=5)
    assert answer.status_code == 200
    return answer.json()


def attempts(row):
    return [(a["adapter"], a["ok"], a["reason"]) for a in row.raw_order["_execution_route_attempts"]]


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


def test_lean_http_error_falls_back_with_reason(routed):
    routed.lean.set_fault("error")
    row = order_submit(data=OrderInputFactory()).execution
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == "lean_submit_http_500" and row.execution_fallback_count == 1
    assert row.status == "filled"
    assert len(alpaca_orders(routed)) == 1


def test_lean_connection_refused_falls_back_at_once(routed, settings, refused_url):
    """Nothing listening: the request was never sent, so LEAN cannot hold the order."""
    settings.TRADING_LEAN_RUNNER_URL = refused_url
    row = order_submit(data=OrderInputFactory()).execution
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == "lean_submit_network_error" and row.execution_fallback_count == 1
    assert row.status == "filled" and row.last_error == ""
    assert attempts(row) == [("lean", False, "lean_submit_network_error"), ("alpaca", True, "")]
    assert len(alpaca_orders(routed)) == 1


def test_lean_accepts_then_resets_is_found_by_look_up_never_sent_to_alpaca(routed, settings):
    settings.TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES = 10  # each lost answer counts: keep the breaker closed
    routed.lean.set_fault("accept_then_reset")
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(4)]
    for row in rows:
        assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "lean")
        assert row.execution_fallback_count == 0 and row.execution_fallback_reason == ""
        assert row.status == "filled" and row.broker_order_id
        assert row.last_error == "lean_submit_network_error"  # the lost answer, recovered by look-up
    assert len(routed.lean.orders()) == 4
    assert alpaca_orders(routed) == []


def test_lean_closed_unanswered_and_look_up_fails_stays_pending(routed):
    """LEAN ``down`` closes the connection after reading the order: it may hold it. The look-up
    cannot answer either, so the order stays pending at LEAN and goes nowhere else."""
    routed.lean.set_fault("down")
    row = order_submit(data=OrderInputFactory()).execution
    row.refresh_from_db()
    assert row.status == "pending"
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "lean")
    assert row.execution_fallback_count == 0 and row.execution_fallback_reason == ""
    assert row.last_error == "lean_submit_network_error"
    [lean] = row.raw_order["_execution_route_attempts"]
    assert lean["ambiguous"] and "look-up failed: lean_get_by_client_order_id_network_error" in lean["detail"]
    assert alpaca_orders(routed) == []


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
    from autonomy.services import lean_lane_set
    from execution.circuit import lean_probe
    from execution.wiring import adapters

    routed.lean.set_fault("down")
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(5)]
    # LEAN may hold the first orders (closed after reading them; look-ups fail too): pending there
    assert [(r.status, r.execution_actual_adapter, r.last_error) for r in rows[:3]] == [
        ("pending", "lean", "lean_submit_network_error")] * 3
    # the breaker opened after 3 consecutive failures, and the outage disabled the LEAN lane at once:
    # the next orders are routed to Alpaca by policy (expected there, not a fallback)
    assert [(r.status, r.execution_expected_adapter, r.execution_actual_adapter, r.execution_fallback_count)
            for r in rows[3:]] == [("filled", "alpaca", "alpaca", 0)] * 2
    assert rows[3].raw_order["_execution_route_policy"] == "lean_lane_disabled"
    outage = LeanOutage.objects.get()
    assert outage.ended_at is None and outage.reason == "lean_submit_network_error" and outage.failures >= 3
    assert [o["client_order_id"] for o in alpaca_orders(routed)] == [r.client_order_id for r in reversed(rows[3:])]
    assert routed.lean.orders() == []

    routed.lean.set_fault("ok")
    assert lean_probe(adapters()[0]) is True  # the half-open probe (reconciliation runs it) closes the outage
    outage.refresh_from_db()
    assert outage.ended_at is not None and outage.closed_reason == "probe_ok"
    assert AdapterHealthEvent.objects.filter(kind="circuit_close").count() == 1
    assert order_submit(data=OrderInputFactory()).execution.execution_actual_adapter == "alpaca"  # still off
    lean_lane_set(enabled=True, reason="LEAN healthy again", actor="olga")  # an operator brings it back
    row = order_submit(data=OrderInputFactory()).execution
    assert row.execution_actual_adapter == "lean" and row.execution_fallback_count == 0


def test_alpaca_closed_unanswered_after_a_refused_lean_is_kept_pending(routed, settings, refused_url):
    settings.TRADING_LEAN_RUNNER_URL = refused_url
    routed.alpaca.set_fault("down")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "pending"
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == "lean_submit_network_error"
    assert row.last_error == "alpaca_submit_network_error"
    assert Execution.objects.count() == 1


def test_both_refused_order_is_rejected(routed, settings, refused_url):
    """Neither broker got the request: nobody can hold the order, so it is rejected, not pending."""
    settings.TRADING_LEAN_RUNNER_URL = refused_url
    settings.ALPACA_BASE_URL = refused_url
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "rejected"
    assert row.execution_fallback_reason == "lean_submit_network_error"
    assert row.last_error == "alpaca_submit_network_error"


def test_both_erroring_order_is_rejected_with_route_fields(routed):
    routed.set_fault("error")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "rejected"
    assert row.execution_fallback_reason == "lean_submit_http_500"
    assert row.last_error == "alpaca_submit_http_500"


def test_lean_refusal_is_final_and_never_sent_to_alpaca(routed, settings):
    routed.lean.set_fault("reject")
    rows = [order_submit(data=OrderInputFactory(symbol="NVDA")).execution for _ in range(4)]
    for row in rows:
        row.refresh_from_db()
        assert row.status == "rejected"
        assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "lean")
        assert row.execution_fallback_count == 0 and row.execution_fallback_reason == ""
        assert row.last_error.startswith("lean_submit_http_422: insufficient_buying_power: ")
        assert "NVDA" in row.last_error
        [lean] = row.raw_order["_execution_route_attempts"]
        assert lean["refused"] and lean["broker_code"] == "insufficient_buying_power" and not lean["ambiguous"]
    assert alpaca_orders(routed) == [] and routed.lean.orders() == []
    # a refusal is LEAN working, not failing: the breaker (3 failures) stays closed
    assert not LeanOutage.objects.exists()


def test_alpaca_refusal_is_final_without_a_look_up(routed):
    routed.lean.set_fault("error")
    routed.alpaca.set_fault("reject")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "rejected"
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("lean", "alpaca")
    assert row.execution_fallback_reason == "lean_submit_http_500" and row.execution_fallback_count == 1
    assert row.last_error.startswith("alpaca_submit_http_422: insufficient_buying_power: ")
    alpaca = row.raw_order["_execution_route_attempts"][1]
    assert alpaca["refused"] and "look-up" not in alpaca["detail"]
    assert alpaca_orders(routed) == []


def test_duplicate_id_answers_are_looked_up_and_the_brokers_order_kept(routed, settings, refused_url):
    """A 409 from LEAN, or Alpaca's 422 'client_order_id must be unique', means the broker holds an
    order under this id (placed behind our back here): the router takes that order."""
    from execution.adapters import AlpacaAdapter, LeanAdapter
    from execution.adapters.base import OrderRequest
    at_lean, at_alpaca = OrderInputFactory(), OrderInputFactory()
    LeanAdapter(routed.lean.url).submit(OrderRequest(at_lean.client_order_id, "AAPL", "buy", at_lean.qty))
    row = order_submit(data=at_lean).execution
    assert (row.status, row.execution_actual_adapter, row.last_error) == ("filled", "lean", "lean_submit_http_409")
    assert len(routed.lean.orders()) == 1

    AlpacaAdapter("k", "s", url_override=routed.alpaca.url).submit(
        OrderRequest(at_alpaca.client_order_id, "AAPL", "buy", at_alpaca.qty))
    settings.TRADING_LEAN_RUNNER_URL = refused_url
    row = order_submit(data=at_alpaca).execution
    assert (row.status, row.execution_actual_adapter, row.last_error) == ("filled", "alpaca", "alpaca_submit_http_422")
    assert row.execution_fallback_reason == "lean_submit_network_error"
    assert len(alpaca_orders(routed)) == 1


def test_allowlist_policy_routes_other_symbols_to_alpaca_without_fallback(routed, settings):
    settings.TRADING_EXECUTION_ADAPTER_POLICY = "allowlist"
    settings.TRADING_EXECUTION_ADAPTER_SYMBOLS = ["MSFT"]
    aapl = order_submit(data=OrderInputFactory(symbol="AAPL")).execution
    msft = order_submit(data=OrderInputFactory(symbol="MSFT")).execution
    assert (aapl.execution_expected_adapter, aapl.execution_actual_adapter, aapl.execution_fallback_count) == (
        "alpaca", "alpaca", 0)
    assert msft.execution_actual_adapter == "lean"


def test_lane_disable_switch_setting_is_the_default_of_the_autonomy_flag(routed, settings):
    """One switch: the setting gives the LEAN lane's first value; the autonomy flag is the live control."""
    from autonomy.selectors import trading_state_get
    from autonomy.services import lean_lane_set

    settings.TRADING_LEAN_LANE_DISABLE_SWITCH = True
    assert trading_state_get().lean_enabled is False
    row = order_submit(data=OrderInputFactory()).execution
    assert (row.execution_expected_adapter, row.execution_actual_adapter) == ("alpaca", "alpaca")
    assert row.raw_order["_execution_route_policy"] == "lean_lane_disabled"
    lean_lane_set(enabled=True, reason="runner back", actor="ops")  # the flag overrides the setting from now on
    row = order_submit(data=OrderInputFactory()).execution
    assert row.execution_actual_adapter == "lean"


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
    from autonomy.services import lean_lane_set

    lean_lane_set(enabled=True, reason="operator override", actor="olga")  # the outage disabled the lane
    row = order_submit(data=OrderInputFactory()).execution  # no probe before 60 s: straight to Alpaca
    assert row.execution_actual_adapter == "alpaca" and row.execution_fallback_reason == "lean_circuit_open"


@pytest.mark.parametrize("policy,symbol,lean_enabled,expected", [
    (RoutePolicy(), "AAPL", True, ("lean", "lean_first")),
    (RoutePolicy(primary="alpaca"), "AAPL", True, ("alpaca", "primary_adapter")),
    (RoutePolicy(policy="allowlist", symbols=frozenset({"MSFT"})), "aapl", True,
     ("alpaca", "symbol_not_in_allowlist")),
    (RoutePolicy(policy="allowlist", symbols=frozenset({"MSFT"})), "msft", True, ("lean", "lean_first")),
    (RoutePolicy(), "AAPL", False, ("alpaca", "lean_lane_disabled")),
])
def test_expected_adapter_policy(policy, symbol, lean_enabled, expected):
    assert expected_adapter(policy, symbol, lean_enabled=lean_enabled) == expected


@pytest.mark.parametrize("policy,lean_allowed,expected", [
    (RoutePolicy(policy="allowlist", symbols=frozenset({"MSFT"})), True, ("lean", "lean_first")),
    (RoutePolicy(), False, ("alpaca", "symbol_not_in_allowlist")),
    (RoutePolicy(policy="allowlist", symbols=frozenset({"AAPL"})), None, ("lean", "lean_first")),
])
def test_symbol_allowlist_entry_overrides_the_settings_policy(policy, lean_allowed, expected):
    assert expected_adapter(policy, "AAPL", lean_allowed=lean_allowed) == expected


@pytest.mark.parametrize("attempt,step", [
    (Attempt("lean", order=BrokerOrder("b-1", "c-1", "filled")), "taken"),
    (Attempt("lean", order=BrokerOrder("b-1", "c-1", "filled"), reason="lean_submit_timeout",
             recovered_by_lookup=True), "taken"),
    (Attempt("lean", reason="lean_submit_http_422", refused=True, broker_code="insufficient_buying_power"),
     "refused"),
    (Attempt("lean", reason="lean_submit_network_error", ambiguous=True), "hold_pending"),
    (Attempt("lean", reason="lean_submit_network_error"), "fall_back"),  # refused connection, or "not found"
    (Attempt("lean", reason="lean_submit_http_500"), "fall_back"),
])
def test_after_lean(attempt, step):
    assert after_lean(attempt) == step


def test_fallback_reason_rule():
    assert fallback_reason_for("lean", "alpaca") == ("fallback_from_lean_to_alpaca", 1)
    assert fallback_reason_for("lean", "alpaca", "lean_submit_timeout") == ("lean_submit_timeout", 1)
    assert fallback_reason_for("lean", "lean") == ("", 0)


def test_autonomy_lean_switch_routes_to_alpaca(routed):
    from autonomy.services import lean_lane_set
    lean_lane_set(enabled=False, reason="maintenance", actor="ops")
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
    submit_behaviour = "hang"  # hang | not_an_order | reset

    def do_POST(self):
        self.server.seen.append(("POST", self.path))
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.submit_behaviour == "hang":
            time.sleep(ROUTER_TIMEOUT * 3)
            self.close_connection = True
            return
        if self.submit_behaviour == "reset":  # read the order, close without a byte
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
    ("reset", "lean_submit_network_error"),
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
