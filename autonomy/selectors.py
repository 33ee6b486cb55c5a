"""Reads of the autonomy controls (execution reads them for every order, inside its admission
transaction; pages and the API read them for the status)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from autonomy import conditions
from autonomy import llm_guardrails as guardrails
from autonomy.choices import (
    SEVERITY_RANK,
    AlertSeverity,
    AlertStatus,
    BudgetName,
    HeartbeatStatus,
    IncidentStatus,
    LlmAllowlistKind,
    LlmErrorFallback,
    LlmStage,
    LlmVerdict,
    SymbolMode,
    TradingStateChoice,
    strictest,
)
from autonomy.models import (
    Alert,
    AlertDelivery,
    BudgetPolicy,
    BudgetUsage,
    ConditionEvaluation,
    ControlEvent,
    FreshnessState,
    Heartbeat,
    Incident,
    LeanRecovery,
    LlmAllowlistEntry,
    LlmCircuit,
    LlmDecisionReview,
    LlmGovernance,
    LlmStageDecision,
    PlaybookActivation,
    PlaybookVersion,
    Position,
    PositionReconciliation,
    SignalSource,
    StrategyTradingState,
    SymbolControl,
    SymbolDrift,
    TradingState,
)
from core.canonical import content_sha256, decimal_str
from promotions import signing
from promotions.selectors import verifying_keys
from strategies.models import Strategy


@dataclass(frozen=True)
class ControlSnapshot:
    trading_state: str
    trading_reason: str
    lean_enabled: bool
    lean_disabled_reason: str


def lean_default() -> tuple[bool, str]:
    """The LEAN lane before anyone switched it: the ``TRADING_LEAN_LANE_DISABLE_SWITCH`` setting (the
    autonomy flag is the live control; the setting only gives its first value)."""
    if settings.TRADING_LEAN_LANE_DISABLE_SWITCH:
        return False, "TRADING_LEAN_LANE_DISABLE_SWITCH is set"
    return True, ""


def trading_state_get() -> ControlSnapshot:
    """The global trading state and the LEAN lane (before anyone switched the lane: the setting)."""
    return control_snapshot(TradingState.objects.filter(id=1)
                            .values_list("state", "reason", "lean_enabled", "lean_disabled_reason").first())


def control_snapshot(row: tuple[str, str, bool, str] | None) -> ControlSnapshot:
    """The global row's (state, reason, lean_enabled, lean_disabled_reason), or the defaults when it is missing."""
    if row is None:
        return ControlSnapshot(TradingStateChoice.ACTIVE, "", *lean_default())
    return ControlSnapshot(*row)


@dataclass(frozen=True)
class OrderFlags:
    trading: ControlSnapshot
    symbol_mode: str
    symbol_reason: str
    strategy_id: int | None = None  # None: no research run has named the strategy
    stage: str | None = None
    strategy_state: str = TradingStateChoice.ACTIVE
    strategy_reason: str = ""
    symbol_caps: dict | None = None
    lean_allowed: bool | None = None  # the symbol's LEAN allowlist entry; None: the settings' policy


#: The columns of one order's control flags over ``ts`` (the global row), ``sc`` (the symbol's row), ``st`` (the
#: strategy) and ``ss`` (its own state), read by order admission (``autonomy.services.admission_controls_lock``).
FLAGS_COLUMNS = """ts.state, ts.reason, ts.lean_enabled, ts.lean_disabled_reason, sc.mode, sc.health_reason,
  sc.max_qty_per_order, sc.max_notional_per_order, sc.max_notional_per_day, sc.lean_allowed,
  st.id, st.stage, ss.state, ss.reason"""


def order_flags_from_row(row) -> OrderFlags:
    (state, reason, lean_enabled, lean_reason, mode, health, max_qty, max_order, max_day, lean_allowed,
     strategy_id, stage, s_state, s_reason) = row
    caps = None
    if mode is not None:
        caps = {"max_qty_per_order": max_qty, "max_notional_per_order": max_order, "max_notional_per_day": max_day}
    return OrderFlags(ControlSnapshot(state, reason, lean_enabled, lean_reason), mode or SymbolMode.ENABLED,
                      health or "", strategy_id, stage, s_state or TradingStateChoice.ACTIVE, s_reason or "",
                      caps, lean_allowed)


def budgets_json(usage: str = "u", policy: str = "p") -> str:
    """SQL: today's budget rows as one JSON array of ``[name, used, limit, on_breach, breached]`` (limit and
    on_breach null without a stored policy), over the aliases of usage and policy; parsed by
    :func:`budget_facts`."""
    u, p = usage, policy
    return (f"coalesce(json_agg(json_build_array({u}.name, {u}.used::text, {p}.\"limit\"::text, {p}.on_breach, "
            f"{u}.breached_at IS NOT NULL) ORDER BY {u}.name), '[]')")


def budget_facts(rows: list) -> list[conditions.BudgetFacts]:
    """Budget facts (amount 0) from :data:`BUDGETS_JSON`; a budget without a stored policy has the default."""
    facts = []
    for name, used, limit, on_breach, *_ in rows:
        default = budget_default(name) if limit is None else None
        facts.append(conditions.BudgetFacts(name=name, used=Decimal(used),
                                            limit=default.limit if default else Decimal(limit),
                                            on_breach=default.on_breach if default else on_breach))
    return facts


#: What order admission reads WITHOUT a lock before it decides (``execution.controls``): the control version,
#: today's budget rows and every control flag of the order. One row when the global row exists. Named
#: parameters ``snap_day``, ``snap_symbol``, ``snap_strategy``; usable as a lateral subquery.
ADMISSION_SNAPSHOT_SQL = f"""
SELECT cv.version,
  (SELECT {budgets_json()} FROM autonomy_budget_usage u LEFT JOIN autonomy_budget_policies p ON p.name = u.name
   WHERE u.day = %(snap_day)s) AS budgets,
  (SELECT pos.qty FROM autonomy_positions pos WHERE pos.strategy_id = st.id AND pos.symbol = %(snap_symbol)s),
  {FLAGS_COLUMNS}
FROM autonomy_trading_state ts
LEFT JOIN autonomy_control_version cv ON cv.id = 1
LEFT JOIN autonomy_symbol_controls sc ON sc.symbol = %(snap_symbol)s
LEFT JOIN strategies st ON st.name = %(snap_strategy)s
LEFT JOIN autonomy_strategy_states ss ON ss.strategy_id = st.id
WHERE ts.id = 1"""
ADMISSION_SNAPSHOT_COLUMNS = 17


@dataclass(frozen=True)
class AdmissionSnapshot:
    """The controls as read without a lock: decisions on it are checked again when the order is inserted."""
    version: int
    day: date
    budgets: tuple[conditions.BudgetFacts, ...]
    breached: frozenset[str]  # today's budgets already marked breached
    flags: OrderFlags
    position_qty: Decimal = Decimal(0)  # the strategy's position in the symbol (a hint for the fill's write)


def admission_snapshot_params(*, symbol: str, strategy: str) -> dict:
    return {"snap_day": budget_today(), "snap_symbol": symbol.upper(), "snap_strategy": strategy}


def admission_snapshot_from_row(row, *, day: date) -> AdmissionSnapshot | None:
    """The snapshot from the columns of :data:`ADMISSION_SNAPSHOT_SQL`; None when it cannot be used (no global
    row or control version yet, or today's budget rows not all created): admission then locks."""
    version, budgets, held, *flags = row
    if version is None or budgets is None or len(budgets) < len(BudgetName.values):
        return None
    return AdmissionSnapshot(version=version, day=day, budgets=tuple(budget_facts(budgets)),
                             breached=frozenset(b[0] for b in budgets if b[4]), flags=order_flags_from_row(flags),
                             position_qty=held if held is not None else Decimal(0))


def position_qty(*, strategy_id: int, symbol: str) -> Decimal:
    """The strategy's position in the symbol from stored fills (0 when it never traded it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT qty FROM autonomy_positions WHERE strategy_id = %s AND symbol = %s",
                       [strategy_id, symbol.upper()])
        row = cursor.fetchone()
    return row[0] if row else Decimal(0)


def strategy_state_list() -> QuerySet[StrategyTradingState]:
    return StrategyTradingState.objects.select_related("strategy").order_by("strategy__name")


def strategy_states(*, strategy_ids) -> dict[int, str]:
    """The effective state (strictest of global and own) of each strategy id."""
    global_state = trading_state_get().trading_state
    own = dict(StrategyTradingState.objects.filter(strategy_id__in=list(strategy_ids))
               .values_list("strategy_id", "state"))
    return {sid: strictest(global_state, own.get(sid, TradingStateChoice.ACTIVE)) for sid in strategy_ids}


@dataclass(frozen=True)
class BudgetLimit:
    name: str
    limit: Decimal
    on_breach: str


def budget_today() -> date:
    """Budgets count per UTC day."""
    return timezone.now().date()


def budget_default(name: str) -> BudgetLimit:
    """A budget's limit before an operator stores a policy: the ``AUTONOMY_BUDGETS`` setting."""
    conf = settings.AUTONOMY_BUDGETS[name]
    return BudgetLimit(name, Decimal(str(conf["limit"])), conf.get("on_breach", TradingStateChoice.HALTED))


def budget_limits() -> dict[str, BudgetLimit]:
    """Every budget's limit: the stored policy, else the settings' default."""
    return budget_limits_from({p.name: BudgetLimit(p.name, p.limit, p.on_breach) for p in BudgetPolicy.objects.all()})


def budget_limits_from(stored: dict[str, BudgetLimit]) -> dict[str, BudgetLimit]:
    """Every budget's limit, given the stored policies by name (the settings' default for the others)."""
    return {name: stored.get(name) or budget_default(name) for name in BudgetName.values}


def budget_status() -> list[dict]:
    """Each budget's limit, today's use and whether it is breached, in name order."""
    used = {u.name: (u.used, u.breached_at) for u in BudgetUsage.objects.filter(day=budget_today())}
    return budget_rows(budget_limits(), used)


def budget_rows(limits: dict[str, BudgetLimit], used: dict[str, tuple[Decimal, datetime | None]]) -> list[dict]:
    """Each budget's limit, today's use (``used``: name -> (amount, breached_at)) and whether it is breached,
    in name order."""
    out = []
    for name, limit in sorted(limits.items()):
        value, breached_at = used.get(name, (Decimal(0), None))
        out.append({"name": name, "limit": limit.limit, "used": value, "on_breach": limit.on_breach,
                    "breached": value > limit.limit or breached_at is not None, "breached_at": breached_at})
    return out


def control_event_list() -> QuerySet[ControlEvent]:
    return ControlEvent.objects.order_by("-id")


def positions_reconciled(qs: QuerySet[Position]) -> QuerySet[Position]:
    """Positions with their symbol's figures at the last reconciliation (:class:`SymbolDrift`): ``broker_qty``
    (None before any), ``drift`` (0 when none or explained), ``drifting`` and ``reconciled_at`` (when the last
    reconciliation compared the symbol; None when it was never compared)."""
    row = SymbolDrift.objects.filter(symbol=OuterRef("symbol"))
    qty = DecimalField(max_digits=24, decimal_places=8)
    last_run = PositionReconciliation.objects.filter(id=1).values("at")[:1]
    return qs.annotate(
        broker_qty=Subquery(row.values("broker_qty")[:1], output_field=qty),
        drift=Coalesce(Subquery(row.values("drift")[:1], output_field=qty), Value(Decimal(0)), output_field=qty),
        drifting=Exists(row.exclude(drift=0)),
        reconciled_at=Case(When(Exists(row), then=Subquery(last_run)), default=None,
                           output_field=DateTimeField()))


def position_list(*, strategy: str | None = None, symbol: str | None = None) -> QuerySet[Position]:
    qs = positions_reconciled(Position.objects.select_related("strategy")).order_by("-id")
    if strategy:
        qs = qs.filter(strategy__name=strategy)
    if symbol:
        qs = qs.filter(symbol=symbol.upper())
    return qs


#: Everything ``GET /api/v1/autonomy/status`` shows, read in one round trip (the ORM's ten reads cost several
#: times more CPU in Python than the database spends on them). Named parameters: ``day`` (today, UTC) and
#: ``resolved`` (the alert status that no longer counts as open).
STATUS_SQL = """SELECT
  (SELECT ARRAY[state, reason, lean_enabled::text, lean_disabled_reason] FROM autonomy_trading_state WHERE id = 1),
  (SELECT stage FROM llm_governance WHERE id = 1),
  (SELECT open_until FROM llm_circuit WHERE id = 1),
  ARRAY(SELECT DISTINCT kind FROM llm_allowlist),
  (SELECT count(*) FROM autonomy_alerts WHERE status <> %(resolved)s),
  (SELECT json_agg(json_build_array(symbol, mode, health_reason) ORDER BY symbol) FROM autonomy_symbol_controls),
  (SELECT json_agg(json_build_array(s.name, ss.state, ss.reason, ss.cause) ORDER BY s.name)
     FROM autonomy_strategy_states ss JOIN strategies s ON s.id = ss.strategy_id),
  (SELECT json_agg(json_build_array(name, used::text, breached_at)) FROM autonomy_budget_usage WHERE day = %(day)s),
  (SELECT json_agg(json_build_array(name, "limit"::text, on_breach)) FROM autonomy_budget_policies)"""


def autonomy_status(*, now: datetime | None = None) -> dict:
    """What ``GET /api/v1/autonomy/status`` answers (plain data), from one statement (:data:`STATUS_SQL`)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(STATUS_SQL, {"day": budget_today(), "resolved": AlertStatus.RESOLVED})
        (state_row, stage, open_until, allowlisted_kinds, open_alerts, symbols, strategies, used,
         policies) = cursor.fetchone()  # the json_agg columns arrive as lists, NULL when no row
    if state_row is not None:
        state_row = (state_row[0], state_row[1], state_row[2] == "true", state_row[3])
    snapshot = control_snapshot(state_row)
    stage = stage or LlmStage.STAGE0
    limits = budget_limits_from({name: BudgetLimit(name, Decimal(limit), on_breach)
                                 for name, limit, on_breach in policies or ()})
    usage = {name: (Decimal(amount), datetime.fromisoformat(at) if at else None) for name, amount, at in used or ()}
    return {
        "trading_state": snapshot.trading_state, "reason": snapshot.trading_reason,
        "lean": {"enabled": snapshot.lean_enabled, "disabled_reason": snapshot.lean_disabled_reason},
        "llm": {"stage": stage, "effective_mode": llm_effective_mode(stage=stage, open_until=open_until,
                                                                     allowlisted_kinds=allowlisted_kinds, now=now)},
        "symbols": [{"symbol": symbol, "mode": mode, "health_reason": health}
                    for symbol, mode, health in symbols or ()],
        "budgets": budget_rows(limits, usage),
        "open_alerts": open_alerts,
        "strategies": [{"strategy": name, "state": state, "reason": why, "cause": cause}
                       for name, state, why, cause in strategies or ()],
    }


# --- readiness (Phase D) -----------------------------------------------------------------------

def _readiness_thresholds():
    from django.conf import settings

    from autonomy.readiness import Thresholds

    return Thresholds(max_replay_ms=settings.READINESS_MAX_REPLAY_MS,
                      audit_chain_max_age_minutes=settings.AUDIT_CHAIN_MAX_AGE_MINUTES)


def readiness_evaluate(*, now=None) -> tuple[list[dict], dict, object]:
    """(criteria, facts, window_start) measured now, live from the database."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from autonomy import readiness

    now = now or timezone.now()
    window_start = now - timedelta(hours=settings.READINESS_WINDOW_HOURS)
    facts = readiness.collect(window_start=window_start, now=now)
    return readiness.scorecard(facts, _readiness_thresholds()), facts, window_start


def readiness_get(*, now=None) -> dict:
    """``GET /api/v1/readiness``: the criteria measured now, and since when the scorecard has been green
    without a break (the stored snapshots of the readiness sweep, then this measurement)."""
    from django.conf import settings
    from django.utils import timezone

    from autonomy import readiness
    from autonomy.models import ReadinessSnapshot

    now = now or timezone.now()
    criteria, _facts, window_start = readiness_evaluate(now=now)
    green = readiness.green(criteria)
    green_since = None
    if green:
        last_red = (ReadinessSnapshot.objects.filter(green=False, at__lte=now).order_by("-at")
                    .values_list("at", flat=True).first())
        streak = ReadinessSnapshot.objects.filter(green=True, at__lte=now)
        if last_red is not None:
            streak = streak.filter(at__gt=last_red)
        green_since = streak.order_by("at").values_list("at", flat=True).first() or now
    return {"green": green, "green_since": green_since, "criteria": criteria, "evaluated_at": now,
            "window_start": window_start, "required_green_hours": settings.READINESS_GREEN_HOURS}


def readiness_block(*, now=None, state: dict | None = None) -> str | None:
    """Phase D: why enabling the LEAN lane or an LLM stage above stage1 is refused now, or None when the
    scorecard has been green over the configured rolling window (``READINESS_GREEN_HOURS``). ``state``:
    a ``readiness_get`` result already measured (the page shows both)."""
    from datetime import timedelta

    state = state or readiness_get(now=now)
    now = state["evaluated_at"]
    hours = state["required_green_hours"]
    if not state["green"]:
        failing = ", ".join(c["id"] for c in state["criteria"] if c["status"] != "pass")
        return f"The readiness scorecard is not green (failing: {failing})."
    if state["green_since"] > now - timedelta(hours=hours):
        since = state["green_since"].isoformat().replace("+00:00", "Z")
        return f"The readiness scorecard has been green only since {since}; {hours} h of green are required."
    return None


#: The dedup key of the alert that stands for the LEAN lane being off (the control-event hook raises it).
LEAN_ALERT_KEY = "lean_lane"


def state_alert_key(scope: str) -> str:
    """The dedup key of the alert a trading state other than ACTIVE raises (``global`` or ``strategy:NAME``)."""
    return f"trading_state:{scope}"


def budget_alert_key(name: str) -> str:
    return f"budget:{name}"


@dataclass(frozen=True)
class CriticalFlag:
    """A critical control flag set now: what it is, the key of the critical alert that must stand for it
    while it is set, and what lifts it (the alert then resolves by itself)."""
    what: str
    dedup_key: str
    lifted_by: str


def critical_flags(*, now: datetime | None = None) -> list[CriticalFlag]:
    """The critical control flags set now (the one definition: the readiness criterion
    ``critical_flags_alerting`` and the refusal to resolve their alerts read it): trading HALTED globally
    or for a strategy, the LEAN lane off, a budget breached today. Three queries."""
    now = now or timezone.now()
    flags: list[CriticalFlag] = []
    row = TradingState.objects.filter(id=1).only("state", "lean_enabled").first()
    if row is not None and row.state == TradingStateChoice.HALTED:
        flags.append(CriticalFlag("trading HALTED globally", state_alert_key("global"),
                                  "when an operator lifts the halt"))
    for name in (StrategyTradingState.objects.filter(state=TradingStateChoice.HALTED)
                 .values_list("strategy__name", flat=True).order_by("strategy__name")):
        flags.append(CriticalFlag(f"{name} HALTED", state_alert_key(f"strategy:{name}"),
                                  f"when an operator lifts {name}'s halt"))
    if row is not None and not row.lean_enabled:
        flags.append(CriticalFlag("LEAN lane disabled", LEAN_ALERT_KEY,
                                  "when the LEAN lane is enabled again (control room or admin)"))
    for name in (BudgetUsage.objects.filter(day=now.date(), breached_at__isnull=False)
                 .values_list("name", flat=True).order_by("name")):
        flags.append(CriticalFlag(f"budget {name} breached", budget_alert_key(name),
                                  "at the next UTC day's budget roll"))
    return flags


def critical_flag_for(dedup_key: str, *, now: datetime | None = None) -> CriticalFlag | None:
    """The critical control flag set now that the alert with this key stands for, if any."""
    return next((flag for flag in critical_flags(now=now) if flag.dedup_key == dedup_key), None)


def readiness_control(*, window_start, now) -> dict:
    """The control facts of the scorecard: each critical control flag set now (:func:`critical_flags`) and
    whether an unresolved critical alert stands for it (the keys the control-event hook raises); and whether
    the LEAN circuit is armed — its fallback-ratio threshold can trip, and its backstop sweep evaluated
    recently."""
    from autonomy.choices import ConditionKind

    flags = critical_flags(now=now)
    alerted = set(Alert.objects.exclude(status=AlertStatus.RESOLVED)
                  .filter(severity=AlertSeverity.CRITICAL, dedup_key__in=[f.dedup_key for f in flags])
                  .values_list("dedup_key", flat=True))
    last_sweep = (ConditionEvaluation.objects.filter(condition=ConditionKind.LEAN_CIRCUIT, inputs__trigger="sweep",
                                                     at__lte=now).order_by("-at").values_list("at", flat=True).first())
    ratio = settings.AUTONOMY_LEAN_FALLBACK_RATIO
    return {"critical_flags": len(flags),
            "flags_without_alert": [f.what for f in flags if f.dedup_key not in alerted],
            "lean_circuit": {"in_order_path": 0 < ratio <= 1, "fallback_ratio": f"{ratio:g}",
                             "sweep_age_minutes": None if last_sweep is None
                             else int((now - last_sweep).total_seconds() // 60),
                             "sweep_age_seconds": None if last_sweep is None
                             else int((now - last_sweep).total_seconds())}}


def readiness_audit_chain(*, window_start, now) -> dict:
    """The audit-chain facts of the scorecard: the newest verification of the hash chains (``verify_audit``,
    the ``autonomy.verify_audit_chain`` schedule), when it ran, how many rows it checked, its first break."""
    from autonomy.models import AuditChainCheck

    check = AuditChainCheck.objects.filter(at__lte=now).order_by("-at", "-id").first()
    if check is None:
        return {"checked_at": None}
    return {"checked_at": check.at.isoformat().replace("+00:00", "Z"), "check": check.pk, "ok": check.ok,
            "age_seconds": max(0, int((now - check.at).total_seconds())), "rows_checked": check.rows_checked,
            "chains": len(check.chains), "first_break": check.first_break}


def audit_chain_checks(*, limit: int = 20):
    """The newest verifications of the hash chains."""
    from autonomy.models import AuditChainCheck

    return AuditChainCheck.objects.order_by("-at", "-id")[:limit]


def readiness_history(*, limit: int = 96):
    from autonomy.models import ReadinessSnapshot

    return ReadinessSnapshot.objects.only("at", "green", "criteria").order_by("-at", "-id")[:limit]


# === alerts worker: alerts, heartbeats and conditions ===========================================

def alert_list():
    """Alerts, newest first (the API and the alerts page filter it with ``autonomy.filters.AlertFilter``)."""
    return Alert.objects.order_by("-id")


def alert_get(*, alert_id: int) -> Alert | None:
    return Alert.objects.filter(pk=alert_id).first()


def critical_alerts_open(limit: int = 5) -> list[Alert]:
    """Open critical alerts, newest first: the banner on every page, until someone acknowledges them."""
    return list(Alert.objects.filter(severity=AlertSeverity.CRITICAL, status=AlertStatus.OPEN).order_by("-id")[:limit])


def alert_status_counts() -> dict[str, dict[str, int]]:
    """Unresolved alerts counted by severity and status (``{"critical": {"open": 2, "acknowledged": 1}, ...}``),
    every severity and both statuses present. One query."""
    counts = {severity: {AlertStatus.OPEN: 0, AlertStatus.ACKNOWLEDGED: 0} for severity in AlertSeverity.values}
    for severity, status, n in (Alert.objects.exclude(status=AlertStatus.RESOLVED).values_list("severity", "status")
                                .annotate(n=Count("id")).values_list("severity", "status", "n")):
        counts[severity][status] = n
    return counts


def strategies_not_active() -> list[StrategyTradingState]:
    """The strategies whose own trading state is not ACTIVE, by name (with their reason and cause)."""
    return list(strategy_state_list().exclude(state=TradingStateChoice.ACTIVE))


def alerts_open_by_severity() -> dict[str, int]:
    """Unresolved alerts per severity, every severity present (zero included)."""
    counts = dict(Alert.objects.exclude(status=AlertStatus.RESOLVED).values_list("severity")
                  .annotate(n=Count("id")).values_list("severity", "n"))
    return {severity: counts.get(severity, 0) for severity in AlertSeverity.values}


def delivery_list():
    return AlertDelivery.objects.select_related("alert").order_by("-id")


def signal_sources() -> list[SignalSource]:
    return list(SignalSource.objects.order_by("source", "symbol"))


def lean_recovery_watching() -> bool:
    """The LEAN circuit disabled the lane and waits for it to come back."""
    return LeanRecovery.objects.filter(id=1, tripped=True).exists()


def condition_evaluations(*, condition: str | None = None, limit: int = 50) -> list[ConditionEvaluation]:
    qs = ConditionEvaluation.objects.order_by("-id")
    if condition:
        qs = qs.filter(condition=condition)
    return list(qs[:limit])


def incidents_open() -> list[Incident]:
    return list(Incident.objects.filter(status=IncidentStatus.OPEN).order_by("-id"))


def position_qty_by_symbol() -> dict[str, Decimal]:
    """The strategies' summed position per symbol (reconciliation compares it with the broker's; one plain
    statement: thousands of rows through the ORM's converters would cost more than the sum)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT symbol, sum(qty) FROM autonomy_positions GROUP BY symbol")
        return dict(cursor.fetchall())


def heartbeat_quality(*, since) -> tuple[int, int]:
    """(heartbeats reporting ok, all heartbeats) received since ``since``: the playbook's signal quality."""
    from django.db.models import Q

    counts = Heartbeat.objects.filter(received_at__gte=since).aggregate(
        ok=Count("id", filter=Q(status=HeartbeatStatus.OK)), total=Count("id"))
    return counts["ok"], counts["total"]


def symbol_modes() -> dict[str, str]:
    """Every symbol's mode that is not ``enabled`` (a symbol without a row is enabled)."""
    return dict(SymbolControl.objects.exclude(mode=SymbolMode.ENABLED).values_list("symbol", "mode"))


def playbook_active() -> PlaybookVersion | None:
    """The playbook version the newest activation chose (None before any)."""
    activation = PlaybookActivation.objects.select_related("playbook").order_by("-id").first()
    return activation.playbook if activation else None


_FRESHNESS_COUNTS = """
SELECT count(*), count(*) FILTER (WHERE %(in_session)s AND (last_observed_at <= %(lag_cutoff)s
                                                            OR last_received_at <= %(streak_cutoff)s))
FROM autonomy_signal_sources WHERE expected
"""


def signal_freshness(*, now: datetime, in_session: bool, lag_seconds: float, previous_cycles: list[datetime],
                     no_signal_cycles: int, laggiest: int = 10) -> tuple[list[conditions.SourceFreshness], int, int]:
    """What the stale-signal rule judges, in three statements whatever the number of sources: the expected
    sources oldest by observation and oldest by arrival (``laggiest`` of each: if none of them breaches,
    none does), how many sources are expected, and how many of them breach (counted in SQL)."""
    expected = SignalSource.objects.filter(expected=True).only("source", "symbol", "last_observed_at",
                                                               "last_received_at")
    rows = {r.pk: r for r in expected.order_by("last_observed_at", "id")[:laggiest]}
    rows.update({r.pk: r for r in expected.order_by("last_received_at", "id")[:laggiest]})
    sources = [conditions.SourceFreshness(str(r), r.last_observed_at, r.last_received_at)
               for r in sorted(rows.values(), key=lambda r: (r.last_observed_at, r.pk))]
    streak_cutoff = (previous_cycles[-no_signal_cycles] if no_signal_cycles > 0 and len(previous_cycles)
                     >= no_signal_cycles else datetime.min.replace(tzinfo=now.tzinfo))
    with connection.cursor() as cursor:
        cursor.execute(_FRESHNESS_COUNTS, {"in_session": in_session, "lag_cutoff": now - timedelta(seconds=lag_seconds),
                                           "streak_cutoff": streak_cutoff})
        count, breaching = cursor.fetchone()
    return sources, count, breaching


# --- LLM governance ----------------------------------------------------------------------------

OrderLookup = Callable[[str], "dict[str, Any] | None"]
_order_lookup: list[OrderLookup] = []


def llm_order_lookup_register(lookup: OrderLookup) -> None:
    """Execution lends its stored-order lookup here (autonomy never imports execution)."""
    _order_lookup[:] = [lookup]


def llm_stored_order_get(client_order_id: str) -> dict[str, Any] | None:
    """The stored order ``client_order_id`` names, as plain data (``execution_id``, ``strategy_id``,
    ``strategy``, ``stage``, ``symbol``, ``side``, ``qty``, ``order_type``, ``limit_price``), or None."""
    if not _order_lookup:
        raise RuntimeError("No stored-order lookup is registered: the execution app registers it when it loads.")
    return _order_lookup[0](client_order_id)


@dataclass(frozen=True)
class LlmGovernanceState:
    stage: str
    shadow_since: datetime | None
    reason: str
    updated_by: str
    updated_at: datetime | None


def llm_governance_get() -> LlmGovernanceState:
    row = LlmGovernance.objects.filter(id=1).first()
    if row is None:
        return LlmGovernanceState(LlmStage.STAGE0, None, "", "", None)
    return LlmGovernanceState(row.stage, row.shadow_since, row.reason, row.updated_by, row.updated_at)


def llm_error_fallback() -> str:
    """The configured error fallback outside live mode; anything but ``pass_through`` is a veto."""
    configured = getattr(settings, "LLM_ERROR_FALLBACK", LlmErrorFallback.VETO)
    return LlmErrorFallback.PASS_THROUGH if configured == LlmErrorFallback.PASS_THROUGH else LlmErrorFallback.VETO


def llm_allowlists() -> dict[str, list[str]]:
    """``{"model": [...], "prompt_version": [...]}``, each sorted."""
    lists: dict[str, list[str]] = {kind: [] for kind in LlmAllowlistKind.values}
    for kind, value in LlmAllowlistEntry.objects.order_by("kind", "value").values_list("kind", "value"):
        lists[kind].append(value)
    return lists


def llm_allowlist_entries() -> QuerySet[LlmAllowlistEntry]:
    return LlmAllowlistEntry.objects.order_by("kind", "value")


@dataclass(frozen=True)
class LlmCircuitState:
    open: bool
    open_until: datetime | None
    opened_at: datetime | None
    errors_in_window: int


def llm_circuit_get(*, now: datetime | None = None) -> LlmCircuitState:
    """The LLM circuit now: open while its ``open_until`` lies ahead, and the errors in its window."""
    now = now or timezone.now()
    row = LlmCircuit.objects.filter(id=1).first()
    open_until = row.open_until if row is not None and llm_circuit_open(row.open_until, now) else None
    return LlmCircuitState(open_until is not None, open_until, row.opened_at if open_until else None,
                           len(llm_error_times(now=now)))


def llm_circuit_open(open_until: datetime | None, now: datetime) -> bool:
    """The LLM circuit is open while its ``open_until`` lies ahead."""
    return open_until is not None and now < open_until


def llm_error_times(*, now: datetime, policy: guardrails.LlmPolicy = guardrails.POLICY) -> list[datetime]:
    """When LLM errors were recorded within the circuit's window before ``now``."""
    return list(LlmDecisionReview.objects.filter(verdict=LlmVerdict.ERROR, created_at__gt=now - policy.circuit_window,
                                                 created_at__lte=now).values_list("created_at", flat=True))


def llm_status_get(*, now: datetime | None = None) -> dict[str, str]:
    """The ``llm`` part of ``GET /api/v1/autonomy/status``: ``{"stage", "effective_mode"}``."""
    stage = llm_governance_get().stage
    mode = llm_effective_mode(
        stage=stage, open_until=LlmCircuit.objects.filter(id=1).values_list("open_until", flat=True).first(),
        allowlisted_kinds=LlmAllowlistEntry.objects.order_by().values_list("kind", flat=True).distinct(),
        now=now or timezone.now())
    return {"stage": stage, "effective_mode": mode}


def llm_effective_mode(*, stage: str, open_until: datetime | None, allowlisted_kinds, now: datetime) -> str:
    """How LLM advice acts now; advice counts as allowlisted only when both allowlists (models and prompt
    versions) hold an entry."""
    return guardrails.effective_mode(stage=stage, circuit_open=llm_circuit_open(open_until, now),
                                     allowlisted=set(LlmAllowlistKind.values) <= set(allowlisted_kinds))


#: The review an order's admission follows: its own review (an error retried by a real review gives way to it),
#: or none; named parameter ``llm_cid``, at most one row of :data:`LLM_VERDICT_COLUMNS` columns; usable as a
#: lateral subquery.
LLM_VERDICT_SQL = """SELECT review_id, applied_verdict, applied_qty, applied_order_type, applied_limit_price
  FROM llm_decision_reviews WHERE client_order_id = %(llm_cid)s ORDER BY (verdict = 'error'), id DESC LIMIT 1"""
LLM_VERDICT_COLUMNS = 5


def llm_verdict_from_row(row) -> guardrails.LlmVerdictFacts | None:
    if row is None or row[0] is None:
        return None
    review_id, applied, qty, order_type, limit_price = row
    return guardrails.LlmVerdictFacts(str(review_id), applied, qty, order_type or None, limit_price)


def llm_review_list() -> QuerySet[LlmDecisionReview]:
    return LlmDecisionReview.objects.select_related("strategy").order_by("-id")


def llm_review_counts(*, since: datetime, until: datetime, strategy_id: int | None = None) -> tuple[int, int]:
    """``(reviews, errors)`` recorded in ``(since, until]`` (of one strategy, when given)."""
    rows = LlmDecisionReview.objects.filter(created_at__gt=since, created_at__lte=until)
    if strategy_id is not None:
        rows = rows.filter(strategy_id=strategy_id)
    counts = rows.aggregate(reviews=Count("id"), errors=Count("id", filter=Q(verdict=LlmVerdict.ERROR)))
    return counts["reviews"], counts["errors"]


def llm_gate_evidence(*, strategy_id: int, now: datetime) -> dict[str, Any]:
    """Gate 3's LLM evidence for a strategy (``operations["llm"]`` of an evaluation): its reviews and
    LLM errors over the last ``LLM_EVIDENCE_WINDOW_DAYS`` days. Plain JSON data."""
    days = settings.LLM_EVIDENCE_WINDOW_DAYS
    since = now - timedelta(days=days)
    reviews, errors = llm_review_counts(since=since, until=now, strategy_id=strategy_id)
    ratio = guardrails.error_ratio(reviews, errors)
    return {"reviews": reviews, "errors": errors, "window_days": days,
            "error_ratio": None if ratio is None else str(ratio)}


def llm_tokens_exhausted(*, adding: int = 0) -> bool:
    """Whether today's ``llm_tokens`` budget is used up once ``adding`` more tokens are counted (the
    token-budget guardrail vetoes then), or was breached already today."""
    limit = budget_limits()[BudgetName.LLM_TOKENS].limit
    row = BudgetUsage.objects.filter(name=BudgetName.LLM_TOKENS, day=budget_today()).first()
    used = row.used if row is not None else Decimal(0)
    return bool(row is not None and row.breached_at is not None) or used + adding > limit


def llm_stage_readiness_block() -> str | None:
    """Phase D: why the readiness scorecard refuses an LLM stage above stage1 now, or None
    (``READINESS_PHASE_D=0`` switches the rule off)."""
    return readiness_block() if settings.READINESS_PHASE_D else None


def llm_stage_evidence(*, evaluation_report: str, effective_challenge_id: str, shadow_since: datetime | None,
                       now: datetime, readiness_block: str | None = None) -> guardrails.StageEvidence:
    """What a stage advance above stage1 rests on, measured now: the shadow window's reviews and errors."""
    window_start = now - timedelta(hours=settings.LLM_SHADOW_WINDOW_HOURS)
    reviews, errors = llm_review_counts(since=window_start, until=now)
    lists = llm_allowlists()
    return guardrails.StageEvidence(
        evaluation_report=evaluation_report, effective_challenge_id=effective_challenge_id, shadow_since=shadow_since,
        window_start=window_start, reviews=reviews, errors=errors,
        models_allowed=len(lists[LlmAllowlistKind.MODEL]),
        prompt_versions_allowed=len(lists[LlmAllowlistKind.PROMPT_VERSION]),
        min_reviews=settings.LLM_SHADOW_MIN_REVIEWS, readiness_block=readiness_block)


def llm_stage_decision_list() -> QuerySet[LlmStageDecision]:
    return LlmStageDecision.objects.order_by("-id")


def llm_stage_decision_verify(decision: LlmStageDecision) -> str | None:
    """None when the decision's hash and signature hold (its key known and not revoked), else why not."""
    if content_sha256(decision.document) != decision.decision_sha256:
        return "the stored document does not hash to its decision_sha256"
    public = verifying_keys().get(decision.key_id)
    if public is None:
        return f"signing key {decision.key_id} is unknown or revoked"
    return None if signing.verify(public, decision.document, decision.signature) else "the signature does not verify"


def llm_dashboard(*, since: datetime, until: datetime | None = None) -> dict[str, Any]:
    """What the governance page charts, aggregated in PostgreSQL: the verdict mix, and per day the
    reviews, the LLM errors and the guardrails that vetoed (by reason)."""
    until = until or timezone.now()
    rows = LlmDecisionReview.objects.filter(created_at__gte=since, created_at__lt=until)
    mix = list(rows.values("verdict", "applied_verdict").annotate(n=Count("id")).order_by("verdict",
                                                                                          "applied_verdict"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*),"
            " count(*) FILTER (WHERE verdict = 'error'), count(*) FILTER (WHERE guarded_verdict = 'veto')"
            " FROM llm_decision_reviews WHERE created_at >= %s AND created_at < %s GROUP BY 1 ORDER BY 1",
            [since, until])
        days = [{"day": day, "reviews": n, "errors": errors, "vetoes": vetoes}
                for day, n, errors, vetoes in cursor.fetchall()]
        cursor.execute(
            "SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, reason, count(*)"
            " FROM llm_decision_reviews, unnest(guardrail_reasons) AS reason"
            " WHERE created_at >= %s AND created_at < %s AND guarded_verdict = 'veto' AND reason = ANY(%s)"
            " GROUP BY 1, 2 ORDER BY 1, 2", [since, until, sorted(guardrails.VETO_REASONS)])
        rejections = [{"day": day, "reason": reason, "n": n} for day, reason, n in cursor.fetchall()]
    reviews = sum(d["reviews"] for d in days)
    errors = sum(d["errors"] for d in days)
    return {"mix": mix, "days": days, "rejections": rejections, "reviews": reviews, "errors": errors,
            "error_ratio": guardrails.error_ratio(reviews, errors) or Decimal(0)}
# === console: the control room page (issue 10, section 8) =========================================

def lean_policy_allows(symbol: str) -> bool:
    """Whether the settings' adapter policy sends ``symbol`` to LEAN (a symbol without an allowlist entry
    of its own follows it)."""
    if settings.TRADING_EXECUTION_ADAPTER_POLICY != "allowlist":
        return True
    return symbol.upper() in {s.upper() for s in settings.TRADING_EXECUTION_ADAPTER_SYMBOLS}


def symbol_grid(*, text: str = "", mode: str = "") -> QuerySet[SymbolControl]:
    """Stored symbol controls whose symbol or health reason contains ``text``, in ``mode`` when given."""
    qs = SymbolControl.objects.order_by("symbol")
    if text:
        qs = qs.filter(Q(symbol__icontains=text) | Q(health_reason__icontains=text))
    if mode:
        qs = qs.filter(mode=mode)
    return qs


def strategy_control_list() -> QuerySet[Strategy]:
    """Every strategy with its own trading state (``own_*``; ACTIVE for a strategy without a row), by name."""
    row = "trading_state_row__"
    return Strategy.objects.annotate(
        own_state=Coalesce(F(f"{row}state"), Value(TradingStateChoice.ACTIVE.value), output_field=CharField()),
        own_reason=Coalesce(F(f"{row}reason"), Value(""), output_field=TextField()),
        own_cause=Coalesce(F(f"{row}cause"), Value(""), output_field=CharField()),
        own_updated_by=Coalesce(F(f"{row}updated_by"), Value(""), output_field=CharField()),
        own_updated_at=F(f"{row}updated_at"),
    ).order_by("name")


def position_drift_list() -> QuerySet[Position]:
    """Every position, those whose symbol has unexplained drift first, then by strategy and symbol."""
    return positions_reconciled(Position.objects.select_related("strategy")).order_by("-drifting", "strategy__name",
                                                                                     "symbol")


def position_drift_count() -> int:
    """Positions whose symbol has unexplained drift at the last reconciliation."""
    return Position.objects.filter(symbol__in=SymbolDrift.objects.exclude(drift=0).values("symbol")).count()


def budget_gauges() -> list[dict]:
    """Each budget as a gauge: limit, used today, share of the limit (0-100, capped) and breached."""
    gauges = []
    for budget in budget_status():
        limit, used = budget["limit"], budget["used"]
        share = Decimal(100) if limit <= 0 and used > 0 else (used * 100 / limit if limit > 0 else Decimal(0))
        gauges.append({**budget, "label": BudgetName(budget["name"]).label,
                       "percent": min(Decimal(100), share).quantize(Decimal("0.1")),
                       "limit_text": decimal_str(limit), "used_text": decimal_str(used)})
    return gauges


@dataclass(frozen=True)
class ValueChange:
    key: str
    before: object
    after: object


def event_changes(before: dict, after: dict) -> list[ValueChange]:
    """The keys a control event changed, with their values before and after (keys in a stable order)."""
    before, after = before or {}, after or {}
    keys = list(before) + [k for k in after if k not in before]
    return [ValueChange(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def trading_state_row() -> TradingState:
    """The global row as stored (with its cause and who changed it last); before it exists, its defaults."""
    row = TradingState.objects.filter(id=1).first()
    if row is None:
        enabled, reason = lean_default()
        row = TradingState(id=1, lean_enabled=enabled, lean_disabled_reason=reason)
    return row


def alerts_unresolved() -> QuerySet[Alert]:
    """Open and acknowledged alerts: critical first, open before acknowledged, then the newest."""
    rank = Case(*[When(severity=s, then=Value(-r)) for s, r in SEVERITY_RANK.items()], default=Value(0),
                output_field=IntegerField())
    return (Alert.objects.exclude(status=AlertStatus.RESOLVED).annotate(severity_rank=rank)
            .order_by("severity_rank", "-status", "-id"))  # "open" sorts after "acknowledged": descending first


def heartbeat_freshness(*, now: datetime | None = None, stalest: int = 10) -> dict:
    """How fresh the autonomy loops' heartbeats are against the stale-signal rule, which judges each expected
    source: the lag threshold, whether the market is in session, counts of expected sources (stale by lag or
    by cycles without a signal, failing) and of retired ones, the newest heartbeat's lag, the sweep's streaks,
    and the ``stalest`` expected sources with their lag and their cycles without a signal."""
    now = now or timezone.now()
    threshold = float(settings.AUTONOMY_STALE_LAG_SECONDS)
    cutoff = now - timedelta(seconds=threshold)
    streak, quiet_cycles = settings.AUTONOMY_FAILURE_STREAK, settings.AUTONOMY_NO_SIGNAL_CYCLES
    session = conditions.in_session(now, conditions.MarketSession.parse(settings.AUTONOMY_MARKET_SESSION))
    sweep = FreshnessState.objects.filter(id=1).first()
    # the cycles before the last one: each source's streak as the last sweep counted it
    cycles = sorted(sweep.recent_cycles)[:-1] if sweep and session else []
    silent = Q(last_received_at__lte=cycles[-quiet_cycles]) if 0 < quiet_cycles <= len(cycles) else Q(pk__in=[])
    expected = Q(expected=True)
    counts = SignalSource.objects.aggregate(
        total=Count("id", filter=expected), retired=Count("id", filter=~expected),
        stale=Count("id", filter=expected & (Q(last_observed_at__lte=cutoff) | silent)),
        failing=Count("id", filter=expected & Q(failure_streak__gte=streak)),
        newest=Max("last_observed_at", filter=expected))
    rows = list(SignalSource.objects.filter(expected=True).order_by("last_observed_at", "source", "symbol")[:stalest])
    for row in rows:
        row.lag_seconds = max(0.0, (now - row.last_observed_at).total_seconds())
        row.no_signal_streak = conditions.source_no_signal_streak(row.last_received_at, cycles)
        row.stale = row.lag_seconds >= threshold or (session and row.no_signal_streak >= quiet_cycles)
        row.failing = row.failure_streak >= streak
    newest = counts.pop("newest")
    return {**counts, "threshold_seconds": threshold, "failure_streak_limit": streak, "in_session": session,
            "no_signal_limit": quiet_cycles,
            "newest_lag_seconds": max(0.0, (now - newest).total_seconds()) if newest else None,
            "no_signal_streak": sweep.no_signal_streak if sweep else 0,
            "clean_streak": sweep.clean_streak if sweep else 0,
            "last_cycle_at": sweep.last_cycle_at if sweep else None, "stalest": rows}
