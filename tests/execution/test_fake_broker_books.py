"""The sandbox brokers keep their books across restarts when asked to (the demo does): a restarted
broker knows the orders it took, so reconciliation finds them instead of flagging them unknown."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from execution.fake_brokers import FakeBrokers
from execution.models import Execution, ReconciliationDiscrepancy
from execution.reconciliation import reconcile_run
from execution.services import order_submit
from tests.execution.factories import OrderInputFactory


def _point_at(settings, fakes) -> None:
    settings.TRADING_EXECUTION_ADAPTER = "lean"
    settings.TRADING_EXECUTION_ADAPTER_POLICY = "all"
    settings.TRADING_LEAN_LANE_DISABLE_SWITCH = False
    settings.TRADING_LEAN_RUNNER_URL = fakes.lean.url
    settings.ALPACA_BASE_URL = fakes.alpaca.url
    settings.ALPACA_API_KEY_ID, settings.ALPACA_API_SECRET_KEY = "test-key", "test-secret"
    settings.TRADING_LEAN_RUNNER_TIMEOUT_SECONDS = settings.ALPACA_TIMEOUT_SECONDS = 0.5
    settings.TRADING_LEAN_CIRCUIT_MIN_REQUESTS = 1000
    settings.TRADING_LEAN_CIRCUIT_PROBE_SECONDS = 0


def _place_orders(settings, fakes) -> list[Execution]:
    """Orders filled at LEAN, and at Alpaca after LEAN answered 500 (a fallback)."""
    _point_at(settings, fakes)
    rows = [order_submit(data=OrderInputFactory()).execution for _ in range(3)]
    fakes.lean.set_fault("error")
    rows.append(order_submit(data=OrderInputFactory()).execution)
    fakes.lean.set_fault("ok")
    assert [(r.status, r.execution_actual_adapter) for r in rows] == [("filled", "lean")] * 3 + [("filled", "alpaca")]
    return rows


@pytest.mark.django_db
def test_restarted_brokers_know_their_orders_and_reconciliation_finds_them(settings, tmp_path):
    with FakeBrokers(book_dir=tmp_path) as fakes:
        rows = _place_orders(settings, fakes)
        before = fakes.lean.orders(), fakes.alpaca.orders()
    with FakeBrokers(book_dir=tmp_path) as restarted:  # new processes' worth: new ports, books from the files
        assert (restarted.lean.orders(), restarted.alpaca.orders()) == before
        _point_at(settings, restarted)
        run = reconcile_run(trigger="test")
    assert run.checked == len(rows)
    assert not ReconciliationDiscrepancy.objects.filter(kind="not_found_at_broker").exists()
    assert run.discrepancy_count == 0 and run.updated == 0
    assert set(Execution.objects.values_list("status", flat=True)) == {"filled"}


@pytest.mark.django_db
def test_without_a_kept_book_a_restart_forgets_every_order(settings, tmp_path):
    """What the demo met before the books were kept: every filled order flagged unknown."""
    with FakeBrokers() as fakes:
        rows = _place_orders(settings, fakes)
    with FakeBrokers() as restarted:
        assert restarted.lean.orders() == [] and restarted.alpaca.orders() == []
        _point_at(settings, restarted)
        reconcile_run(trigger="test")
    flagged = ReconciliationDiscrepancy.objects.filter(kind="not_found_at_broker")
    assert flagged.count() == len(rows)
    assert list(tmp_path.iterdir()) == []


def test_the_book_file_is_whole_json_and_a_reset_empties_it(tmp_path):
    with FakeBrokers(book_dir=tmp_path) as fakes:
        from execution.adapters import LeanAdapter
        from execution.adapters.base import OrderRequest

        LeanAdapter(fakes.lean.url).submit(OrderRequest("book-1", "AAPL", "buy", Decimal(1)))
    book = json.loads((tmp_path / "lean.json").read_text())
    assert book["broker"] == "lean" and [o["client_order_id"] for o in book["orders"]] == ["book-1"]
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["alpaca.json", "lean.json"]  # no temporary left
    with FakeBrokers(book_dir=tmp_path) as fakes:
        fakes.reset()
    assert json.loads((tmp_path / "lean.json").read_text())["orders"] == []


def test_an_unreadable_book_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "lean.json").write_text("{half a book")
    with pytest.raises(ValueError, match="lean.json.*Remove the file"):
        FakeBrokers(book_dir=tmp_path)
