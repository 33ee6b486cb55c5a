"""LLM governance services on PostgreSQL: the circuit over time, signed stage changes on evidence,
the invariants the database holds, and gate 3's evidence."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, transaction
from django.utils import timezone

from access.models import AuditEvent
from autonomy import selectors, services
from autonomy.llm_schemas import LlmReviewIn
from autonomy.models import LlmCircuit, LlmCircuitEvaluation, LlmDecisionReview, LlmGovernance, LlmStageDecision
from core.errors import Conflict, PermissionRefused, PolicyRefused
from promotions import evidence as promotion_evidence
from tests.autonomy.llm_support import (
    OPERATOR_ROLES,
    allow,
    described,
    force_stage,
    review_body,
)

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def record(client_order_id="o", *, at, strategy="llm_paper", **overrides):
    body = review_body(client_order_id, order=described(strategy), **overrides)
    return services.llm_review_record(review=LlmReviewIn.model_validate(body), actor="lane", now=at)[0]


def error(client_order_id, *, at, strategy="llm_paper"):
    return record(client_order_id, at=at, strategy=strategy, verdict=None, confidence=None, rationale=None,
                  risk_flags=None, error="timeout")


def seconds(n: float):
    return T0 + timedelta(seconds=n)


# --- the circuit ---------------------------------------------------------------------------------

def test_three_errors_within_300_seconds_open_the_circuit_for_600_seconds(live):
    force_stage("stage2")
    allow()
    error("e1", at=seconds(0), strategy="llm_live")
    error("e2", at=seconds(120), strategy="llm_live")
    assert not selectors.llm_circuit_get(now=seconds(121)).open
    third = error("e3", at=seconds(299), strategy="llm_live")
    assert third.circuit_open and third.circuit_evaluation.opened
    assert LlmCircuit.objects.get().open_until == seconds(899)
    assert AuditEvent.objects.filter(action="llm_circuit_open").count() == 1

    # a good review while open: the error fallback applies (live: veto)
    during = record("good-1", at=seconds(600), strategy="llm_live")
    assert (during.applied_verdict, during.effective_mode) == ("veto", "circuit_open")
    assert "llm_circuit_open" in during.guardrail_reasons
    assert selectors.llm_status_get(now=seconds(898))["effective_mode"] == "circuit_open"

    after = record("good-2", at=seconds(899), strategy="llm_live")
    assert (after.applied_verdict, after.circuit_open) == ("approve", False)
    assert selectors.llm_status_get(now=seconds(899))["effective_mode"] == "veto_only"
    evaluations = LlmCircuitEvaluation.objects.order_by("id")
    assert [e.errors_in_window for e in evaluations] == [1, 2, 3, 0, 0]
    assert [e.open_after for e in evaluations] == [False, False, True, True, False]


def test_errors_spread_wider_than_the_window_never_open_it(paper):
    for n, at in enumerate((0, 200, 301, 502)):
        error(f"e{n}", at=seconds(at))
    assert not selectors.llm_circuit_get(now=seconds(502)).open
    assert LlmCircuit.objects.get().open_until is None


def test_an_error_outside_live_mode_follows_the_configured_fallback(paper, settings):
    force_stage("stage2")
    allow()
    assert error("e1", at=seconds(0)).applied_verdict == "veto"
    settings.LLM_ERROR_FALLBACK = "pass_through"
    assert error("e2", at=seconds(1)).applied_verdict == "approve"
    settings.LLM_ERROR_FALLBACK = "something else"  # anything but pass_through fails closed
    assert error("e3", at=seconds(2)).applied_verdict == "veto"


def test_a_review_of_a_stored_order_reads_it_through_the_execution_lookup(paper, monkeypatch):
    force_stage("stage3")
    allow()
    stored = {"execution_id": 41, "trade_decision_id": 7, "strategy_id": paper.pk, "strategy": "llm_paper",
              "stage": "live", "symbol": "MSFT", "side": "sell", "qty": Decimal("10"), "order_type": "limit",
              "limit_price": Decimal("400")}
    monkeypatch.setattr(selectors, "_order_lookup", [lambda cid: stored if cid == "stored-1" else None])
    body = review_body("stored-1", verdict="adjust", adjusted_qty="11")
    row = services.llm_review_record(review=LlmReviewIn.model_validate(body), actor="lane")[0]
    assert (row.execution_id, row.trade_decision_id, row.symbol, row.live) == (41, 7, "MSFT", True)
    assert (row.applied_verdict, row.applied_qty, row.applied_order_type, row.applied_limit_price) == (
        "adjust", Decimal("11"), "limit", Decimal("400"))
    mismatch = review_body("stored-1", order=described(symbol="AAPL", qty="10", side="sell", type="limit",
                                                       limit_price="400"))
    with pytest.raises(Conflict) as exc:
        services.llm_review_record(review=LlmReviewIn.model_validate(mismatch), actor="lane")
    assert exc.value.code == "llm_review_order_mismatch"
    assert set(exc.value.details["fields"]) == {"order.symbol"}


def test_the_execution_app_registers_the_stored_order_lookup():
    from execution.selectors import order_for_llm_review

    assert selectors._order_lookup == [order_for_llm_review]
    assert selectors.llm_stored_order_get("no-such-order") is None


# --- stage changes --------------------------------------------------------------------------------

def shadow_window_of(reviews: int, errors: int, *, now):
    """``reviews`` reviews (``errors`` of them errors) spread over the last hours before ``now``."""
    for n in range(reviews):
        at = now - timedelta(hours=1, minutes=n * 7)
        if n < errors:
            error(f"w-e{n}", at=at)
        else:
            record(f"w-{n}", at=at)


def in_shadow_for_six_days_with(reviews: int, errors: int):
    """Stage1 since six days (through the service), allowlisted, with a window of reviews; returns now."""
    now = timezone.now()
    services.llm_stage_set(stage="stage1", reason="begin shadow", actor="olga", roles=OPERATOR_ROLES,
                           now=now - timedelta(days=6))
    allow()
    shadow_window_of(reviews, errors, now=now)
    return now


def test_stage_advances_on_evidence_signed_and_chained(paper, signing_key, settings):
    settings.READINESS_PHASE_D = False  # the evidence rule alone; the readiness hook has its own tests
    now = in_shadow_for_six_days_with(20, 2)
    with pytest.raises(PolicyRefused) as refused:
        services.llm_stage_set(stage="stage2", reason="go", actor="olga", roles=OPERATOR_ROLES, now=now)
    assert refused.value.code == "llm_stage_evidence_missing"
    assert LlmGovernance.objects.get().stage == "stage1"

    decision = services.llm_stage_set(stage="stage2", reason="shadow week clean", actor="olga", roles=OPERATOR_ROLES,
                                      evaluation_report="evals/2026-03-01.html", effective_challenge_id="EC-42",
                                      now=now)
    assert (decision.stage_before, decision.stage_after) == ("stage1", "stage2")
    assert decision.evidence["reviews"] == 20 and decision.evidence["error_ratio"] == "0.1000"
    assert decision.evidence["effective_challenge_id"] == "EC-42"
    assert selectors.llm_stage_decision_verify(decision) is None
    first = LlmStageDecision.objects.order_by("id").first()
    assert decision.previous_sha256 == first.decision_sha256 and first.previous_sha256 == ""
    governance = LlmGovernance.objects.get()
    assert governance.stage == "stage2" and governance.shadow_since == now - timedelta(days=6)
    audit = AuditEvent.objects.filter(action="llm_stage_set").order_by("id").last()
    assert (audit.details["before"], audit.details["after"]) == ("stage1", "stage2")


def test_a_shadow_window_with_too_many_errors_blocks_the_advance(paper, signing_key):
    now = in_shadow_for_six_days_with(20, 3)
    with pytest.raises(PolicyRefused) as refused:
        services.llm_stage_set(stage="stage2", reason="go", actor="olga", roles=OPERATOR_ROLES,
                               evaluation_report="r", effective_challenge_id="c", now=now)
    assert refused.value.details["reasons"] == ["the LLM error ratio over the shadow window is 0.1500, above 0.10"]


def test_a_tampered_decision_no_longer_verifies(paper, signing_key):
    decision = services.llm_stage_set(stage="stage1", reason="shadow", actor="olga", roles=OPERATOR_ROLES)
    decision.document["reason"] = "something else"
    decision.decision_sha256 = __import__("core.canonical", fromlist=["x"]).content_sha256(decision.document)
    assert selectors.llm_stage_decision_verify(decision) == "the signature does not verify"


def test_the_readiness_hook_is_asked_only_above_stage1(paper, signing_key, monkeypatch):
    asked = []
    monkeypatch.setattr(selectors, "llm_stage_readiness_block", lambda: asked.append(1) or "scorecard red")
    in_shadow_for_six_days_with(20, 0)
    assert asked == []
    with pytest.raises(PolicyRefused) as refused:
        services.llm_stage_set(stage="stage2", reason="go", actor="olga", roles=OPERATOR_ROLES,
                               evaluation_report="r", effective_challenge_id="c")
    assert (refused.value.code, asked) == ("readiness_not_met", [1])


def test_stage_changes_are_operators_only(db, signing_key):
    for roles in (frozenset({"agent"}), frozenset({"agent", "operator"}), frozenset({"approver"})):
        with pytest.raises(PermissionRefused):
            services.llm_stage_set(stage="stage1", reason="x", actor="a", roles=roles)
    assert not LlmStageDecision.objects.exists()


def test_going_down_needs_no_evidence_and_ends_the_shadow_window(db, signing_key):
    force_stage("stage3")
    services.llm_stage_set(stage="stage0", reason="model incident", actor="olga", roles=OPERATOR_ROLES)
    assert (LlmGovernance.objects.get().stage, LlmGovernance.objects.get().shadow_since) == ("stage0", None)


# --- invariants in PostgreSQL ------------------------------------------------------------------------

def test_reviews_and_decisions_are_append_only(paper, signing_key):
    row = record("a", at=seconds(0))
    services.llm_stage_set(stage="stage1", reason="shadow", actor="olga", roles=OPERATOR_ROLES)
    with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
        LlmDecisionReview.objects.filter(pk=row.pk).update(applied_verdict="approve")
    for model in (LlmCircuitEvaluation, LlmStageDecision):
        with pytest.raises(ProgrammingError, match="Cannot update or delete"), transaction.atomic():
            model.objects.all().delete()


def test_the_database_refuses_a_stage_jump_and_an_unclamped_adjustment(paper):
    LlmGovernance.objects.get_or_create(id=1)
    with pytest.raises(ProgrammingError, match="Invalid transition"), transaction.atomic():
        LlmGovernance.objects.filter(id=1).update(stage="stage3", shadow_since=timezone.now())
    row = record("a", at=seconds(0))
    fields = {f.name: getattr(row, f.name) for f in LlmDecisionReview._meta.fields if f.name not in ("id",
                                                                                                        "review_id")}
    with pytest.raises(IntegrityError), transaction.atomic():
        LlmDecisionReview.objects.create(**{**fields, "client_order_id": "b", "applied_verdict": "adjust",
                                            "applied_qty": Decimal("1000"), "applied_order_type": "market"})
    with pytest.raises(IntegrityError), transaction.atomic():
        LlmDecisionReview.objects.create(**{**fields, "verdict": "veto"})  # a second review of "a"


# --- status and gate 3 --------------------------------------------------------------------------------

def test_status_reports_stage_and_effective_mode(db):
    assert selectors.llm_status_get() == {"stage": "stage0", "effective_mode": "off"}
    force_stage("stage2")
    assert selectors.llm_status_get() == {"stage": "stage2", "effective_mode": "shadow"}  # nothing allowlisted yet
    allow()
    assert selectors.llm_status_get() == {"stage": "stage2", "effective_mode": "veto_only"}


def test_gate3_reads_the_strategys_llm_error_ratio_over_its_window(paper, live, settings):
    now = timezone.now()
    record("old", at=now - timedelta(days=31))
    error("old-e", at=now - timedelta(days=40))
    record("r1", at=now - timedelta(days=1))
    error("r2", at=now - timedelta(hours=2))
    record("other", at=now - timedelta(hours=1), strategy="llm_live")
    collected = promotion_evidence.collect(strategy_id=paper.pk, now=now)
    assert collected["llm"] == {"reviews": 2, "errors": 1, "window_days": 30, "error_ratio": "0.5000"}
    # nothing after ``now`` counts: what an evaluation at that moment saw
    earlier = promotion_evidence.collect(strategy_id=paper.pk, now=now - timedelta(days=3))["llm"]
    assert (earlier["reviews"], earlier["errors"]) == (1, 0)
    settings.LLM_EVIDENCE_WINDOW_DAYS = 60
    assert promotion_evidence.collect(strategy_id=paper.pk, now=now)["llm"]["reviews"] == 4


# --- tokens and the llm_tokens budget -------------------------------------------------------------

def test_review_tokens_are_used_from_the_llm_tokens_budget_and_its_end_vetoes(paper):
    from autonomy.models import BudgetUsage, ControlEvent

    services.budget_policy_set(name="llm_tokens", limit=Decimal(1000), reason="small test budget", actor="ops",
                               roles=OPERATOR_ROLES)
    force_stage("stage2")
    allow()
    first = record("t1", at=timezone.now(), tokens={"prompt": 700, "completion": 100})
    assert first.applied_verdict == "approve"
    assert BudgetUsage.objects.get(name="llm_tokens").used == 800
    over = record("t2", at=timezone.now(), tokens={"prompt": 150, "completion": 100})
    assert over.applied_verdict == "veto" and "token_budget_exhausted" in over.guardrail_reasons
    assert BudgetUsage.objects.get(name="llm_tokens").breached_at is not None
    # the breach moved trading to the policy's state (REDUCING by default) in the same transaction
    assert selectors.trading_state_get().trading_state == "REDUCING"
    moved = ControlEvent.objects.get(kind="trading_state", actor="system:budget")
    assert (moved.evidence["llm_review"], moved.evidence["budget"]["amount"]) == (str(over.review_id), "250")
    later = record("t3", at=timezone.now())  # no tokens, and the budget is breached: still a veto
    assert later.applied_verdict == "veto"


def test_stage_and_allowlist_changes_write_control_events(db, signing_key):
    from autonomy.models import ControlEvent

    allow("claude-z", "p-3")
    services.llm_stage_set(stage="stage1", reason="shadow", actor="olga", roles=OPERATOR_ROLES)
    events = {e.kind: e for e in ControlEvent.objects.filter(kind__startswith="llm_")}
    stage = events["llm_stage"]
    assert (stage.before, stage.after, stage.actor, stage.reason) == ({"stage": "stage0"}, {"stage": "stage1"},
                                                                      "olga", "shadow")
    assert stage.evidence["decision_sha256"] == LlmStageDecision.objects.get().decision_sha256
    allowlist = ControlEvent.objects.filter(kind="llm_allowlist", scope="llm:model").get()
    assert (allowlist.before, allowlist.after) == ({"model": []}, {"model": ["claude-z"]})


def test_an_opened_circuit_writes_a_control_event(paper):
    from autonomy.models import ControlEvent

    for n in range(3):
        error(f"c{n}", at=seconds(n))
    event = ControlEvent.objects.get(kind="llm_circuit")
    assert event.actor == "system:llm-circuit" and event.after == {"open_until": (seconds(602)).isoformat()
                                                                   .replace("+00:00", "Z")}
    from autonomy.models import Alert

    alert = Alert.objects.get(dedup_key="llm_circuit")
    assert alert.severity == "warning" and alert.status == "open" and "3 LLM errors within 300 s" in alert.title
    error("c3", at=seconds(3))  # a later error while open updates the same alert, never a second one
    assert Alert.objects.filter(dedup_key="llm_circuit").count() == 1
