"""Request and answer shapes of the autonomy API, as pydantic models (they validate requests and
document the API through drf-spectacular). Quantities, notionals and limits are decimal strings."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from autonomy.choices import AlertSeverity, AlertStatus, HeartbeatStatus, LlmMode, LlmStage
from autonomy.models import BudgetPolicy, Position, SymbolControl
from core.canonical import decimal_str
from core.columns import column_decimal, column_decimal_json
from core.timestamps import Timestamp
from strategies.models import NAME_PATTERN

#: A symbol as orders name it (upper-cased when stored).
SYMBOL_PATTERN = r"^[A-Za-z][A-Za-z0-9.\-]{0,31}$"
State = Literal["ACTIVE", "REDUCING", "HALTED"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Cap = column_decimal(SymbolControl, "max_qty_per_order", gt=0)
Limit = column_decimal(BudgetPolicy, "limit", ge=0)
Decimal8 = Annotated[Decimal, PlainSerializer(decimal_str, return_type=str, when_used="always"),
                     WithJsonSchema(column_decimal_json(Position, "qty"), mode="serialization")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TradingStateIn(_In):
    """``POST /api/v1/autonomy/trading-state``: the global state, or a strategy's with ``strategy``."""

    state: State
    reason: Reason
    strategy: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] | None = None


class TradingStateOut(BaseModel):
    scope: str
    strategy: str | None
    state: State
    effective_state: State  # the strictest of the global state and the strategy's
    reason: str
    cause: str
    updated_by: str
    updated_at: datetime


class SymbolIn(_In):
    """``PUT /api/v1/autonomy/symbols/{symbol}``. Caps apply in canary mode; a cap sent as null is removed,
    one not sent stays as it is. ``lean_allowed`` is the symbol's LEAN allowlist entry (null: the
    deployment's routing policy decides)."""

    mode: Literal["enabled", "canary", "disabled"]
    reason: Reason
    health_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    max_qty_per_order: Cap | None = None
    max_notional_per_order: Cap | None = None
    max_notional_per_day: Cap | None = None
    lean_allowed: StrictBool | None = None


class SymbolOut(BaseModel):
    symbol: str
    mode: Literal["enabled", "canary", "disabled"]
    health_reason: str
    reason: str
    max_qty_per_order: Decimal8 | None
    max_notional_per_order: Decimal8 | None
    max_notional_per_day: Decimal8 | None
    lean_allowed: bool | None
    updated_by: str
    updated_at: datetime


class BudgetIn(_In):
    """``PUT /api/v1/autonomy/budgets/{name}``. Agents may only lower a limit (403 otherwise)."""

    limit: Limit
    reason: Reason
    on_breach: Literal["REDUCING", "HALTED"] | None = None


class BudgetOut(BaseModel):
    name: str
    limit: Decimal8
    used: Decimal8
    breached: bool
    on_breach: State


class LeanOut(BaseModel):
    enabled: bool
    disabled_reason: str


class LlmOut(BaseModel):
    stage: LlmStage
    effective_mode: LlmMode


class SymbolStatusOut(BaseModel):
    symbol: str
    mode: Literal["enabled", "canary", "disabled"]
    health_reason: str


class StrategyStateOut(BaseModel):
    strategy: str
    state: State
    reason: str
    cause: str


class StatusOut(BaseModel):
    trading_state: State
    reason: str
    lean: LeanOut
    llm: LlmOut
    symbols: list[SymbolStatusOut]
    budgets: list[BudgetOut]
    open_alerts: int
    strategies: list[StrategyStateOut]  # strategies with a state of their own


class PositionOut(BaseModel):
    strategy: str
    symbol: str
    qty: Decimal8
    avg_entry_price: Decimal8 | None
    broker_qty: Decimal8 | None
    drift: Decimal8
    realized_pnl: Decimal8
    reconciled_at: datetime | None
    updated_at: datetime


class CriterionOut(BaseModel):
    id: str
    title: str
    status: Literal["pass", "fail"]
    observed: Any
    threshold: Any
    detail: str


class ReadinessOut(BaseModel):
    green: bool
    green_since: datetime | None
    criteria: list[CriterionOut]
    evaluated_at: datetime
    window_start: datetime
    required_green_hours: int
# === alerts worker: alerts and heartbeats ========================================================

Comment = Annotated[str, StringConstraints(max_length=2000)]
SourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,100}$")]
SymbolName = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN)]


class AlertOut(BaseModel):
    """An alert of ``GET /api/v1/alerts`` (plus when it was last seen, how often, and by whom it ended)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    dedup_key: str
    severity: AlertSeverity
    status: AlertStatus
    title: str
    evidence: dict[str, Any]
    opened_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    last_seen_at: datetime
    occurrences: int = Field(description="How many times the condition was raised while the alert was unresolved.")

    @field_validator("acknowledged_by", "resolved_by", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return value or None


class AlertActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Comment = ""


class HeartbeatIn(BaseModel):
    """``POST /api/v1/autonomy/heartbeats``: one cycle of an autonomy loop. ``status`` (default ``ok``)
    reports whether the cycle worked: ``failed`` cycles in a row count toward the failure streak."""

    model_config = ConfigDict(extra="forbid")

    source: SourceName
    symbol: SymbolName | None = None
    observed_at: Timestamp = Field(description="When the loop observed its signal (ISO 8601 with a UTC offset).")
    status: HeartbeatStatus = HeartbeatStatus.OK
    detail: Annotated[str, StringConstraints(max_length=500)] = ""


class HeartbeatOut(BaseModel):
    source: str
    symbol: str | None
    observed_at: datetime
    received_at: datetime
    lag_seconds: float = Field(description="received_at - observed_at, in seconds.")
    status: HeartbeatStatus
    failure_streak: int = Field(description="Failed cycles in a row from this source (and symbol).")


# --- The autonomous lane ---------------------------------------------------------------------------

class LaneStageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stage: str = Field(description="torghut's orchestration stage (research-intake, candidate-build, …).")
    title: str
    status: str = Field(description="running | succeeded | failed | skipped")
    attempt: int
    summary: str
    detail: dict[str, Any] = Field(description="What the stage did: the dataset, runs, evaluations, handoffs, "
                                               "rollbacks (ids to follow).")
    error: str
    started_at: datetime
    finished_at: datetime | None


class LaneCycleOut(BaseModel):
    """One cycle of the autonomous lane with its stages."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str = Field(description="period:<n> for the schedule's n-th period, command:<time> for a foreground run.")
    trigger: str
    status: str = Field(description="running | succeeded | failed (a retry is due) | skipped | paused")
    attempt: int
    failure_class: str = Field(description="transient | deterministic | policy, or empty")
    next_retry_at: datetime | None
    reason: str
    error: str
    source: str = Field(description="Where the bars came from: synthetic or alpaca.")
    dataset: str | None = Field(description="The fingerprint of the window the cycle worked on.")
    signals: int = Field(description="New bars taken in.")
    runs: int
    candidates: int
    evaluations: int
    passed: int
    handoffs: int
    rollbacks: int
    strategies_halted: int
    started_at: datetime
    finished_at: datetime | None
    stages: list[LaneStageOut]


class LaneHealthOut(BaseModel):
    paused: bool
    paused_reason: str
    paused_at: datetime | None
    paused_by: str
    resumed_at: datetime | None
    resumed_by: str
    last_cycle: LaneCycleOut | None
    signals_per_cycle: float | None = Field(description="Mean new bars over the latest finished cycles.")
    no_signal_streak: int = Field(description="The latest finished cycles in a row that took in no new bar.")
    next_retry_at: datetime | None
    cycle_minutes: int


class LaneResumeIn(_In):
    reason: Reason
