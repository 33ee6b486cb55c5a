"""Persisted control flags that gate order flow (kill switch, per-symbol modes, LEAN lane).

Kept deliberately small: execution reads these through :mod:`autonomy.selectors`; a later
issue grows autonomy (heartbeats, budgets, LLM stages) around the same rows.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

import pgtrigger
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from autonomy.choices import (
    LLM_STAGE_RANK,
    LlmAllowlistKind,
    LlmAppliedVerdict,
    LlmMode,
    LlmStage,
    LlmVerdict,
    SymbolMode,
    TradingStateChoice,
)
from core.db import append_only
from strategies.models import Strategy


class TradingState(models.Model):
    """The single trading-state row (id = 1): ACTIVE | REDUCING | HALTED, and the LEAN lane switch."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    state = models.CharField(max_length=16, choices=TradingStateChoice.choices, default=TradingStateChoice.ACTIVE)
    reason = models.TextField(blank=True, default="")
    lean_enabled = models.BooleanField(default=True)
    lean_disabled_reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_trading_state"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="trading_state_singleton"),
            models.CheckConstraint(condition=Q(state__in=TradingStateChoice.values), name="trading_state_valid"),
        ]

    def __str__(self) -> str:
        return self.state


class SymbolControl(models.Model):
    """Per-symbol mode; a symbol without a row is ``enabled``."""

    symbol = models.CharField(max_length=32, unique=True)
    mode = models.CharField(max_length=16, choices=SymbolMode.choices, default=SymbolMode.ENABLED)
    reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "autonomy_symbol_controls"
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=SymbolMode.values), name="symbol_mode_valid"),
            models.CheckConstraint(condition=Q(symbol=models.functions.Upper("symbol")), name="symbol_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol}: {self.mode}"


# --- LLM governance ----------------------------------------------------------------------------
# Reviews (torghut's llm_decision_reviews), the rollout stage and its signed decisions, the model and
# prompt-version allowlists, and the LLM circuit with its evaluations. The decisions are pure
# functions in autonomy/llm_guardrails.py; autonomy/services.py stores them with their inputs.

LLM_QTY = {"max_digits": 24, "decimal_places": 8}  # the executions table's numeric(24, 8)
# Any step down; one step up at a time (the service adds the evidence rule for steps above stage1).
LLM_STAGE_TRANSITIONS = [(a, b) for a in LlmStage.values for b in LlmStage.values
                         if LLM_STAGE_RANK[b] < LLM_STAGE_RANK[a] or LLM_STAGE_RANK[b] == LLM_STAGE_RANK[a] + 1]


class LlmGovernance(models.Model):
    """The single LLM governance row (id = 1): the rollout stage, changed only by a signed decision."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    stage = models.CharField(max_length=8, choices=LlmStage.choices, default=LlmStage.STAGE0)
    shadow_since = models.DateTimeField(null=True, blank=True,
                                        help_text="Since when the stage has been stage1 or above (the shadow window "
                                                  "starts here).")
    reason = models.TextField(blank=True, default="")
    updated_by = models.CharField(max_length=150, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "llm_governance"
        verbose_name = "LLM governance"
        verbose_name_plural = "LLM governance"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="llm_governance_singleton"),
            models.CheckConstraint(condition=Q(stage__in=LlmStage.values), name="llm_stage_valid"),
            models.CheckConstraint(condition=Q(stage=LlmStage.STAGE0, shadow_since__isnull=True)
                                   | (~Q(stage=LlmStage.STAGE0) & Q(shadow_since__isnull=False)),
                                   name="llm_shadow_since_iff_on"),
        ]
        triggers = [pgtrigger.FSM(name="llm_stage_fsm", field="stage", transitions=LLM_STAGE_TRANSITIONS)]

    def __str__(self) -> str:
        return self.stage


class LlmAllowlistEntry(models.Model):
    """A model or prompt version advice may come from (above stage 1; anything else is forced to shadow)."""

    kind = models.CharField(max_length=16, choices=LlmAllowlistKind.choices)
    value = models.CharField(max_length=128)
    reason = models.TextField(blank=True, default="")
    added_by = models.CharField(max_length=150)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "llm_allowlist"
        ordering = ["kind", "value"]
        verbose_name_plural = "LLM allowlist entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="llm_allowlist_unique"),
            models.CheckConstraint(condition=Q(kind__in=LlmAllowlistKind.values), name="llm_allowlist_kind_valid"),
            models.CheckConstraint(condition=~Q(value=""), name="llm_allowlist_value_nonblank"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


class LlmDecisionReview(models.Model):
    """One LLM review of one order, with torghut's llm_decision_reviews fields, and what the plane
    made of it (the stage, the guardrails' reasons, the applied verdict). Append-only."""

    review_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client_order_id = models.CharField(max_length=128)
    execution_id = models.BigIntegerField(null=True, blank=True,
                                          help_text="The stored execution reviewed (none: reviewed before submission).")
    trade_decision_id = models.BigIntegerField(null=True, blank=True)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="llm_reviews")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=8)
    order_qty = models.DecimalField(**LLM_QTY)
    order_type = models.CharField(max_length=16)
    order_limit_price = models.DecimalField(**LLM_QTY, null=True, blank=True)
    live = models.BooleanField(default=False, help_text="The strategy traded live: an error is always a veto.")
    model = models.CharField(max_length=128)
    prompt_version = models.CharField(max_length=64)
    input_json = models.JSONField(default=dict, blank=True, help_text="What the LLM was asked (as reported).")
    response_json = models.JSONField(help_text="The review as received.")
    verdict = models.CharField(max_length=8, choices=LlmVerdict.choices)
    confidence = models.FloatField(null=True, blank=True)
    adjusted_qty = models.DecimalField(**LLM_QTY, null=True, blank=True)
    adjusted_order_type = models.CharField(max_length=16, blank=True, default="")
    limit_price = models.DecimalField(**LLM_QTY, null=True, blank=True)
    rationale = models.TextField(blank=True, default="")
    risk_flags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    tokens_prompt = models.IntegerField(default=0)
    tokens_completion = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    stage = models.CharField(max_length=8, choices=LlmStage.choices)
    effective_mode = models.CharField(max_length=16, choices=LlmMode.choices)
    guarded_verdict = models.CharField(max_length=8, choices=LlmAppliedVerdict.choices,
                                       help_text="What the guardrails let stand (off and shadow pass the order).")
    applied_verdict = models.CharField(max_length=8, choices=LlmAppliedVerdict.choices)
    guardrail_reasons = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    applied_qty = models.DecimalField(**LLM_QTY, null=True, blank=True)
    applied_order_type = models.CharField(max_length=16, blank=True, default="")
    applied_limit_price = models.DecimalField(**LLM_QTY, null=True, blank=True)
    circuit_open = models.BooleanField(default=False)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "llm_decision_reviews"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["client_order_id", "-id"], name="llm_review_order_idx"),
            models.Index(fields=["created_at"], name="llm_review_at_idx"),
            models.Index(fields=["strategy", "created_at"], name="llm_review_strategy_at_idx"),
            models.Index(fields=["created_at"], condition=Q(verdict=LlmVerdict.ERROR), name="llm_review_error_at_idx"),
        ]
        constraints = [
            # One review decides an order; errors before it (retries) are kept beside it.
            models.UniqueConstraint(fields=["client_order_id"], condition=~Q(verdict=LlmVerdict.ERROR),
                                    name="llm_review_one_per_order"),
            models.CheckConstraint(condition=Q(verdict__in=LlmVerdict.values), name="llm_review_verdict_valid"),
            models.CheckConstraint(condition=Q(applied_verdict__in=LlmAppliedVerdict.values)
                                   & Q(guarded_verdict__in=LlmAppliedVerdict.values), name="llm_review_applied_valid"),
            models.CheckConstraint(condition=Q(stage__in=LlmStage.values) & Q(effective_mode__in=LlmMode.values),
                                   name="llm_review_stage_valid"),
            models.CheckConstraint(condition=Q(confidence__isnull=True) | Q(confidence__gte=0, confidence__lte=1),
                                   name="llm_review_confidence_0_1"),
            models.CheckConstraint(condition=(Q(verdict=LlmVerdict.ERROR) & ~Q(error=""))
                                   | (~Q(verdict=LlmVerdict.ERROR) & Q(error="") & Q(confidence__isnull=False)),
                                   name="llm_review_error_iff_no_verdict"),
            models.CheckConstraint(condition=Q(tokens_prompt__gte=0, tokens_completion__gte=0),
                                   name="llm_review_tokens_nonnegative"),
            models.CheckConstraint(condition=Q(order_qty__gt=0), name="llm_review_order_qty_positive"),
            models.CheckConstraint(
                condition=~Q(applied_verdict=LlmAppliedVerdict.ADJUST)
                | (Q(applied_qty__gt=0) & Q(applied_order_type__in=["market", "limit"])
                   & (~Q(applied_order_type="limit") | Q(applied_limit_price__gt=0))),
                name="llm_review_adjust_bounded_shape"),
            models.CheckConstraint(
                condition=~Q(applied_verdict=LlmAppliedVerdict.ADJUST)
                | Q(applied_qty__gte=F("order_qty") * Decimal("0.5"),
                    applied_qty__lte=F("order_qty") * Decimal("1.25")),
                name="llm_review_adjust_clamped"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.client_order_id}: {self.verdict} → {self.applied_verdict}"


class LlmCircuit(models.Model):
    """The LLM circuit (id = 1): open while ``open_until`` is in the future."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    open_until = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "llm_circuit"
        verbose_name = "LLM circuit"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="llm_circuit_singleton"),
            models.CheckConstraint(condition=Q(open_until__isnull=True) | Q(opened_at__lt=F("open_until")),
                                   name="llm_circuit_window"),
        ]

    def __str__(self) -> str:
        return f"open until {self.open_until}" if self.open_until else "closed"


class LlmCircuitEvaluation(models.Model):
    """One evaluation of the LLM circuit (one per review), with its inputs. Append-only."""

    review = models.OneToOneField(LlmDecisionReview, on_delete=models.PROTECT, related_name="circuit_evaluation")
    at = models.DateTimeField()
    errors_in_window = models.PositiveIntegerField()
    open_until_before = models.DateTimeField(null=True, blank=True)
    open_after = models.BooleanField()
    open_until_after = models.DateTimeField(null=True, blank=True)
    opened = models.BooleanField(default=False)

    class Meta:
        db_table = "llm_circuit_evaluations"
        ordering = ["-id"]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S}: {'open' if self.open_after else 'closed'}"


class LlmStageDecision(models.Model):
    """A signed, hash-chained change of the LLM stage, with the evidence it rested on. Append-only."""

    stage_before = models.CharField(max_length=8, choices=LlmStage.choices)
    stage_after = models.CharField(max_length=8, choices=LlmStage.choices)
    actor = models.CharField(max_length=150)
    actor_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    via = models.CharField(max_length=16)
    reason = models.TextField()
    evidence = models.JSONField(default=dict)
    document = models.JSONField(help_text="What was signed: the change, its evidence, the chain.")
    decision_sha256 = models.CharField(max_length=64, unique=True)
    previous_sha256 = models.CharField(max_length=64, blank=True, default="")
    signature = models.TextField()
    key_id = models.CharField(max_length=40)
    at = models.DateTimeField()

    class Meta:
        db_table = "llm_stage_decisions"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(stage_before=F("stage_after")), name="llm_stage_decision_changes"),
            models.CheckConstraint(condition=~Q(reason=""), name="llm_stage_decision_reason"),
            models.CheckConstraint(condition=Q(decision_sha256__regex=r"^[0-9a-f]{64}$"),
                                   name="llm_stage_decision_sha256"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.stage_before} → {self.stage_after} by {self.actor}"
