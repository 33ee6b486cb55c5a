"""Drill-down pages: one order (decision, admission checks, route attempts, broker answer, fills,
reconciliation, LLM review, outage), one outage with the orders it affected, refused orders with filters,
and the dashboards' cards and outage timeline opening the rows they count."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from autonomy import services as autonomy
from execution import figures, selectors
from execution.models import Execution, LeanOutage, ReconciliationDiscrepancy, ReconciliationRun
from execution.services import order_submit
from tests.autonomy.llm_support import allow, force_stage, review_body
from tests.execution.factories import ExecutionFactory, LegacyExecutionFactory, OrderInputFactory

pytestmark = pytest.mark.django_db


def rows_of(html: str) -> list[str]:
    """The client order ids a list page links to an execution page."""
    return re.findall(r'<td class="mono"><a href="/executions/\d+/">([^<]+)</a>', html)


def test_an_admitted_order_stores_the_checks_it_passed_with_its_decision(routed):
    autonomy.trading_state_set(state="REDUCING", reason="signal quality", actor="ops", strategy="tsmom")
    execution = order_submit(data=OrderInputFactory(client_order_id="chk-1", strategy="macd_rsi"),
                             actor="lane-7").execution
    stored = Execution.objects.select_related("trade_decision").get(pk=execution.pk).trade_decision.decision_json
    checks = stored["admission"]
    assert stored["order_type"] == "market"
    assert checks["trading"] == {"global": "ACTIVE", "strategy": "ACTIVE", "effective": "ACTIVE", "from": "global",
                                 "reason": checks["trading"]["reason"]}
    assert checks["stage"] == "paper" and checks["symbol"]["mode"] == "enabled"
    assert checks["lean"] == {"enabled": True, "allowed": None, "expected": "lean", "why": "lean_first"}
    assert checks["notional"] == "1895"
    budgets = {b["name"]: b for b in checks["budgets"]}
    assert budgets["order_count"]["amount"] == "1" and budgets["order_count"]["used"] == "0"
    assert checks["llm"] is None


def test_the_execution_page_shows_everything_stored_about_one_order(routed, make_client, browser):
    force_stage("stage1")
    allow()
    agent = make_client("agent")
    described = {"strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "10", "type": "market"}
    review = agent.post("/api/v1/llm/reviews", review_body("drill-1", order=described,
                                                           rationale="spread is tight today"), format="json")
    assert review.status_code == 201, review.content
    placed = agent.post("/api/v1/trading/orders", {
        "client_order_id": "drill-1", "strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "10",
        "type": "market", "time_in_force": "day", "decision_price": "189.50"}, format="json")
    assert placed.status_code == 201, placed.content
    execution = Execution.objects.get(client_order_id="drill-1")
    run = ReconciliationRun.objects.create(trigger="test", checked=1, discrepancy_count=1)
    ReconciliationDiscrepancy.objects.create(run=run, execution=execution, kind="status_changed",
                                             client_order_id="drill-1", adapter="lean",
                                             details={"before": "accepted", "after": "filled"})

    resp = browser.get(f"/executions/{execution.pk}/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "drill-1" in html and "189.5" in html  # the decision and its price
    # the admission checks, as stored at admission
    section = html[html.index('id="admission"'):html.index('id="attempts"')]
    assert "global <strong>ACTIVE</strong>" in section and "<strong>paper</strong>" in section
    assert "expected <strong>lean</strong>" in section and "order_count" in section
    review_id = review.json()["review_id"]
    assert f'applied verdict <strong>approve</strong> <span class="mono muted">{review_id}' in section
    # the route attempt: LEAN took it, with its timing
    attempts = html[html.index('id="attempts"'):html.index('id="broker"')]
    assert "<td>lean</td>" in attempts and "+0.0 ms" in attempts and "taken" in attempts
    # the broker's answer and the fill
    assert execution.broker_order_id in html[html.index('id="broker"'):]
    fills = html[html.index('id="fills"'):html.index('id="reconciliation"')]
    assert "No fill." not in fills and "<td>lean</td>" in fills and '<td class="num">190</td>' in fills
    # reconciliation history and the LLM review
    assert f'href="/executions/reconciliation/{run.pk}/"' in html and "status accepted → filled" not in html
    assert "accepted → filled" in html
    llm = html[html.index('id="llm"'):]
    assert "claude-test" in llm and "spread is tight today" in llm and "approve</strong>" in llm
    assert 'id="order-outage"' not in html  # no outage around it
    # reachable from the list, from the reconciliation run, and by client_order_id
    assert f'href="/executions/{execution.pk}/"' in browser.get("/executions/").content.decode()
    assert f'href="/executions/{execution.pk}/"' in browser.get(
        f"/executions/reconciliation/{run.pk}/").content.decode()
    assert browser.get("/executions/order/drill-1/")["Location"] == f"/executions/{execution.pk}/"
    assert 'href="/executions/order/drill-1/"' in browser.get("/autonomy/llm/").content.decode()


def test_an_order_stored_without_checks_or_route_says_so(browser):
    row = LegacyExecutionFactory(client_order_id="legacy-1")
    html = browser.get(f"/executions/{row.pk}/").content.decode()
    assert "Not recorded: this order was admitted before the checks were stored" in html
    assert "No route attempt is recorded: a legacy row" in html
    assert browser.get("/executions/999999/").status_code == 404
    assert browser.get("/executions/order/nobody/")["Location"] == "/executions/?client_order_id=nobody"


def test_a_fallback_attempt_shows_its_error_and_timing(routed, browser):
    routed.lean.set_fault("error")
    execution = order_submit(data=OrderInputFactory(client_order_id="fb-1")).execution
    html = browser.get(f"/executions/{execution.pk}/").content.decode()
    attempts = html[html.index('id="attempts"'):html.index('id="broker"')]
    assert attempts.count("<tr><td>") == 2
    assert "lean_submit_http_500" in attempts and "failed" in attempts and "<td>alpaca</td>" in attempts
    first_took = float(re.search(r'<td class="num">([\d.]+) ms</td>', attempts).group(1))
    assert f"+{first_took:.1f} ms" in attempts  # the second attempt starts when the first ended


@pytest.fixture
def outage(routed):
    """LEAN answers 500: two orders fall back, the third opens the outage (and the autonomy kill switch
    disables the lane), a fourth goes to Alpaca by policy."""
    routed.lean.set_fault("error")
    orders = [order_submit(data=OrderInputFactory(client_order_id=f"out-{n}")).execution for n in range(1, 5)]
    return LeanOutage.objects.get(), orders


def test_the_outage_page_lists_the_orders_it_affected(outage, browser):
    lean_outage, (first, second, third, fourth) = outage
    resp = browser.get(f"/executions/outages/{lean_outage.pk}/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert rows_of(html) == ["out-3", "out-4"]  # routed while it was open (the first two opened it)
    assert "fell back to alpaca: lean_submit_http_500" in html
    assert "sent to Alpaca: the LEAN lane was disabled" in html
    assert "Orders it affected (2)" in html
    # linked from the outages list (with its count) and from the orders it affected
    listing = browser.get("/executions/outages/").content.decode()
    assert f'<a href="/executions/outages/{lean_outage.pk}/">2</a>' in listing
    for row in (third, fourth):
        assert f'href="/executions/outages/{lean_outage.pk}/"' in browser.get(f"/executions/{row.pk}/").content.decode()
    assert "/executions/outages/" not in browser.get(f"/executions/{first.pk}/").content.decode().split(
        'id="order-outage"')[0].split("LEAN outages &amp; reconciliation")[1]
    assert browser.get("/executions/outages/999999/").status_code == 404


def test_the_outage_timeline_draws_real_lengths_in_lanes_and_links_each_outage(outage, browser):
    lean_outage, _ = outage
    html = browser.get("/executions/dashboards/").content.decode()
    # plotly's JSON writes "/" as \u002f
    assert f"/executions/outages/{lean_outage.pk}/".replace("/", "\\u002f") in html and "plotly_click" in html
    start = datetime(2026, 1, 1, tzinfo=UTC)
    outages = [
        {"id": 1, "started_at": start, "ended_at": start + timedelta(hours=2), "reason": "a", "failures": 3},
        {"id": 2, "started_at": start + timedelta(hours=1), "ended_at": start + timedelta(hours=3), "reason": "b",
         "failures": 3},
        {"id": 3, "started_at": start + timedelta(days=5), "ended_at": start + timedelta(days=5, hours=1),
         "reason": "a", "failures": 3},
    ]
    now = start + timedelta(days=6)
    assert figures.outage_lanes(outages, now=now, gap=timedelta(hours=1)) == [0, 1, 0]
    # one that starts just after another ends, closer than the chart can tell apart, gets its own lane too
    assert figures.outage_lanes(outages[:1] + [{**outages[1], "started_at": start + timedelta(hours=2, minutes=5)}],
                                now=now, gap=timedelta(hours=1)) == [0, 1]
    fig = figures.outage_timeline_figure(outages, now=now, link=lambda pk: f"/o/{pk}/")
    bars = [t for t in fig.data if t.type == "bar"]
    by_reason = {t.name: t for t in bars}
    assert list(by_reason["a"].x) == [2 * 3600 * 1000.0, 3600 * 1000.0]  # real lengths, in ms
    assert list(by_reason["a"].y) == [1, 1] and list(by_reason["b"].y) == [2]  # the overlap in a lane of its own
    assert [c[3] for c in by_reason["a"].customdata] == ["/o/1/", "/o/3/"]


def test_refused_orders_are_listed_with_filters(routed, browser):
    autonomy.trading_state_set(state="HALTED", reason="drawdown", actor="ops")
    for n in range(2):
        with pytest.raises(Exception):  # noqa: B017 - Blocked, 423
            order_submit(data=OrderInputFactory(client_order_id=f"halt-{n}", symbol="MSFT"))
    autonomy.trading_state_set(state="ACTIVE", reason="cleared", actor="ops")
    with pytest.raises(Exception):  # noqa: B017
        order_submit(data=OrderInputFactory(client_order_id="shadow-1", strategy="never_promoted"))

    html = browser.get("/executions/refused/").content.decode()
    assert all(cid in html for cid in ("halt-0", "halt-1", "shadow-1"))
    halted = browser.get("/executions/refused/?code=trading_halted").content.decode()
    assert "halt-0" in halted and "shadow-1" not in halted and "423" in halted
    assert "shadow-1" in browser.get("/executions/refused/?strategy=never_promoted").content.decode()
    by_symbol = browser.get("/executions/refused/?symbol=msft").content.decode()
    assert "halt-1" in by_symbol and "shadow-1" not in by_symbol
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert "halt-0" not in browser.get("/executions/refused/", {"since": future}).content.decode()
    # each code's count opens its rows, keeping the other filters; the code filtered on is marked
    assert '<a class="card" href="?symbol=msft&amp;code=trading_halted"><h2>2</h2>' in by_symbol
    assert '<a class="card" href="?code=strategy_not_live"><h2>1</h2>' in halted
    assert '<a class="card current" href="?code=trading_halted" aria-current="true"><h2>2</h2>' in halted
    # the dashboards' card counts them and opens them
    dashboards = browser.get("/executions/dashboards/").content.decode()
    href, n = re.search(r'<a class="card" href="([^"]+)"><h2>(\d+)</h2><p>refused at admission', dashboards).groups()
    refused_rows = re.findall(r'<a href="/executions/order/[^"]+">([^<]+)</a>',
                              browser.get(href.replace("&amp;", "&")).content.decode())
    assert int(n) == 3 and sorted(refused_rows) == ["halt-0", "halt-1", "shadow-1"]
    # the order's link: a refused order has no row, so it opens its refusals
    assert browser.get("/executions/order/shadow-1/")["Location"] == "/executions/refused/?client_order_id=shadow-1"


@pytest.mark.parametrize(("query", "field", "message"), [
    ("code=nope", "code", "Select a valid choice"),
    ("since=yesterday", "since", "“yesterday” is not a date and time"),  # the range picker's field
])
def test_an_invalid_refusal_filter_is_an_error_next_to_its_field(routed, browser, query, field, message):
    with pytest.raises(Exception):  # noqa: B017
        order_submit(data=OrderInputFactory(client_order_id="shadow-2", strategy="never_promoted"))
    resp = browser.get(f"/executions/refused/?{query}")
    assert resp.status_code == 400
    html = resp.content.decode()
    assert re.search(rf'<span class="field-error" id="error-{field}">{message}', html)
    assert "shadow-2" not in html  # never the rows of the other filters alone


def test_each_dashboard_card_opens_the_rows_it_counts(browser):
    ExecutionFactory(client_order_id="r-1")
    ExecutionFactory(client_order_id="r-2", execution_actual_adapter="alpaca", execution_fallback_count=1,
                     execution_fallback_reason="lean_submit_timeout")
    ExecutionFactory(client_order_id="r-3", status="rejected")
    ExecutionFactory(client_order_id="unrouted", status="pending_submit")
    LegacyExecutionFactory(client_order_id="legacy-2")
    ExecutionFactory(client_order_id="old", created_at=datetime.now(UTC) - timedelta(days=100))
    html = browser.get("/executions/dashboards/").content.decode()
    cards = re.findall(r'<a class="card" href="([^"]+)"><h2>([^<]+)</h2><p>([^<]+)</p></a>', html)
    assert [(n, label) for _, n, label in cards] == [("3", "orders routed"), ("1", "fell back"),
                                                     ("33%", "fallback rate"), ("0", "refused at admission")]
    for href, n, label in cards[:2]:
        listed = browser.get(href.replace("&amp;", "&"))
        assert listed.status_code == 200
        assert len(rows_of(listed.content.decode())) == int(n), label
    assert rows_of(browser.get(cards[1][0].replace("&amp;", "&")).content.decode()) == ["r-2"]
    assert browser.get("/executions/?routed=perhaps").status_code == 400


def test_the_affected_orders_are_one_definition(outage):
    lean_outage, (first, _, third, fourth) = outage
    assert list(selectors.outage_affected(lean_outage)) == [third, fourth]
    assert selectors.outage_of_execution(third) == lean_outage
    assert selectors.outage_of_execution(first) is None
    assert selectors.lean_outage_list_counted().get().affected == 2


def test_the_admin_links_each_order_outage_and_run_to_its_page(admin_client):
    row = ExecutionFactory(client_order_id="adm-1")
    outage = LeanOutage.objects.create(reason="lean_submit_timeout", failures=3)
    run = ReconciliationRun.objects.create(trigger="test", checked=1, discrepancy_count=1)
    ReconciliationDiscrepancy.objects.create(run=run, execution=row, kind="status_changed", client_order_id="adm-1")
    assert f'href="/executions/{row.pk}/"' in admin_client.get("/admin/execution/execution/").content.decode()
    change = admin_client.get(f"/admin/execution/execution/{row.pk}/change/").content.decode()
    assert "View on site" in change
    assert f'href="/executions/outages/{outage.pk}/"' in admin_client.get(
        "/admin/execution/leanoutage/").content.decode()
    assert f'href="/executions/reconciliation/{run.pk}/"' in admin_client.get(
        "/admin/execution/reconciliationrun/").content.decode()
    assert f'href="/executions/{row.pk}/">adm-1</a>' in admin_client.get(
        f"/admin/execution/reconciliationrun/{run.pk}/change/").content.decode()


def test_an_order_lean_held_and_reconciliation_rejected_is_affected_and_says_both(browser):
    start = datetime.now(UTC) - timedelta(hours=3)
    outage = LeanOutage.objects.create(reason="lean_submit_timeout", failures=5, started_at=start,
                                       ended_at=start + timedelta(hours=1), closed_reason="probe_ok")
    attempts = [{"adapter": "lean", "ok": False, "reason": "lean_submit_timeout", "detail": "read timed out",
                 "ambiguous": True, "elapsed_ms": 400.0}]
    at = start + timedelta(minutes=10)
    ExecutionFactory(client_order_id="held-1", status="rejected", last_error="not_found_at_broker", filled_qty=0,
                     avg_fill_price=None, created_at=at, submitted_at=at,
                     raw_order={"_execution_route_attempts": attempts, "_execution_route_policy": "lean_first"})
    ExecutionFactory(client_order_id="fine-1", created_at=at, submitted_at=at)  # LEAN took it: not affected
    ExecutionFactory(client_order_id="later-1", created_at=start + timedelta(hours=2), execution_fallback_count=1,
                     execution_actual_adapter="alpaca", execution_fallback_reason="lean_submit_timeout")
    html = browser.get(f"/executions/outages/{outage.pk}/").content.decode()
    assert rows_of(html) == ["held-1"]
    assert "rejected at LEAN: lean_submit_timeout (now: not_found_at_broker)" in html
    assert "1 h 00 min" in html  # how long it lasted


def test_the_runs_list_says_which_run_was_interrupted(browser):
    closed = ReconciliationRun.objects.create(trigger="schedule", finished_at=datetime.now(UTC), interrupted=True,
                                              errors=["interrupted: its process stopped before the run finished"])
    finished = ReconciliationRun.objects.create(trigger="schedule", finished_at=datetime.now(UTC))
    rows = {r.split("</td>")[0]: r for r in browser.get("/executions/reconciliation/").content.decode()
            .split('<tr><td><a href="/executions/reconciliation/')[1:]}
    assert "badge warning" in rows[f'{closed.pk}/">{closed.pk}</a>']
    assert "badge warning" not in rows[f'{finished.pk}/">{finished.pk}</a>']
