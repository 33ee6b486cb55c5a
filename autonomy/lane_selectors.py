"""Reads of the autonomous lane: its state, its cycles with their stages, and the health figures the
home page, the lane page and the API show."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from autonomy import lane
from autonomy.choices import LaneCycleStatus
from autonomy.models import LaneCycle, LaneCycleStage, LaneState

#: How many of the latest finished cycles the "signals per cycle" figure averages.
SIGNAL_WINDOW = 12

# The lane rolls a strategy back on the orders of its stage; autonomy may not import execution, so
# execution lends it the reader (``stage_evidence(strategy_id=, now=, stage=, since=)`` -> plain data).
_STAGE_EVIDENCE: list[Callable[..., dict[str, Any]]] = []


def stage_evidence_register(reader: Callable[..., dict[str, Any]]) -> None:
    _STAGE_EVIDENCE[:] = [reader]


def stage_evidence(*, strategy_id: int, stage: str, since: datetime | None, now: datetime) -> dict[str, Any] | None:
    """The strategy's orders at ``stage`` since ``since`` (fills, slippage, fallback ratio), or None when no
    reader is registered (execution is not installed)."""
    if not _STAGE_EVIDENCE:
        return None
    return _STAGE_EVIDENCE[0](strategy_id=strategy_id, now=now, stage=stage, since=since)


def lane_state_get() -> LaneState:
    """The lane's row (a fresh lane is running and has taken no bars yet)."""
    return LaneState.objects.filter(id=1).first() or LaneState(id=1)


def lane_cycle_list() -> QuerySet[LaneCycle]:
    """Every cycle, newest first, with its stages."""
    return LaneCycle.objects.order_by("-id").prefetch_related(
        Prefetch("stages", queryset=LaneCycleStage.objects.order_by("position")))


def lane_cycle_get(*, cycle_id: int) -> LaneCycle | None:
    return lane_cycle_list().filter(pk=cycle_id).first()


def lane_health(*, now: datetime) -> dict[str, Any]:
    """Last cycle, signals per cycle (new bars, over the latest cycles that succeeded or were skipped), the
    no-signal streak and whether the lane is paused (and why)."""
    state = lane_state_get()
    last = LaneCycle.objects.order_by("-id").first()
    # the cycles that asked the feed and got its answer (a failed or paused one got none)
    finished = LaneCycle.objects.filter(status__in=[LaneCycleStatus.SUCCEEDED, LaneCycleStatus.SKIPPED])
    recent = list(finished.order_by("-id").values_list("signals", flat=True)[:200])
    window = recent[:SIGNAL_WINDOW]
    retry = LaneCycle.objects.filter(status=LaneCycleStatus.FAILED).order_by("next_retry_at").first()
    return {
        "paused": state.paused, "paused_reason": state.paused_reason, "paused_at": state.paused_at,
        "paused_by": state.paused_by, "paused_cycle_id": state.paused_cycle_id,
        "resumed_at": state.resumed_at, "resumed_by": state.resumed_by,
        "last": last, "last_signals": last.signals if last is not None else None,
        "signals_per_cycle": round(sum(window) / len(window), 1) if window else None,
        "signal_window": len(window),
        "no_signal_streak": lane.no_signal_streak(recent),
        "retry": retry,
        "cycle_minutes": settings.LANE_CYCLE_MINUTES, "now": now,
    }
