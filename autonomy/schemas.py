"""Request and response shapes of the autonomy API (pydantic: one definition validates and documents)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from autonomy.choices import AlertSeverity, AlertStatus, HeartbeatStatus
from core.timestamps import Timestamp

# --- Alerts and heartbeats (alerts worker) ---------------------------------------------------

Comment = Annotated[str, StringConstraints(max_length=2000)]
SourceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,100}$")]
SymbolName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.\-/]{0,31}$")]


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
