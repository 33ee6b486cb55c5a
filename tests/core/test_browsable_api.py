"""Every API path opened in a logged-in browser (DRF's browsable view, ``Accept: text/html``):
no 5xx. Paths and sample ids come from the permission matrix, so a new endpoint is covered by
the row it must have there."""
from __future__ import annotations

import pytest
from django.test import Client

from access.selectors import PERM_ROLE
from access.services import strategy_grant
from tests.access.factories import UserFactory
from tests.access.test_permission_matrix import API, api_routes, ctx, url_for  # noqa: F401  (ctx: fixture)

pytestmark = pytest.mark.django_db

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # what a browser sends


@pytest.fixture(params=["operator", "superuser"])
def operator_browser(request, ctx):  # noqa: F811
    """A logged-in browser: an operator of the matrix strategy, and a superuser (every method passes its
    permission check, so the view renders the form of each: where DRF asked views without a serializer
    for one, and answered 500)."""
    if request.param == "superuser":
        user = UserFactory(username="root-browser", is_superuser=True, is_staff=True)
    else:
        user = UserFactory(username=f"{request.param}-browser", roles=[request.param])
        for perm, role in PERM_ROLE.items():
            if role == request.param:
                strategy_grant(user=user, strategy_name=ctx.strategy.name, perm=perm)
    client = Client()
    client.force_login(user)
    client.role = request.param
    return client


def test_the_browsable_view_covers_every_route():
    assert set(api_routes()) == set(API)


def test_every_api_path_opens_in_a_browser(ctx, operator_browser):  # noqa: F811
    """One test per principal, every route in it (the sample rows are costly to build)."""
    failures = []
    for route, row in sorted(API.items()):
        url = url_for(route, row.kwargs(ctx) if row.kwargs else {})
        response = operator_browser.get(url, HTTP_ACCEPT=HTML)
        roles = row.methods.get("GET", ())
        if roles and (operator_browser.role == "superuser" or operator_browser.role in roles):
            expected = {200}
        elif roles:
            expected = {403, 404}  # refused as the JSON does, in the browsable view
        else:
            expected = {405}  # the view shows which methods it has
        if response.status_code not in expected:
            failures.append(f"GET {url}: {response.status_code}, expected {sorted(expected)}")
    assert not failures, "\n".join(failures)


def test_the_research_runs_list_renders_as_a_page(ctx, operator_browser):  # noqa: F811
    response = operator_browser.get("/api/v1/research/runs", HTTP_ACCEPT=HTML)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert ctx.run.run_id in response.content.decode()
