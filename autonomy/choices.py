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


TRADING_STATES = tuple(TradingStateChoice.values)  # one name in the OpenAPI schema (TradingStateEnum)

#: Strictness of the trading states: the strictest of the global and a strategy's state applies.
STATE_RANK = {TradingStateChoice.ACTIVE: 0, TradingStateChoice.REDUCING: 1, TradingStateChoice.HALTED: 2}


def strictest(*states: str) -> str:
    """The strictest of some trading states (unknown or empty values are ignored; ACTIVE if none)."""
    known = [s for s in states if s in STATE_RANK]
    return max(known, key=STATE_RANK.__getitem__, default=TradingStateChoice.ACTIVE)


class StateCause(models.TextChoices):
    """Why a trading state was set. Only ``freshness`` may be lifted by the system itself (after clean
    cycles); every other cause is lifted by an operator."""

    MANUAL = "manual", "Set by a person or an agent"
    BUDGET = "budget", "Budget breach"
    FRESHNESS = "freshness", "Stale signals"
    FAILURE_STREAK = "failure_streak", "Autonomy failure streak"
    PLAYBOOK = "playbook", "Recovery playbook"


#: Causes the system may recover from by itself (torghut: "automatic after 3 clean cycles, for freshness
#: reasons only").
AUTO_RECOVERABLE_CAUSES = frozenset({StateCause.FRESHNESS})


class ControlKind(models.TextChoices):
    TRADING_STATE = "trading_state", "Global trading state"
    STRATEGY_STATE = "strategy_state", "Strategy trading state"
    SYMBOL_MODE = "symbol_mode", "Symbol mode and caps"
    LEAN_LANE = "lean_lane", "LEAN lane"
    BUDGET = "budget", "Budget policy"
    BUDGET_BREACH = "budget_breach", "Budget breach"
    LLM_STAGE = "llm_stage", "LLM stage"
    LLM_ALLOWLIST = "llm_allowlist", "LLM model or prompt-version allowlist"
    LLM_CIRCUIT = "llm_circuit", "LLM circuit"
    PLAYBOOK = "playbook", "Recovery playbook"
    SIGNAL_SOURCE = "signal_source", "Signal source expected or retired"


class BudgetName(models.TextChoices):
    """The daily budgets: kill switches evaluated in the admission transaction and when a fill is stored."""

    DAILY_REALIZED_LOSS = "daily_realized_loss", "Daily realized loss"
    GROSS_NOTIONAL = "gross_notional", "Gross notional"
    ORDER_COUNT = "order_count", "Order count"
    LLM_TOKENS = "llm_tokens", "LLM tokens"


#: States a budget breach may move trading to.
BREACH_STATES = (TradingStateChoice.REDUCING, TradingStateChoice.HALTED)

# --- Alerts, deliveries, conditions (alerts worker) -------------------------------------------

class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


# open -> acknowledged -> resolved, or open -> resolved; a resolved alert never changes again.
ALERT_TRANSITIONS = [(AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), (AlertStatus.OPEN, AlertStatus.RESOLVED),
                     (AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED)]


class AlertEvent(models.TextChoices):
    """Why a notification is sent: an alert opened, its severity rose, or it was resolved."""

    OPENED = "opened", "Opened"
    ESCALATED = "escalated", "Escalated"
    RESOLVED = "resolved", "Resolved"


class DeliveryChannel(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    EMAIL = "email", "Email"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (attempts exhausted)"


# delivered is final: a notification the receiver took (2xx) is never sent again. A failed one may
# be queued again by an operator (admin action).
DELIVERY_TRANSITIONS = [(DeliveryStatus.PENDING, DeliveryStatus.DELIVERED),
                        (DeliveryStatus.PENDING, DeliveryStatus.FAILED),
                        (DeliveryStatus.FAILED, DeliveryStatus.PENDING)]


class HeartbeatStatus(models.TextChoices):
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class ConditionKind(models.TextChoices):
    """Kill-switch and circuit conditions whose every evaluation is stored with its inputs."""

    STALE_SIGNALS = "stale_signals", "Stale signals"
    FAILURE_STREAK = "failure_streak", "Autonomy failure streak"
    LEAN_CIRCUIT = "lean_circuit", "LEAN circuit"
    LEAN_RECOVERY = "lean_recovery", "LEAN recovery probes"
    PLAYBOOK = "playbook", "Recovery playbook"
    POSITION_DRIFT = "position_drift", "Position drift"


class IncidentStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"

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


# --- The autonomous lane -------------------------------------------------------------------------

class LaneCycleStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (a retry is due)"
    SKIPPED = "skipped", "Skipped (nothing new to work on)"
    PAUSED = "paused", "Paused the lane"


#: A failed cycle runs again (a retry); every other move ends it.
LANE_CYCLE_TRANSITIONS = [("running", "succeeded"), ("running", "failed"), ("running", "skipped"),
                          ("running", "paused"), ("failed", "running")]


class LaneStageStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class LaneTrigger(models.TextChoices):
    SCHEDULE = "schedule", "The worker's schedule"
    COMMAND = "command", "manage.py run_lane_cycle"
