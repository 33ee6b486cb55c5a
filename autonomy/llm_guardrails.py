"""LLM governance as pure functions over plain data (no database, no clock).

Torghut's LLM review policy (``../shared/TORGHUT.md``), kept here once and shared by the review
service, the admission seam and the stage-advancement service:

- :func:`review_outcome` — what a review's advice becomes: the rollout stage (0 off, 1 shadow, 2 veto
  only, 3 bounded adjust), the guardrails (confidence < 0.5 → veto; an adjust where adjusting is not
  allowed → veto; adjusted quantity clamped to [0.5×, 1.25×] of the order's, ≤ 0 → veto; order type
  only market or limit, a limit needs a price; rationale at most 280 characters; model and
  prompt-version allowlists; the token budget), the LLM circuit and the error fallback (always a
  veto in live mode).
- :func:`circuit_evaluate` — 3 errors within 300 s open the circuit; it stays open 600 s.
- :func:`stage_change_problems` — what stands between the current stage and the requested one.
- :func:`llm_block` — the admission rule: an order whose ``client_order_id`` has a review is
  admitted only as the applied verdict lets it (``llm_veto`` 423, ``llm_adjustment_mismatch`` 422).

Every function returns its reasons as stable snake_case codes (:data:`REASONS` says each in words),
so what a service stores beside its inputs is what an operator reads on the governance page.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from autonomy.choices import (
    LLM_STAGE_RANK,
    LlmAppliedVerdict,
    LlmErrorFallback,
    LlmMode,
    LlmStage,
    LlmVerdict,
)

QTY_PLACES = Decimal("0.00000001")  # numeric(24, 8), as the executions table stores quantities
ORDER_TYPES = ("market", "limit")


@dataclass(frozen=True)
class LlmPolicy:
    """Torghut's numbers. One instance (:data:`POLICY`); tests may pass another."""

    min_confidence: float = 0.5
    qty_min_ratio: Decimal = Decimal("0.5")
    qty_max_ratio: Decimal = Decimal("1.25")
    max_rationale_chars: int = 280
    circuit_errors: int = 3
    circuit_window: timedelta = timedelta(seconds=300)
    circuit_open_for: timedelta = timedelta(seconds=600)
    max_error_ratio: Decimal = Decimal("0.10")


POLICY = LlmPolicy()

#: Every reason code a review, the circuit or a stage change can record, in words.
REASONS = {
    "stage0_off": "stage 0: LLM advice is off; the order passes unchanged",
    "shadow_only": "shadow: the advice is logged and the order passes unchanged",
    "model_not_allowed": "the model is not on the allowlist: forced to shadow",
    "prompt_version_not_allowed": "the prompt version is not on the allowlist: forced to shadow",
    "llm_error": "the LLM review failed",
    "llm_circuit_open": "the LLM circuit is open (3 errors within 300 s): the error fallback applies",
    "error_fallback_veto": "an LLM error or open circuit means veto (always in live mode)",
    "error_fallback_pass_through": "an LLM error or open circuit passes the order through (not live)",
    "token_budget_exhausted": "the LLM token budget is used up",
    "rationale_too_long": "the rationale is longer than 280 characters",
    "confidence_below_minimum": "confidence below 0.5",
    "adjust_not_allowed": "adjusting is not allowed at this stage",
    "order_type_not_allowed": "an order type may only change between market and limit",
    "limit_price_required": "a limit order needs a limit price",
    "adjusted_qty_not_positive": "the adjusted quantity is zero or negative",
    "adjusted_qty_clamped": "the adjusted quantity was clamped to [0.5x, 1.25x] of the order's",
    "adjustment_unchanged": "the adjustment changes nothing: the order passes as it is",
}

#: The reasons that make the guardrails veto (what the governance page charts as rejections).
VETO_REASONS = frozenset({
    "error_fallback_veto", "token_budget_exhausted", "rationale_too_long", "confidence_below_minimum",
    "adjust_not_allowed", "order_type_not_allowed", "limit_price_required", "adjusted_qty_not_positive",
})


# --- reviews ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewedOrder:
    """The order a review is about (a stored execution, or the one the review describes)."""

    qty: Decimal
    order_type: str
    limit_price: Decimal | None = None
    live: bool = False  # the strategy trades live: an LLM error is always a veto


@dataclass(frozen=True)
class Advice:
    """What the reviewer sent. ``error`` non-empty: the LLM could not review (no verdict)."""

    verdict: str | None
    confidence: float | None = None
    adjusted_qty: Decimal | None = None
    adjusted_order_type: str | None = None
    limit_price: Decimal | None = None
    rationale: str = ""
    error: str = ""


@dataclass(frozen=True)
class GuardFacts:
    """The governance state the advice meets."""

    stage: str
    model_allowed: bool
    prompt_version_allowed: bool
    circuit_open: bool = False
    tokens_exhausted: bool = False
    error_fallback: str = LlmErrorFallback.VETO


@dataclass(frozen=True)
class ReviewOutcome:
    applied_verdict: str
    guarded_verdict: str  # what the guardrails let stand, before shadow or off pass the order through
    effective_mode: str
    reasons: tuple[str, ...]
    qty: Decimal | None = None  # an applied adjust: the order as it must be submitted
    order_type: str | None = None
    limit_price: Decimal | None = None


def effective_mode(*, stage: str, circuit_open: bool, allowlisted: bool) -> str:
    """How advice acts: stages 0 and 1 never change an order; above, advice from a model or prompt
    version off the allowlists is forced to shadow, and an open circuit means the error fallback."""
    if stage == LlmStage.STAGE0:
        return LlmMode.OFF
    if stage == LlmStage.STAGE1 or not allowlisted:
        return LlmMode.SHADOW
    if circuit_open:
        return LlmMode.CIRCUIT_OPEN
    return LlmMode.VETO_ONLY if stage == LlmStage.STAGE2 else LlmMode.BOUNDED_ADJUST


def _fallback(order: ReviewedOrder, facts: GuardFacts) -> tuple[str, str]:
    if order.live or facts.error_fallback == LlmErrorFallback.VETO:
        return LlmAppliedVerdict.VETO, "error_fallback_veto"
    return LlmAppliedVerdict.APPROVE, "error_fallback_pass_through"


def _adjustment(advice: Advice, order: ReviewedOrder, policy: LlmPolicy) -> tuple[list[str], ReviewOutcome | None]:
    """The bounded adjustment: ``(veto reasons, None)`` when it is blocked, else ``(notes, outcome)``."""
    vetoes: list[str] = []
    order_type = advice.adjusted_order_type or order.order_type
    price: Decimal | None = None
    if order_type not in ORDER_TYPES:
        vetoes.append("order_type_not_allowed")
    elif order_type == "limit":
        price = advice.limit_price or (order.limit_price if order.order_type == "limit" else None)
        if price is None or price <= 0:
            vetoes.append("limit_price_required")
    qty = order.qty if advice.adjusted_qty is None else advice.adjusted_qty
    if qty <= 0:
        vetoes.append("adjusted_qty_not_positive")
    if vetoes:
        return vetoes, None
    notes: list[str] = []
    low = (order.qty * policy.qty_min_ratio).quantize(QTY_PLACES, rounding=ROUND_UP)
    high = (order.qty * policy.qty_max_ratio).quantize(QTY_PLACES, rounding=ROUND_DOWN)
    clamped = min(max(qty, low), high)
    if clamped != qty:
        notes.append("adjusted_qty_clamped")
    if clamped == order.qty and order_type == order.order_type and price == order.limit_price:
        return notes + ["adjustment_unchanged"], ReviewOutcome(
            LlmAppliedVerdict.APPROVE, LlmAppliedVerdict.APPROVE, "", ())
    return notes, ReviewOutcome(LlmAppliedVerdict.ADJUST, LlmAppliedVerdict.ADJUST, "", (), clamped, order_type,
                                price)


def review_outcome(advice: Advice, order: ReviewedOrder, facts: GuardFacts,
                   policy: LlmPolicy = POLICY) -> ReviewOutcome:
    """The applied verdict of one review, with every reason that shaped it.

    The guardrails are judged at every stage (so shadow reviews show what enforcement would have
    done: ``guarded_verdict``); the stage decides whether they act. Every guardrail that vetoes is
    named, not only the first.
    """
    allowlisted = facts.model_allowed and facts.prompt_version_allowed
    mode = effective_mode(stage=facts.stage, circuit_open=facts.circuit_open, allowlisted=allowlisted)
    reasons: list[str] = []
    if not facts.model_allowed:
        reasons.append("model_not_allowed")
    if not facts.prompt_version_allowed:
        reasons.append("prompt_version_not_allowed")
    adjust: ReviewOutcome | None = None
    if advice.error or facts.circuit_open:
        reasons.append("llm_error" if advice.error else "llm_circuit_open")
        guarded, why = _fallback(order, facts)
        reasons.append(why)
    else:
        vetoes: list[str] = []
        if facts.tokens_exhausted:
            vetoes.append("token_budget_exhausted")
        if len(advice.rationale) > policy.max_rationale_chars:
            vetoes.append("rationale_too_long")
        if advice.confidence is None or advice.confidence < policy.min_confidence:
            vetoes.append("confidence_below_minimum")
        if advice.verdict == LlmVerdict.ADJUST:
            if facts.stage != LlmStage.STAGE3:
                vetoes.append("adjust_not_allowed")
            else:
                blocked, adjust = _adjustment(advice, order, policy)
                (vetoes if adjust is None else reasons).extend(blocked)
        if vetoes or advice.verdict == LlmVerdict.VETO:
            guarded, adjust = LlmAppliedVerdict.VETO, None
            reasons.extend(vetoes)
        else:
            guarded = adjust.applied_verdict if adjust is not None else LlmAppliedVerdict.APPROVE
    if mode in (LlmMode.OFF, LlmMode.SHADOW):
        reasons.append("stage0_off" if mode == LlmMode.OFF else "shadow_only")
        return ReviewOutcome(LlmAppliedVerdict.APPROVE, guarded, mode, tuple(reasons))
    if guarded == LlmAppliedVerdict.ADJUST and adjust is not None:
        return ReviewOutcome(guarded, guarded, mode, tuple(reasons), adjust.qty, adjust.order_type,
                             adjust.limit_price)
    return ReviewOutcome(guarded, guarded, mode, tuple(reasons))


# --- the LLM circuit ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CircuitDecision:
    open: bool
    open_until: datetime | None
    opened: bool  # this evaluation opened it
    errors_in_window: int


def circuit_evaluate(*, error_times: Sequence[datetime], open_until: datetime | None, now: datetime,
                     policy: LlmPolicy = POLICY) -> CircuitDecision:
    """``error_times``: when LLM errors were recorded (this one included). Once open, the circuit
    stays open until ``open_until`` whatever arrives meanwhile; it then closes by itself."""
    window_start = now - policy.circuit_window
    errors = sum(1 for at in error_times if window_start < at <= now)
    if open_until is not None and now < open_until:
        return CircuitDecision(True, open_until, False, errors)
    if errors >= policy.circuit_errors:
        return CircuitDecision(True, now + policy.circuit_open_for, True, errors)
    return CircuitDecision(False, None, False, errors)


# --- stage changes ------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageEvidence:
    """What a stage advance rests on: what the operator names and what the database measured."""

    evaluation_report: str = ""
    effective_challenge_id: str = ""
    shadow_since: datetime | None = None  # since when the stage has been at least stage1
    window_start: datetime | None = None  # the shadow window the error ratio is measured over
    reviews: int = 0
    errors: int = 0
    models_allowed: int = 0
    prompt_versions_allowed: int = 0
    min_reviews: int = 1
    readiness_block: str | None = None  # Phase D: what the readiness scorecard says, when not green


@dataclass(frozen=True)
class StageProblems:
    code: str  # llm_stage_unchanged | llm_stage_skip | llm_stage_evidence_missing | readiness_not_met
    reasons: list[str] = field(default_factory=list)


def error_ratio(reviews: int, errors: int) -> Decimal | None:
    return None if reviews <= 0 else (Decimal(errors) / Decimal(reviews)).quantize(Decimal("0.0001"))


def stage_change_problems(*, before: str, after: str, evidence: StageEvidence,
                          policy: LlmPolicy = POLICY) -> StageProblems | None:
    """None when the change may go ahead. Any step down is allowed; up one stage at a time; above
    stage 1 only with an evaluation report, an effective-challenge id, a completed shadow window
    whose error ratio is at most 0.10, a model and a prompt version on the allowlists, and (Phase D)
    a green readiness scorecard."""
    if before == after:
        return StageProblems("llm_stage_unchanged", [f"the LLM stage is already {after}"])
    rank_before, rank_after = LLM_STAGE_RANK[before], LLM_STAGE_RANK[after]
    if rank_after < rank_before or after == LlmStage.STAGE1:
        return None
    if rank_after > rank_before + 1:
        return StageProblems("llm_stage_skip", [f"stages advance one at a time: {before} may go to "
                                                f"{LlmStage.values[rank_before + 1]}, not {after}"])
    reasons = []
    if not evidence.evaluation_report.strip():
        reasons.append("an evaluation report is required")
    if not evidence.effective_challenge_id.strip():
        reasons.append("an effective-challenge id is required")
    if evidence.shadow_since is None or evidence.window_start is None or evidence.shadow_since > evidence.window_start:
        reasons.append("the shadow window is not complete: the stage has not been at least stage1 for the "
                       "whole window")
    if evidence.reviews < evidence.min_reviews:
        reasons.append(f"the shadow window holds {evidence.reviews} reviews; at least {evidence.min_reviews} "
                       "are required")
    ratio = error_ratio(evidence.reviews, evidence.errors)
    if ratio is not None and ratio > policy.max_error_ratio:
        reasons.append(f"the LLM error ratio over the shadow window is {ratio}, above {policy.max_error_ratio}")
    if not evidence.models_allowed or not evidence.prompt_versions_allowed:
        reasons.append("no model or no prompt version is on the allowlists: every review would be forced "
                       "to shadow")
    if reasons:
        return StageProblems("llm_stage_evidence_missing", reasons)
    if evidence.readiness_block:
        return StageProblems("readiness_not_met", [evidence.readiness_block])
    return None


# --- admission ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LlmVerdictFacts:
    """The applied verdict stored for one client_order_id (what admission reads)."""

    review_id: str
    applied_verdict: str
    qty: Decimal | None = None
    order_type: str | None = None
    limit_price: Decimal | None = None


@dataclass(frozen=True)
class OrderShape:
    qty: Decimal
    order_type: str
    limit_price: Decimal | None = None


@dataclass(frozen=True)
class LlmBlock:
    code: str
    message: str
    http_status: int  # 423 for a veto (a control flag), 422 for an order the adjustment does not match


def llm_block(verdict: LlmVerdictFacts | None, order: OrderShape) -> LlmBlock | None:
    """Whether an order is admitted as its review's applied verdict lets it; None admits it."""
    if verdict is None or verdict.applied_verdict == LlmAppliedVerdict.APPROVE:
        return None
    if verdict.applied_verdict == LlmAppliedVerdict.VETO:
        return LlmBlock("llm_veto", f"The LLM review {verdict.review_id} vetoed this order.", 423)
    wanted = {"qty": verdict.qty, "type": verdict.order_type}
    if verdict.order_type == "limit":
        wanted["limit_price"] = verdict.limit_price
    got = {"qty": order.qty, "type": order.order_type, "limit_price": order.limit_price}
    if any(got[key] != value for key, value in wanted.items()):
        asked = ", ".join(f"{key} {value}" for key, value in wanted.items())
        return LlmBlock("llm_adjustment_mismatch",
                        f"The LLM review {verdict.review_id} adjusted this order: submit it with {asked}.", 422)
    return None
