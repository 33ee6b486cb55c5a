"""The critical-alert banner on every page, the alerts page, the admin and the Prometheus gauges."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from access.services import principal_create
from autonomy import services
from autonomy.models import Alert

pytestmark = pytest.mark.django_db

PAGES = ["/", "/research/", "/promotions/", "/executions/", "/autonomy/", "/autonomy/alerts/"]


def banner(html: str) -> str:
    """The banner's place on a page (always there, empty when no critical alert is open)."""
    import re

    return re.search(r'<div id="critical-banner">(.*?)</div>\s*<main>', html, re.S).group(1)


def critical(key="lean_circuit", title="LEAN lane disabled by its circuit"):
    return services.alert_raise(dedup_key=key, severity="critical", title=title, evidence={})


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_the_banner_while_a_critical_alert_is_open(browser, path):
    assert 'class="alert-banner' not in browser.get(path).content.decode()
    services.alert_raise(dedup_key="w", severity="warning", title="only a warning", evidence={})
    assert 'class="alert-banner' not in browser.get(path).content.decode()
    alert = critical()
    html = browser.get(path).content.decode()
    assert 'class="alert-banner open"' in html and "LEAN lane disabled by its circuit" in html
    services.alert_acknowledge(alert_id=alert.pk, actor="olga")
    html = browser.get(path).content.decode()  # acknowledged: the banner is gone (the alert stays unresolved)
    assert 'class="alert-banner' not in html and banner(html).strip() == ""
    other = critical(key="budget:order_count", title="budget order_count breached")
    html = browser.get(path).content.decode()  # another one opens: only it is shown
    assert 'class="alert-banner open"' in html and "budget order_count breached" in banner(html)
    assert "LEAN lane disabled by its circuit" not in banner(html)
    services.alert_resolve(alert_id=other.pk, actor="olga")  # resolved without acknowledgement: gone too
    assert 'class="alert-banner' not in browser.get(path).content.decode()


def test_admin_pages_show_the_banner_too(client):
    get_user_model().objects.create_superuser("root", "root@x.test", "a-long-password-1")
    client.login(username="root", password="a-long-password-1")
    critical()
    for path in ("/admin/", "/admin/autonomy/alert/"):
        html = client.get(path).content.decode()
        assert 'class="alert-banner open"' in html, path


def test_the_login_page_shows_no_banner(client):
    critical()
    assert "alert-banner" not in client.get("/accounts/login/").content.decode()


def test_the_banner_costs_one_query(browser):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        critical(key=f"k{n}", title=f"critical {n}")
    with CaptureQueriesContext(connection) as queries:
        html = browser.get("/research/").content.decode()  # a page that reads no alert of its own
    assert html.count('<li><a href="/autonomy/alerts/?status=open&amp;severity=critical">') == 3
    assert sum("autonomy_alerts" in q["sql"] for q in queries.captured_queries) == 1


def test_alerts_page_filters_like_the_api(browser):
    critical()
    services.alert_raise(dedup_key="stale_signals", severity="warning", title="signals are stale", evidence={})
    html = browser.get("/autonomy/alerts/?severity=warning").content.decode()
    assert "signals are stale" in html and "stale_signals" in html
    assert 'id="alert-' in html and html.count('id="alert-') == 1
    refused = browser.get("/autonomy/alerts/?status=bogus")
    assert refused.status_code == 400 and "Invalid filters" in refused.content.decode()
    assert 'id="alert-' not in refused.content.decode()  # nothing listed, not everything


def test_operators_acknowledge_and_resolve_on_the_page_others_cannot(client):
    alert = critical()
    principal_create(name="ops1", roles=["operator"])
    user = get_user_model().objects.get(username="ops1")
    client.force_login(user)
    html = client.get("/autonomy/alerts/").content.decode()
    assert "Acknowledge</button>" in html
    answer = client.post(f"/autonomy/alerts/{alert.pk}/acknowledge/",
                         {"comment": "on it", "filters": "severity=critical&next=https://evil.example/"})
    assert answer.status_code == 302 and answer["Location"] == "/autonomy/alerts/?severity=critical"
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == "ops1"
    client.post(f"/autonomy/alerts/{alert.pk}/resolve/", {"comment": "done"})
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolve_comment == "done"
    viewer = get_user_model().objects.create_user("viewer2", password="a-long-password-1")
    client.force_login(viewer)
    other = critical(key="other")
    assert "Acknowledge</button>" not in client.get("/autonomy/alerts/").content.decode()
    assert client.post(f"/autonomy/alerts/{other.pk}/acknowledge/", {}).status_code == 403
    assert Alert.objects.get(pk=other.pk).status == "open"


def test_admin_acknowledges_behind_a_confirmation_page(client):
    get_user_model().objects.create_superuser("root", "root@x.test", "a-long-password-1")
    client.login(username="root", password="a-long-password-1")
    alert = critical()
    url = "/admin/autonomy/alert/"
    confirm = client.post(url, {"action": "acknowledge_selected", "_selected_action": [alert.pk]})
    assert confirm.status_code == 200 and b"Yes, acknowledge" in confirm.content
    assert Alert.objects.get(pk=alert.pk).status == "open"
    client.post(url, {"action": "acknowledge_selected", "_selected_action": [alert.pk], "confirm": "yes",
                      "comment": "from the admin"})
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledge_comment == "from the admin"
    assert client.get(f"/admin/autonomy/alert/{alert.pk}/change/").status_code == 200
    assert client.post(f"/admin/autonomy/alert/{alert.pk}/delete/").status_code == 403


def test_metrics_expose_states_lane_budgets_alerts_and_heartbeat_lag(client):
    from decimal import Decimal

    from strategies.services import strategy_register

    services.alert_raise(dedup_key="w1", severity="info", title="w", evidence={})
    services.heartbeat_record(source="loop", symbol="AAPL", observed_at=datetime.now(UTC) - timedelta(seconds=42),
                              actor="lane")
    services.trading_state_set(state="REDUCING", reason="test", actor="ops")  # a warning alert
    strategy_register(name="tsmom")
    services.trading_state_set(state="HALTED", reason="drawdown", actor="ops", strategy="tsmom")  # critical
    services.lean_lane_set(enabled=False, reason="test", actor="ops")  # critical
    services.budget_use(name="order_count", amount=Decimal(7), actor="system:test")
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'torghut_autonomy_trading_state{scope="global",state="REDUCING"} 1.0' in text
    assert 'torghut_autonomy_trading_state{scope="global",state="ACTIVE"} 0.0' in text
    assert 'torghut_autonomy_trading_state{scope="strategy:tsmom",state="HALTED"} 1.0' in text
    assert "torghut_autonomy_lean_lane_enabled 0.0" in text
    assert 'torghut_autonomy_alerts_open{severity="critical"} 2.0' in text
    assert 'torghut_autonomy_alerts_open{severity="warning"} 1.0' in text
    assert 'torghut_autonomy_alerts_open{severity="info"} 1.0' in text
    assert 'torghut_autonomy_budget_used{budget="order_count"} 7.0' in text
    assert 'torghut_autonomy_budget_breached{budget="order_count"} 0.0' in text
    assert 'torghut_autonomy_budget_limit{budget="gross_notional"}' in text
    lag = next(line for line in text.splitlines()
               if line.startswith('torghut_autonomy_heartbeat_lag_seconds{source="loop",symbol="AAPL"}'))
    assert 41 < float(lag.split()[-1]) < 120
    assert "torghut_autonomy_signal_lag_seconds " in text
