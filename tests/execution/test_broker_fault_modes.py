"""The sandbox brokers misbehave (API.md's fault modes) while orders come in through the API: each
broker in turn returns garbage (``malformed``), takes the order and drops the connection
(``accept_then_reset``), or refuses it (``reject``). Whatever happens: every order is answered 201
with its row (never a 5xx), a retry returns that row and places nothing, no client_order_id is ever
at a broker twice, every row says why it is where it is, and one reconciliation leaves no order
pending and every row in line with the brokers' books.

(The router's handling of each mode at LEAN is tested one by one in test_router.py; here both
brokers, the API and reconciliation together.)
"""
from __future__ import annotations

from collections import Counter

import pytest

from execution.models import Execution
from execution.reconciliation import reconcile_run
from tests.execution.factories import OrderInputFactory

pytestmark = pytest.mark.django_db

# mode -> (status right after submission, the row's last_error starts with) at the broker that misbehaves
EXPECTED = {
    # not an order: asked by client_order_id, the answer is garbage too, so nobody knows -> pending,
    # sent nowhere else; reconciliation asks again once the broker answers (it recorded nothing)
    "malformed": ("pending", "{broker}_submit_contract_violation"),
    # the broker took it and the answer was lost: found by client_order_id at once
    "accept_then_reset": ("filled", "{broker}_submit_network_error"),
    # a refusal of the order itself is final, with the broker's reason
    "reject": ("rejected", "{broker}_submit_http_422: insufficient_buying_power"),
}


def books(fakes) -> Counter:
    return Counter(o["client_order_id"] for o in fakes.lean.orders() + fakes.alpaca.orders())


@pytest.mark.parametrize("broker", ["lean", "alpaca"])
@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_a_misbehaving_broker_never_gets_an_order_twice_and_every_row_says_why(routed, settings, make_client,
                                                                               broker, mode):
    settings.TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES = 100  # keep routing to LEAN: the broker under test
    agent = make_client("agent")
    if broker == "alpaca":
        routed.lean.set_fault("error")  # LEAN answers 500 (it records nothing): every order falls back to Alpaca
    getattr(routed, broker).set_fault(mode)
    orders = [OrderInputFactory() for _ in range(3)]
    bodies = [{"client_order_id": o.client_order_id, "strategy": o.strategy, "symbol": o.symbol, "side": o.side,
               "qty": str(o.qty)} for o in orders]

    answers = [agent.post("/api/v1/trading/orders", body, format="json") for body in bodies]
    assert [a.status_code for a in answers] == [201] * 3, [a.content[:300] for a in answers]
    status, why = EXPECTED[mode]
    for answer in answers:
        row = Execution.objects.get(pk=answer.json()["id"])
        assert (row.status, row.execution_actual_adapter) == (status, broker)
        assert row.last_error.startswith(why.format(broker=broker)), row.last_error
        if broker == "alpaca":  # the route says why it left LEAN
            assert (row.execution_fallback_reason, row.execution_fallback_count) == ("lean_submit_http_500", 1)
    placed = books(routed)
    assert max(placed.values(), default=1) == 1

    # the client retries each order (same client_order_id): the stored row, nothing placed
    for body, answer in zip(bodies, answers, strict=True):
        again = agent.post("/api/v1/trading/orders", body, format="json")
        assert again.status_code == 200 and again.json()["id"] == answer.json()["id"]
    assert books(routed) == placed

    routed.set_fault("ok")
    reconcile_run(trigger="test")
    placed = books(routed)
    assert max(placed.values(), default=1) == 1  # reconciliation never submits
    for body in bodies:
        row = Execution.objects.get(client_order_id=body["client_order_id"])
        assert row.status not in ("pending", "pending_submit")
        if body["client_order_id"] in placed:
            assert (row.status, row.execution_actual_adapter) == ("filled", broker) and row.fills.count() == 1
        else:  # no broker holds it: rejected, and the row says why
            assert row.status == "rejected" and row.fills.count() == 0
            # the broker's refusal is kept; an order the broker turned out not to hold is not found there
            after = "not_found_at_broker" if mode == "malformed" else why.format(broker=broker)
            assert row.last_error.startswith(after), row.last_error
    assert set(placed) <= {b["client_order_id"] for b in bodies}
