"""The same client_order_id submitted concurrently gives exactly one broker order (real threads, real PostgreSQL)."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from execution.models import Execution
from execution.services import order_submit
from tests.execution.factories import OrderInputFactory


def _hammer(data, n):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(order_submit(data=data))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_same_client_order_id_from_eight_threads_one_broker_order(routed):
    data = OrderInputFactory()
    results, errors = _hammer(data, 8)
    assert errors == []
    assert sum(r.created for r in results) == 1
    assert len({r.execution.pk for r in results}) == 1
    assert all(r.execution.status == "filled" for r in results)
    assert Execution.objects.count() == 1
    assert len(routed.lean.orders()) == 1 and routed.alpaca.orders() == []


@pytest.mark.django_db(transaction=True)
def test_same_client_order_id_during_lean_timeout_one_broker_order(routed):
    routed.lean.set_fault("accept_then_timeout")
    data = OrderInputFactory()
    results, errors = _hammer(data, 4)
    assert errors == []
    assert sum(r.created for r in results) == 1
    assert len(routed.lean.orders()) == 1 and routed.alpaca.orders() == []


@pytest.mark.django_db(transaction=True)
def test_api_concurrent_same_id(routed, make_client):
    """Through HTTP views: one 201, the rest 200, one broker order."""
    client_tokens = [make_client("agent") for _ in range(4)]
    body = {"client_order_id": "dec-race-1", "strategy": "s", "symbol": "AAPL", "side": "buy", "qty": "1"}
    barrier = threading.Barrier(4)
    codes = []

    def worker(c):
        barrier.wait()
        codes.append(c.post("/api/v1/trading/orders", body, format="json").status_code)
        connection.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in client_tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [200, 200, 200, 201]
    assert len(routed.lean.orders()) == 1
