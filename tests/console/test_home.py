"""The first screen and the live pages without a browser: what each figure says and where it links, the
refresh answered with the live region only, and the pipeline filters the home page links to."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.services import principal_create
from autonomy import services
from tests.access.factories import StrategyFactory
from tests.execution.factories import ExecutionFactory

pytestmark = pytest.mark.django_db

REFRESH = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "live"}
LIVE_PAGES = ["/", "/autonomy/", "/executions/", "/executions/dashboards/"]


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}"[^>]*>([^<]*)<', html)
    assert match, f"no figure {name}"
    return match.group(1).strip()


def link(html: str, name: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*data-figure="{name}"', html)
    assert match, f"figure {name} links nowhere"
    return match.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("path", LIVE_PAGES)
def test_a_live_page_refreshes_its_region_from_a_partial(browser, path):
    html = browser.get(path).content.decode()
    assert re.search(r'id="live" class="live" data-live data-live-seconds="5"[^>]* hx-get="[^"]+"', html)
    assert "data-live-status" in html and "/static/vendor/htmx/htmx.min.js" in html and "cdn" not in html
    response = browser.get(path, **REFRESH)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<header" not in body and "<html" not in body and 'id="live"' not in body and "<h1>" not in body
    assert body.count("data-live-at=") == 1
    assert '<div id="critical-banner" hx-swap-oob="true">' in body
    assert "no-store" in response["Cache-Control"] and "HX-Request" in response["Vary"]


def test_another_htmx_request_gets_the_whole_page(browser):
    body = browser.get("/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="elsewhere").content.decode()
    assert "<header" in body and 'id="live"' in body


def test_a_refresh_carries_the_critical_banner_until_the_alert_is_acknowledged(browser):
    alert = services.alert_raise(dedup_key="lean_lane", severity="critical", title="LEAN lane disabled")
    body = browser.get("/executions/", **REFRESH).content.decode()
    assert 'class="alert-banner open"' in body and "LEAN lane disabled" in body
    services.alert_acknowledge(alert_id=alert.pk, actor="ops")
    body = browser.get("/executions/", **REFRESH).content.decode()
    assert '<div id="critical-banner" hx-swap-oob="true"></div>' in body


def test_the_control_room_refresh_reads_only_its_figures(browser):
    services.trading_state_set(state="REDUCING", reason="slippage", actor="ops")
    with CaptureQueriesContext(connection) as queries:
        body = browser.get("/autonomy/", **REFRESH).content.decode()
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "REDUCING" in body and 'id="budgets"' in body and 'id="al_page"' in body
    for table in ("autonomy_control_events", "autonomy_positions", "autonomy_symbol_controls"):
        assert table not in sql, table
    assert 'id="sym_page"' not in body and "<dialog" not in body


def test_the_control_room_keeps_refreshing_itself_after_a_refused_change(client):
    principal_create(name="ops", roles=["operator"])
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="ops"))
    response = client.post("/autonomy/control/trading-state/", {"state": "HALTED", "reason": "", "back": "mode=canary"})
    assert response.status_code == 400
    assert 'hx-get="/autonomy/?mode=canary"' in response.content.decode()


def test_home_warns_and_links_each_figure_to_the_rows_it_counts(browser):
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_reason="lean_submit_http_500",
                     execution_fallback_count=1)
    ExecutionFactory()
    ExecutionFactory(created_at=today - timedelta(hours=3), execution_actual_adapter="alpaca",
                     execution_fallback_reason="lean_circuit_open", execution_fallback_count=1)
    services.trading_state_set(state="HALTED", reason="budget order_count breached", actor="ops")
    services.lean_lane_set(enabled=False, reason="LEAN answers 500", actor="ops")

    html = browser.get("/").content.decode()
    assert figure(html, "trading-state") == "HALTED" and figure(html, "lean-lane") == "disabled"
    assert "data-lean-down" in html and "LEAN is down (lane disabled): orders go to Alpaca" in html
    assert "Trading is HALTED globally: budget order_count breached" in html
    assert 'class="verdict bad"' in html
    assert (figure(html, "fallbacks-today"), figure(html, "requests-today")) == ("1", "2")
    assert (figure(html, "fallbacks-yesterday"), figure(html, "requests-yesterday")) == ("1", "1")
    assert figure(html, "critical-open") == "2"  # the halt and the LEAN lane

    rows = browser.get(link(html, "fallbacks-today")).content.decode()
    assert rows.count("lean_submit_http_500") == 1 and "lean_circuit_open" not in rows
    rows = browser.get(link(html, "fallbacks-yesterday")).content.decode()
    assert rows.count("lean_circuit_open") == 1 and "lean_submit_http_500" not in rows
    alerts = browser.get(link(html, "critical-open")).content.decode()
    assert alerts.count('<tr id="alert-') == 2
    assert link(html, "lean-circuit") == "/executions/outages/"
    assert link(html, "readiness") == "/autonomy/readiness/"
    assert '<a href="/executions/reconciliation/">Reconciliation</a>' in html  # every run, not the outages


def test_home_reads_a_fixed_number_of_queries_whatever_it_counts(browser):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert browser.get("/").status_code == 200
        return len(captured.captured_queries)

    StrategyFactory(name="one")
    services.trading_state_set(state="HALTED", reason="r", actor="ops", strategy="one")
    first = queries()
    for n in range(5):
        StrategyFactory(name=f"more-{n}")
        services.trading_state_set(state="REDUCING", reason="r", actor="ops", strategy=f"more-{n}")
        services.heartbeat_record(source=f"lane-{n}", observed_at=timezone.now(), actor="lane")
        ExecutionFactory(execution_actual_adapter="alpaca", execution_fallback_reason="x", execution_fallback_count=1)
    html = browser.get("/").content.decode()
    assert figure(html, "strategies-not-active") == "6" and figure(html, "sources") == "5"
    assert queries() == first


def test_the_pipeline_filters_by_stage_and_pending_approval_and_says_what_it_cannot_read(browser):
    StrategyFactory(name="alpha", stage="paper")
    StrategyFactory(name="beta", stage="shadow")
    html = browser.get("/promotions/?stage=paper").content.decode()
    assert "alpha" in html and "beta" not in html and "1 of 2 strategies" in html
    html = browser.get("/promotions/?pending=true").content.decode()
    assert "No strategy matches the filters." in html
    for query, message in (("stage=gold", "Choose one of shadow, paper, canary, live."),
                           ("pending=maybe", "Enter true or false.")):
        response = browser.get(f"/promotions/?{query}")
        assert response.status_code == 400 and message in response.content.decode()
