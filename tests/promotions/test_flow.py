"""Evaluation → AgentRun handoff → approvals → applied → rollback, through the API."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from ledger.selectors import candidate_facts
from promotions import signing
from promotions.models import Promotion, PromotionDecision
from strategies.models import Strategy
from tests.promotions.conftest import STRATEGY, client_for

pytestmark = pytest.mark.django_db

EVALUATION_FIELDS = {"evaluation_id", "candidate_id", "target", "policy_version", "gates", "allowed",
                     "recommended_mode", "artifact_sha256", "signature", "key_id"}
PROMOTION_FIELDS = {"id", "strategy", "candidate_id", "from_stage", "to_stage", "status", "approvals",
                    "evaluation_id", "decision_sha256", "signature"}


def test_an_evaluation_is_signed_and_lists_every_gate_with_observed_values(flow):
    body = flow.evaluate()
    assert EVALUATION_FIELDS <= set(body)
    assert body["policy_version"] == "v3-gates-1" and body["allowed"] is True
    assert [g["gate_id"] for g in body["gates"]] == [f"gate{i}_{n}" for i, n in enumerate(
        ["data_integrity", "statistical_robustness", "risk_capacity", "shadow_paper_quality",
         "operational_readiness"])]
    assert all(g["observed"] and g["thresholds"] and g["reasons"] for g in body["gates"])
    keys = {k["key_id"]: k for k in flow.agent.get("/api/v1/promotions/keys").json()["results"]}
    from promotions.models import Evaluation
    stored = Evaluation.objects.get(evaluation_id=body["evaluation_id"])
    assert signing.verify(keys[body["key_id"]]["public_key"], stored.artifact, body["signature"])


def test_shadow_to_paper_applies_on_the_approval_and_the_candidate_becomes_champion(flow):
    created = flow.handoff(flow.evaluate())
    assert created.status_code == 201 and created.json()["status"] == "pending_approval"
    pid = created.json()["promotion_id"]
    pending = flow.agent.get(f"/api/v1/promotions/{pid}").json()
    assert PROMOTION_FIELDS <= set(pending) and pending["from_stage"] == "shadow" and pending["to_stage"] == "paper"
    applied = flow.approver.post(f"/api/v1/promotions/{pid}/approve", {"comment": "gates hold"}, format="json")
    assert applied.status_code == 200, applied.content
    assert applied.json()["status"] == "applied"
    assert applied.json()["approvals"][0] == {**applied.json()["approvals"][0], "user": "alice",
                                               "decision": "approve", "comment": "gates hold"}
    strategy = flow.agent.get(f"/api/v1/strategies/{STRATEGY}").json()
    assert strategy["stage"] == "paper" and strategy["champion_candidate_id"] == flow.candidate_id
    assert candidate_facts(run_ids=[flow.run.pk])[flow.candidate_id][1] == "champion"
    actions = list(PromotionDecision.objects.filter(promotion_id=pid).values_list("action", flat=True))
    assert actions == ["request", "approve", "apply"]
    listed = flow.agent.get(f"/api/v1/promotions?strategy={STRATEGY}&status=applied").json()["results"]
    assert [p["id"] for p in listed] == [pid]


@pytest.mark.parametrize("case,code,status", [
    ("no_proof", "gate_proof_missing", 422),
    ("bad_signature", "gate_proof_invalid", 422),
    ("unknown_evaluation", "gate_proof_invalid", 422),
    ("other_target", "gate_proof_mismatch", 422),
    ("other_run", "gate_proof_mismatch", 422),
])
def test_handoff_refusals_name_what_is_wrong_and_write_nothing(flow, case, code, status):
    evaluation = flow.evaluate()
    proof = {"evaluation_id": evaluation["evaluation_id"], "artifact_sha256": evaluation["artifact_sha256"],
             "signature": evaluation["signature"]}
    overrides = {
        "no_proof": {"gate_proof": None},
        "bad_signature": {"gate_proof": {**proof, "signature": evaluation["signature"][:-4] + "AAA="}},
        "unknown_evaluation": {"gate_proof": {**proof, "evaluation_id": "00000000-0000-0000-0000-000000000000"}},
        "other_target": {"promotion_target": "canary"},
        "other_run": {"run_id": "wf-someone-else"},
    }[case]
    resp = flow.handoff(evaluation, **overrides)
    assert resp.status_code == status and resp.json()["error"]["code"] == code, resp.content
    assert Promotion.objects.count() == 0


def test_failed_gates_stale_policies_and_revoked_keys_are_refused(flow):
    # gates fail without the operational drills
    import pgtrigger

    from promotions import services
    from promotions.models import Drill

    with pgtrigger.ignore("promotions.Drill:append_only"):
        Drill.objects.all().delete()
    failed = flow.evaluate()
    assert failed["allowed"] is False
    assert flow.handoff(failed).json()["error"]["code"] == "gate_proof_failed"
    from tests.promotions.conftest import drills
    drills()
    fresh = flow.evaluate()
    services.policy_activate(version="v4-gates-1", actor="test", reason="policy changed")
    assert flow.handoff(fresh).json()["error"]["code"] == "gate_proof_stale"
    again = flow.evaluate()  # under v4 now
    assert again["policy_version"] == "v4-gates-1"
    services.policy_activate(version="v3-gates-1", actor="test", reason="back")
    assert flow.handoff(again).json()["error"]["code"] == "gate_proof_stale"
    again = flow.evaluate()
    services.signing_key_rotate(actor="test")
    services.signing_key_revoke(key_id=again["key_id"], reason="compromised", actor="test")
    assert flow.handoff(again).json()["error"]["code"] == "gate_proof_invalid"
    assert Promotion.objects.count() == 0


def test_one_open_promotion_per_strategy_and_target(flow):
    evaluation = flow.evaluate()
    assert flow.handoff(evaluation).status_code == 201
    second = flow.handoff(flow.evaluate())
    assert second.status_code == 409 and second.json()["error"]["code"] == "promotion_pending"


def test_who_may_approve(flow):
    pid = flow.handoff(flow.evaluate()).json()["promotion_id"]
    agent = flow.agent.post(f"/api/v1/promotions/{pid}/approve", {}, format="json")
    assert agent.status_code == 403
    outsider = client_for("carol", ["approver"])  # approver role, no permission on the strategy
    refused = outsider.post(f"/api/v1/promotions/{pid}/approve", {}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_approver_for_strategy"
    operator = flow.operator.post(f"/api/v1/promotions/{pid}/approve", {}, format="json")
    assert operator.status_code == 403
    assert Promotion.objects.get(pk=pid).status == "pending_approval"
    assert Strategy.objects.get(name=STRATEGY).stage == "shadow"


def test_live_needs_two_different_approvers(flow, settings, monkeypatch):
    settings.TRADING_LIVE_ENABLED = True
    flow.promote("paper")
    # canary and live read paper and canary evidence: give the gates what they ask for
    from promotions import evidence
    monkeypatch.setitem(evidence._PROVIDERS, "paper", lambda **_: {
        "fills": 40, "days": 7, "slippage_bps": "3", "fallback_ratio": "0.02", "provenance_complete": True})
    monkeypatch.setitem(evidence._PROVIDERS, "canary", lambda **_: {"fills": 40, "days": 7, "slippage_bps": "3"})
    flow.promote("canary")
    pid = flow.handoff(flow.evaluate("live"), "live").json()["promotion_id"]
    first = flow.approver.post(f"/api/v1/promotions/{pid}/approve", {}, format="json").json()
    assert first["status"] == "pending_approval" and first["approvals_required"] == 2
    twice = flow.approver.post(f"/api/v1/promotions/{pid}/approve", {}, format="json")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_approved"
    second = flow.approver2.post(f"/api/v1/promotions/{pid}/approve", {}, format="json").json()
    assert second["status"] == "applied"
    assert Strategy.objects.get(name=STRATEGY).stage == "live"


def test_rollback_restores_the_previous_stage_and_is_signed(flow):
    flow.promote("paper")
    pid = Promotion.objects.get().pk
    refused = client_for("opx", ["operator"]).post(f"/api/v1/promotions/{pid}/rollback", {"reason": "x"},
                                                   format="json")
    assert refused.status_code == 403
    resp = flow.operator.post(f"/api/v1/promotions/{pid}/rollback", {"reason": "slippage too high"}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["status"] == "rolled_back"
    assert Strategy.objects.get(name=STRATEGY).stage == "shadow"
    last = PromotionDecision.objects.filter(promotion_id=pid).order_by("-id").first()
    assert last.action == "rollback" and last.document["stage_after"] == "shadow"
    again = flow.agent.post(f"/api/v1/promotions/{pid}/rollback", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "promotion_not_applied"


def test_postgres_holds_the_promotion_invariants(flow):
    flow.promote("paper")
    promotion = Promotion.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE strategies SET stage = 'live' WHERE name = %s", [STRATEGY])  # paper -> live: no
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE promotions SET status = 'pending_approval' WHERE id = %s", [promotion.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE promotion_decisions SET comment = 'edited'")
    decision = PromotionDecision.objects.filter(action="approve").get()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO promotion_decisions (promotion_id, action, actor, actor_roles, requested_by, "
                       "comment, document, decision_sha256, previous_sha256, signature, key_id, at) "
                       "VALUES (%s, 'approve', 'lane-1', '{}', 'lane-1', '', '{}', %s, '', 'x', 'k', now())",
                       [promotion.pk, "0" * 64])
    with pytest.raises(IntegrityError), transaction.atomic():
        Promotion.objects.create(strategy=promotion.strategy, candidate=promotion.candidate,
                                 evaluation=promotion.evaluation, from_stage="paper", to_stage="canary",
                                 requested_by="x")
        Promotion.objects.create(strategy=promotion.strategy, candidate=promotion.candidate,
                                 evaluation=promotion.evaluation, from_stage="paper", to_stage="canary",
                                 requested_by="y")
    assert decision.actor == "alice"


def test_drills_through_the_api(flow):
    resp = flow.operator.post("/api/v1/autonomy/drills", {"kind": "kill_switch", "strategy": STRATEGY},
                              format="json")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["passed"] is True and body["kind"] == "kill_switch" and body["strategy"] == STRATEGY
    assert body["evidence"]["checks"][0]["refused_with"] == "trading_halted"
    assert flow.agent.post("/api/v1/autonomy/drills", {"kind": "rollback"}, format="json").status_code == 403
    flow.promote("paper")
    rollback = flow.operator.post("/api/v1/autonomy/drills", {"kind": "rollback", "strategy": STRATEGY},
                                  format="json").json()
    assert rollback["passed"] is True and rollback["evidence"]["checks"][0]["stage_after"] == "shadow"
    # the dry run changed nothing
    assert Strategy.objects.get(name=STRATEGY).stage == "paper"
    assert Promotion.objects.get().status == "applied"
    unknown = flow.operator.post("/api/v1/autonomy/drills", {"kind": "rollback", "strategy": "nope"}, format="json")
    assert unknown.status_code == 400
