"""Strict order input: one reading of every body, quantities as decimal strings, a clear 400 for
anything else, its audit row, and no order anywhere."""
from __future__ import annotations

import json

import pytest

from access.models import AuditEvent
from execution.models import Execution

pytestmark = pytest.mark.django_db
URL = "/api/v1/trading/orders"
ORDER = {"client_order_id": "strict-1", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "1",
         "type": "market", "time_in_force": "day"}


def post_text(client, text: str):
    return client.generic("POST", URL, text, content_type="application/json")


def assert_nothing_ordered(routed) -> None:
    assert not Execution.objects.exists()
    assert routed.lean.orders() == [] and routed.alpaca.orders() == []


@pytest.mark.parametrize("text,path", [
    ('{"client_order_id": "strict-1", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", '
     '"qty": "1", "qty": "1000"}', "qty"),
    ('{"client_order_id": "strict-1", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", '
     '"side": "sell", "qty": "1"}', "side"),
])
def test_duplicate_keys_are_400_naming_the_key(routed, make_client, text, path):
    response = post_text(make_client("agent"), text)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "duplicate_key" and error["details"]["path"] == path
    assert_nothing_ordered(routed)
    assert AuditEvent.objects.get(path=URL).details["error_code"] == "duplicate_key"


@pytest.mark.parametrize("field,value", [
    ("qty", " 10"), ("qty", "10 "), ("qty", "10\n"), ("qty", "1e3"), ("qty", "+1"), ("qty", "٣"),
    ("qty", 10), ("qty", 0.1), ("qty", True), ("qty", "0"), ("qty", "-1"), ("qty", "1.123456789"),
    ("decision_price", " 190.5"), ("decision_price", 190.5),
])
def test_quantities_and_prices_are_decimal_strings_of_one_shape(routed, make_client, field, value):
    response = make_client("agent").post(URL, {**ORDER, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]["fields"]
    assert_nothing_ordered(routed)


def test_limit_price_shape(routed, make_client):
    body = {**ORDER, "type": "limit", "limit_price": "190.5 "}
    response = make_client("agent").post(URL, body, format="json")
    assert response.status_code == 400 and "limit_price" in response.json()["error"]["details"]["fields"]
    assert_nothing_ordered(routed)


@pytest.mark.parametrize("field,value,path", [
    ("strategy", "macd\u0000rsi", "strategy"),
    ("correlation_id", "c\u0000", "correlation_id"),
    ("strategy", "macd\ud800", "strategy"),
    ("client_order_id", "\udc00", "client_order_id"),
])
def test_nul_and_lone_surrogates_are_400_and_the_refusal_is_audited(routed, make_client, field, value, path):
    response = post_text(make_client("agent"), json.dumps({**ORDER, field: value}))
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["details"]["fields"]) == [path]
    event = AuditEvent.objects.get(path=URL)
    assert (event.outcome, event.status_code, event.details["error_code"]) == ("invalid", 400, "invalid_json")
    assert_nothing_ordered(routed)


def test_a_well_formed_order_still_goes_through(routed, make_client):
    response = make_client("agent").post(URL, {**ORDER, "qty": "2.5", "decision_price": "190.25"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["submitted_qty"] == "2.5"
