"""The API against its own OpenAPI schema: a property-based run (schemathesis on hypothesis).

For every operation in the schema served at ``/api/v1/schema``, requests are generated from the
schema and each is sent once for every role that the permission matrix
(``tests/access/test_permission_matrix.py``) allows on the operation, with a real API token of a
principal holding that role, through the WSGI application (inside the test's transaction; orders
reach the loopback fake brokers, never the network). Operations that take input get valid requests
and invalid ones. Every answer must:

- not be a server error (5xx);
- have a status code the schema documents for the operation;
- have the documented content type, and a body that matches the documented schema;
- refuse input that the schema says is invalid (4xx).

Paths that name something that exists (a stored run, a strategy in the caller's scope) and valid
bodies (a run, an order) are sent first, so success answers are checked too, not only 400s and 404s.

Bound: ``FUZZ_EXAMPLES`` generated requests (default 12; 4 for a run artifact) per operation and
kind of input (valid, invalid), no shrinking, a deadline per generated request, derandomized so
that ``make test`` repeats itself. The module takes under a minute of CPU on two cores (about 20 s
of it starting up). ``FUZZ_EXAMPLES=200 FUZZ_SEED=7`` explores further; a failure prints the
request, as curl, to replay it.
"""
from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from strategies.choices import Stage
from strategies.models import Strategy
from tests.access.test_permission_matrix import API, ctx, token_for  # noqa: F401 - ctx is a fixture
from tests.execution.conftest import fakes, routed  # noqa: F401 - fixtures: the loopback fake brokers
from tests.ledger.factories import ArtifactFactory

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# A run artifact is a deep document (candidates x folds x stress, patterned strings): drawing one
# costs about a second on two cores, so its operation gets fewer unless FUZZ_EXAMPLES asks for more.
FEWER_EXAMPLES = {("POST", "/api/v1/research/runs"): 4}
SEED = os.environ.get("FUZZ_SEED")
DEADLINE = timedelta(seconds=10)  # one generated request sent as every role; generous for two shared cores
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE,
    phases=[Phase.explicit, Phase.generate],  # no shrinking, no replay database: bounded and repeatable
    derandomize=SEED is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def _raw_schema() -> dict:
    """The schema exactly as /api/v1/schema serves it (same generator, same hooks)."""
    return SchemaGenerator().get_schema(request=None, public=True)


RAW_SCHEMA = _raw_schema()
SCHEMA = schemathesis.openapi.from_dict(RAW_SCHEMA, config=schemathesis.Config.from_dict({
    # A real token of the role under test is sent with every request; don't invent credentials.
    "generation": {"with-security-parameters": False},
}))


def route_of(path: str) -> str:
    """``/api/v1/research/runs/{run_id}`` -> the URLconf route ``research/runs/<str:run_id>``."""
    plain = path.removeprefix("/api/v1").removeprefix("/")  # "/api/v1": the root
    for route in API:
        if re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) == plain:
            return route
    raise LookupError(path)


def operations() -> list[tuple[str, str]]:
    return [(path, method.upper()) for path, item in RAW_SCHEMA["paths"].items() for method in item]


def test_every_operation_is_in_the_matrix():
    missing = []
    for path, method in operations():
        try:
            route = route_of(path)
        except LookupError:
            missing.append(f"{method} {path}")
            continue
        if method not in API[route].methods:
            missing.append(f"{method} {path}")
    assert not missing, f"operations in the schema that the permission matrix does not list: {missing}"


def test_the_schema_checked_is_the_schema_served(make_client):
    response = make_client("auditor").get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert json.loads(response.content) == RAW_SCHEMA


@pytest.fixture
def wsgi_app():
    """The WSGI application, called in the test's thread and transaction.

    Django closes the database connection around each request (``close_old_connections``), which
    would end the test's transaction; the test client switches that off the same way.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


# Valid bodies sent before the generated ones, each twice: the first is stored (201), the second
# replays it (200). The permission matrix's bodies are sent too.
def _order(context) -> dict:
    # Orders are admitted from paper on (at shadow they are 423 strategy_not_live): move the strategy
    # there, as a promotion would.
    Strategy.objects.filter(pk=context.strategy.pk, stage=Stage.SHADOW).update(stage=Stage.PAPER)
    return {"client_order_id": "fuzz-order-1", "strategy": context.strategy.name, "symbol": "AAPL", "side": "buy",
            "qty": "10", "type": "market", "time_in_force": "day"}


def _llm_review(context) -> dict:
    return {"client_order_id": "fuzz-review-1", "model": "fuzz-model", "prompt_version": "p-1", "verdict": "approve",
            "confidence": 0.9, "rationale": "fine", "risk_flags": [],
            "order": {"strategy": context.strategy.name, "symbol": "AAPL", "side": "buy", "qty": "10"}}


STORED_THEN_REPLAYED = {("POST", "research/runs"): lambda context: ArtifactFactory(),
                        ("POST", "trading/orders"): _order,
                        ("POST", "llm/reviews"): _llm_review}


def _takes_input(path: str, method: str) -> bool:
    """A body or query parameters: what invalid requests can be made of (a path segment is any text)."""
    operation = RAW_SCHEMA["paths"][path][method.lower()]
    return "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", []))


class Caller:
    """Sends a case once per role (each with a real token) and checks every answer against the schema."""

    def __init__(self, tokens: dict[str, str], app):
        self.tokens, self.app = tokens, app

    def __call__(self, case) -> list[int]:
        statuses = []
        for role, token in self.tokens.items():
            headers = {"Authorization": f"Token {token}"}
            # A server error may leave the test's transaction aborted: roll back to before the request,
            # so that the next one is judged on its own.
            savepoint = transaction.savepoint()
            response = case.call(headers=headers, app=self.app)
            if response.status_code >= 500:
                transaction.savepoint_rollback(savepoint)
            else:
                transaction.savepoint_commit(savepoint)
            statuses.append(response.status_code)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers, transport_kwargs={"app": self.app})
            except FailureGroup as failures:
                failures.add_note(f"(sent as a principal with the role {role})")
                raise
        return statuses


def fuzz(operation, caller: Caller, *, known: dict[str, str]) -> None:
    """Generated requests (valid ones; invalid ones too when the operation takes input), bounded by SETTINGS."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if _takes_input(operation.path, operation.method) \
        else [GenerationMode.POSITIVE]
    for mode in modes:
        strategy = operation.as_strategy(generation_mode=mode)
        if known:  # half the paths name something that exists
            strategy = strategy | operation.as_strategy(generation_mode=mode, path_parameters=known)

        @given(case=strategy)
        def run(case):
            caller(case)

        settings = SETTINGS
        if "FUZZ_EXAMPLES" not in os.environ and (operation.method.upper(), operation.path) in FEWER_EXAMPLES:
            settings = hypothesis.settings(settings, max_examples=FEWER_EXAMPLES[operation.method.upper(),
                                                                                 operation.path])
        if SEED is None:
            settings(run)()
        else:
            hypothesis.seed(int(SEED))(hypothesis.settings(settings, derandomize=False)(run))()


@pytest.mark.parametrize(("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for p, m in operations()])
def test_operation_answers_as_documented(method, path, ctx, routed, wsgi_app):  # noqa: F811
    route = route_of(path)
    row = API[route]
    roles = sorted(row.methods[method])
    caller = Caller({role: token_for(role, ctx, in_scope=True) for role in roles}, wsgi_app)
    operation = SCHEMA[path][method]
    known = row.kwargs(ctx) if row.kwargs else {}

    if method in row.body:
        caller(operation.Case(path_parameters=known, body=row.body[method](ctx), media_type="application/json"))
    if (method, route) in STORED_THEN_REPLAYED:
        body = STORED_THEN_REPLAYED[method, route](ctx)
        statuses = caller(operation.Case(path_parameters=known, body=body, media_type="application/json"))
        assert statuses == [201] + [200] * (len(roles) - 1), statuses
    if known and method == "GET":
        assert caller(operation.Case(path_parameters=known)) == [200] * len(roles)
    fuzz(operation, caller, known=known)


def test_an_answer_the_schema_does_not_describe_fails_the_run(ctx, wsgi_app, monkeypatch):  # noqa: F811
    """The run can fail: an answer with an undocumented status, or a documented one with another shape."""
    from rest_framework.response import Response

    from access.api import Me

    caller = Caller({"auditor": token_for("auditor", ctx, in_scope=True)}, wsgi_app)
    case = SCHEMA["/api/v1/access/me"]["GET"].Case()
    assert caller(case) == [200]
    for status, body in [(418, {"username": "x"}), (200, {"username": 7})]:
        monkeypatch.setattr(Me, "get", lambda self, request, status=status, body=body: Response(body, status=status))
        with pytest.raises(FailureGroup):
            caller(case)
