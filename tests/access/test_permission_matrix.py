"""Every role × every API endpoint (anonymous included, with object scope) and every admin
action. The API table below must name every route under /api/v1/: adding an endpoint without a
row fails the suite.

To add a row: the route as written in the URLconf (without the trailing-slash alias), the roles
allowed per method, and, when needed, ``kwargs`` (path parameters) and ``body`` builders that
take the shared ``ctx`` fixture. ``scope`` names the per-strategy permission that narrows the
allowed roles: a principal holding the role but not the permission on ``ctx.strategy`` must get
404. "Allowed" means neither 401, 403 nor 404 (a POST that passes may still answer 400/409/422).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from access.roles import Role
from access.selectors import PERM_ROLE
from access.services import principal_create, strategy_grant
from tests.access.factories import StrategyFactory, UserFactory
from tests.ledger.factories import ArtifactFactory, RunFactory

pytestmark = pytest.mark.django_db

ALL = frozenset(Role.values)
ANONYMOUS = "anonymous"
PRINCIPALS = (ANONYMOUS, *Role.values)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Row:
    methods: dict[str, frozenset[str]]
    kwargs: Callable[[Any], dict[str, str]] | None = None
    body: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    scope: str | None = None


API = {
    "": Row({"GET": ALL}),  # the API root: the endpoints, the docs and the schema
    "schema": Row({"GET": ALL}),
    "docs/": Row({"GET": ALL}),
    "research/runs": Row({"GET": ALL, "POST": frozenset({Role.RESEARCHER, Role.AGENT})},
                         body={"POST": lambda ctx: ArtifactFactory()}),
    "research/runs/<str:run_id>": Row({"GET": ALL}, kwargs=lambda ctx: {"run_id": ctx.run.run_id}),
    "access/me": Row({"GET": ALL}),
    # An empty order body passes the permission check and stops at validation (400): no broker call.
    "trading/orders": Row({"POST": frozenset({Role.AGENT, Role.OPERATOR})}, body={"POST": lambda ctx: {}}),
    # a filled order: the cancel passes the permission check and stops at 409 order_final (no broker call)
    "trading/orders/<str:client_order_id>/cancel": Row({"POST": frozenset({Role.AGENT, Role.OPERATOR})},
                                                       kwargs=lambda ctx: {"client_order_id": ctx.order_id}),
    "trading/executions": Row({"GET": ALL}),
    "trading/route-stats": Row({"GET": ALL}),
    "trading/lean-outages": Row({"GET": ALL}),
    "promotions/keys": Row({"GET": ALL}),
    "promotions/policies": Row({"GET": ALL}),
    "strategies": Row({"GET": ALL}),
    "strategies/<str:name>": Row({"GET": ALL}, kwargs=lambda ctx: {"name": ctx.strategy.name}),
    "promotions": Row({"GET": ALL}),
    "promotions/evaluations": Row({"POST": frozenset({Role.RESEARCHER, Role.AGENT})}),
    "agent-runs": Row({"POST": frozenset({Role.AGENT})}),
    "autonomy/drills": Row({"POST": frozenset({Role.OPERATOR})}),
    "readiness": Row({"GET": ALL}),
    "autonomy/status": Row({"GET": ALL}),
    # Empty bodies pass the permission check and stop at validation (400): nothing changes.
    "autonomy/trading-state": Row({"POST": frozenset({Role.OPERATOR, Role.AGENT})}),
    "autonomy/symbols/<str:symbol>": Row({"PUT": frozenset({Role.OPERATOR})}, kwargs=lambda ctx: {"symbol": "AAPL"}),
    "autonomy/budgets/<str:name>": Row({"PUT": frozenset({Role.OPERATOR, Role.AGENT})},
                                       kwargs=lambda ctx: {"name": "order_count"}),
    "trading/positions": Row({"GET": ALL}),
    # Approvals are refused with 403 (not 404) outside the approver's strategies: the contract says so.
    "promotions/<id:promotion_id>": Row({"GET": ALL}, kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    "promotions/<id:promotion_id>/approve": Row({"POST": frozenset({Role.APPROVER})},
                                                kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    "promotions/<id:promotion_id>/reject": Row({"POST": frozenset({Role.APPROVER})},
                                               kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    "promotions/<id:promotion_id>/comments": Row({"POST": frozenset({Role.APPROVER, Role.OPERATOR})},
                                                 kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    "promotions/<id:promotion_id>/rollback": Row({"POST": frozenset({Role.OPERATOR, Role.AGENT})},
                                                 kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    "promotions/<id:promotion_id>/replay": Row({"GET": ALL}, kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    "promotions/<id:promotion_id>/evidence": Row({"GET": ALL},
                                                 kwargs=lambda ctx: {"promotion_id": ctx.promotion.pk}),
    # LLM governance: agents post reviews (an empty body stops at validation); operators change the stage
    # and the allowlists (agents never).
    "llm/reviews": Row({"GET": ALL, "POST": frozenset({Role.AGENT})}),
    "llm/governance": Row({"GET": ALL}),
    "llm/stage": Row({"POST": frozenset({Role.OPERATOR})}),
    "llm/stage-decisions": Row({"GET": ALL}),
    "llm/allowlist": Row({"POST": frozenset({Role.OPERATOR})}),
    "access/strategies/<str:name>": Row({"GET": frozenset({Role.APPROVER, Role.OPERATOR})},
                                        kwargs=lambda ctx: {"name": ctx.strategy.name}, scope="strategy"),
    # alerts and heartbeats: a second acknowledge is a 409, still "allowed"; an empty heartbeat stops at 400
    "alerts": Row({"GET": ALL}),
    "alerts/<id:alert_id>/acknowledge": Row({"POST": frozenset({Role.OPERATOR})},
                                            kwargs=lambda ctx: {"alert_id": _matrix_alert().pk}),
    "alerts/<id:alert_id>/resolve": Row({"POST": frozenset({Role.OPERATOR})},
                                        kwargs=lambda ctx: {"alert_id": _matrix_alert().pk}),
    "autonomy/heartbeats": Row({"POST": frozenset({Role.AGENT})}, body={"POST": lambda ctx: {}}),
    # the autonomous lane: everyone reads it; operators resume it (a lane that is not paused is a 409), never agents
    "autonomy/lane": Row({"GET": ALL}),
    "autonomy/lane/cycles": Row({"GET": ALL}),
    "autonomy/lane/resume": Row({"POST": frozenset({Role.OPERATOR})}, body={"POST": lambda ctx: {"reason": "matrix"}}),
}


def _matrix_alert():
    """The open matrix alert (raised again after a resolve opens a new one)."""
    from autonomy.services import alert_raise

    return alert_raise(dedup_key="matrix", severity="warning", title="matrix alert", evidence={})


def api_routes() -> list[str]:
    """Every route under /api/v1/, as written in the URLconf (slash aliases folded)."""
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    raw = {route[len("api/v1/"):] for route in walk(get_resolver().url_patterns) if route.startswith("api/v1/")}
    return sorted(r for r in raw if not (r.endswith("/") and r[:-1] in raw))


def url_for(route: str, kwargs: dict[str, str]) -> str:
    path = route
    for name, value in kwargs.items():
        for conv in ("str", "int", "id", "slug", "uuid", "path", ""):
            path = path.replace(f"<{conv}:{name}>" if conv else f"<{name}>", str(value))
    assert "<" not in path, f"no value for a path parameter of {route}"
    return "/api/v1/" + path


@pytest.fixture
def ctx(db, settings, tmp_path):
    strategy = StrategyFactory(name="matrix_strategy")
    run = RunFactory(body=ArtifactFactory(strategy={"name": strategy.name, "version": "1", "type": "t"}))
    from tests.execution.factories import ExecutionFactory

    order = ExecutionFactory(strategy=strategy, status="filled")
    return SimpleNamespace(strategy=strategy, run=run, promotion=_pending_promotion(run, settings, tmp_path),
                           order_id=order.client_order_id)


def _pending_promotion(run, settings, tmp_path):
    """A promotion of the run's first candidate to paper, pending approval (requested by an agent)."""
    from promotions import services
    from tests.promotions.conftest import drills

    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    services.signing_key_rotate(actor="matrix")
    call_command("gate_policy", "load", "--shipped", stdout=StringIO())
    services.policy_activate(version="v3-gates-1", actor="matrix", reason="matrix")
    drills()
    candidate = run.candidates.order_by("position").first().candidate_id
    evaluation = services.evaluation_create(candidate_id=candidate, target="paper", actor="matrix-lane")
    proof = {"evaluation_id": str(evaluation.evaluation_id), "artifact_sha256": evaluation.artifact_sha256,
             "signature": evaluation.signature}
    return services.agent_run_handoff(run_id=run.run_id, candidate_id=candidate, promotion_target="paper",
                                      gate_proof=proof, actor="matrix-lane")[1]


def token_for(role: str, ctx, *, in_scope: bool) -> str:
    """A new principal holding ``role`` (with its per-strategy permission on ``ctx.strategy`` when
    ``in_scope``), and its API token."""
    result = principal_create(name=f"m-{role}-{'in' if in_scope else 'out'}", roles=[role])
    if in_scope:
        user = AuthToken.objects.get(token_key=result.token_key).user
        for perm, perm_role in PERM_ROLE.items():
            if perm_role == role:
                strategy_grant(user=user, strategy_name=ctx.strategy.name, perm=perm)
    return result.token


def client_for(principal: str, ctx, *, in_scope: bool) -> APIClient:
    client = APIClient()
    if principal != ANONYMOUS:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(principal, ctx, in_scope=in_scope)}")
    return client


def send(client: APIClient, method: str, url: str, body: Any):
    return getattr(client, method.lower())(url, body, format="json") if body is not None else \
        getattr(client, method.lower())(url)


def test_every_api_route_has_a_row():
    routes = api_routes()
    missing = [r for r in routes if r not in API]
    stale = [r for r in API if r not in routes]
    assert not missing, (f"API routes without a permission-matrix row: {missing}. Add them to API in "
                         "tests/access/test_permission_matrix.py with the roles allowed per method.")
    assert not stale, f"permission-matrix rows for routes that no longer exist: {stale}"


def test_rows_name_known_roles_and_methods():
    for route, row in API.items():
        for method, roles in row.methods.items():
            assert method in METHODS and roles <= ALL, route
        if row.scope:
            assert set(row.methods[m] for m in row.methods) <= {frozenset(PERM_ROLE.values()),
                                                                 *[frozenset({r}) for r in PERM_ROLE.values()]}


@pytest.mark.parametrize("route", sorted(API))
@pytest.mark.parametrize("principal", PRINCIPALS)
def test_api_matrix(route, principal, ctx):
    row = API[route]
    kwargs = row.kwargs(ctx) if row.kwargs else {}
    url = url_for(route, kwargs)
    variants = [url] if url.endswith("/") else [url, url + "/"]
    scopes = [True, False] if row.scope and principal in PERM_ROLE.values() else [True]
    for in_scope in scopes:
        client = client_for(principal, ctx, in_scope=in_scope)
        for method in METHODS:
            allowed = row.methods.get(method)
            for target in variants:
                body = row.body[method](ctx) if method in row.body else ({} if method != "GET" else None)
                status = send(client, method, target, body).status_code
                where = f"{principal}{'' if in_scope else ' (out of scope)'} {method} {target}"
                assert status < 500, f"{where}: server error {status}"
                assert status not in (301, 302, 308), f"{where}: redirected"
                if allowed is None:
                    assert status in (401, 403, 405), f"{where}: nobody may, got {status}"
                elif principal == ANONYMOUS:
                    assert status == 401, f"{where}: expected 401, got {status}"
                elif principal not in allowed:
                    assert status == 403, f"{where}: expected 403, got {status}"
                elif not in_scope:
                    assert status == 404, f"{where}: out of scope must be 404, got {status}"
                else:
                    assert status not in (401, 403, 404), f"{where}: expected allowed, got {status}"


def test_superuser_passes_every_listed_api_method(ctx):
    client = APIClient()
    client.force_authenticate(UserFactory(username="root", is_superuser=True, is_staff=True))
    for route, row in API.items():
        url = url_for(route, row.kwargs(ctx) if row.kwargs else {})
        for method in row.methods:
            body = row.body[method](ctx) if method in row.body else None
            assert send(client, method, url, body).status_code not in (401, 403, 404), f"{method} {url}"


# --- admin ------------------------------------------------------------------------------------

def admin_surfaces():
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        yield model, model_admin, changelist


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_admin_changelists_and_actions_are_closed_to_every_role(principal, client, ctx):
    """Principals are not staff: every admin page and action sends them to the login page and
    changes nothing. Only superusers administer."""
    from access.models import AuditEvent

    if principal != ANONYMOUS:
        client.force_login(UserFactory(roles=[principal]))
    before = AuditEvent.objects.filter(via="admin").count()
    for model, model_admin, changelist in admin_surfaces():
        response = client.get(changelist)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], changelist
        count = model._default_manager.count() if model is not AuditEvent else None
        pks = list(model._default_manager.values_list("pk", flat=True)[:1])
        for action in ["delete_selected", *[a if isinstance(a, str) else a.__name__
                                            for a in (model_admin.actions or [])]]:
            response = client.post(changelist, {"action": action, "_selected_action": pks})
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (changelist, action)
        if count is not None:
            assert model._default_manager.count() == count, f"{principal} changed {changelist}"
    recorded = AuditEvent.objects.filter(via="admin").order_by("id")[before:]
    assert recorded and {e.outcome for e in recorded} == {"refused"}


def test_admin_changelists_open_to_superusers(client, ctx):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    for _model, _admin, changelist in admin_surfaces():
        assert client.get(changelist).status_code == 200, changelist
