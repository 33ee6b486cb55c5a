"""The execution API against the agent contract (fields, codes, idempotency, permissions)."""
from __future__ import annotations

from base64 import b64encode
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from autonomy.services import symbol_mode_set, trading_state_set
from execution.models import Execution, LeanOutage, OrderRefusal
from execution.schemas import ExecutionOut
from tests.execution.factories import ExecutionFactory

pytestmark = pytest.mark.django_db

EXECUTION_FIELDS = {"id", "client_order_id", "broker_order_id", "symbol", "side", "order_type", "time_in_force",
                    "submitted_qty", "filled_qty", "avg_fill_price", "status",
                    "execution_expected_adapter", "execution_actual_adapter",
                    "execution_fallback_reason", "execution_fallback_count", "created_at", "last_update_at"}
ORDER = {"client_order_id": "dec-api-1", "strategy": "macd_rsi", "symbol": "aapl", "side": "buy", "qty": "10",
         "type": "market", "time_in_force": "day"}


@pytest.mark.smoke
def test_order_create_then_replay(routed, make_client):
    client = make_client("agent")
    first = client.post("/api/v1/trading/orders", ORDER, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert EXECUTION_FIELDS <= set(body)
    assert body["symbol"] == "AAPL" and body["submitted_qty"] == "10" and body["filled_qty"] == "10"
    assert body["avg_fill_price"] == "190" and body["status"] == "filled"
    assert body["execution_expected_adapter"] == "lean" and body["execution_actual_adapter"] == "lean"
    assert body["execution_fallback_count"] == 0
    assert "+00:00" in body["created_at"] or body["created_at"].endswith("Z")
    again = client.post("/api/v1/trading/orders/", ORDER, format="json")
    assert again.status_code == 200 and again.json() == body
    assert len(routed.lean.orders()) == 1


@pytest.mark.smoke
def test_order_when_no_broker_takes_it_is_201_rejected(routed, make_client):
    routed.set_fault("error")
    resp = make_client("agent").post("/api/v1/trading/orders", ORDER, format="json")
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "rejected"
    assert body["execution_fallback_reason"] == "lean_submit_http_500" and body["execution_fallback_count"] == 1


@pytest.mark.parametrize("mode,status,actual", [
    ("reject", "rejected", "lean"),           # refused by LEAN: final, not retried at Alpaca
    ("accept_then_reset", "filled", "lean"),  # the answer was lost: found at LEAN by client order id
    ("down", "pending", "lean"),              # LEAN may hold it and cannot say: held, sent nowhere else
])
def test_order_under_lean_faults_is_201_and_never_reaches_alpaca(routed, make_client, mode, status, actual):
    routed.lean.set_fault(mode)
    client = make_client("agent")
    resp = client.post("/api/v1/trading/orders", ORDER, format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert (body["status"], body["execution_actual_adapter"], body["execution_fallback_count"]) == (status, actual, 0)
    assert client.post("/api/v1/trading/orders", ORDER, format="json").json() == body  # a replay: the stored row
    assert routed.alpaca.orders() == []


@pytest.mark.parametrize("body,field", [
    ({**ORDER, "qty": "0"}, "qty"),
    ({**ORDER, "side": "hold"}, "side"),
    ({**ORDER, "type": "limit"}, "limit_price"),
    ({k: v for k, v in ORDER.items() if k != "client_order_id"}, "client_order_id"),
])
def test_order_invalid_input_400_names_field(make_client, body, field):
    resp = make_client("agent").post("/api/v1/trading/orders", body, format="json")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid"
    assert field in resp.json()["error"]["details"]["fields"]
    assert Execution.objects.count() == 0


def test_order_blocked_by_halt_and_disabled_symbol_423(make_client):
    client = make_client("agent")
    trading_state_set(state="HALTED", reason="drawdown", actor="ops")
    resp = client.post("/api/v1/trading/orders", ORDER, format="json")
    assert resp.status_code == 423 and resp.json()["error"]["code"] == "trading_halted"
    trading_state_set(state="ACTIVE", reason="drawdown reviewed", actor="ops")
    symbol_mode_set(symbol="AAPL", mode="disabled", reason="halt gap", actor="ops")
    resp = client.post("/api/v1/trading/orders", ORDER, format="json")
    assert resp.status_code == 423 and resp.json()["error"]["code"] == "symbol_disabled"
    assert Execution.objects.count() == 0
    assert list(OrderRefusal.objects.values_list("code", flat=True).order_by("id")) == [
        "trading_halted", "symbol_disabled"]


@pytest.mark.parametrize("role,status", [("agent", 400), ("operator", 400), ("researcher", 403),
                                         ("approver", 403), ("auditor", 403)])
def test_order_permissions(make_client, role, status):
    assert make_client(role).post("/api/v1/trading/orders", {}, format="json").status_code == status


@pytest.mark.parametrize("path", ["/api/v1/trading/orders", "/api/v1/trading/executions",
                                  "/api/v1/trading/route-stats", "/api/v1/trading/lean-outages"])
def test_anonymous_is_401(anon_client, path):
    assert anon_client.get(path).status_code == 401


@pytest.mark.parametrize("role", ["researcher", "operator", "approver", "auditor", "agent"])
def test_every_role_reads(make_client, role):
    client = make_client(role)
    for path in ["/api/v1/trading/executions", "/api/v1/trading/route-stats", "/api/v1/trading/lean-outages"]:
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("query", [
    "cursor=garbage", f"cursor={b64encode(b'p=abc').decode()}", f"cursor={b64encode(b'p=' + b'9' * 30).decode()}",
    "fallback=maybe", "limit=0", "limit=ten", "bucket=week", "since=0001-01-01T00:00:00%2B05:00",
    "since=9999-12-31T23:00:00-05:00", "since=2026-02-30T00:00:00Z",
])
def test_list_query_strings_that_cannot_be_read_are_400(make_client, query):
    ExecutionFactory.create_batch(2)
    client = make_client("auditor")
    paths = ["/api/v1/trading/route-stats"] if query.startswith("bucket") else ["/api/v1/trading/executions"]
    if query.startswith("since"):
        paths += ["/api/v1/trading/route-stats", "/api/v1/trading/lean-outages"]
    for path in paths:
        resp = client.get(f"{path}?{query}")
        assert resp.status_code == 400, (path, resp.content)
        assert set(resp.json()["error"]["details"]["fields"]) == {query.split("=")[0]}


def test_any_valid_utc_offset_is_read(make_client):
    """An offset beyond what PostgreSQL takes in a literal (+-15:59) is still a valid date-time."""
    ExecutionFactory.create_batch(2)
    client = make_client("auditor")
    for path in ["/api/v1/trading/executions", "/api/v1/trading/route-stats", "/api/v1/trading/lean-outages",
                 "/api/v1/research/runs"]:
        param = "created_after" if "runs" in path else "since"
        assert client.get(f"{path}?{param}=2020-01-01T00:00:00%2B20:00").status_code == 200, path
    assert len(client.get("/api/v1/trading/executions?since=2020-01-01T00:00:00-23:59").json()["results"]) == 2


def test_empty_query_parameters_are_left_out(make_client):
    ExecutionFactory.create_batch(2)
    client = make_client("auditor")
    body = client.get("/api/v1/trading/executions?limit=&cursor=&status=&since=&fallback=&adapter=").json()
    assert len(body["results"]) == 2
    assert client.get("/api/v1/trading/route-stats?bucket=&since=").status_code == 200
    assert client.get("/api/v1/trading/lean-outages?open=&limit=").status_code == 200


def test_execution_list_filters_and_pagination(make_client, django_assert_max_num_queries):
    ExecutionFactory.create_batch(3, symbol="AAPL")
    ExecutionFactory.create_batch(2, symbol="MSFT", execution_actual_adapter="alpaca",
                                  execution_fallback_reason="lean_submit_timeout", execution_fallback_count=1)
    client = make_client("auditor")
    resp = client.get("/api/v1/trading/executions?symbol=msft&adapter=alpaca&limit=1")
    body = resp.json()
    assert set(body) == {"results", "next"} and len(body["results"]) == 1 and body["next"]
    assert EXECUTION_FIELDS <= set(body["results"][0])
    assert body["results"][0]["symbol"] == "MSFT"
    page2 = client.get(body["next"]).json()
    assert len(page2["results"]) == 1 and page2["next"] is None
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/trading/executions", {"since": future}).json()["results"] == []
    assert client.get("/api/v1/trading/executions?limit=501").status_code == 400
    one = ExecutionFactory(client_order_id="find-me")
    assert [r["id"] for r in client.get("/api/v1/trading/executions?client_order_id=find-me").json()["results"]] \
        == [one.id]
    with django_assert_max_num_queries(6):
        assert len(client.get("/api/v1/trading/executions?limit=500").json()["results"]) == 6


def test_execution_list_rows_are_the_orders_own_answers(routed, make_client):
    """A row of the list is exactly what the order's submission answered (the same fields, decimals and
    timestamps), filled or pending, routed or not; the list reads only the answer's columns."""
    client = make_client("agent")
    created = client.post("/api/v1/trading/orders", ORDER, format="json").json()
    legacy = ExecutionFactory(symbol="MSFT", avg_fill_price=None, broker_order_id=None, status="pending",
                              execution_actual_adapter=None, legacy=True, raw_order={"big": "x" * 10_000})
    rows = client.get("/api/v1/trading/executions").json()["results"]
    assert rows == [ExecutionOut.model_validate(legacy).model_dump(mode="json"), created]
    assert rows[0]["avg_fill_price"] is None and rows[0]["broker_order_id"] is None and rows[0]["legacy"] is True
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/trading/executions")
    listing = [q["sql"] for q in queries.captured_queries if 'FROM "executions"' in q["sql"]]
    assert listing and all("raw_order" not in sql for sql in listing)


def test_route_stats_is_bare_array_per_bucket(make_client, django_assert_num_queries):
    ExecutionFactory.create_batch(3)
    ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_reason="lean_submit_timeout",
                     execution_fallback_count=1)
    ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_reason="lean_circuit_open",
                     execution_fallback_count=1)
    client = make_client("auditor")
    client.get("/api/v1/trading/route-stats")  # warm the principal's role cache path
    resp = client.get("/api/v1/trading/route-stats?bucket=day")
    data = resp.json()
    assert isinstance(data, list) and len(data) == 1
    assert set(data[0]) == {"bucket", "requests", "fallbacks", "fallback_rate", "by_reason"}
    assert data[0]["requests"] == 5 and data[0]["fallbacks"] == 2 and data[0]["fallback_rate"] == 0.4
    assert data[0]["by_reason"] == {"lean_submit_timeout": 1, "lean_circuit_open": 1}
    assert client.get("/api/v1/trading/route-stats?bucket=week").status_code == 400
    assert client.get("/api/v1/trading/route-stats?since=yesterday").status_code == 400


def test_lean_outages_list(make_client):
    LeanOutage.objects.create(reason="lean_submit_timeout", failures=5,
                              started_at=datetime(2026, 1, 1, tzinfo=UTC), ended_at=datetime(2026, 1, 1, 1, tzinfo=UTC))
    LeanOutage.objects.create(reason="lean_submit_network_error", failures=3)
    body = make_client("agent").get("/api/v1/trading/lean-outages").json()
    assert set(body) == {"results", "next"}
    assert [set(r) for r in body["results"]] == [{"id", "started_at", "ended_at", "reason", "failures"}] * 2
    assert body["results"][0]["ended_at"] is None


def test_one_open_outage_at_most(db):
    from django.db import IntegrityError
    LeanOutage.objects.create(reason="a")
    with pytest.raises(IntegrityError):
        LeanOutage.objects.create(reason="b")


def test_metrics_names_and_access(client, settings):
    ExecutionFactory()
    ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_reason="lean_submit_timeout",
                     execution_fallback_count=1)
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'torghut_trading_execution_requests_total{adapter="lean"} 1.0' in text
    assert 'torghut_trading_execution_requests_total{adapter="alpaca"} 1.0' in text
    assert 'torghut_trading_execution_fallback_total{from="lean",to="alpaca"} 1.0' in text
    assert 'torghut_trading_execution_fallback_reason_total{reason="lean_submit_timeout"} 1.0' in text
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


# --- strategies: orders never create one; operators trade only their own ----------------------

@pytest.mark.parametrize("name", ["", "   ", " macd_rsi", "macd rsi", "x" * 101])
def test_a_blank_or_malformed_strategy_is_400_and_writes_nothing(routed, make_client, name):
    from strategies.models import Strategy

    before = Strategy.objects.count()
    resp = make_client("agent").post("/api/v1/trading/orders", {**ORDER, "strategy": name}, format="json")
    assert resp.status_code == 400, resp.content
    assert "strategy" in resp.json()["error"]["details"]["fields"]
    assert Execution.objects.count() == 0 and Strategy.objects.count() == before
    assert routed.lean.orders() == [] and routed.alpaca.orders() == []


def test_an_order_for_a_strategy_no_run_named_is_423_and_creates_no_strategy(routed, make_client):
    from strategies.models import Strategy

    resp = make_client("agent").post("/api/v1/trading/orders", {**ORDER, "strategy": "breakout"}, format="json")
    assert resp.status_code == 423 and resp.json()["error"]["code"] == "strategy_not_live"
    assert "breakout" in resp.json()["error"]["message"]
    assert not Strategy.objects.filter(name="breakout").exists()
    assert Execution.objects.count() == 0 and routed.lean.orders() == [] and routed.alpaca.orders() == []
    assert OrderRefusal.objects.get().code == "strategy_not_live"


def test_an_operator_scoped_to_one_strategy_cannot_trade_another(routed, make_client):
    from access.services import principal_create

    ops = make_client("agent")  # any client; replaced below by a scoped operator's token
    token = principal_create(name="ops1", roles=["operator"], strategies=["macd_rsi"]).token
    ops.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    refused = ops.post("/api/v1/trading/orders", {**ORDER, "client_order_id": "o-2", "strategy": "tsmom"},
                       format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "strategy_out_of_scope"
    assert Execution.objects.count() == 0 and routed.lean.orders() == []
    own = ops.post("/api/v1/trading/orders", {**ORDER, "client_order_id": "o-1"}, format="json")
    assert own.status_code == 201, own.content
    assert Execution.objects.get().strategy.name == "macd_rsi"


# --- admission by stage -----------------------------------------------------------------------------

def _set_stage(name: str, *stages: str) -> None:
    from strategies.models import Strategy

    for stage in stages:  # one legal step at a time, as promotions move it
        Strategy.objects.filter(name=name).update(stage=stage)


def test_an_order_for_a_strategy_at_shadow_is_423_strategy_not_live(routed, make_client):
    _set_stage("tsmom", "shadow")
    resp = make_client("agent").post("/api/v1/trading/orders", {**ORDER, "strategy": "tsmom"}, format="json")
    assert resp.status_code == 423 and resp.json()["error"]["code"] == "strategy_not_live"
    assert "shadow" in resp.json()["error"]["message"]
    assert Execution.objects.count() == 0 and routed.lean.orders() == []


def test_each_execution_records_the_stage_it_was_admitted_at(routed, make_client):
    resp = make_client("agent").post("/api/v1/trading/orders", ORDER, format="json")
    assert resp.status_code == 201
    assert Execution.objects.get().strategy_stage == "paper"


@pytest.fixture
def canary_policy(settings, tmp_path):
    from django.core.management import call_command

    from promotions import services
    call_command("gate_policy", "load", "--shipped", stdout=__import__("io").StringIO())
    services.policy_activate(version="v3-gates-1", actor="test", reason="caps")
    _set_stage("macd_rsi", "canary")  # paper -> canary
    return services  # caps: 5000 per order, 25000 per day


def test_canary_orders_are_held_to_the_policy_caps(routed, make_client, canary_policy):
    client = make_client("agent")
    priced = {**ORDER, "decision_price": "190", "qty": "10"}  # notional 1,900
    for n in range(13):  # 13 x 1,900 = 24,700 <= 25,000
        resp = client.post("/api/v1/trading/orders", {**priced, "client_order_id": f"can-{n}"}, format="json")
        assert resp.status_code == 201, resp.content
    over_day = client.post("/api/v1/trading/orders", {**priced, "client_order_id": "can-13"}, format="json")
    assert over_day.status_code == 423 and over_day.json()["error"]["code"] == "canary_cap_exceeded"
    assert "per day" in over_day.json()["error"]["message"]
    big = client.post("/api/v1/trading/orders", {**ORDER, "client_order_id": "can-big", "strategy": "macd_rsi",
                                                 "decision_price": "190", "qty": "27"}, format="json")
    assert big.status_code == 423 and "per order" in big.json()["error"]["message"]
    unpriced = client.post("/api/v1/trading/orders", {**ORDER, "client_order_id": "can-x"}, format="json")
    assert unpriced.status_code == 423 and "decision_price" in unpriced.json()["error"]["message"]
    assert Execution.objects.filter(strategy_stage="canary").count() == 13
    assert len(routed.lean.orders()) == 13
