"""The range picker the time-based pages share (core/ranges.py, core/_range.html): relative ranges, a custom
range read as UTC, and an unreadable date that is an error beside its field (400, nothing listed)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from core.ranges import ALL, RangeForm
from execution.models import Execution
from tests.access.factories import UserFactory
from tests.execution.factories import ExecutionFactory

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def form(query: str, **kwargs) -> RangeForm:
    return RangeForm(QueryDict(query), now=NOW, **kwargs)


@pytest.mark.parametrize("query,key,since,until", [
    ("", "24h", NOW - timedelta(hours=24), None),
    ("range=1h", "1h", NOW - timedelta(hours=1), None),
    ("range=7d", "7d", NOW - timedelta(days=7), None),
    ("range=30d", "30d", NOW - timedelta(days=30), None),
    ("since=2026-12-01T09:30", "custom", datetime(2026, 12, 1, 9, 30, tzinfo=UTC), None),
    ("since=2026-12-01&until=2026-12-02", "custom", datetime(2026, 12, 1, tzinfo=UTC),
     datetime(2026, 12, 2, tzinfo=UTC)),
    ("until=2026-12-01T14:30:00-05:00", "custom", None, datetime(2026, 12, 1, 19, 30, tzinfo=UTC)),
    ("range=1h&since=2026-12-01T00:00:00Z", "custom", datetime(2026, 12, 1, tzinfo=UTC), None),  # dates win
])
def test_the_window_a_query_asks_for(query, key, since, until):
    f = form(query)
    assert f.is_valid(), f.errors
    assert (f.window.key, f.window.since, f.window.until) == (key, since, until)


def test_all_only_where_the_page_offers_it():
    assert form("range=all", default=ALL, allow_all=True).window.since is None
    assert not form("range=all").is_valid()


@pytest.mark.parametrize("query,field,message", [
    ("since=2026-13-45", "since", "“2026-13-45” is not a date and time"),
    ("until=yesterday", "until", "“yesterday” is not a date and time"),
    ("since=2026-12-02&until=2026-12-01", "until", "The end must come after the start."),
    ("range=custom", "since", "A custom range needs a start or an end."),
    ("range=2w", "range", "Select a valid choice."),
])
def test_what_cannot_be_read_is_an_error_on_its_field(query, field, message):
    f = form(query)
    assert not f.is_valid()
    assert any(message in e for e in f.errors[field])


def test_the_input_shows_a_valid_value_in_its_own_format():
    html = str(form("since=2026-12-01T10:00:00-05:00")["since"])
    assert 'type="datetime-local"' in html and 'value="2026-12-01T15:00:00"' in html


def _aged(hours: float, **kwargs) -> Execution:
    row = ExecutionFactory(**kwargs)
    Execution.objects.filter(pk=row.pk).update(created_at=datetime.now(UTC) - timedelta(hours=hours))
    return row


@pytest.mark.django_db
def test_executions_page_lists_the_range_it_shows(browser):
    _aged(0.5, symbol="NEW")
    _aged(30, symbol="OLD")
    html = browser.get("/executions/").content.decode()
    assert ">NEW<" in html and ">OLD<" in html  # the list's default: all
    html = browser.get("/executions/?range=24h").content.decode()
    assert ">NEW<" in html and ">OLD<" not in html and "Showing last 24 h" in html
    since = (datetime.now(UTC) - timedelta(hours=40)).strftime("%Y-%m-%dT%H:%M")
    until = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    html = browser.get(f"/executions/?since={since}&until={until}").content.decode()
    assert ">NEW<" not in html and ">OLD<" in html
    # the quick links keep the page's other filters and leave the custom dates out
    assert 'href="?symbol=OLD&amp;range=1h"' in browser.get(f"/executions/?symbol=OLD&since={since}").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/executions/", "/executions/dashboards/", "/executions/outages/",
                                  "/autonomy/alerts/", "/audit/", "/autonomy/llm/", "/autonomy/"])
def test_every_time_based_page_answers_a_bad_date_with_400_and_the_error_beside_the_field(client, path):
    client.force_login(UserFactory(roles=["auditor"]))
    _aged(1)
    resp = client.get(f"{path}?since=2026-02-30T10:00")
    html = resp.content.decode()
    assert resp.status_code == 400
    assert "“2026-02-30T10:00” is not a date and time" in html
    assert 'name="since"' in html and 'aria-invalid="true"' in html
    assert "ex-" not in html  # no row is listed


@pytest.mark.django_db
def test_the_control_rooms_events_keep_their_range_in_its_links(client):
    from autonomy import services

    client.force_login(UserFactory(roles=["operator"]))
    services.trading_state_set(state="REDUCING", reason="drill", actor="ops")
    html = client.get("/autonomy/?range=1h&q=NV").content.decode()
    assert "Showing last 1 h." in html and 'data-event="' in html
    assert 'href="?q=NV&amp;range=7d#ev_page"' in html
    old = client.get("/autonomy/?since=2020-01-01&until=2020-01-02").content.decode()
    assert 'data-event="' not in old and "No control change recorded in 2020-01-01 00:00 UTC" in old
