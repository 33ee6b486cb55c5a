"""The same client_order_id submitted concurrently gives exactly one broker order (real threads, real PostgreSQL)."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

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


# --- Admission under concurrency: a breach or a halt that commits refuses every later order ---------

def _flood(*, threads: int, per_thread: int, during=None):
    """``threads`` threads each submit ``per_thread`` orders as fast as they can (distinct ids), while
    ``during`` (if given) runs in another thread once they are going. Returns per-order records
    ``(started, ended, outcome)`` and the moment ``during`` returned."""
    from core.errors import Blocked

    barrier = threading.Barrier(threads + (1 if during else 0))
    records, errors, done = [], [], {}
    lock = threading.Lock()

    def trader(t):
        try:
            barrier.wait()
            for i in range(per_thread):
                started = time.monotonic()
                try:
                    order_submit(data=OrderInputFactory(client_order_id=f"flood-{t}-{i}", qty=Decimal(1)))
                    outcome = "admitted"
                except Blocked as exc:
                    outcome = exc.code
                with lock:
                    records.append((started, time.monotonic(), outcome))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def controller():
        try:
            barrier.wait()
            time.sleep(0.15)
            during()
            done["at"] = time.monotonic()
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=trader, args=(t,)) for t in range(threads)]
    if during:
        workers.append(threading.Thread(target=controller))
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert errors == []
    return records, done.get("at")


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_budget_breach_no_order_admitted_after_it(routed):
    """20 threads flood orders while the order-count budget runs out: exactly the budget is admitted, the
    order that would pass it breaches it and halts trading, and nothing is admitted after that commits."""
    from autonomy.models import BudgetUsage, ConditionEvaluation, TradingState
    from autonomy.services import budget_policy_set

    limit = 37
    budget_policy_set(name="order_count", limit=Decimal(limit), on_breach="HALTED", reason="test", actor="ops")
    records, _ = _flood(threads=20, per_thread=4)
    admitted = [r for r in records if r[2] == "admitted"]
    assert len(records) == 80 and len(admitted) == limit
    assert {r[2] for r in records} - {"admitted"} <= {"budget_exceeded", "trading_halted"}
    assert Execution.objects.count() == limit == len(routed.lean.orders())
    assert BudgetUsage.objects.get(name="order_count").used == limit
    assert TradingState.objects.get(id=1).state == "HALTED"
    breach = ConditionEvaluation.objects.get(condition="budget")
    # every admitted order's admission committed before the breach committed: none started after the
    # breaching order's refusal was back
    first_refusal_end = min(r[1] for r in records if r[2] != "admitted")
    assert all(r[0] < first_refusal_end for r in admitted)
    assert breach.inputs["used"] == str(limit)


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_halt_no_order_admitted_after_it_commits(routed):
    """An operator halts while 20 threads submit. The halt waits for the admissions in flight (they hold
    the controls FOR SHARE), and no admission commits after it: the executions the halt's transaction sees
    once it holds the lock are all there will ever be, and no order begun after it is admitted."""
    from django.db import transaction

    from autonomy.services import trading_state_set

    seen = {}

    def halt():
        with transaction.atomic():
            trading_state_set(state="HALTED", reason="operator stop", actor="ops", roles={"operator"})
            seen["executions"] = Execution.objects.count()  # a fresh snapshot, taken holding the lock

    records, halted_at = _flood(threads=20, per_thread=6, during=halt)
    admitted = [r for r in records if r[2] == "admitted"]
    assert admitted and len(admitted) < len(records), "the halt landed during the flood"
    assert Execution.objects.count() == len(admitted) == seen["executions"] == len(routed.lean.orders())
    assert all(r[2] == "trading_halted" for r in records if r[0] > halted_at)
