"""The site's one way of writing times and durations (core/timefmt.py, ``{% load timefmt %}``), the admin's too."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from tests.access.factories import AuditEventFactory, UserFactory

AT = datetime(2026, 12, 2, 13, 45, 7, tzinfo=UTC)


def render(text: str, **context) -> str:
    return Template("{% load timefmt %}" + text).render(Context(context))


def test_a_time_is_utc_with_new_york_on_hover():
    assert render("{{ at|utc }}", at=AT) == (
        '<time datetime="2026-12-02T13:45:07Z" title="2026-12-02 08:45:07 EST (America/New_York)">'
        "2026-12-02 13:45:07 UTC</time>")
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert "08:00:00 EDT (America/New_York)" in render("{{ at|utc }}", at=summer)
    assert ">2026-12-02 13:45 UTC<" in render('{{ at|utc:"minutes" }}', at=AT)
    assert ">2026-12-02<" in render('{{ at|utc:"date" }}', at=AT)
    assert render("{{ at|utc }}", at=None) == "—"
    assert ">2026-12-02 13:45:07 UTC<" in render("{{ at|utc }}", at="2026-12-02T08:45:07-05:00")  # an artifact's text
    assert render("{{ at|utc }}", at="<b>soon</b>") == "&lt;b&gt;soon&lt;/b&gt;"


@pytest.mark.parametrize("value,text", [
    (0.4, "0 s"), (31, "31 s"), (timedelta(seconds=59), "59 s"), (240, "4 min"), (245, "4 min 05 s"),
    (3 * 3600 + 300, "3 h 05 min"), (timedelta(days=2, hours=4), "2 d 4 h"), (-5, "0 s"), (None, "—"),
])
def test_durations_read_in_seconds_when_short(value, text):
    assert render("{{ v|duration }}", v=value) == text


def test_a_duration_between_two_times():
    assert render("{{ a|duration:b }}", a=AT, b=AT + timedelta(seconds=31)) == "31 s"


@pytest.mark.django_db
def test_the_admin_writes_times_the_same_way(client):
    AuditEventFactory(actor="rita", at=AT)
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    html = client.get("/admin/access/auditevent/").content.decode()
    assert "2026-12-02 13:45:07 UTC" in html and "Dec. 2, 2026" not in html
    assert "Times in UTC" in html


@pytest.mark.django_db
def test_every_page_says_which_time_it_shows(browser):
    assert "Times in UTC; hover one for New York." in browser.get("/executions/").content.decode()
