"""Request and response shapes of the LLM governance API (pydantic: one definition validates and documents)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from autonomy.choices import LlmAllowlistKind, LlmAppliedVerdict, LlmMode, LlmStage, LlmVerdict
from autonomy.models import LlmDecisionReview
from core.canonical import canonical_json, decimal_str
from core.columns import column_decimal, column_decimal_json, column_int
from strategies.models import NAME_PATTERN

ClientOrderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/@+-]{1,128}$")]
PromptVersion = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/@+-]{1,64}$")]
Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.\-/]{0,31}$"), AfterValidator(str.upper)]
Qty = column_decimal(LlmDecisionReview, "order_qty", gt=0)
# An adjusted quantity of any sign is well-formed: zero or less is the guardrail's veto, not a 400.
AdjustedQty = column_decimal(LlmDecisionReview, "adjusted_qty")
Price = column_decimal(LlmDecisionReview, "limit_price", gt=0)
Tokens = column_int(LlmDecisionReview, "tokens_prompt", ge=0)
# A JSON number from 0 to 1 (NaN and infinities never reach here: the JSON parser refuses them).
Confidence = Annotated[float, Strict(), Field(ge=0, le=1, allow_inf_nan=False)]
# Over 280 characters is the guardrail's veto (rationale_too_long); over 2,000 is not a rationale.
Rationale = Annotated[str, StringConstraints(max_length=2000)]
RiskFlag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ErrorText = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Reference = Annotated[str, StringConstraints(max_length=500)]
INPUT_MAX_BYTES = 65536
PlainDecimal = Annotated[Decimal, PlainSerializer(decimal_str, return_type=str, when_used="always"),
                         WithJsonSchema(column_decimal_json(LlmDecisionReview, "order_qty"), mode="serialization")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewOrderIn(_In):
    """The order a review is about, before it is submitted (the quantity clamp and order-type rule read it)."""

    strategy: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    symbol: Symbol
    side: Literal["buy", "sell"]
    qty: Qty
    type: Literal["market", "limit"] = "market"
    limit_price: Price | None = Field(default=None, validate_default=True)

    @field_validator("limit_price", mode="after")
    @classmethod
    def _limit_price_matches_type(cls, value, info: ValidationInfo):
        if info.data.get("type") == "limit" and value is None:
            raise ValueError("a positive limit_price is required for limit orders")
        if info.data.get("type") == "market" and value is not None:
            raise ValueError("market orders take no limit_price")
        return value


class TokensIn(_In):
    prompt: Tokens = 0
    completion: Tokens = 0


class LlmReviewIn(_In):
    """``POST /api/v1/llm/reviews``. A review that failed sends ``error`` instead of a verdict."""

    client_order_id: ClientOrderId
    model: ModelName
    prompt_version: PromptVersion
    verdict: Literal["approve", "veto", "adjust"] | None = Field(
        default=None, description="Required unless `error` reports that the review failed.")
    confidence: Confidence | None = Field(default=None, description="0 to 1; required with a verdict.")
    adjusted_qty: AdjustedQty | None = None
    adjusted_order_type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,16}$")] | None = Field(
        default=None, description="Only `market` or `limit` pass the guardrails.")
    limit_price: Price | None = None
    rationale: Rationale | None = Field(default=None, description="Required with a verdict; over 280 characters "
                                                                  "the guardrails veto.")
    risk_flags: list[RiskFlag] | None = Field(default=None, max_length=32, description="Required with a verdict.")
    order: ReviewOrderIn | None = None
    tokens: TokensIn | None = Field(default=None, description="Tokens used; added to the `llm_tokens` budget.")
    error: ErrorText | None = Field(default=None, description="The review failed (timeout, malformed answer...): "
                                                              "recorded as an LLM error for the circuit.")
    input: dict[str, Any] | None = Field(default=None, description="What the LLM was asked (stored as the review's "
                                                                   f"input_json; at most {INPUT_MAX_BYTES} bytes).")

    @field_validator("input", mode="after")
    @classmethod
    def _input_bounded(cls, value):
        if value is not None and len(canonical_json(value)) > INPUT_MAX_BYTES:
            raise ValueError(f"at most {INPUT_MAX_BYTES} bytes of canonical JSON")
        return value

    def problems(self) -> dict[str, list[str]]:
        """What the schema cannot say: a verdict, confidence, rationale and risk_flags, or an error."""
        given = {name for name in ("verdict", "confidence", "rationale", "risk_flags", "adjusted_qty",
                                   "adjusted_order_type", "limit_price") if getattr(self, name) is not None}
        if self.error is not None:
            return {name: ["a review that reports an error carries no advice"] for name in sorted(given)}
        return {name: ["required unless the review reports an error"]
                for name in ("verdict", "confidence", "rationale", "risk_flags") if name not in given}


class LlmReviewOut(BaseModel):
    """A stored review and what the plane made of it (the 201 of ``POST /api/v1/llm/reviews``)."""

    model_config = ConfigDict(from_attributes=True)

    review_id: str
    applied_verdict: LlmAppliedVerdict
    guardrail_reasons: list[str]
    stage: LlmStage
    effective_mode: LlmMode
    client_order_id: str
    strategy: str | None
    verdict: LlmVerdict
    guarded_verdict: LlmAppliedVerdict
    adjusted_qty: PlainDecimal | None = Field(description="An applied adjust: the quantity the order must carry.")
    adjusted_order_type: Literal["market", "limit"] | None = Field(
        description="An applied adjust: the order type the order must carry.")
    limit_price: PlainDecimal | None = Field(description="An applied adjust to a limit order: its price.")
    confidence: float | None
    model: str
    prompt_version: str
    created_at: datetime


def review_out(review: LlmDecisionReview) -> dict[str, Any]:
    adjust = review.applied_verdict == LlmAppliedVerdict.ADJUST
    return LlmReviewOut.model_validate({
        "review_id": str(review.review_id), "applied_verdict": review.applied_verdict,
        "guardrail_reasons": list(review.guardrail_reasons), "stage": review.stage,
        "effective_mode": review.effective_mode, "client_order_id": review.client_order_id,
        "strategy": review.strategy.name if review.strategy_id else None, "verdict": review.verdict,
        "guarded_verdict": review.guarded_verdict, "adjusted_qty": review.applied_qty if adjust else None,
        "adjusted_order_type": review.applied_order_type if adjust else None,
        "limit_price": review.applied_limit_price if adjust else None, "confidence": review.confidence,
        "model": review.model, "prompt_version": review.prompt_version, "created_at": review.created_at,
    }).model_dump(mode="json")


class LlmStageIn(_In):
    """``POST /api/v1/llm/stage``: above stage1 the evidence is required (422 names what is missing)."""

    stage: LlmStage
    reason: Reason
    evaluation_report: Reference = Field(default="", description="Reference of the LLM evaluation report.")
    effective_challenge_id: Reference = Field(default="", description="Id of the effective challenge.")


class LlmStageDecisionOut(BaseModel):
    id: int
    stage_before: LlmStage
    stage_after: LlmStage
    actor: str
    reason: str
    evidence: dict[str, Any]
    decision_sha256: str
    signature: str
    key_id: str
    verified: bool
    at: datetime


class LlmAllowlistIn(_In):
    """``POST /api/v1/llm/allowlist``: add (``allowed`` true) or remove a model or prompt version."""

    kind: LlmAllowlistKind
    value: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/@+-]{1,128}$")]
    allowed: bool
    reason: Reason


class LlmCircuitOut(BaseModel):
    open: bool
    open_until: datetime | None
    errors_in_window: int


class LlmGovernanceOut(BaseModel):
    stage: LlmStage
    effective_mode: LlmMode
    shadow_since: datetime | None
    reason: str
    updated_by: str
    circuit: LlmCircuitOut
    allowlists: dict[str, list[str]]
    error_fallback: Literal["veto", "pass_through"]
    window: dict[str, Any] = Field(description="The shadow window a stage advance rests on: `start`, `reviews`, "
                                               "`errors`, `error_ratio`, `min_reviews`.")
