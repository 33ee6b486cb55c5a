"""Reads of the autonomy controls (execution reads them for every order, inside its admission
transaction; pages and the API read them for the status)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    F,
    IntegerField,
    Max,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from autonomy import conditions
from autonomy.choices import (
    SEVERITY_RANK,
    AlertSeverity,
    AlertStatus,
    BudgetName,
    HeartbeatStatus,
    IncidentStatus,
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
    PlaybookActivation,
    PlaybookVersion,
    Position,
    SignalSource,
    StrategyTradingState,
    SymbolControl,
    TradingState,
)
from core.canonical import decimal_str
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
    row = TradingState.objects.filter(id=1).first()
    if row is None:
        return ControlSnapshot(TradingStateChoice.ACTIVE, "", *lean_default())
    return ControlSnapshot(row.state, row.reason, row.lean_enabled, row.lean_disabled_reason)


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


def position_qty(*, strategy_id: int, symbol: str) -> Decimal:
    """The strategy's position in the symbol from stored fills (0 when it never traded it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT qty FROM autonomy_positions WHERE strategy_id = %s AND symbol = %s",
                       [strategy_id, symbol.upper()])
        row = cursor.fetchone()
    return row[0] if row else Decimal(0)


def symbol_control_list() -> QuerySet[SymbolControl]:
    """Every symbol with a stored control row, alphabetically."""
    return SymbolControl.objects.order_by("symbol")


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
    stored = {p.name: BudgetLimit(p.name, p.limit, p.on_breach) for p in BudgetPolicy.objects.all()}
    return {name: stored.get(name) or budget_default(name) for name in BudgetName.values}


def budget_status() -> list[dict]:
    """Each budget's limit, today's use and whether it is breached, in name order."""
    used = {u.name: u for u in BudgetUsage.objects.filter(day=budget_today())}
    out = []
    for name, limit in sorted(budget_limits().items()):
        row = used.get(name)
        value = row.used if row else Decimal(0)
        out.append({"name": name, "limit": limit.limit, "used": value, "on_breach": limit.on_breach,
                    "breached": value > limit.limit or bool(row and row.breached_at),
                    "breached_at": row.breached_at if row else None})
    return out


def control_event_list() -> QuerySet[ControlEvent]:
    return ControlEvent.objects.order_by("-id")


def position_list(*, strategy: str | None = None, symbol: str | None = None) -> QuerySet[Position]:
    qs = Position.objects.select_related("strategy").order_by("-id")
    if strategy:
        qs = qs.filter(strategy__name=strategy)
    if symbol:
        qs = qs.filter(symbol=symbol.upper())
    return qs


def autonomy_status() -> dict:
    """What ``GET /api/v1/autonomy/status`` answers (plain data)."""
    snapshot = trading_state_get()
    return {
        "trading_state": snapshot.trading_state, "reason": snapshot.trading_reason,
        "lean": {"enabled": snapshot.lean_enabled, "disabled_reason": snapshot.lean_disabled_reason},
        "llm": llm_status_get(),
        "symbols": [{"symbol": s.symbol, "mode": s.mode, "health_reason": s.health_reason}
                    for s in symbol_control_list()],
        "budgets": budget_status(),
        "open_alerts": open_alert_count(),
        "strategies": [{"strategy": s.strategy.name, "state": s.state, "reason": s.reason, "cause": s.cause}
                       for s in strategy_state_list()],
    }


# === core: placeholders other parts of the autonomy app replace =====================================

def llm_status_get() -> dict:
    """The LLM rollout as the status reports it. Until LLM governance lands: stage0, off."""
    return {"stage": "stage0", "effective_mode": "off"}


def open_alert_count() -> int:
    """Unresolved alerts (open or acknowledged), for the status."""
    return Alert.objects.exclude(status=AlertStatus.RESOLVED).count()


# === alerts worker: alerts, heartbeats and conditions ===========================================

def alert_list():
    """Alerts, newest first (the API and the alerts page filter it with ``autonomy.filters.AlertFilter``)."""
    return Alert.objects.order_by("-id")


def alert_get(*, alert_id: int) -> Alert | None:
    return Alert.objects.filter(pk=alert_id).first()


def critical_alerts_unresolved(limit: int = 5) -> list[Alert]:
    """Unresolved critical alerts, open ones first (the banner on every page)."""
    return list(Alert.objects.filter(severity=AlertSeverity.CRITICAL).exclude(status=AlertStatus.RESOLVED)
                .order_by("-status", "-id")[:limit])  # "open" sorts after "acknowledged": descending puts it first


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
    """The strategies' summed position per symbol (reconciliation compares it with the broker's)."""
    from django.db.models import Sum

    return dict(Position.objects.values_list("symbol").annotate(total=Sum("qty")).values_list("symbol", "total"))


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


_FRESHNESS = """
SELECT max(last_observed_at), count(*), coalesce(bool_or(last_received_at > %s), false) FROM autonomy_signal_sources
"""


def signal_freshness(*, since, laggiest: int = 10) -> tuple:
    """(the freshest observation of any source, how many sources, whether any heartbeat arrived after
    ``since``, the ``laggiest`` sources as (name, last observed)), in two statements whatever the count."""
    with connection.cursor() as cursor:
        cursor.execute(_FRESHNESS, [since or timezone.now()])
        newest, count, arrived = cursor.fetchone()
    rows = SignalSource.objects.order_by("last_observed_at").values_list("source", "symbol",
                                                                         "last_observed_at")[:laggiest]
    return newest, count, arrived, [(f"{src}/{sym}" if sym else src, at) for src, sym, at in rows]


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
    """Every position, those with unexplained drift first, then by strategy and symbol."""
    return (Position.objects.select_related("strategy")
            .annotate(drifting=Case(When(drift=0, then=Value(False)), default=Value(True),
                                    output_field=BooleanField()))
            .order_by("-drifting", "strategy__name", "symbol"))


def position_drift_count() -> int:
    return Position.objects.exclude(drift=0).count()


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
    """How fresh the autonomy loops' heartbeats are against the stale-signal rule: the lag threshold, whether
    the market is in session, counts of sources (stale, failing), the newest heartbeat's lag, the sweep's
    streaks, and the ``stalest`` sources with their lag."""
    now = now or timezone.now()
    threshold = float(settings.AUTONOMY_STALE_LAG_SECONDS)
    cutoff = now - timedelta(seconds=threshold)
    streak = settings.AUTONOMY_FAILURE_STREAK
    counts = SignalSource.objects.aggregate(
        total=Count("id"), stale=Count("id", filter=Q(last_observed_at__lte=cutoff)),
        failing=Count("id", filter=Q(failure_streak__gte=streak)), newest=Max("last_observed_at"))
    rows = list(SignalSource.objects.order_by("last_observed_at", "source", "symbol")[:stalest])
    for row in rows:
        row.lag_seconds = max(0.0, (now - row.last_observed_at).total_seconds())
        row.stale = row.lag_seconds >= threshold
        row.failing = row.failure_streak >= streak
    newest = counts.pop("newest")
    sweep = FreshnessState.objects.filter(id=1).first()
    return {**counts, "threshold_seconds": threshold, "failure_streak_limit": streak,
            "in_session": conditions.in_session(now, conditions.MarketSession.parse(settings.AUTONOMY_MARKET_SESSION)),
            "newest_lag_seconds": max(0.0, (now - newest).total_seconds()) if newest else None,
            "no_signal_streak": sweep.no_signal_streak if sweep else 0,
            "clean_streak": sweep.clean_streak if sweep else 0,
            "last_cycle_at": sweep.last_cycle_at if sweep else None, "stalest": rows}
