"""The LLM guardrails, stages, circuit and admission rule as pure functions (no database)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from autonomy.llm_guardrails import (
    Advice,
    GuardFacts,
    LlmVerdictFacts,
    OrderShape,
    ReviewedOrder,
    StageEvidence,
    circuit_evaluate,
    effective_mode,
    llm_block,
    review_outcome,
    stage_change_problems,
)

ORDER = ReviewedOrder(qty=Decimal("100"), order_type="market")
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def facts(stage="stage3", **overrides) -> GuardFacts:
    return GuardFacts(**{"stage": stage, "model_allowed": True, "prompt_version_allowed": True, **overrides})


def advice(verdict="approve", confidence=0.9, **overrides) -> Advice:
    return Advice(**{"verdict": verdict, "confidence": confidence, "rationale": "fine", **overrides})


# --- the stage table ----------------------------------------------------------------------------
# (stage, advised verdict) -> (applied verdict, guarded verdict, effective mode)
STAGE_TABLE = [
    ("stage0", "approve", "approve", "approve", "off"),
    ("stage0", "veto", "approve", "veto", "off"),
    ("stage0", "adjust", "approve", "veto", "off"),
    ("stage1", "approve", "approve", "approve", "shadow"),
    ("stage1", "veto", "approve", "veto", "shadow"),
    ("stage1", "adjust", "approve", "veto", "shadow"),
    ("stage2", "approve", "approve", "approve", "veto_only"),
    ("stage2", "veto", "veto", "veto", "veto_only"),
    ("stage2", "adjust", "veto", "veto", "veto_only"),
    ("stage3", "approve", "approve", "approve", "bounded_adjust"),
    ("stage3", "veto", "veto", "veto", "bounded_adjust"),
    ("stage3", "adjust", "adjust", "adjust", "bounded_adjust"),
]


@pytest.mark.parametrize(("stage", "verdict", "applied", "guarded", "mode"), STAGE_TABLE)
def test_stage_decides_what_the_advice_does(stage, verdict, applied, guarded, mode):
    extra = {"adjusted_qty": Decimal("80")} if verdict == "adjust" else {}
    outcome = review_outcome(advice(verdict, **extra), ORDER, facts(stage))
    assert (outcome.applied_verdict, outcome.guarded_verdict, outcome.effective_mode) == (applied, guarded, mode)
    if applied == "adjust":
        assert (outcome.qty, outcome.order_type) == (Decimal("80"), "market")
    else:
        assert outcome.qty is None


def test_adjust_where_adjusting_is_not_allowed_is_a_veto_named_so():
    outcome = review_outcome(advice("adjust", adjusted_qty=Decimal("80")), ORDER, facts("stage2"))
    assert outcome.applied_verdict == "veto"
    assert "adjust_not_allowed" in outcome.reasons


def test_shadow_logs_what_enforcement_would_have_done():
    outcome = review_outcome(advice("approve", confidence=0.2), ORDER, facts("stage1"))
    assert outcome.applied_verdict == "approve" and outcome.guarded_verdict == "veto"
    assert outcome.reasons == ("confidence_below_minimum", "shadow_only")


# --- the guardrails -----------------------------------------------------------------------------

@pytest.mark.parametrize(("confidence", "applied"), [(0.0, "veto"), (0.4999999, "veto"), (0.5, "approve"),
                                                      (1.0, "approve")])
def test_confidence_under_one_half_vetoes(confidence, applied):
    outcome = review_outcome(advice("approve", confidence=confidence), ORDER, facts())
    assert outcome.applied_verdict == applied
    assert ("confidence_below_minimum" in outcome.reasons) is (applied == "veto")


@pytest.mark.parametrize(("asked", "applied_qty", "clamped"), [
    ("80", "80", False), ("50", "50", False), ("125", "125", False),
    ("10", "50", True), ("49.99999999", "50", True), ("1000", "125", True), ("125.00000001", "125", True),
])
def test_adjusted_quantity_is_clamped_to_half_and_five_quarters(asked, applied_qty, clamped):
    outcome = review_outcome(advice("adjust", adjusted_qty=Decimal(asked)), ORDER, facts())
    assert outcome.applied_verdict == "adjust"
    assert outcome.qty == Decimal(applied_qty)
    assert ("adjusted_qty_clamped" in outcome.reasons) is clamped


def test_clamp_bounds_stay_inside_for_quantities_with_eight_places():
    order = ReviewedOrder(qty=Decimal("0.00000003"), order_type="market")
    low = review_outcome(advice("adjust", adjusted_qty=Decimal("0.00000001")), order, facts())
    high = review_outcome(advice("adjust", adjusted_qty=Decimal("1")), order, facts())
    # 0.5 x 0.00000003 = 0.000000015 rounds up, 1.25 x = 0.0000000375 rounds down: both inside [0.5x, 1.25x]
    assert low.qty == Decimal("0.00000002")
    # clamped back to the order's own quantity: nothing is left to adjust
    assert high.applied_verdict == "approve" and high.reasons == ("adjusted_qty_clamped", "adjustment_unchanged")


@pytest.mark.parametrize("asked", ["0", "-5"])
def test_adjusted_quantity_at_or_below_zero_vetoes(asked):
    outcome = review_outcome(advice("adjust", adjusted_qty=Decimal(asked)), ORDER, facts())
    assert outcome.applied_verdict == "veto"
    assert "adjusted_qty_not_positive" in outcome.reasons


def test_order_type_changes_only_between_market_and_limit():
    stop = review_outcome(advice("adjust", adjusted_order_type="stop"), ORDER, facts())
    assert stop.applied_verdict == "veto" and "order_type_not_allowed" in stop.reasons
    no_price = review_outcome(advice("adjust", adjusted_order_type="limit"), ORDER, facts())
    assert no_price.applied_verdict == "veto" and "limit_price_required" in no_price.reasons
    limit = review_outcome(advice("adjust", adjusted_order_type="limit", limit_price=Decimal("99.5")), ORDER, facts())
    assert (limit.applied_verdict, limit.order_type, limit.limit_price) == ("adjust", "limit", Decimal("99.5"))
    to_market = review_outcome(advice("adjust", adjusted_order_type="market"),
                               ReviewedOrder(qty=Decimal("10"), order_type="limit", limit_price=Decimal("5")), facts())
    assert (to_market.applied_verdict, to_market.order_type, to_market.limit_price) == ("adjust", "market", None)


def test_a_limit_order_keeps_its_price_when_only_the_quantity_changes():
    order = ReviewedOrder(qty=Decimal("10"), order_type="limit", limit_price=Decimal("5"))
    outcome = review_outcome(advice("adjust", adjusted_qty=Decimal("12")), order, facts())
    assert (outcome.qty, outcome.order_type, outcome.limit_price) == (Decimal("12"), "limit", Decimal("5"))


def test_an_adjustment_that_changes_nothing_passes_the_order():
    outcome = review_outcome(advice("adjust", adjusted_qty=Decimal("100")), ORDER, facts())
    assert outcome.applied_verdict == "approve" and "adjustment_unchanged" in outcome.reasons


def test_rationale_over_280_characters_vetoes():
    assert review_outcome(advice(rationale="x" * 280), ORDER, facts()).applied_verdict == "approve"
    outcome = review_outcome(advice(rationale="x" * 281), ORDER, facts())
    assert outcome.applied_verdict == "veto" and "rationale_too_long" in outcome.reasons


def test_a_blocked_adjustment_names_every_reason():
    outcome = review_outcome(advice("adjust", confidence=0.1, adjusted_qty=Decimal("-1"), adjusted_order_type="stop",
                                    rationale="y" * 300), ORDER, facts())
    assert outcome.applied_verdict == "veto"
    assert set(outcome.reasons) == {"confidence_below_minimum", "rationale_too_long", "order_type_not_allowed",
                                    "adjusted_qty_not_positive"}


@pytest.mark.parametrize(("model_ok", "prompt_ok", "reasons"), [
    (False, True, ("model_not_allowed",)), (True, False, ("prompt_version_not_allowed",)),
    (False, False, ("model_not_allowed", "prompt_version_not_allowed"))])
def test_advice_off_the_allowlists_is_forced_to_shadow(model_ok, prompt_ok, reasons):
    outcome = review_outcome(advice("veto"), ORDER, facts(model_allowed=model_ok, prompt_version_allowed=prompt_ok))
    assert outcome.applied_verdict == "approve" and outcome.effective_mode == "shadow"
    assert outcome.reasons[:len(reasons)] == reasons and outcome.reasons[-1] == "shadow_only"


def test_token_budget_exhausted_vetoes():
    outcome = review_outcome(advice(), ORDER, facts(tokens_exhausted=True))
    assert outcome.applied_verdict == "veto" and "token_budget_exhausted" in outcome.reasons


# --- errors and the circuit ---------------------------------------------------------------------

@pytest.mark.parametrize(("live", "fallback", "applied"), [
    (True, "pass_through", "veto"), (True, "veto", "veto"), (False, "veto", "veto"),
    (False, "pass_through", "approve")])
def test_an_error_falls_back_and_is_always_a_veto_in_live_mode(live, fallback, applied):
    order = ReviewedOrder(qty=Decimal("1"), order_type="market", live=live)
    outcome = review_outcome(Advice(verdict=None, error="timeout"), order, facts("stage2", error_fallback=fallback))
    assert outcome.applied_verdict == applied
    assert outcome.reasons[0] == "llm_error"


def test_an_open_circuit_applies_the_fallback_to_a_good_review():
    outcome = review_outcome(advice(), ReviewedOrder(qty=Decimal("1"), order_type="market", live=True),
                             facts("stage3", circuit_open=True))
    assert (outcome.applied_verdict, outcome.effective_mode) == ("veto", "circuit_open")
    assert outcome.reasons == ("llm_circuit_open", "error_fallback_veto")


def test_shadow_passes_the_order_even_on_an_error_in_live_mode():
    order = ReviewedOrder(qty=Decimal("1"), order_type="market", live=True)
    outcome = review_outcome(Advice(verdict=None, error="timeout"), order, facts("stage1"))
    assert (outcome.applied_verdict, outcome.guarded_verdict) == ("approve", "veto")


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_circuit_opens_on_the_third_error_within_300_seconds():
    assert not circuit_evaluate(error_times=[at(0), at(100)], open_until=None, now=at(100)).open
    opened = circuit_evaluate(error_times=[at(0), at(100), at(299)], open_until=None, now=at(299))
    assert opened.open and opened.opened and opened.open_until == at(299 + 600)
    assert opened.errors_in_window == 3


def test_errors_spread_over_more_than_300_seconds_do_not_open_it():
    decision = circuit_evaluate(error_times=[at(0), at(150), at(300)], open_until=None, now=at(300))
    assert not decision.open and decision.errors_in_window == 2  # the first fell out of (now - 300 s, now]


def test_circuit_stays_open_600_seconds_then_closes_by_itself():
    until = at(600)
    assert circuit_evaluate(error_times=[], open_until=until, now=at(599.999)).open
    still = circuit_evaluate(error_times=[at(500), at(550), at(590)], open_until=until, now=at(590))
    assert still.open and not still.opened and still.open_until == until  # errors while open do not extend it
    assert not circuit_evaluate(error_times=[], open_until=until, now=at(600)).open


def test_effective_mode():
    assert effective_mode(stage="stage0", circuit_open=True, allowlisted=True) == "off"
    assert effective_mode(stage="stage1", circuit_open=True, allowlisted=True) == "shadow"
    assert effective_mode(stage="stage3", circuit_open=False, allowlisted=False) == "shadow"
    assert effective_mode(stage="stage2", circuit_open=True, allowlisted=True) == "circuit_open"
    assert effective_mode(stage="stage2", circuit_open=False, allowlisted=True) == "veto_only"


# --- stage changes ------------------------------------------------------------------------------

def evidence(**overrides) -> StageEvidence:
    start = NOW - timedelta(hours=120)
    return StageEvidence(**{"evaluation_report": "eval-2026-02", "effective_challenge_id": "ec-17",
                            "shadow_since": start - timedelta(hours=1), "window_start": start, "reviews": 40,
                            "errors": 4, "models_allowed": 1, "prompt_versions_allowed": 1, "min_reviews": 20,
                            **overrides})


def test_stage_advances_one_at_a_time_and_goes_down_freely():
    assert stage_change_problems(before="stage0", after="stage1", evidence=StageEvidence()) is None
    assert stage_change_problems(before="stage3", after="stage0", evidence=StageEvidence()) is None
    assert stage_change_problems(before="stage1", after="stage3", evidence=evidence()).code == "llm_stage_skip"
    assert stage_change_problems(before="stage2", after="stage2", evidence=evidence()).code == "llm_stage_unchanged"
    assert stage_change_problems(before="stage1", after="stage2", evidence=evidence()) is None
    assert stage_change_problems(before="stage2", after="stage3", evidence=evidence()) is None


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"evaluation_report": " "}, "evaluation report"),
    ({"effective_challenge_id": ""}, "effective-challenge id"),
    ({"shadow_since": NOW - timedelta(hours=119)}, "shadow window is not complete"),
    ({"shadow_since": None}, "shadow window is not complete"),
    ({"reviews": 19, "errors": 0}, "at least 20"),
    ({"reviews": 40, "errors": 5}, "0.1250"),
    ({"models_allowed": 0}, "allowlists"),
    ({"prompt_versions_allowed": 0}, "allowlists"),
])
def test_advancing_above_shadow_needs_every_piece_of_evidence(overrides, needle):
    problems = stage_change_problems(before="stage1", after="stage2", evidence=evidence(**overrides))
    assert problems.code == "llm_stage_evidence_missing"
    assert any(needle in reason for reason in problems.reasons), problems.reasons


def test_error_ratio_of_exactly_one_tenth_is_enough():
    assert stage_change_problems(before="stage1", after="stage2", evidence=evidence(reviews=40, errors=4)) is None


def test_readiness_hook_refuses_with_its_own_code():
    problems = stage_change_problems(before="stage1", after="stage2",
                                     evidence=evidence(readiness_block="scorecard red since 09:00"))
    assert (problems.code, problems.reasons) == ("readiness_not_met", ["scorecard red since 09:00"])


# --- admission ----------------------------------------------------------------------------------

def test_admission_follows_the_applied_verdict():
    order = OrderShape(qty=Decimal("100"), order_type="market")
    assert llm_block(None, order) is None
    assert llm_block(LlmVerdictFacts("r1", "approve"), order) is None
    veto = llm_block(LlmVerdictFacts("r1", "veto"), order)
    assert (veto.code, veto.http_status) == ("llm_veto", 423)
    adjust = LlmVerdictFacts("r1", "adjust", Decimal("80"), "market")
    mismatch = llm_block(adjust, order)
    assert (mismatch.code, mismatch.http_status) == ("llm_adjustment_mismatch", 422)
    assert "qty 80" in mismatch.message
    assert llm_block(adjust, OrderShape(qty=Decimal("80.000"), order_type="market")) is None
    assert llm_block(adjust, OrderShape(qty=Decimal("80"), order_type="limit", limit_price=Decimal("1"))) is not None


def test_an_adjusted_limit_order_must_carry_the_adjusted_price():
    adjust = LlmVerdictFacts("r1", "adjust", Decimal("80"), "limit", Decimal("99.5"))
    assert llm_block(adjust, OrderShape(Decimal("80"), "limit", Decimal("99.5"))) is None
    assert llm_block(adjust, OrderShape(Decimal("80"), "limit", Decimal("99.6"))).code == "llm_adjustment_mismatch"
