"""The first screen in a real browser, on a database where LEAN was forced down through the real order path:
every figure equals what the API answers, the figures open the rows they count, the page warns loudly,
refreshes without reloading when a service changes the state, and says so when the refresh stalls
(screenshots in var/screenshots/)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, PASSWORD, SHOTS, log_in

pytestmark = MARKS


def _seed(routed) -> None:
    """Orders through the router to the fake brokers: two on LEAN, then LEAN answers 500 and three fall back
    (the third opens the outage: the lane is disabled with a critical alert), one more goes to Alpaca by
    policy. Yesterday's fallback, a halted strategy, a pending promotion, a reconciliation with
    discrepancies, heartbeats (one stale), an acknowledged critical alert and a warning."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from access.services import principal_create
    from autonomy import services
    from execution.models import ReconciliationRun
    from execution.services import order_submit
    from strategies.models import Strategy
    from strategies.services import strategy_register
    from tests.execution.factories import ExecutionFactory, OrderInputFactory
    from tests.ledger.factories import ArtifactFactory, RunFactory
    from tests.promotions.conftest import client_for, drills

    for name in ("macd_rsi", "tsmom"):
        strategy_register(name=name)
    Strategy.objects.filter(name__in=("macd_rsi", "tsmom")).update(stage="paper")
    for _ in range(2):
        order_submit(data=OrderInputFactory())
    routed.lean.set_fault("error")
    for _ in range(4):
        order_submit(data=OrderInputFactory())
    now = timezone.now()
    yesterday = now.replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    ExecutionFactory(created_at=yesterday, execution_actual_adapter="alpaca",
                     execution_fallback_reason="lean_submit_timeout", execution_fallback_count=1)
    ExecutionFactory(created_at=yesterday)

    services.trading_state_set(state="HALTED", reason="tsmom: slippage 80 bps over the hour", actor="ops",
                               strategy="tsmom")
    acked = services.alert_raise(dedup_key="position_drift:NVDA", severity="critical", title="NVDA drifts by 2")
    services.alert_acknowledge(alert_id=acked.pk, actor="ops")
    services.alert_raise(dedup_key="route_concentration", severity="warning", title="NVDA takes 62% of notional")
    services.heartbeat_record(source="momentum-lane", observed_at=now - timedelta(seconds=5), actor="lane")
    services.heartbeat_record(source="pairs-lane", observed_at=now - timedelta(seconds=1500), actor="lane")
    ReconciliationRun.objects.create(started_at=now - timedelta(minutes=2), finished_at=now, checked=6, updated=1,
                                     discrepancy_count=2)

    run = RunFactory(body=ArtifactFactory(strategy={"name": "breakout", "version": "1", "type": "plugin_v3"}))
    drills()
    agent = client_for("lane-1", ["agent"])
    evaluation = agent.post("/api/v1/promotions/evaluations", {"candidate_id": run.candidates.first().candidate_id,
                                                               "target": "paper"}, format="json").json()
    handoff = agent.post("/api/v1/agent-runs", {
        "run_id": run.run_id, "candidate_id": evaluation["candidate_id"], "promotion_target": "paper",
        "gate_proof": {k: evaluation[k] for k in ("evaluation_id", "artifact_sha256", "signature")}}, format="json")
    assert handoff.status_code == 201, handoff.content

    principal_create(name="olga", roles=["operator"])
    user = get_user_model().objects.get(username="olga")
    user.set_password(PASSWORD)
    user.save()


def _figure(page, name: str) -> str:
    return page.locator(f"[data-figure={name}]").first.inner_text().strip()


def _api(page, base: str, path: str):
    response = page.request.get(f"{base}{path}", headers={"Accept": "application/json"})
    assert response.status == 200, (path, response.status, response.text())
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_home_figures_equal_the_api_with_lean_forced_down(live_server, monkeypatch, settings, routed, policies):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    settings.AUTONOMY_MARKET_SESSION = "always"
    settings.CONSOLE_REFRESH_SECONDS = 1
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    _seed(routed)
    base = live_server.url
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = log_in(browser, base, width=1280)
        page.set_default_timeout(15_000)
        page.goto(f"{base}/")

        # LEAN is down: said loudly, first thing on the page
        warning = page.locator("[data-lean-down]")
        assert warning.is_visible() and "LEAN is down" in warning.text_content()
        assert "LEAN is down" in page.locator(".verdict").inner_text()

        status = _api(page, base, "/api/v1/autonomy/status")
        assert status["lean"]["enabled"] is False
        assert _figure(page, "trading-state") == status["trading_state"]
        assert _figure(page, "lean-lane") == "disabled"
        assert _figure(page, "lean-reason") == status["lean"]["disabled_reason"]
        not_active = [s for s in status["strategies"] if s["state"] != "ACTIVE"]
        assert int(_figure(page, "strategies-not-active")) == len(not_active) == 1
        assert page.locator("[data-strategy=tsmom]").count() == 1

        outages = _api(page, base, "/api/v1/trading/lean-outages")["results"]
        assert (_figure(page, "lean-circuit") == "open") is any(o["ended_at"] is None for o in outages) is True

        # open: the LEAN lane's and tsmom's halt; acknowledged: the drift
        for status_name, figure, expected in (("open", "critical-open", 2),
                                              ("acknowledged", "critical-acknowledged", 1)):
            alerts = _api(page, base, f"/api/v1/alerts?status={status_name}&severity=critical")["results"]
            assert int(_figure(page, figure)) == len(alerts) == expected
        warnings = [a for a in _api(page, base, "/api/v1/alerts?severity=warning")["results"]
                    if a["status"] != "resolved"]
        assert int(_figure(page, "warnings")) == len(warnings) == 1

        today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        since = (today - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        days = {d["bucket"][:10]: d for d in _api(page, base, f"/api/v1/trading/route-stats?bucket=day&since={since}")}
        for day, key in ((today, "today"), (today - timedelta(days=1), "yesterday")):
            stats = days[day.strftime("%Y-%m-%d")]
            assert int(_figure(page, f"fallbacks-{key}")) == stats["fallbacks"]
            assert int(_figure(page, f"requests-{key}")) == stats["requests"]
            value = page.locator(f"[data-figure=rate-{key}]").get_attribute("data-value")
            assert float(value) == pytest.approx(stats["fallback_rate"])
        assert (days[today.strftime("%Y-%m-%d")]["fallbacks"], days[since[:10]]["fallbacks"]) == (3, 1)

        strategies = _api(page, base, "/api/v1/strategies?limit=500")["results"]
        for stage in ("shadow", "paper", "canary", "live"):
            assert int(_figure(page, f"stage-{stage}")) == sum(s["stage"] == stage for s in strategies)
        pending = sum(len(_api(page, base, f"/api/v1/promotions?status={s}")["results"])
                      for s in ("pending_approval", "approved"))
        assert int(_figure(page, "pending-approvals")) == pending == 1

        readiness = _api(page, base, "/api/v1/readiness")
        assert _figure(page, "readiness") == ("green" if readiness["green"] else "not green")
        for criterion in readiness["criteria"]:
            item = page.locator(f"[data-criterion={criterion['id']}]")
            assert item.get_attribute("class") == criterion["status"], criterion["id"]

        assert int(_figure(page, "discrepancies")) == 2
        assert (int(_figure(page, "stale-sources")), int(_figure(page, "sources"))) == (1, 2)

        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=str(SHOTS / f"home-lean-down-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the home page is {overflow}px wider than {width}px"
        page.set_viewport_size({"width": 1280, "height": 900})

        # every figure opens the rows it counts
        page.click("[data-figure=fallbacks-today]")
        page.wait_for_url(re.compile(r"/executions/\?fallback=true&since="))
        assert page.locator("tbody tr").count() == 3
        assert page.locator("tbody tr:has-text('lean_submit_http_500')").count() == 3
        page.go_back()
        page.click("[data-figure=fallbacks-yesterday]")
        page.wait_for_url(re.compile(r"until="))
        assert page.locator("tbody tr:has-text('lean_submit_timeout')").count() == page.locator("tbody tr").count() == 1
        page.go_back()
        page.click("[data-figure=critical-open]")
        page.wait_for_url(re.compile(r"/autonomy/alerts/\?status=open&severity=critical"))
        assert page.locator("tr[id^=alert-]").count() == 2
        page.go_back()
        page.click("[data-figure=pending-approvals]")
        page.wait_for_url(re.compile(r"/promotions/\?pending=true"))
        board = page.locator("table.board")
        assert board.locator("tbody tr").count() == 1 and "breakout" in board.inner_text()
        page.go_back()
        page.click("[data-figure=stage-paper]")
        page.wait_for_url(re.compile(r"/promotions/\?stage=paper"))
        assert page.locator("table.board tbody tr").count() == 2
        page.go_back()
        page.click("[data-figure=discrepancies]")
        page.wait_for_url(re.compile(r"/executions/reconciliation/\d+/"))
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_live_pages_refresh_without_reload_and_say_when_the_refresh_stalls(live_server, monkeypatch, settings):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.CONSOLE_REFRESH_SECONDS = 1
    settings.CONSOLE_CHART_REFRESH_SECONDS = 2
    from django.contrib.auth import get_user_model
    from playwright.sync_api import sync_playwright

    from access.services import principal_create
    from autonomy import services
    from tests.execution.factories import ExecutionFactory

    principal_create(name="olga", roles=["operator"])
    user = get_user_model().objects.get(username="olga")
    user.set_password(PASSWORD)
    user.save()
    ExecutionFactory(client_order_id="first-order")
    base = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = log_in(browser, base, width=1280)
        page.set_default_timeout(15_000)

        # the home page: a halt and a critical alert appear without a reload, the banner with them
        page.goto(f"{base}/")
        page.evaluate("window.notReloaded = true")
        assert _figure(page, "trading-state") == "ACTIVE" and page.locator(".alert-banner").count() == 0
        services.trading_state_set(state="HALTED", reason="drill: halt from the service", actor="ops")
        page.wait_for_function("document.querySelector('[data-figure=trading-state]').textContent.trim() === 'HALTED'")
        page.locator(".alert-banner").wait_for()  # the halt's critical alert, swapped in out of band
        assert page.evaluate("window.notReloaded") is True
        assert "drill: halt from the service" in _figure(page, "trading-reason")
        stamp = page.locator("[data-live-status] time").get_attribute("datetime")
        page.wait_for_function(f"document.querySelector('[data-live-status] time').getAttribute('datetime') "
                               f"!== '{stamp}'")  # it shows when it last updated, and that moves on

        # acknowledged: the banner goes away on the next refresh, on its own
        from autonomy.models import Alert
        alert = Alert.objects.get(dedup_key="trading_state:global")
        services.alert_acknowledge(alert_id=alert.pk, actor="ops")
        page.locator(".alert-banner").wait_for(state="detached")
        assert page.evaluate("window.notReloaded") is True

        # the server answers an error, then nothing at all: the page says it is not up to date
        page.route(re.compile(r".*"), lambda route: route.fulfill(status=503, body="unavailable")
                   if route.request.headers.get("hx-request") else route.continue_())
        page.locator("[data-live-status].stalled").wait_for()
        text = page.locator("[data-live-status]").inner_text()
        assert "Not updated since" in text and "503" in text
        page.screenshot(path=str(SHOTS / "home-stalled-1280.png"), full_page=True)
        page.unroute(re.compile(r".*"))
        page.wait_for_selector("[data-live-status]:not(.stalled)")
        page.route(re.compile(r".*"), lambda route: route.abort() if route.request.headers.get("hx-request")
                   else route.continue_())
        page.locator("[data-live-status].stalled").wait_for()
        assert "unreachable" in page.locator("[data-live-status]").inner_text()
        page.unroute(re.compile(r".*"))
        page.wait_for_selector("[data-live-status]:not(.stalled)")
        # a 200 that is not the region (the login page after the session ended) is not swapped in
        page.route(re.compile(r".*"), lambda route: route.fulfill(status=200, body="<form>Log in</form>")
                   if route.request.headers.get("hx-request") else route.continue_())
        page.locator("[data-live-status].stalled").wait_for()
        assert "signed out" in page.locator("[data-live-status]").inner_text()
        assert "Log in" not in page.locator("#live").inner_text()
        page.unroute(re.compile(r".*"))

        # the executions list: a new order appears at the top without a reload
        page.goto(f"{base}/executions/")
        page.evaluate("window.notReloaded = true")
        assert page.locator("tbody tr").count() == 1
        ExecutionFactory(client_order_id="second-order")
        page.locator("tbody tr:has-text('second-order')").wait_for()
        assert page.evaluate("window.notReloaded") is True and page.locator("tbody tr").count() == 2

        # the control room: the LEAN lane switched off by a service shows without a reload
        page.goto(f"{base}/autonomy/")
        page.evaluate("window.notReloaded = true")
        services.lean_lane_set(enabled=False, reason="drill: LEAN off from the service", actor="ops")
        page.locator("#lean-lane .badge.halted").wait_for()
        assert page.evaluate("window.notReloaded") is True
        assert "drill: LEAN off from the service" in page.locator("#lean-lane").inner_text()
        # a confirmation dialog open holds the refresh (the page says so); closing it refreshes at once
        page.click("#lean-lane button[data-dialog]")
        page.locator("[data-live-status][data-live-state=paused]").wait_for()
        assert "paused while the dialog is open" in page.locator("[data-live-status]").inner_text()
        services.trading_state_set(state="REDUCING", reason="drill: reducing while the dialog is open", actor="ops")
        page.click("dialog#lean-dialog [data-close]")
        page.locator("#global-state [data-state=REDUCING]").wait_for()
        assert page.evaluate("window.notReloaded") is True

        # the dashboards: the card counting routed orders moves on, and the charts are redrawn (less often)
        page.goto(f"{base}/executions/dashboards/")
        page.evaluate("window.notReloaded = true")
        before = page.locator(".cards .card h2").first.inner_text()
        drawn = page.locator("[data-charts-at]").get_attribute("data-charts-at")
        ExecutionFactory(client_order_id="third-order")
        page.wait_for_function(f"document.querySelector('.cards .card h2').textContent.trim() !== '{before}'")
        page.wait_for_function(f"document.querySelector('[data-charts-at]').dataset.chartsAt !== '{drawn}'")
        page.locator("#chart-fallback-daily .js-plotly-plot").wait_for()  # the new charts' scripts ran
        assert page.evaluate("window.notReloaded") is True
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for name, path in (("executions", "/executions/"), ("dashboards", "/executions/dashboards/")):
                page.goto(f"{base}{path}")
                page.locator("[data-live-status]").wait_for()
                page.screenshot(path=str(SHOTS / f"live-{name}-{width}.png"), full_page=True)
        browser.close()
