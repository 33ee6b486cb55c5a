"""The autonomous lane's decisions, as pure functions over plain data (no database, no clock).

* :func:`failure_decide`: what a failed cycle does next. torghut's AgentRun rule: a **transient** failure
  (the network, a timeout, the database away) is retried 4 times, after 15 s, 30 s, 60 s, 120 s (doubling,
  at most 300 s), and the 5th failure pauses the lane; a **deterministic** one (the same input fails the
  same way) pauses it at the 2nd; a **policy** refusal (no active gate policy, no signing key) at the 1st.
* :func:`no_signal_streak`: torghut's no-signal streak, the latest cycles in a row that took in nothing.
* :func:`heartbeats_fit`: whether a heartbeat per cycle can feed the stale-signal rule without looking
  stale between two cycles.
* :func:`new_sessions_due`: how many sessions the synthetic feed appends in a period.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TRANSIENT, DETERMINISTIC, POLICY = "transient", "deterministic", "policy"
RETRY, PAUSE = "retry", "pause"


def _pause_after() -> dict[str, int]:
    return {TRANSIENT: 5, DETERMINISTIC: 2, POLICY: 1}


@dataclass(frozen=True)
class RetryPolicy:
    """torghut's numbers: the first backoff, its ceiling, and the failure (by class) that pauses."""

    backoff_seconds: int = 15
    backoff_max_seconds: int = 300
    pause_after: Mapping[str, int] = field(default_factory=_pause_after)


@dataclass(frozen=True)
class FailureDecision:
    action: str  # RETRY | PAUSE
    delay_seconds: int | None  # when to retry (None when pausing)
    reason: str


def backoff_seconds(attempt: int, policy: RetryPolicy = RetryPolicy()) -> int:
    """The wait before retrying after failed attempt ``attempt`` (1-based): 15, 30, 60 … at most 300."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    return min(policy.backoff_seconds * 2 ** (attempt - 1), policy.backoff_max_seconds)


def failure_decide(*, failure_class: str, attempt: int, policy: RetryPolicy = RetryPolicy()) -> FailureDecision:
    """After attempt ``attempt`` of a cycle failed with ``failure_class``: retry after a backoff, or pause."""
    if failure_class not in policy.pause_after:
        raise ValueError(f"unknown failure class {failure_class!r}")
    limit = policy.pause_after[failure_class]
    if attempt >= limit:
        return FailureDecision(PAUSE, None, f"{failure_class} failure {attempt} of {limit}: the lane pauses "
                                            "until an operator resumes it")
    delay = backoff_seconds(attempt, policy)
    return FailureDecision(RETRY, delay, f"{failure_class} failure {attempt} of {limit}: retry in {delay} s")


def no_signal_streak(signals_newest_first: Sequence[int]) -> int:
    """How many of the latest finished cycles in a row took in no new bar."""
    streak = 0
    for signals in signals_newest_first:
        if signals:
            break
        streak += 1
    return streak


def heartbeats_fit(*, cycle_minutes: int, sweep_minutes: int, no_signal_cycles: int, lag_seconds: float) -> bool:
    """A heartbeat every ``cycle_minutes`` never looks stale to the stale-signal rule: the rule's sweeps
    (every ``sweep_minutes``) would count fewer than ``no_signal_cycles`` of them between two heartbeats,
    and the lag between two heartbeats stays under ``lag_seconds``."""
    return cycle_minutes < sweep_minutes * no_signal_cycles and cycle_minutes * 60 < lag_seconds


def heartbeats_wanted(setting: str, **fit) -> bool:
    """``LANE_HEARTBEATS``: ``on``, ``off``, or ``auto`` (only when :func:`heartbeats_fit`)."""
    if setting in {"on", "1", "true", "yes"}:
        return True
    if setting in {"off", "0", "false", "no"}:
        return False
    return heartbeats_fit(**fit)


def new_sessions_due(*, periods_elapsed: int, window: int, produced: int) -> int:
    """Sessions the synthetic feed appends now: the first cycle takes a whole window, then one session per
    period since the feed started (a worker that was down catches up, at most a window at once)."""
    due = window + max(0, periods_elapsed)
    return max(0, min(due - produced, window))
