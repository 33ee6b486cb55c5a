"""/metrics serves latency histograms: API requests by route, order admission, broker calls by adapter."""
from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

ORDER = {"client_order_id": "lat-1", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "10",
         "type": "market", "time_in_force": "day"}
pytestmark = pytest.mark.django_db


def _samples(client) -> dict[tuple[str, frozenset], float]:
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _count(samples, name: str, **labels) -> float:
    """The histogram's _count summed over the series matching ``labels``."""
    return sum(v for (n, ls), v in samples.items()
               if n == f"{name}_count" and set(labels.items()) <= set(ls))


def test_the_histograms_are_served_with_their_buckets(client):
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    for name in ("torghut_api_request_duration_seconds", "torghut_order_admission_duration_seconds",
                 "torghut_broker_call_duration_seconds"):
        assert f"# TYPE {name} histogram" in text


def test_an_order_moves_the_histograms(routed, make_client, client):
    agent = make_client("agent")
    before = _samples(client)
    body = dict(ORDER)
    response = agent.post("/api/v1/trading/orders", body, format="json")
    assert response.status_code == 201, response.content
    assert agent.get(f"/api/v1/strategies/{body['strategy']}").status_code == 200
    after = _samples(client)

    def moved(name, **labels):
        return _count(after, name, **labels) - _count(before, name, **labels)

    assert moved("torghut_order_admission_duration_seconds", outcome="admitted") == 1
    assert moved("torghut_broker_call_duration_seconds", adapter="lean", operation="submit", outcome="ok") == 1
    # by route pattern, never the raw path: one series for every strategy
    assert moved("torghut_api_request_duration_seconds", route="/api/v1/trading/orders", method="POST",
                 status="2xx") == 1
    assert moved("torghut_api_request_duration_seconds", route="/api/v1/strategies/<str:name>", method="GET") == 1
    assert not any(re.search(body["strategy"], dict(ls).get("route", "")) for _, ls in after)


def test_a_refused_order_and_a_broker_failure_are_labelled(routed, make_client, client):
    agent = make_client("agent")
    routed.lean.set_fault("error")
    before = _samples(client)
    body = dict(ORDER)
    assert agent.post("/api/v1/trading/orders", body, format="json").status_code == 201
    refused = {**body, "client_order_id": body["client_order_id"] + "-x", "strategy": "never-promoted"}
    assert agent.post("/api/v1/trading/orders", refused, format="json").status_code == 423
    assert agent.get("/api/v1/no-such-thing").status_code == 404
    after = _samples(client)

    def moved(name, **labels):
        return _count(after, name, **labels) - _count(before, name, **labels)

    assert moved("torghut_broker_call_duration_seconds", adapter="lean", operation="submit") == 1
    assert moved("torghut_broker_call_duration_seconds", adapter="lean", operation="submit", outcome="ok") == 0
    assert moved("torghut_broker_call_duration_seconds", adapter="alpaca", operation="submit", outcome="ok") == 1
    assert moved("torghut_order_admission_duration_seconds", outcome="refused") == 1
    assert moved("torghut_api_request_duration_seconds", route="unmatched", status="4xx") == 1
