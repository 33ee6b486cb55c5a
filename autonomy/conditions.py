"""Kill-switch and circuit conditions as pure functions over plain data.

Services load the inputs, call these, and store each evaluation with its inputs and verdict
(:class:`autonomy.models.ConditionEvaluation`). Nothing here reads the database or the clock:
``now`` is an input, so an evaluation can be replayed from what was stored, and the kill-switch
drill can rehearse a condition with made-up inputs.

* **Stale signals** (torghut's emergency stop), judged per expected source: during the market session,
  any source with a heartbeat lag of ``lag_seconds`` (600) or more, or a streak of ``no_signal_cycles`` (3)
  sweep cycles in which it sent no heartbeat, moves trading to REDUCING. Recovery is automatic after
  ``recovery_cycles`` (3) clean cycles in a row, and only from a state this rule set (freshness reasons only).
* **Autonomy failure streak**: a source reporting ``failed`` cycles ``failure_streak`` (3) times in a
  row moves trading to REDUCING; recovery needs an operator.
* **LEAN circuit**: fallbacks / LEAN requests over the window at or above ``fallback_ratio`` (0.25,
  with at least ``min_requests`` requests), or an open LEAN outage, disables the LEAN lane. It comes
  back by an operator, or after ``recovery_probes`` clean health probes in a row when that is above 0.
* **Budgets**: usage past a daily limit (the admission transaction and fills evaluate them).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.canonical import decimal_str

# === core: budgets ===============================================================================

@dataclass(frozen=True)
class BudgetFacts:
    name: str
    limit: Decimal
    used: Decimal  # before this use
    amount: Decimal = Decimal(0)  # what this order, fill or review would add
    on_breach: str = "HALTED"

    def as_json(self) -> dict:
        return {k: decimal_str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}


def budget_in_breach(b: BudgetFacts) -> bool:
    """Usage already past the limit (before anything is added)."""
    return b.used > b.limit


def budget_would_breach(b: BudgetFacts) -> bool:
    """Adding ``amount`` would take usage past the limit (a zero amount never breaches anew)."""
    return b.amount > 0 and b.used + b.amount > b.limit


# === alerts worker: stale signals, failure streak, LEAN circuit ================================

REDUCE, RECOVER = "reduce", "recover"
DISABLE_LEAN, ENABLE_LEAN = "disable_lean", "enable_lean"
RAISE_LEAN_ALERT = "raise_lean_alert"  # the lane is off and no unresolved alert stands for it


def as_data(value) -> dict:
    """A verdict or inputs dataclass as JSON-ready data (datetimes as ISO 8601)."""
    def convert(v):
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [convert(x) for x in v]
        return v

    return convert(asdict(value))


# --- Market session -------------------------------------------------------------------------

@dataclass(frozen=True)
class MarketSession:
    """Regular trading hours: ``opens``-``closes`` on ``weekdays`` (0 = Monday) in ``tz``.
    ``always`` makes every moment in session (a 24/7 market, or a test)."""

    tz: str = "America/New_York"
    opens: time = time(9, 30)
    closes: time = time(16, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    always: bool = False

    @classmethod
    def parse(cls, spec: str) -> MarketSession:
        """``"always"`` or ``"America/New_York 09:30-16:00 mon-fri"`` (days optional; ``mon-sun``)."""
        spec = spec.strip()
        if spec.lower() == "always":
            return cls(always=True)
        parts = spec.split()
        if len(parts) not in (2, 3):
            raise ValueError(f"market session {spec!r}: expected 'always' or 'TZ HH:MM-HH:MM [mon-fri]'")
        try:
            ZoneInfo(parts[0])
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"market session {spec!r}: unknown time zone {parts[0]!r}") from None
        opens, closes = (time.fromisoformat(t) for t in parts[1].split("-"))
        days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        weekdays = frozenset(range(5))
        if len(parts) == 3:
            first, _, last = parts[2].lower().partition("-")
            start, end = days.index(first), days.index(last or first)
            weekdays = frozenset(range(start, end + 1))
        return cls(tz=parts[0], opens=opens, closes=closes, weekdays=weekdays)


def in_session(now: datetime, session: MarketSession) -> bool:
    if session.always:
        return True
    local = now.astimezone(ZoneInfo(session.tz))
    return local.weekday() in session.weekdays and session.opens <= local.time() < session.closes


# --- Stale signals ---------------------------------------------------------------------------

# How many earlier sweep cycles the rule remembers: no-signal streaks are counted up to this many.
CYCLES_REMEMBERED = 20


@dataclass(frozen=True)
class FreshnessPolicy:
    lag_seconds: float = 600.0
    no_signal_cycles: int = 3
    recovery_cycles: int = 3


@dataclass(frozen=True)
class SourceFreshness:
    """One expected source (a loop, per symbol or not) as the rule reads it."""

    name: str
    last_observed_at: datetime  # its freshest observation
    last_received_at: datetime  # when its latest heartbeat arrived


@dataclass(frozen=True)
class FreshnessInputs:
    now: datetime
    in_session: bool
    # The expected sources judged. Lag grows as last_observed_at ages and the no-signal streak as
    # last_received_at does, so the sources oldest by either are enough: if none of them breaches, none does.
    sources: list[SourceFreshness]
    # Earlier sweep cycles, oldest first: those of the current in-session run and the one before it
    # (at most CYCLES_REMEMBERED). A source's no-signal streak is how many of them came after its latest
    # heartbeat: each began a cycle in which it sent nothing.
    previous_cycles: list[datetime]
    clean_streak: int
    tripped: bool  # trading is REDUCING because this rule put it there


@dataclass(frozen=True)
class FreshnessVerdict:
    armed: bool
    lag_seconds: float | None  # the largest lag among the sources judged
    no_signal_streak: int  # the longest no-signal streak among them
    clean_streak: int
    stale: bool
    reasons: list[str]
    action: str | None  # REDUCE, RECOVER or None
    breaching: list[dict] = field(default_factory=list)  # each source in breach: source, lag, streak, reasons
    cycles: list[datetime] = field(default_factory=list)  # previous_cycles for the next cycle


def source_no_signal_streak(last_received_at: datetime, previous_cycles: list[datetime]) -> int:
    """Cycles in a row, ending with this one, in which the source sent nothing."""
    return sum(1 for at in previous_cycles if at >= last_received_at)


def freshness_evaluate(inputs: FreshnessInputs, policy: FreshnessPolicy) -> FreshnessVerdict:
    """One sweep cycle of the stale-signal rule, per source: trading is stale when ANY expected source lags
    ``lag_seconds`` or more, or sent nothing for ``no_signal_cycles`` cycles, during the market session (a
    fresh source never hides a stale one).

    Unarmed while no source is expected (a plane without autonomous loops is not stale). Outside the
    session nothing is stale, the cycle counts as clean, and the streaks start again at the next session.
    """
    cycles = ([*inputs.previous_cycles, inputs.now][-CYCLES_REMEMBERED:] if inputs.in_session else [inputs.now])
    if not inputs.sources:
        return FreshnessVerdict(False, None, 0, inputs.clean_streak, False, ["no heartbeat source is expected"],
                                None, [], cycles)
    breaching: list[dict] = []
    worst_lag, worst_streak = 0.0, 0
    for source in inputs.sources:
        lag = max(0.0, (inputs.now - source.last_observed_at).total_seconds())
        streak = source_no_signal_streak(source.last_received_at, inputs.previous_cycles) if inputs.in_session else 0
        worst_lag, worst_streak = max(worst_lag, lag), max(worst_streak, streak)
        if not inputs.in_session:
            continue
        why = []
        if lag >= policy.lag_seconds:
            why.append(f"heartbeat lag {lag:.0f} s >= {policy.lag_seconds:.0f} s during the market session")
        if streak >= policy.no_signal_cycles:
            why.append(f"no signal for {streak} cycles (>= {policy.no_signal_cycles})")
        if why:
            breaching.append({"source": source.name, "lag_seconds": round(lag, 3), "no_signal_streak": streak,
                              "reasons": why})
    reasons = [f"{b['source']}: {'; '.join(b['reasons'])}" for b in breaching[:5]]
    if len(breaching) > 5:
        reasons.append(f"and {len(breaching) - 5} more of the sources judged")
    stale = bool(breaching)
    clean = 0 if stale else inputs.clean_streak + 1
    action = None
    if stale and not inputs.tripped:
        action = REDUCE
    elif inputs.tripped and not stale and clean >= policy.recovery_cycles:
        action = RECOVER
    return FreshnessVerdict(True, round(worst_lag, 3), worst_streak, clean, stale, reasons, action, breaching,
                            cycles)


# --- Autonomy failure streak ----------------------------------------------------------------

@dataclass(frozen=True)
class FailureStreakVerdict:
    streak: int
    threshold: int
    tripped: bool
    action: str | None


def failure_streak_evaluate(*, streak: int, threshold: int = 3) -> FailureStreakVerdict:
    tripped = streak >= threshold
    return FailureStreakVerdict(streak, threshold, tripped, REDUCE if tripped else None)


# --- LEAN circuit ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LeanCircuitPolicy:
    fallback_ratio: float = 0.25
    min_requests: int = 20
    window_seconds: int = 300
    recovery_probes: int = 0  # 0: only an operator brings the lane back


@dataclass(frozen=True)
class LeanCircuitInputs:
    lean_enabled: bool
    outage_open: bool
    requests: int  # orders expected on LEAN within the window
    fallbacks: int  # of those, LEAN failures (the order went elsewhere, or waits as pending)
    outage_reason: str = ""
    alert_open: bool = True  # an unresolved ``lean_lane`` alert stands (read only while the lane is off)


@dataclass(frozen=True)
class LeanCircuitVerdict:
    ratio: float | None
    breached: bool
    reasons: list[str]
    action: str | None


def lean_circuit_evaluate(inputs: LeanCircuitInputs, policy: LeanCircuitPolicy) -> LeanCircuitVerdict:
    reasons: list[str] = []
    ratio = inputs.fallbacks / inputs.requests if inputs.requests else None
    if inputs.outage_open:
        reasons.append("a LEAN outage is open" + (f" ({inputs.outage_reason})" if inputs.outage_reason else ""))
    if ratio is not None and inputs.requests >= policy.min_requests and ratio >= policy.fallback_ratio:
        reasons.append(f"fallback ratio {ratio:.2f} >= {policy.fallback_ratio:.2f} over {inputs.requests} LEAN "
                       f"requests in {policy.window_seconds} s")
    breached = bool(reasons)
    if inputs.lean_enabled:
        action = DISABLE_LEAN if breached else None
    else:  # a lane that is off keeps its critical alert until it is enabled again: raise it when none stands
        action = None if inputs.alert_open else RAISE_LEAN_ALERT
    return LeanCircuitVerdict(None if ratio is None else round(ratio, 4), breached, reasons, action)


@dataclass(frozen=True)
class LeanRecoveryVerdict:
    clean_probes: int
    needed: int
    action: str | None
    reason: str


def lean_recovery_evaluate(*, probe_ok: bool, clean_probes: int, outage_open: bool,
                           policy: LeanCircuitPolicy) -> LeanRecoveryVerdict:
    """After one health probe of a lane the circuit disabled: count it, and say whether the lane may
    come back by itself (only when the policy allows, ``recovery_probes > 0``)."""
    count = clean_probes + 1 if probe_ok and not outage_open else 0
    if policy.recovery_probes <= 0:
        return LeanRecoveryVerdict(count, 0, None, "the policy brings LEAN back only by an operator")
    if count >= policy.recovery_probes:
        return LeanRecoveryVerdict(count, policy.recovery_probes, ENABLE_LEAN,
                                   f"{count} clean health probes in a row (>= {policy.recovery_probes})")
    why = "probe failed" if not probe_ok else ("an outage is still open" if outage_open else "counting")
    return LeanRecoveryVerdict(count, policy.recovery_probes, None, why)


# --- Delivery retries -----------------------------------------------------------------------

def backoff_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> timedelta:
    """Exponential backoff after ``attempts`` failed tries: base, 2x base, 4x base, ... capped."""
    return timedelta(seconds=min(max_seconds, base_seconds * (2 ** max(0, attempts - 1))))


# --- Position drift (reconciliation against the broker) -------------------------------------

@dataclass(frozen=True, slots=True)  # slots: reconciliation makes one per symbol, thousands per run
class DriftFacts:
    symbol: str
    ours: Decimal  # the sum of the strategies' positions, kept from stored fills
    broker: Decimal  # the brokers' figure: Alpaca's position plus the LEAN-routed fills (LEAN reports none)
    in_flight: Decimal  # remaining qty of orders not settled yet (their fills may not be stored)

    def as_json(self) -> dict:
        return {k: decimal_str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class DriftVerdict:
    symbol: str
    difference: Decimal  # broker - ours
    explained: bool
    reason: str

    @property
    def drift(self) -> Decimal:
        """The difference nobody has explained yet (0 when in line or explained)."""
        return Decimal(0) if self.explained else self.difference

    def as_json(self) -> dict:
        return {"symbol": self.symbol, "difference": decimal_str(self.difference), "explained": self.explained,
                "drift": decimal_str(self.drift), "reason": self.reason}


def position_drift(f: DriftFacts) -> DriftVerdict:
    """Compare the strategies' positions in a symbol with the broker's. A difference no larger than the
    quantity of orders still in flight is explained (their fills may not be stored yet)."""
    difference = f.broker - f.ours
    if difference == 0:
        return DriftVerdict(f.symbol, difference, True, "in line with the broker")
    if abs(difference) <= f.in_flight:
        return DriftVerdict(f.symbol, difference, True,
                            f"within the {decimal_str(f.in_flight)} of orders still in flight")
    return DriftVerdict(f.symbol, difference, False,
                        f"broker {decimal_str(f.broker)} vs strategies {decimal_str(f.ours)}: "
                        f"{decimal_str(difference)} unexplained")
