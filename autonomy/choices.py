"""Choices of the autonomy controls, defined once."""
from django.db import models


class TradingStateChoice(models.TextChoices):
    ACTIVE = "ACTIVE", "Active"
    REDUCING = "REDUCING", "Reducing"
    HALTED = "HALTED", "Halted"


class SymbolMode(models.TextChoices):
    ENABLED = "enabled", "Enabled"
    CANARY = "canary", "Canary"
    DISABLED = "disabled", "Disabled"


# --- LLM governance ------------------------------------------------------------------------------

class LlmStage(models.TextChoices):
    """Rollout stages of LLM advice (torghut's 0-3): 0 and 1 never change an order."""

    STAGE0 = "stage0", "Stage 0: off"
    STAGE1 = "stage1", "Stage 1: shadow (logged, the decision unchanged)"
    STAGE2 = "stage2", "Stage 2: veto only"
    STAGE3 = "stage3", "Stage 3: bounded adjust"


LLM_STAGE_RANK = {stage: rank for rank, stage in enumerate(LlmStage.values)}


class LlmVerdict(models.TextChoices):
    """What a review advised; ``error`` is a review the LLM could not give."""

    APPROVE = "approve", "Approve"
    VETO = "veto", "Veto"
    ADJUST = "adjust", "Adjust"
    ERROR = "error", "Error"


class LlmAppliedVerdict(models.TextChoices):
    """What the plane applies to the order once the stage and the guardrails have spoken."""

    APPROVE = "approve", "Approve (the order unchanged)"
    VETO = "veto", "Veto"
    ADJUST = "adjust", "Adjust (bounded)"


class LlmMode(models.TextChoices):
    """How LLM advice acts right now (``GET /api/v1/autonomy/status``'s ``llm.effective_mode``)."""

    OFF = "off", "Off"
    SHADOW = "shadow", "Shadow"
    VETO_ONLY = "veto_only", "Veto only"
    BOUNDED_ADJUST = "bounded_adjust", "Bounded adjust"
    CIRCUIT_OPEN = "circuit_open", "Circuit open (the error fallback applies)"


class LlmAllowlistKind(models.TextChoices):
    MODEL = "model", "Model"
    PROMPT_VERSION = "prompt_version", "Prompt version"


class LlmErrorFallback(models.TextChoices):
    """What an LLM error (or an open circuit) means outside live mode; in live mode it is always a veto."""

    VETO = "veto", "Veto"
    PASS_THROUGH = "pass_through", "Pass through"
