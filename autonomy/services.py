"""Writes of the autonomy controls. Small on purpose; see models.py."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from access.choices import Via
from access.policy import AgentForbidden
from access.roles import Role
from access.services import audit_record
from autonomy import llm_guardrails as guardrails
from autonomy import selectors
from autonomy.choices import LLM_STAGE_RANK, LlmAllowlistKind, LlmStage, LlmVerdict, SymbolMode, TradingStateChoice
from autonomy.llm_schemas import LlmReviewIn
from autonomy.models import (
    LlmAllowlistEntry,
    LlmCircuit,
    LlmCircuitEvaluation,
    LlmDecisionReview,
    LlmGovernance,
    LlmStageDecision,
    SymbolControl,
    TradingState,
)
from core import locks
from core.canonical import content_sha256
from core.errors import Conflict, InvalidInput, NotFound, PermissionRefused, PolicyRefused, invalid_fields
from promotions import signing
from promotions.services import active_signer
from strategies.choices import Stage
from strategies.models import Strategy


def trading_state_set(*, state: str, reason: str = "", actor: str = "") -> TradingState:
    if state not in TradingStateChoice.values:
        raise ValueError(f"Unknown trading state {state!r}; known: {', '.join(TradingStateChoice.values)}.")
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
        row.state, row.reason, row.updated_by = state, reason, actor
        row.save()
    return row


def lean_lane_set(*, enabled: bool, reason: str = "", actor: str = "") -> TradingState:
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
        row.lean_enabled = enabled
        row.lean_disabled_reason = "" if enabled else reason
        row.updated_by = actor
        row.save()
    return row


def symbol_mode_set(*, symbol: str, mode: str, reason: str = "", actor: str = "") -> SymbolControl:
    if mode not in SymbolMode.values:
        raise ValueError(f"Unknown symbol mode {mode!r}; known: {', '.join(SymbolMode.values)}.")
    row, _ = SymbolControl.objects.update_or_create(
        symbol=symbol.upper(), defaults={"mode": mode, "reason": reason, "updated_by": actor})
    return row


# --- LLM governance ----------------------------------------------------------------------------
# Reviews, the rollout stage, the allowlists and the LLM circuit. The decisions are the pure functions
# of autonomy/llm_guardrails.py; these services load their inputs, call them and store the result with
# its inputs and an audit row in the same transaction.

LLM_STAGE_DECISION_SCHEMA = "torghut.llm-stage-decision/v1"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _reviewed_order(review: LlmReviewIn) -> dict[str, Any]:
    """The order the review is about: the stored one with its client_order_id, else the one it describes."""
    stored = selectors.llm_stored_order_get(review.client_order_id)
    if stored is not None:
        described = review.order
        if described is not None:
            theirs = {"strategy": described.strategy, "symbol": described.symbol, "side": described.side,
                      "qty": described.qty, "order_type": described.type, "limit_price": described.limit_price}
            differ = sorted(key for key, value in theirs.items() if stored[key] != value)
            if differ:
                raise Conflict(f"Order {review.client_order_id} is stored, and differs from the order described in "
                               f"the review ({', '.join(differ)}).", code="llm_review_order_mismatch",
                               details={"fields": {f"order.{key}": ["differs from the stored order"]
                                                   for key in differ}})
        return {**stored, "live": stored["stage"] == Stage.LIVE}
    if review.order is None:
        raise NotFound(f"No stored order has client_order_id {review.client_order_id!r}: describe the order in "
                       "`order` to review it before it is submitted.", code="order_not_found",
                       details={"client_order_id": review.client_order_id})
    strategy = Strategy.objects.filter(name=review.order.strategy).first()
    if strategy is None:
        raise InvalidInput(f"Unknown strategy {review.order.strategy!r}: a strategy is known once a research run "
                           "names it.", code="unknown_strategy",
                           details={"fields": {"order.strategy": ["unknown strategy"]}})
    o = review.order
    return {"execution_id": None, "trade_decision_id": None, "strategy_id": strategy.pk, "strategy": strategy.name,
            "stage": strategy.stage, "symbol": o.symbol, "side": o.side, "qty": o.qty, "order_type": o.type,
            "limit_price": o.limit_price, "live": strategy.stage == Stage.LIVE}


def _locked_singleton(model):
    model.objects.get_or_create(id=1)
    return model.objects.select_for_update().get(id=1)


def llm_review_record(*, review: LlmReviewIn, actor: str, via: str = Via.API,
                      now: datetime | None = None) -> tuple[LlmDecisionReview, bool]:
    """Store one review of one order with what the stage and the guardrails make of it.

    Returns ``(review, created)``: the same body again returns the stored review (created False); another
    review of an order already reviewed is a 409 ``llm_review_exists`` (reviews that report an error are
    kept beside it: they feed the circuit and the error ratio). Reviews are serialized on the circuit
    row, so each one sees the errors recorded before it.
    """
    problems = review.problems()
    if problems:
        raise invalid_fields("Invalid review", problems)
    order = _reviewed_order(review)
    now = now or timezone.now()
    received = review.model_dump(mode="json", exclude={"input"}, exclude_none=True)
    is_error = review.error is not None
    with transaction.atomic():
        circuit = _locked_singleton(LlmCircuit)
        if not is_error:
            stored = (LlmDecisionReview.objects.select_related("strategy")
                      .filter(client_order_id=review.client_order_id).exclude(verdict=LlmVerdict.ERROR).first())
            if stored is not None:
                if stored.response_json == received:
                    return stored, False
                raise Conflict(f"Order {review.client_order_id} already has a review ({stored.review_id}); an "
                               "order is reviewed once.", code="llm_review_exists",
                               details={"review_id": str(stored.review_id)})
        state = selectors.llm_governance_get()
        lists = selectors.llm_allowlists()
        decision = guardrails.circuit_evaluate(
            error_times=selectors.llm_error_times(now=now) + ([now] if is_error else []),
            open_until=circuit.open_until, now=now)
        facts = guardrails.GuardFacts(
            stage=state.stage, model_allowed=review.model in lists[LlmAllowlistKind.MODEL],
            prompt_version_allowed=review.prompt_version in lists[LlmAllowlistKind.PROMPT_VERSION],
            circuit_open=decision.open, tokens_exhausted=selectors.llm_tokens_exhausted(),
            error_fallback=selectors.llm_error_fallback())
        advice = guardrails.Advice(
            verdict=review.verdict, confidence=review.confidence, adjusted_qty=review.adjusted_qty,
            adjusted_order_type=review.adjusted_order_type, limit_price=review.limit_price,
            rationale=review.rationale or "", error=review.error or "")
        reviewed = guardrails.ReviewedOrder(qty=order["qty"], order_type=order["order_type"],
                                            limit_price=order["limit_price"], live=order["live"])
        outcome = guardrails.review_outcome(advice, reviewed, facts)
        tokens = review.tokens or None
        try:
            with transaction.atomic():
                row = LlmDecisionReview.objects.create(
                    client_order_id=review.client_order_id, execution_id=order["execution_id"],
                    trade_decision_id=order["trade_decision_id"], strategy_id=order["strategy_id"],
                    symbol=order["symbol"], side=order["side"], order_qty=order["qty"],
                    order_type=order["order_type"], order_limit_price=order["limit_price"], live=order["live"],
                    model=review.model, prompt_version=review.prompt_version, input_json=review.input or {},
                    response_json=received, verdict=LlmVerdict.ERROR if is_error else review.verdict,
                    confidence=review.confidence, adjusted_qty=review.adjusted_qty,
                    adjusted_order_type=review.adjusted_order_type or "", limit_price=review.limit_price,
                    rationale=review.rationale or "", risk_flags=review.risk_flags or [],
                    tokens_prompt=tokens.prompt if tokens else 0, tokens_completion=tokens.completion if tokens else 0,
                    error=review.error or "", stage=state.stage, effective_mode=outcome.effective_mode,
                    guarded_verdict=outcome.guarded_verdict, applied_verdict=outcome.applied_verdict,
                    guardrail_reasons=list(outcome.reasons), applied_qty=outcome.qty,
                    applied_order_type=outcome.order_type or "", applied_limit_price=outcome.limit_price,
                    circuit_open=decision.open, created_by=actor, created_at=now)
        except IntegrityError:  # reviews are serialized above; this is the database's word on the same rule
            raise Conflict(f"Order {review.client_order_id} already has a review.", code="llm_review_exists") from None
        open_until_before = circuit.open_until
        if decision.opened:
            circuit.open_until, circuit.opened_at = decision.open_until, now
            circuit.save(update_fields=["open_until", "opened_at", "updated_at"])
        LlmCircuitEvaluation.objects.create(
            review=row, at=now, errors_in_window=decision.errors_in_window, open_until_before=open_until_before,
            open_after=decision.open, open_until_after=decision.open_until, opened=decision.opened)
        audit_record(actor=actor, via=via, action="llm_review", object_ref=f"llm_review:{row.review_id}",
                     details={"client_order_id": row.client_order_id, "verdict": row.verdict,
                              "applied_verdict": row.applied_verdict, "guardrail_reasons": row.guardrail_reasons,
                              "stage": row.stage, "tokens": row.tokens_prompt + row.tokens_completion})
        if decision.opened:
            audit_record(actor="system:llm-circuit", via=Via.WORKER, action="llm_circuit_open",
                         object_ref="llm_circuit",
                         details={"before": {"open_until": _iso(open_until_before)},
                                  "after": {"open_until": _iso(decision.open_until)},
                                  "reason": f"{decision.errors_in_window} LLM errors within "
                                            f"{int(guardrails.POLICY.circuit_window.total_seconds())} s",
                                  "review_id": str(row.review_id)})
    return row, True


def _ensure_llm_operator(roles, what: str) -> None:
    """LLM governance changes are operators' (never an agent's, whatever else it holds)."""
    if Role.AGENT in roles:
        raise AgentForbidden(f"Agents may never {what}.", details={"action": "change_policy"})
    if Role.OPERATOR not in roles:
        raise PermissionRefused(f"Only operators may {what}.", code="operator_required")


def _stage_evidence_json(evidence: guardrails.StageEvidence, *, now: datetime, lists: dict) -> dict[str, Any]:
    ratio = guardrails.error_ratio(evidence.reviews, evidence.errors)
    return {"evaluation_report": evidence.evaluation_report, "effective_challenge_id": evidence.effective_challenge_id,
            "shadow_since": _iso(evidence.shadow_since), "window_start": _iso(evidence.window_start),
            "window_end": _iso(now), "reviews": evidence.reviews, "errors": evidence.errors,
            "error_ratio": None if ratio is None else str(ratio), "min_reviews": evidence.min_reviews,
            "allowlists": lists, "readiness": evidence.readiness_block}


def llm_stage_set(*, stage: str, reason: str, actor: str, roles=frozenset(), via: str = Via.API,
                  evaluation_report: str = "", effective_challenge_id: str = "",
                  now: datetime | None = None) -> LlmStageDecision:
    """Change the LLM rollout stage: operators only. Any step down; up one stage at a time, and above
    stage1 only on evidence (an evaluation report, an effective-challenge id, a completed shadow window
    with an error ratio of at most 0.10, allowlisted models and prompt versions) and, later, a green
    readiness scorecard. The change is a signed, hash-chained decision with the evidence it rested on."""
    _ensure_llm_operator(roles, "change the LLM stage")
    if stage not in LlmStage.values:
        raise invalid_fields("Invalid stage change", {"stage": [f"one of {', '.join(LlmStage.values)}"]})
    if not reason or not reason.strip():
        raise invalid_fields("Invalid stage change", {"reason": ["say why the stage changes"]})
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked_singleton(LlmGovernance)
        before = row.stage
        advancing_above_shadow = LLM_STAGE_RANK[stage] > max(LLM_STAGE_RANK[before], LLM_STAGE_RANK[LlmStage.STAGE1])
        evidence = selectors.llm_stage_evidence(
            evaluation_report=evaluation_report.strip(), effective_challenge_id=effective_challenge_id.strip(),
            shadow_since=row.shadow_since, now=now,
            readiness_block=selectors.llm_stage_readiness_block() if advancing_above_shadow else None)
        lists = selectors.llm_allowlists()
        evidence_json = _stage_evidence_json(evidence, now=now, lists=lists)
        problems = guardrails.stage_change_problems(before=before, after=stage, evidence=evidence)
        if problems is not None:
            error = Conflict if problems.code == "llm_stage_unchanged" else PolicyRefused
            raise error(f"The LLM stage cannot move from {before} to {stage}: {'; '.join(problems.reasons)}.",
                        code=problems.code, details={"reasons": problems.reasons, "evidence": evidence_json})
        row.stage, row.reason, row.updated_by = stage, reason.strip(), actor
        row.shadow_since = None if stage == LlmStage.STAGE0 else (row.shadow_since or now)
        row.save()
        decision = _llm_stage_decide(before=before, after=stage, actor=actor, roles=roles, via=via,
                                     reason=reason.strip(), evidence=evidence_json, now=now)
        audit_record(actor=actor, actor_roles=sorted(roles), via=via, action="llm_stage_set",
                     object_ref=f"llm_stage_decision:{decision.pk}",
                     details={"before": before, "after": stage, "reason": reason.strip(), "evidence": evidence_json})
    return decision


def _llm_stage_decide(*, before: str, after: str, actor: str, roles, via: str, reason: str, evidence: dict,
                      now: datetime) -> LlmStageDecision:
    """Append the signed decision, chained to the previous one (as promotion decisions are)."""
    last = LlmStageDecision.objects.order_by("-id").first()
    document = {"schema_version": LLM_STAGE_DECISION_SCHEMA, "stage_before": before, "stage_after": after,
                "actor": actor, "actor_roles": sorted(roles), "via": via, "reason": reason, "evidence": evidence,
                "previous_sha256": last.decision_sha256 if last else "", "at": _iso(now)}
    signer = active_signer()
    return LlmStageDecision.objects.create(
        stage_before=before, stage_after=after, actor=actor, actor_roles=sorted(roles), via=via, reason=reason,
        evidence=evidence, document=document, decision_sha256=content_sha256(document),
        previous_sha256=document["previous_sha256"], signature=signing.sign(signer, document), key_id=signer.key_id,
        at=now)


def llm_allowlist_set(*, kind: str, value: str, allowed: bool, reason: str, actor: str, roles=frozenset(),
                      via: str = Via.API) -> dict[str, list[str]]:
    """Add a model or prompt version to its allowlist, or remove it (operators only). Returns the allowlists."""
    _ensure_llm_operator(roles, "change the LLM allowlists")
    fields = {}
    if kind not in LlmAllowlistKind.values:
        fields["kind"] = [f"one of {', '.join(LlmAllowlistKind.values)}"]
    if not value or not value.strip() or len(value) > 128:
        fields["value"] = ["1 to 128 characters"]
    if not reason or not reason.strip():
        fields["reason"] = ["say why the allowlist changes"]
    if fields:
        raise invalid_fields("Invalid allowlist change", fields)
    with transaction.atomic():
        locks.xact_lock("llm_allowlist")
        before = selectors.llm_allowlists()
        if allowed:
            LlmAllowlistEntry.objects.get_or_create(kind=kind, value=value,
                                                    defaults={"reason": reason.strip(), "added_by": actor})
        else:
            LlmAllowlistEntry.objects.filter(kind=kind, value=value).delete()
        after = selectors.llm_allowlists()
        if before != after:
            audit_record(actor=actor, actor_roles=sorted(roles), via=via, action="llm_allowlist_set",
                         object_ref=f"llm_allowlist:{kind}",
                         details={"before": before[kind], "after": after[kind], "reason": reason.strip(),
                                  "value": value, "allowed": allowed})
    return after
