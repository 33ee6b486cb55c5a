"""Response shapes of the autonomy API (pydantic: one definition validates and documents)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


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
