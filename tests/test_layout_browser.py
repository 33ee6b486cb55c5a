"""Every page of the site in a real browser at phone (390 px) and desktop (1280 px) width: no page is wider
than the screen, the navigation is a menu on a phone, the range picker shows a bad date's error. Screenshots
of every page at both widths go to var/screenshots/<page>-<width>.png (CI keeps them as an artifact)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, PASSWORD, SHOTS, log_in

pytestmark = MARKS
WIDTHS = (390, 1280)
CHARTS = {"run", "compare", "promotion", "dashboards", "llm"}  # pages drawing plotly charts: wait for them


@pytest.fixture
def site(transactional_db, settings, tmp_path):
    """Something on every page, stored before Playwright starts its event loop; the pages to visit."""
    import json

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from autonomy import services as autonomy
    from autonomy.tasks import readiness_sweep
    from execution.models import LeanOutage, ReconciliationDiscrepancy, ReconciliationRun
    from promotions import services as promotions
    from promotions.management.commands.gate_policy import SHIPPED
    from tests.execution.factories import ExecutionFactory
    from tests.ledger.factories import ArtifactFactory, RunFactory
    from tests.promotions.conftest import STRATEGY, Flow, client_for, drills

    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    settings.AUTONOMY_MARKET_SESSION = "always"
    promotions.signing_key_rotate(actor="test")
    for path in sorted(SHIPPED.glob("*.json")):
        promotions.policy_load(document=json.loads(path.read_text()), actor="test")
    promotions.policy_activate(version="v3-gates-1", actor="test", reason="tests use torghut's matrix")
    run = RunFactory(body=ArtifactFactory(strategy={"name": STRATEGY, "version": "3.0.1", "type": "plugin_v3"}))
    drills()
    flow = Flow(run=run, candidate_id=run.candidates.order_by("position").first().candidate_id,
                agent=client_for("lane-1", ["agent"]), approver=client_for("alice", ["approver"], [STRATEGY]),
                approver2=client_for("bob", ["approver"], [STRATEGY]),
                operator=client_for("ops1", ["operator"], [STRATEGY]))
    promoted = flow.promote("paper")

    now = timezone.now()
    for n in range(30):
        ExecutionFactory(symbol=("AAPL", "MSFT", "NVDA")[n % 3],
                         client_order_id=f"momentum-lane-2026-12-02-order-{n:04d}-with-a-long-id",
                         execution_actual_adapter="alpaca" if n % 4 == 0 else "lean",
                         execution_fallback_reason="lean_submit_timeout" if n % 4 == 0 else "",
                         execution_fallback_count=1 if n % 4 == 0 else 0,
                         last_error="LEAN runner closed the connection without an answer" if n % 4 == 0 else "")
    row = ExecutionFactory(client_order_id="c-42")
    outage = LeanOutage.objects.create(reason="lean_submit_timeout", failures=4,
                                       started_at=now - timedelta(hours=3), ended_at=now - timedelta(hours=2))
    ReconciliationRun.objects.create(  # its worker died: the next run closed it
        trigger="schedule", started_at=now - timedelta(minutes=3), finished_at=now - timedelta(minutes=2),
        checked=12, interrupted=True,
        errors=["interrupted: its process stopped before the run finished; run 3 took over"])
    recon = ReconciliationRun.objects.create(trigger="schedule", checked=31, updated=1, discrepancy_count=1)
    ReconciliationDiscrepancy.objects.create(run=recon, execution=row, kind="not_found_at_broker",
                                             client_order_id="c-42",
                                             details={"before": "pending", "after": "rejected",
                                                      "asked": ["lean", "alpaca"]})
    autonomy.trading_state_set(state="REDUCING", reason="slippage over 30 bps for an hour", actor="ops",
                               strategy=STRATEGY)
    autonomy.symbol_mode_set(symbol="NVDA", mode="canary", reason="earnings week: small orders only", actor="ops",
                             caps={"max_qty_per_order": "5", "max_notional_per_order": "2500",
                                   "max_notional_per_day": "25000"}, lean_allowed=False)
    autonomy.heartbeat_record(source="momentum-lane", observed_at=now - timedelta(seconds=31), actor="lane")
    autonomy.budget_use(name="order_count", amount=D("120"), actor="test")
    autonomy.alert_raise(dedup_key="lean_circuit", severity="critical",
                         title="LEAN lane disabled: fallback ratio 0.31 over the window",
                         evidence={"fallback_ratio": "0.31", "window_seconds": 900})
    autonomy.alert_raise(dedup_key="route_concentration", severity="warning",
                         title="NVDA takes 62% of today's notional", evidence={"share": "0.62"})
    readiness_sweep()
    get_user_model().objects.create_user("olga", password=PASSWORD, is_staff=True, is_superuser=True)
    return {
        "home": "/",
        "research": "/research/",
        "run": f"/research/runs/{run.run_id}/",
        "compare": "/research/compare/?" + "&".join(
            f"c={c}" for c in run.candidates.order_by("position").values_list("candidate_id", flat=True)[:2]),
        "promotions": "/promotions/",
        "promotion": f"/promotions/{promoted['id']}/",
        "policies": "/promotions/policies/",
        "executions": "/executions/",
        "execution": f"/executions/{row.pk}/",
        "refused": "/executions/refused/",
        "dashboards": "/executions/dashboards/",
        "outages": "/executions/outages/",
        "outage": f"/executions/outages/{outage.pk}/",
        "reconciliation-runs": "/executions/reconciliation/",
        "reconciliation": f"/executions/reconciliation/{recon.id}/",
        "autonomy": "/autonomy/",
        "readiness": "/autonomy/readiness/",
        "alerts": "/autonomy/alerts/",
        "llm": "/autonomy/llm/",
        "lane": "/autonomy/lane/",
        "audit": "/audit/",
        "admin": "/admin/",
        "admin-executions": "/admin/execution/execution/",
        "admin-control-events": "/admin/autonomy/controlevent/",
    }


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.django_db(transaction=True)
def test_every_page_fits_the_screen_at_390_and_1280(live_server, site, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in WIDTHS:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{live_server.url}/accounts/login/")
            page.screenshot(path=str(SHOTS / f"login-{width}.png"), full_page=True)
            if _overflow(page) > 0:
                too_wide.append(f"login at {width}px: {_overflow(page)}px too wide")
            page.close()

            page = log_in(browser, live_server.url, width=width)
            page.set_default_timeout(15_000)
            for name, path in site.items():
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200, f"{path} answered {response.status}"
                if name in CHARTS:
                    page.wait_for_selector(".chart .main-svg", state="attached")
                page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
                if _overflow(page) > 0:
                    too_wide.append(f"{path} at {width}px: {_overflow(page)}px too wide")
            page.close()
        browser.close()
    assert not too_wide, "\n".join(too_wide)


@pytest.mark.django_db(transaction=True)
def test_the_navigation_is_a_menu_on_a_phone_and_a_bar_on_a_desktop(live_server, site, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    from core.timefmt import exchange_text

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = log_in(browser, live_server.url, width=390)
        page.goto(f"{live_server.url}/executions/")
        toggle = page.locator("button.nav-toggle")
        link = page.locator("nav[aria-label=Main] a", has_text="Executions")
        assert toggle.is_visible() and toggle.get_attribute("aria-expanded") == "false"
        assert not link.is_visible()
        toggle.focus()
        page.keyboard.press("Enter")  # the keyboard opens it
        assert toggle.get_attribute("aria-expanded") == "true" and link.is_visible()
        assert link.get_attribute("aria-current") == "page"
        # light text on the dark bar: the open menu lies inside the bar's background
        bar = page.locator("header.topbar").bounding_box()
        box = link.bounding_box()
        assert box["y"] + box["height"] <= bar["y"] + bar["height"] and box["x"] + box["width"] <= 390
        page.screenshot(path=str(SHOTS / "nav-open-390.png"))
        page.keyboard.press("Escape")
        assert toggle.get_attribute("aria-expanded") == "false" and not link.is_visible()
        page.close()

        page = log_in(browser, live_server.url, width=1280)
        page.goto(f"{live_server.url}/executions/")
        assert not page.locator("button.nav-toggle").is_visible()
        assert page.locator("nav[aria-label=Main] a", has_text="Executions").is_visible()
        # the admin's times, like the pages', show New York's on hover
        page.goto(f"{live_server.url}/admin/access/auditevent/")
        stamp = page.locator("#result_list time").first
        shown = datetime.strptime(stamp.inner_text(), "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
        assert stamp.get_attribute("title") == exchange_text(shown)  # as the pages write it
        page.close()
        browser.close()


@pytest.mark.django_db(transaction=True)
def test_the_range_picker_shows_a_bad_date_beside_its_field(live_server, site, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = log_in(browser, live_server.url, width=390)
        page.goto(f"{live_server.url}/executions/?range=24h")
        assert page.locator("tbody tr").count() == 31
        page.click(".range .quick a:has-text('1 h')")
        page.wait_for_url("**range=1h**")
        assert page.locator(".range .quick a[aria-current]").inner_text() == "1 h"

        # a date no calendar holds, as a link or a hand-edited address brings it
        response = page.goto(f"{live_server.url}/executions/?since=2026-02-30T10:00&fallback=true")
        assert response.status == 400
        label = page.locator(".range label", has=page.locator("input[name=since]"))
        assert "“2026-02-30T10:00” is not a date and time" in label.locator(".field-error").inner_text()
        assert label.locator("input[name=since]").get_attribute("aria-invalid") == "true"
        assert page.locator("td", has_text="momentum-lane").count() == 0  # nothing listed, not everything
        page.screenshot(path=str(SHOTS / "range-bad-date-390.png"), full_page=True)

        # a custom range typed into the date inputs
        page.goto(f"{live_server.url}/executions/")
        page.fill("input[name=since]", "2026-12-02T10:00")
        page.fill("input[name=until]", "2026-12-01T10:00")
        page.click("form.filters button[type=submit]")
        assert "The end must come after the start." in page.locator(".range").inner_text()
        page.close()
        browser.close()
