"""POST /api/v1/llm/reviews and the governance endpoints, as agents and operators call them."""
from __future__ import annotations

import json

import pytest

from access.models import AuditEvent
from autonomy.models import LlmDecisionReview
from tests.autonomy.llm_support import (
    allow,
    described,
    force_stage,
    review_body,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/llm/reviews"


@pytest.fixture
def agent(make_client):
    return make_client("agent", name="reviewer-lane")


def post(client, body, url=URL):
    return client.post(url, body, format="json")


def test_a_review_of_an_order_before_submission_is_stored_with_torghuts_fields(agent, paper):
    force_stage("stage2")
    allow()
    body = review_body(verdict="veto", confidence=0.8, risk_flags=["earnings"], order=described(),
                       tokens={"prompt": 1200, "completion": 80}, input={"decision": {"symbol": "AAPL"}})
    resp = post(agent, body)
    assert resp.status_code == 201, resp.content
    out = resp.json()
    assert {"review_id", "applied_verdict", "guardrail_reasons", "stage"} <= set(out)
    assert (out["applied_verdict"], out["stage"], out["guardrail_reasons"]) == ("veto", "stage2", [])
    row = LlmDecisionReview.objects.get(review_id=out["review_id"])
    assert (row.model, row.prompt_version, row.verdict, row.confidence) == ("claude-test", "p-1", "veto", 0.8)
    assert (row.tokens_prompt, row.tokens_completion, row.risk_flags) == (1200, 80, ["earnings"])
    assert row.input_json == {"decision": {"symbol": "AAPL"}} and row.response_json["verdict"] == "veto"
    assert row.strategy == paper and row.execution_id is None
    assert AuditEvent.objects.filter(action="llm_review", object_ref=f"llm_review:{out['review_id']}").exists()


def test_stage_one_logs_the_advice_and_changes_nothing(agent, paper):
    force_stage("stage1")
    allow()
    out = post(agent, review_body(verdict="veto", order=described())).json()
    assert (out["applied_verdict"], out["guarded_verdict"], out["effective_mode"]) == ("approve", "veto", "shadow")
    assert out["guardrail_reasons"] == ["shadow_only"]


def test_a_bounded_adjustment_returns_the_order_to_submit(agent, paper):
    force_stage("stage3")
    allow()
    out = post(agent, review_body(verdict="adjust", adjusted_qty="400", adjusted_order_type="limit",
                                  limit_price="187.25", order=described())).json()
    assert out["applied_verdict"] == "adjust"
    assert (out["adjusted_qty"], out["adjusted_order_type"], out["limit_price"]) == ("125", "limit", "187.25")
    assert out["guardrail_reasons"] == ["adjusted_qty_clamped"]


def test_a_blocked_adjustment_is_recorded_with_its_reasons(agent, paper):
    force_stage("stage3")
    allow()
    out = post(agent, review_body(verdict="adjust", adjusted_qty="-3", adjusted_order_type="stop_limit",
                                  order=described())).json()
    assert out["applied_verdict"] == "veto" and out["adjusted_qty"] is None
    row = LlmDecisionReview.objects.get(review_id=out["review_id"])
    assert set(row.guardrail_reasons) == {"order_type_not_allowed", "adjusted_qty_not_positive"}
    assert (row.adjusted_qty, row.adjusted_order_type) == (-3, "stop_limit")  # as advised, kept


def test_no_stored_order_and_none_described_is_404(agent, paper):
    resp = post(agent, review_body("never-submitted"))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "order_not_found"
    assert not LlmDecisionReview.objects.exists()


def test_an_unknown_strategy_in_the_described_order_is_400_naming_it(agent, db):
    resp = post(agent, review_body(order=described("nobody_knows")))
    assert resp.status_code == 400
    assert resp.json()["error"]["details"]["fields"] == {"order.strategy": ["unknown strategy"]}


def test_the_same_review_again_is_200_another_is_409(agent, paper):
    body = review_body(order=described())
    first = post(agent, body)
    again = post(agent, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["review_id"] == again.json()["review_id"]
    other = post(agent, {**body, "verdict": "veto"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "llm_review_exists"
    assert LlmDecisionReview.objects.count() == 1


def test_errors_are_kept_beside_the_review_that_follows_them(agent, paper):
    error = post(agent, review_body(verdict=None, confidence=None, rationale=None, risk_flags=None,
                                    error="upstream timeout", order=described()))
    assert error.status_code == 201, error.content
    assert error.json()["verdict"] == "error"
    assert post(agent, review_body(order=described())).status_code == 201
    assert list(LlmDecisionReview.objects.order_by("id").values_list("verdict", flat=True)) == ["error", "approve"]


# --- hostile and malformed input ---------------------------------------------------------------

@pytest.mark.parametrize("raw", ['{"confidence": NaN}', '{"confidence": 1e400}', '{"confidence": Infinity}'])
def test_confidence_that_is_not_a_finite_json_number_is_400(agent, paper, raw):
    body = json.dumps(review_body(order=described())).replace('"confidence": 0.9', raw[1:-1])
    resp = agent.post(URL, body, content_type="application/json")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"
    assert not LlmDecisionReview.objects.exists()


@pytest.mark.parametrize(("field", "value", "path"), [
    ("confidence", 1.5, "confidence"), ("confidence", -0.01, "confidence"), ("confidence", "0.9", "confidence"),
    ("confidence", True, "confidence"), ("verdict", "maybe", "verdict"), ("verdict", "error", "verdict"),
    ("rationale", "x" * 10_000, "rationale"), ("adjusted_qty", 5, "adjusted_qty"),
    ("adjusted_qty", "1e3", "adjusted_qty"), ("risk_flags", ["ok"] * 33, "risk_flags"),
    ("model", "", "model"), ("model", "a b", "model"), ("client_order_id", "x" * 129, "client_order_id"),
    ("tokens", {"prompt": -1}, "tokens.prompt"), ("tokens", {"prompt": 2**40}, "tokens.prompt"),
    ("surprise", 1, "surprise"), ("input", {"blob": "x" * 70_000}, "input"),
])
def test_malformed_reviews_are_400_naming_the_field(agent, paper, field, value, path):
    resp = post(agent, {**review_body(order=described()), field: value})
    assert resp.status_code == 400, resp.content
    assert path in resp.json()["error"]["details"]["fields"]
    assert not LlmDecisionReview.objects.exists()


def test_a_review_without_advice_or_error_names_what_is_missing(agent, paper):
    resp = post(agent, {"client_order_id": "o", "model": "m", "prompt_version": "p", "order": described()})
    assert resp.status_code == 400
    assert set(resp.json()["error"]["details"]["fields"]) == {"verdict", "confidence", "rationale", "risk_flags"}
    both = post(agent, review_body(error="boom", order=described()))
    assert both.status_code == 400 and "verdict" in both.json()["error"]["details"]["fields"]


def test_a_rationale_over_280_characters_is_the_guardrails_veto(agent, paper):
    force_stage("stage2")
    allow()
    out = post(agent, review_body(rationale="r" * 281, order=described())).json()
    assert out["applied_verdict"] == "veto" and out["guardrail_reasons"] == ["rationale_too_long"]


def test_only_agents_post_reviews(make_client, paper):
    for role in ("operator", "researcher", "approver", "auditor"):
        assert post(make_client(role), review_body(order=described())).status_code == 403
    assert not LlmDecisionReview.objects.exists()


# --- reading ------------------------------------------------------------------------------------

def test_reviews_list_filters_like_the_page(agent, make_client, paper):
    force_stage("stage2")
    allow()
    post(agent, review_body("a", verdict="veto", order=described()))
    post(agent, review_body("b", order=described()))
    auditor = make_client("auditor")
    rows = auditor.get(URL, {"applied_verdict": "veto"}).json()["results"]
    assert [r["client_order_id"] for r in rows] == ["a"]
    assert [r["client_order_id"] for r in auditor.get(URL, {"limit": 1}).json()["results"]] == ["b"]
    assert auditor.get(URL, {"verdict": "sideways"}).status_code == 400


def test_governance_shows_stage_mode_circuit_and_allowlists(make_client, db):
    force_stage("stage2")
    allow("claude-x", "p-9")
    body = make_client("auditor").get("/api/v1/llm/governance").json()
    assert (body["stage"], body["effective_mode"]) == ("stage2", "veto_only")
    assert body["allowlists"] == {"model": ["claude-x"], "prompt_version": ["p-9"]}
    assert body["circuit"] == {"open": False, "open_until": None, "errors_in_window": 0}
    assert body["error_fallback"] == "veto"


# --- stage and allowlist changes ----------------------------------------------------------------

def test_operators_change_the_stage_agents_never(make_client, signing_key):
    agent_operator = make_client("agent", "operator")
    resp = agent_operator.post("/api/v1/llm/stage", {"stage": "stage1", "reason": "start shadow"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "agent_forbidden"
    assert make_client("agent").post("/api/v1/llm/stage", {"stage": "stage1", "reason": "x"},
                                     format="json").status_code == 403
    ops = make_client("operator", name="olga")
    resp = ops.post("/api/v1/llm/stage", {"stage": "stage1", "reason": "start shadow"}, format="json")
    assert resp.status_code == 201, resp.content
    out = resp.json()
    assert (out["stage_before"], out["stage_after"], out["actor"], out["verified"]) == ("stage0", "stage1", "olga",
                                                                                        True)
    listed = make_client("auditor").get("/api/v1/llm/stage-decisions").json()["results"]
    assert [d["id"] for d in listed] == [out["id"]]
    again = ops.post("/api/v1/llm/stage", {"stage": "stage1", "reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "llm_stage_unchanged"


def test_advancing_above_shadow_without_evidence_is_422_naming_what_is_missing(make_client, signing_key):
    ops = make_client("operator")
    assert ops.post("/api/v1/llm/stage", {"stage": "stage1", "reason": "shadow"}, format="json").status_code == 201
    resp = ops.post("/api/v1/llm/stage", {"stage": "stage2", "reason": "go"}, format="json")
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "llm_stage_evidence_missing"
    assert any("evaluation report" in r for r in error["details"]["reasons"])
    assert error["details"]["evidence"]["reviews"] == 0
    skip = ops.post("/api/v1/llm/stage", {"stage": "stage3", "reason": "go"}, format="json")
    assert skip.json()["error"]["code"] == "llm_stage_skip"


def test_allowlists_are_set_by_operators(make_client, db):
    ops = make_client("operator")
    resp = ops.post("/api/v1/llm/allowlist", {"kind": "model", "value": "claude-y", "allowed": True,
                                              "reason": "passed evaluation"}, format="json")
    assert resp.status_code == 200 and resp.json() == {"model": ["claude-y"], "prompt_version": []}
    removed = ops.post("/api/v1/llm/allowlist", {"kind": "model", "value": "claude-y", "allowed": False,
                                                 "reason": "regressed"}, format="json")
    assert removed.json() == {"model": [], "prompt_version": []}
    audit = AuditEvent.objects.filter(action="llm_allowlist_set").order_by("id")
    assert [e.details["after"] for e in audit] == [["claude-y"], []]
    refused = make_client("agent").post("/api/v1/llm/allowlist", {"kind": "model", "value": "m", "allowed": True,
                                                                  "reason": "x"}, format="json")
    assert refused.status_code == 403
    assert ops.post("/api/v1/llm/allowlist", {"kind": "tool", "value": "m", "allowed": True, "reason": "x"},
                    format="json").status_code == 400


def test_the_autonomy_status_carries_the_llm_stage_and_effective_mode(make_client, db):
    auditor = make_client("auditor")
    assert auditor.get("/api/v1/autonomy/status").json()["llm"] == {"stage": "stage0", "effective_mode": "off"}
    force_stage("stage3")
    allow()
    assert auditor.get("/api/v1/autonomy/status").json()["llm"] == {"stage": "stage3",
                                                                    "effective_mode": "bounded_adjust"}
    schema = auditor.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    assert "circuit_open" in components["LlmMode"]["enum"] and "stage3" in components["LlmStage"]["enum"]
    assert components["LlmOut"]["properties"]["effective_mode"] == {"$ref": "#/components/schemas/LlmMode"}
