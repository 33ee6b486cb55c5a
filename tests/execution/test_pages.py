"""Pages: executions list (same filters as the API), dashboards (SQL aggregates, plotly), outages."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from execution import figures, selectors
from execution.models import Fill, LeanOutage, ReconciliationDiscrepancy, ReconciliationRun, TradeDecision
from tests.execution.factories import ExecutionFactory

pytestmark = pytest.mark.django_db



def seed():
    decision = TradeDecision.objects.create(decision_hash="d-1", symbol="AAPL", side="buy", qty=10,
                                            decision_price=Decimal("189.00"))
    row = ExecutionFactory(trade_decision=decision)
    Fill.objects.create(execution=row, adapter="lean", broker_fill_id="x:10", qty=10, price=Decimal("190.00"))
    ExecutionFactory(symbol="MSFT", execution_actual_adapter="alpaca", avg_fill_price=Decimal("410"),
                     execution_fallback_reason="lean_submit_timeout", execution_fallback_count=1)
    LeanOutage.objects.create(reason="lean_submit_timeout", failures=4,
                              started_at=datetime.now(UTC) - timedelta(hours=2),
                              ended_at=datetime.now(UTC) - timedelta(hours=1))


def test_list_page_uses_shared_filters(browser):
    seed()
    page = browser.get("/executions/?symbol=msft&fallback=true").content.decode()
    assert "lean_submit_timeout" in page and ">AAPL<" not in page
    assert browser.get("/executions/").status_code == 200
    assert ">AAPL<" in browser.get("/executions/?fallback=").content.decode()  # the form's empty choice
    bad = browser.get("/executions/?fallback=maybe&symbol=AAPL")
    assert bad.status_code == 400  # a form error next to the field, not a crash, and no rows
    html = bad.content.decode()
    assert 'id="error-fallback"' in html and "Enter true or false." in html and ">AAPL<" not in html


def test_an_invalid_date_in_the_executions_filter_is_an_error_next_to_it_not_every_row(browser):
    seed()
    resp = browser.get("/executions/?since=2026-13-45&fallback=true")
    html = resp.content.decode()
    assert resp.status_code == 400
    assert "“2026-13-45” is not a date and time" in html
    assert 'aria-invalid="true"' in html
    assert "lean_submit_timeout" not in html and "No executions match" not in html


def test_list_page_requires_login(client):
    assert client.get("/executions/").status_code == 302


def test_dashboard_page_renders_four_charts_from_static_plotly(browser, django_assert_max_num_queries):
    seed()
    with django_assert_max_num_queries(12):
        resp = browser.get("/executions/dashboards/")
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "plotly/plotly.min.js" in html and "cdn" not in html.lower()
    for chart in ["chart-fallback-hourly", "chart-fallback-daily", "chart-outages", "chart-concentration",
                  "chart-slippage"]:
        assert chart in html
    assert "Plotly.newPlot" in html


def test_outages_page(browser):
    seed()
    page = browser.get("/executions/outages/").content.decode()
    assert "lean_submit_timeout" in page and "1 h 00 min" in page  # how long it lasted


def test_reconciliation_run_page_lists_its_discrepancies_linked_to_executions(browser):
    row = ExecutionFactory(client_order_id="c-42")
    ExecutionFactory(client_order_id="c-43")
    run = ReconciliationRun.objects.create(trigger="test", checked=2, updated=1, discrepancy_count=2)
    ReconciliationDiscrepancy.objects.create(run=run, execution=row, kind="not_found_at_broker",
                                             client_order_id="c-42",
                                             details={"before": "pending", "after": "rejected",
                                                      "asked": ["lean", "alpaca"]})
    ReconciliationDiscrepancy.objects.create(run=run, kind="unknown_broker_order", adapter="lean",
                                             client_order_id="stranger-1", broker_order_id="b-9",
                                             details={"status": "filled", "symbol": "MSFT"})
    assert f'href="/executions/reconciliation/{run.id}/"' in browser.get("/executions/outages/").content.decode()
    page = browser.get(f"/executions/reconciliation/{run.id}/").content.decode()
    assert "not_found_at_broker" in page and "unknown_broker_order" in page and "b-9" in page
    assert "pending → rejected · asked lean, alpaca" in page
    assert f'href="/executions/{row.id}/"' in page
    assert ">stranger-1</a>" not in page and ">stranger-1<" in page  # nothing stored to link to
    listed = browser.get("/executions/?client_order_id=c-42").content.decode()
    assert "c-42" in listed and "c-43" not in listed
    assert "status filled · symbol MSFT" in page
    assert browser.get("/executions/reconciliation/999999/").status_code == 404


def test_discrepancy_descriptions():
    from execution.views import describe_discrepancy
    assert describe_discrepancy({"before": {"status": "accepted", "filled_qty": "0", "adapter": "lean"},
                                 "after": {"status": "filled", "filled_qty": "5", "adapter": "lean"}}) \
        == "status accepted → filled · filled_qty 0 → 5"
    assert describe_discrepancy({"errors": ["lean_get_by_client_order_id_network_error"]}) \
        == "errors: lean_get_by_client_order_id_network_error"


def test_dashboard_selectors_aggregate_in_one_query_each(django_assert_num_queries):
    seed()
    since = datetime.now(UTC) - timedelta(days=90)
    with django_assert_num_queries(1):
        dash = selectors.fallback_dashboard(since=since)
    assert sum(b["requests"] for b in dash.daily) == 2
    assert dash.daily[0]["by_reason"] == {"lean_submit_timeout": 1}
    with django_assert_num_queries(1):
        conc = selectors.route_concentration(since=since)
    assert {(r["adapter"], r["symbol"]) for r in conc} == {("lean", "AAPL"), ("alpaca", "MSFT")}
    assert abs(sum(r["share"] for r in conc) - 1) < 1e-9
    with django_assert_num_queries(1):
        slip = selectors.fill_slippage(since=since)
    assert slip == [{"adapter": "lean", "bps": pytest.approx(52.9), "fills": 1, "qty": Decimal("10")}]


def test_figures_are_pure():
    buckets = [{"bucket": datetime(2026, 1, 1, tzinfo=UTC), "requests": 4, "fallbacks": 1, "fallback_rate": 0.25,
                "by_reason": {"lean_submit_timeout": 1}}]
    fig = figures.fallback_rate_figure(buckets, title="t")
    assert [t.name for t in fig.data] == ["lean_submit_timeout", "fallback rate"]
    # hours without orders have no rate: the line breaks there instead of sloping across the gap
    hours = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (9, 10, 14)]
    fig = figures.fallback_rate_figure(
        [{"bucket": h, "requests": 2, "fallbacks": 1, "fallback_rate": 0.5, "by_reason": {"r": 1}} for h in hours],
        title="t")
    line = fig.data[-1]
    assert [str(x)[:13] for x in line.x] == ["2026-01-01T09", "2026-01-01T10", "2026-01-01T11", "2026-01-01T14"]
    assert list(line.y[:2]) == [0.5, 0.5] and math.isnan(line.y[2]) and line.y[3] == 0.5
    assert [str(x)[:10] for x in figures.fallback_rate_figure(
        [{"bucket": datetime(2026, 1, d, tzinfo=UTC), "requests": 1, "fallbacks": 0, "fallback_rate": 0.0,
          "by_reason": {}} for d in (1, 2)], title="t", step=timedelta(days=1)).data[-1].x] \
        == ["2026-01-01", "2026-01-02"]
    fig = figures.outage_timeline_figure([{"id": 1, "started_at": datetime(2026, 1, 1, tzinfo=UTC),
                                           "ended_at": None, "reason": "r", "failures": 3}],
                                         now=datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    assert fig.data[0].x == (60000.0,)


def test_hourly_chart_opens_on_the_last_days_and_outages_are_marked():
    hours = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(0, 24 * 30, 5)]
    buckets = [{"bucket": h, "requests": 2, "fallbacks": 0, "fallback_rate": 0.0, "by_reason": {}} for h in hours]
    fig = figures.fallback_rate_figure(buckets, title="t", show_last=timedelta(days=7))
    start, end = (datetime.fromisoformat(v) for v in fig.layout.xaxis.range)
    assert end - start == timedelta(days=7) and end > hours[-1].replace(tzinfo=None)
    assert [b.label for b in fig.layout.xaxis.rangeselector.buttons] == ["1d", "7d", "30d", "all"]
    short = figures.fallback_rate_figure(buckets[:10], title="t", show_last=timedelta(days=7))
    assert short.layout.xaxis.range is None  # less data than the window: everything shows
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fig = figures.outage_timeline_figure(
        [{"id": 1, "started_at": start, "ended_at": start + timedelta(minutes=4), "reason": "r", "failures": 3},
         {"id": 2, "started_at": start + timedelta(days=2), "ended_at": None, "reason": "r", "failures": 9}],
        now=start + timedelta(days=2, hours=1, minutes=5))
    bars, markers = fig.data
    assert bars.type == "bar" and markers.type == "scatter" and list(markers.x) == [start, start + timedelta(days=2)]
    assert list(markers.marker.color) == ["#f59e0b", "#dc2626"]  # closed, open
    assert [c[2] for c in markers.customdata] == ["4 min", "1 h 05 min"]
