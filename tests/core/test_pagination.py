"""List pages paginate with page numbers and a total, keeping their filters in every link; the
executions list keeps keyset pages and counts its total up to a cap."""
from __future__ import annotations

import re
from html import unescape

import pytest
from django.http import QueryDict

from core.pagination import paginate, query_with
from execution.models import ReconciliationRun
from tests.access.factories import AuditEventFactory, UserFactory
from tests.execution.factories import ExecutionFactory

pytestmark = pytest.mark.django_db


def _links(page: str) -> list[str]:
    nav = re.search(r'<nav class="pager".*?</nav>', page, re.S)
    assert nav, "no pager on the page"
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', nav.group(0))]


def _pager_text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.search(r'<nav class="pager".*?</nav>', page, re.S)
                                      .group(0))).strip()


def test_page_numbers_and_gaps_around_the_current_page():
    rows, pager = paginate(QueryDict("page=6&status=open"), list(range(1000)), per_page=50)
    assert list(rows) == list(range(250, 300))
    assert [link.get("number") for link in pager.links] == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert pager.links[3]["url"] == "?status=open&page=5"
    assert pager.links[0]["url"] == "?status=open"  # page 1 needs no parameter
    assert pager.summary == "rows 251–300 of 1,000 · page 6 of 20"
    assert query_with(QueryDict("a=1&page=3"), page=None) == "?a=1"


def test_a_page_out_of_range_or_unreadable_shows_a_real_page():
    assert paginate(QueryDict("page=99"), list(range(10)), per_page=4)[1].number == 3
    assert paginate(QueryDict("page=x"), list(range(10)), per_page=4)[1].number == 1


def test_the_reconciliation_list_shows_every_run_paginated(client):
    ReconciliationRun.objects.bulk_create([ReconciliationRun(trigger="schedule") for _ in range(120)])
    client.force_login(UserFactory(username="ops"))
    first = client.get("/executions/reconciliation/").content.decode()
    ids = list(ReconciliationRun.objects.order_by("-id").values_list("id", flat=True))
    assert f'href="/executions/reconciliation/{ids[0]}/"' in first
    assert f'href="/executions/reconciliation/{ids[50]}/"' not in first
    assert "rows 1–50 of 120 · page 1 of 3" in _pager_text(first)
    last = client.get("/executions/reconciliation/?page=3").content.decode()
    assert f'href="/executions/reconciliation/{ids[-1]}/"' in last and "rows 101–120 of 120" in last
    outages = client.get("/executions/outages/").content.decode()
    assert "Every reconciliation run in all time (120)" in outages


def test_the_audit_list_keeps_its_filters_in_the_page_links(client):
    for _ in range(60):
        AuditEventFactory(actor="alice")
    AuditEventFactory(actor="bob")
    client.force_login(UserFactory(username="aud", roles=["auditor"]))
    page = client.get("/audit/?actor=alice").content.decode()
    assert "rows 1–50 of 60 · page 1 of 2" in _pager_text(page)
    assert "?actor=alice&page=2" in _links(page)


def test_the_executions_list_is_keyset_paged_with_a_capped_total(client, settings, monkeypatch):
    import execution.views

    monkeypatch.setattr(execution.views, "COUNT_CAP", 30)
    rows = [ExecutionFactory(symbol="MSFT") for _ in range(45)] + [ExecutionFactory(symbol="AAPL")]
    client.force_login(UserFactory(username="viewer"))
    first = client.get("/executions/?symbol=MSFT&limit=20").content.decode()
    text = _pager_text(first)
    assert "rows 1–20 of 30+ · page 1" in text and "counting stops at 30+" in text
    (older,) = [h for h in _links(first) if "before=" in h]
    assert older == f"?symbol=MSFT&limit=20&before={rows[25].id}&page=2"
    second = client.get("/executions/" + older).content.decode()
    assert "rows 21–40 of 30+ · page 2" in _pager_text(second)
    assert rows[24].client_order_id in second and rows[25].client_order_id not in second
    assert "?symbol=MSFT&limit=20" in _links(second)  # back to the newest
    monkeypatch.setattr(execution.views, "COUNT_CAP", 1000)
    exact = client.get("/executions/?symbol=MSFT&limit=20").content.decode()
    assert "rows 1–20 of 45 · page 1 of 3" in _pager_text(exact)
