"""Reconciliation against the fakes: repairs ambiguous orders, flags unknown broker orders, runs twice at once."""
from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from execution.models import Execution, Fill, ReconciliationDiscrepancy, ReconciliationRun
from execution.reconciliation import reconcile_run
from execution.schedules import RECONCILE, sync_schedules
from execution.services import order_submit
from tests.execution.factories import OrderInputFactory


@pytest.mark.django_db
def test_both_down_then_back_reconciliation_resolves(routed):
    routed.set_fault("down")
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(2)]
    assert {r.status for r in rows} == {"pending"}
    # brokers return; one order had in fact reached Alpaca (placed behind our back, same client id)
    routed.set_fault("ok")
    from execution.adapters import AlpacaAdapter
    from execution.adapters.base import OrderRequest
    AlpacaAdapter("k", "s", url_override=routed.alpaca.url).submit(
        OrderRequest(rows[0].client_order_id, "AAPL", "buy", rows[0].submitted_qty))
    run = reconcile_run(trigger="test")
    a, b = (Execution.objects.get(pk=r.pk) for r in rows)
    assert a.status == "filled" and a.execution_actual_adapter == "alpaca" and a.fills.count() == 1
    assert b.status == "rejected" and b.last_error == "not_found_at_broker"
    kinds = sorted(run.discrepancies.values_list("kind", flat=True))
    assert kinds == ["found_at_broker", "not_found_at_broker"]
    assert run.finished_at is not None and run.checked == 2 and run.updated == 2
    # idempotent: a second pass changes nothing and duplicates no fill
    again = reconcile_run(trigger="test")
    assert again.updated == 0 and Fill.objects.count() == 1


@pytest.mark.django_db
def test_accept_then_timeout_with_failed_lookup_is_repaired(routed, settings):
    routed.lean.set_fault("slow")
    row = order_submit(data=OrderInputFactory()).execution
    assert row.status == "pending" and routed.alpaca.orders() == []
    routed.lean.set_fault("ok")
    reconcile_run(trigger="test")
    row.refresh_from_db()
    assert row.status == "rejected"  # slow mode records nothing: LEAN never had it
    assert routed.alpaca.orders() == []  # reconciliation never resubmits


@pytest.mark.django_db
def test_orders_left_pending_at_lean_are_settled_by_client_order_id(routed):
    """LEAN closed the connections unanswered (``down``) and its look-ups failed, so the rows are
    pending at LEAN. Once it answers, reconciliation finds the one LEAN really took and rejects the
    other; a refused order stays as it is; nothing is ever sent to Alpaca."""
    from execution.adapters import LeanAdapter
    from execution.adapters.base import OrderRequest
    routed.lean.set_fault("down")
    reached, lost = (order_submit(data=OrderInputFactory()).execution for _ in range(2))
    assert {(r.status, r.execution_actual_adapter) for r in (reached, lost)} == {("pending", "lean")}
    routed.lean.set_fault("reject")
    refused = order_submit(data=OrderInputFactory()).execution
    assert refused.status == "rejected"
    routed.lean.set_fault("ok")
    LeanAdapter(routed.lean.url).submit(OrderRequest(reached.client_order_id, "AAPL", "buy", reached.submitted_qty))

    run = reconcile_run(trigger="test")
    reached, lost, refused_after = (Execution.objects.get(pk=r.pk) for r in (reached, lost, refused))
    assert (reached.status, reached.execution_actual_adapter, reached.execution_fallback_count) == ("filled", "lean", 0)
    assert reached.fills.count() == 1
    assert (lost.status, lost.last_error) == ("rejected", "not_found_at_broker")
    assert (refused_after.status, refused_after.last_error) == ("rejected", refused.last_error)
    assert sorted(run.discrepancies.values_list("kind", flat=True)) == ["found_at_broker", "not_found_at_broker"]
    assert routed.alpaca.orders() == []


@pytest.mark.django_db
def test_flags_broker_orders_unknown_to_database(routed):
    from decimal import Decimal

    from execution.adapters import LeanAdapter
    from execution.adapters.base import OrderRequest
    LeanAdapter(routed.lean.url).submit(OrderRequest("stranger-1", "MSFT", "sell", Decimal("1")))
    order_submit(data=OrderInputFactory())
    run = reconcile_run(trigger="test")
    unknown = run.discrepancies.filter(kind="unknown_broker_order")
    assert list(unknown.values_list("client_order_id", "adapter")) == [("stranger-1", "lean")]
    # the next run does not flag the same stranger again; a new stranger is flagged
    LeanAdapter(routed.lean.url).submit(OrderRequest("stranger-2", "MSFT", "sell", Decimal("1")))
    again = reconcile_run(trigger="test")
    assert list(again.discrepancies.filter(kind="unknown_broker_order").values_list("client_order_id", flat=True)) \
        == ["stranger-2"]
    assert again.discrepancy_count == 1


@pytest.mark.django_db
def test_command_and_schedule_sync(routed):
    order_submit(data=OrderInputFactory())
    out = StringIO()
    call_command("reconcile", stdout=out)
    assert "reconciliation run" in out.getvalue() and ReconciliationRun.objects.count() == 1
    created = sync_schedules()
    assert (RECONCILE, True) in created and all(flag for _, flag in created)
    assert (RECONCILE, False) in sync_schedules()
    from django_q.models import Schedule
    schedule = Schedule.objects.get(name=RECONCILE)
    assert schedule.func == "execution.tasks.reconcile_executions" and schedule.next_run is not None


@pytest.mark.django_db(transaction=True)
def test_two_reconciliations_at_once_are_safe(routed):
    routed.set_fault("down")
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(6)]
    routed.set_fault("ok")
    from execution.adapters import AlpacaAdapter
    from execution.adapters.base import OrderRequest
    alpaca = AlpacaAdapter("k", "s", url_override=routed.alpaca.url)
    for r in rows[:3]:
        alpaca.submit(OrderRequest(r.client_order_id, "AAPL", "buy", r.submitted_qty))
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            barrier.wait()
            reconcile_run(trigger="thread")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    statuses = sorted(Execution.objects.values_list("status", flat=True))
    assert statuses == ["filled"] * 3 + ["rejected"] * 3
    assert Fill.objects.count() == 3
    # each repaired order is reported once across both runs
    found = ReconciliationDiscrepancy.objects.filter(kind__in=["found_at_broker", "not_found_at_broker"])
    assert found.count() == 6
    assert len(set(found.values_list("execution_id", flat=True))) == 6
