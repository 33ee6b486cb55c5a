"""Writes of the autonomy controls. Small on purpose; see models.py."""
from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from access.choices import Via
from access.services import audit_record
from autonomy import alerting, conditions
from autonomy.choices import (
    SEVERITY_RANK,
    AlertEvent,
    AlertSeverity,
    AlertStatus,
    ConditionKind,
    DeliveryChannel,
    DeliveryStatus,
    HeartbeatStatus,
    IncidentStatus,
    SymbolMode,
    TradingStateChoice,
)
from autonomy.models import (
    Alert,
    AlertDelivery,
    AlertDeliveryAttempt,
    ConditionEvaluation,
    FreshnessState,
    Heartbeat,
    Incident,
    LeanRecovery,
    SignalSource,
    SymbolControl,
    TradingState,
)
from core.errors import Conflict, InvalidInput, NotFound

logger = logging.getLogger(__name__)


def trading_state_set(*, state: str, reason: str = "", actor: str = "") -> TradingState:
    if state not in TradingStateChoice.values:
        raise ValueError(f"Unknown trading state {state!r}; known: {', '.join(TradingStateChoice.values)}.")
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
        row.state, row.reason, row.updated_by = state, reason, actor
        row.save()
    return row


def lean_lane_set(*, enabled: bool, reason: str = "", actor: str = "") -> TradingState:
    with transaction.atomic():
        row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
        row.lean_enabled = enabled
        row.lean_disabled_reason = "" if enabled else reason
        row.updated_by = actor
        row.save()
    return row


def symbol_mode_set(*, symbol: str, mode: str, reason: str = "", actor: str = "") -> SymbolControl:
    if mode not in SymbolMode.values:
        raise ValueError(f"Unknown symbol mode {mode!r}; known: {', '.join(SymbolMode.values)}.")
    row, _ = SymbolControl.objects.update_or_create(
        symbol=symbol.upper(), defaults={"mode": mode, "reason": reason, "updated_by": actor})
    return row


# =============================================================================================
# Alerts, delivery, heartbeats and conditions (alerts worker)
# =============================================================================================

# --- Alerts ----------------------------------------------------------------------------------

def _alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as its notifications carry it."""
    def iso(value):
        return value.isoformat() if value else None

    return {"id": alert.pk, "dedup_key": alert.dedup_key, "severity": alert.severity, "status": alert.status,
            "title": alert.title, "evidence": alert.evidence, "opened_at": iso(alert.opened_at),
            "last_seen_at": iso(alert.last_seen_at), "occurrences": alert.occurrences,
            "acknowledged_by": alert.acknowledged_by or None, "acknowledged_at": iso(alert.acknowledged_at),
            "resolved_by": alert.resolved_by or None, "resolved_at": iso(alert.resolved_at)}


def _channels() -> list[tuple[str, str]]:
    """(channel, target) of every configured notification channel."""
    out = []
    if settings.ALERT_WEBHOOK_URL:
        out.append((DeliveryChannel.WEBHOOK, settings.ALERT_WEBHOOK_URL))
    if settings.ALERT_EMAIL_TO:
        out.append((DeliveryChannel.EMAIL, ",".join(settings.ALERT_EMAIL_TO)))
    return out


def _notify(alert: Alert, event: str) -> list[AlertDelivery]:
    """Queue the notifications of one alert event (inside the caller's transaction); the delivery
    worker is woken once the transaction commits, and the schedule is the backstop."""
    if SEVERITY_RANK[alert.severity] < SEVERITY_RANK.get(settings.ALERT_NOTIFY_MIN_SEVERITY, 1):
        return []
    now = timezone.now()
    payload = {"event": event, "alert": _alert_json(alert), "sent_by": "torghut"}
    deliveries = [AlertDelivery(alert=alert, event=event, channel=channel, target=target, payload=payload,
                                next_attempt_at=now, created_at=now)
                  for channel, target in _channels()]
    if deliveries:
        AlertDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
        transaction.on_commit(_wake_delivery_worker)
    return deliveries


def _wake_delivery_worker() -> None:
    try:
        from django_q.tasks import async_task

        async_task("autonomy.tasks.deliver_alerts", task_name="deliver_alerts", group="alerts")
    except Exception as exc:  # noqa: BLE001 - the schedule delivers it anyway
        logger.warning("could not enqueue the alert delivery task (the schedule will deliver): %s", exc)


def alert_raise(*, dedup_key: str, severity: str, title: str, evidence: dict | None = None,
                actor: str = "system", via: str = Via.WORKER, notify: bool = True) -> Alert:
    """Open the alert with this key, or update the unresolved one: ``last_seen_at``, ``occurrences``,
    the latest title and evidence; the severity only ever rises while it is unresolved.

    Opening (and a rise in severity) notifies the configured channels. Audited in the same transaction.
    """
    if severity not in AlertSeverity.values:
        raise InvalidInput(f"Unknown severity {severity!r}.", details={"fields": {"severity": ["unknown"]}})
    if not dedup_key or len(dedup_key) > 200:
        raise InvalidInput("dedup_key must be 1 to 200 characters.", details={"fields": {"dedup_key": ["length"]}})
    evidence = evidence or {}
    title = title[:300]
    now = timezone.now()
    with transaction.atomic():
        alert = _unresolved_locked(dedup_key)
        event = None
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(dedup_key=dedup_key, severity=severity, title=title,
                                                 evidence=evidence, raised_by=actor, opened_at=now, last_seen_at=now)
                    event = AlertEvent.OPENED
            except IntegrityError:  # another writer opened it a moment ago
                alert = _unresolved_locked(dedup_key)
        if event is None:
            escalated = SEVERITY_RANK[severity] > SEVERITY_RANK[alert.severity]
            alert.severity = severity if escalated else alert.severity
            alert.title, alert.evidence, alert.last_seen_at = title, evidence, now
            alert.occurrences += 1
            alert.save(update_fields=["severity", "title", "evidence", "last_seen_at", "occurrences"])
            event = AlertEvent.ESCALATED if escalated else "repeated"
        if notify and event != "repeated":
            _notify(alert, event)
        audit_record(actor=actor, via=via, action="alert_raise", object_ref=f"alert:{alert.pk}",
                     details={"dedup_key": dedup_key, "severity": alert.severity, "event": event,
                              "occurrences": alert.occurrences})
    return alert


def _unresolved_locked(dedup_key: str) -> Alert | None:
    return (Alert.objects.select_for_update().exclude(status=AlertStatus.RESOLVED)
            .filter(dedup_key=dedup_key).first())


def _alert_locked(alert_id: int) -> Alert:
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"No alert #{alert_id}.")
    return alert


def alert_acknowledge(*, alert_id: int, actor: str, comment: str = "", roles=(), via: str = Via.API) -> Alert:
    """open -> acknowledged: someone is on it. 409 ``alert_not_open`` otherwise."""
    with transaction.atomic():
        alert = _alert_locked(alert_id)
        if alert.status != AlertStatus.OPEN:
            raise Conflict(f"Alert #{alert.pk} is {alert.status}; only an open alert is acknowledged.",
                           code="alert_not_open", details={"status": alert.status})
        alert.status, alert.acknowledged_by, alert.acknowledged_at = AlertStatus.ACKNOWLEDGED, actor, timezone.now()
        alert.acknowledge_comment = comment
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledge_comment"])
        audit_record(actor=actor, actor_roles=roles, via=via, action="alert_acknowledge",
                     object_ref=f"alert:{alert.pk}",
                     details={"dedup_key": alert.dedup_key, "before": AlertStatus.OPEN, "after": alert.status,
                              "comment": comment})
    return alert


def alert_resolve(*, alert_id: int, actor: str, comment: str = "", roles=(), via: str = Via.API) -> Alert:
    """open or acknowledged -> resolved (final). 409 ``alert_already_resolved`` for a resolved one."""
    with transaction.atomic():
        alert = _alert_locked(alert_id)
        if alert.status == AlertStatus.RESOLVED:
            raise Conflict(f"Alert #{alert.pk} is already resolved.", code="alert_already_resolved",
                           details={"status": alert.status})
        _resolve(alert, actor=actor, comment=comment, roles=roles, via=via)
    return alert


def alert_clear(*, dedup_key: str, actor: str = "system", reason: str = "the condition cleared",
                via: str = Via.WORKER) -> Alert | None:
    """Resolve the unresolved alert with this key, if any (the condition that raised it is gone).
    Idempotent: None when nothing is unresolved."""
    with transaction.atomic():
        alert = _unresolved_locked(dedup_key)
        if alert is None:
            return None
        _resolve(alert, actor=actor, comment=reason, roles=(), via=via)
    return alert


def _resolve(alert: Alert, *, actor: str, comment: str, roles, via: str) -> None:
    before = alert.status
    alert.status, alert.resolved_by, alert.resolved_at = AlertStatus.RESOLVED, actor, timezone.now()
    alert.resolve_comment = comment
    alert.save(update_fields=["status", "resolved_by", "resolved_at", "resolve_comment"])
    _notify(alert, AlertEvent.RESOLVED)
    audit_record(actor=actor, actor_roles=roles, via=via, action="alert_resolve", object_ref=f"alert:{alert.pk}",
                 details={"dedup_key": alert.dedup_key, "before": before, "after": alert.status, "comment": comment})


# --- Delivery --------------------------------------------------------------------------------

def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _delivery_claim(now: datetime) -> tuple[AlertDelivery, AlertDeliveryAttempt] | None:
    """Claim the next due delivery (``FOR UPDATE SKIP LOCKED``: concurrent workers get different
    rows), record the attempt as started, and lease it, in one short committed transaction."""
    lease = timedelta(seconds=settings.ALERT_DELIVERY_LEASE_SECONDS)
    with transaction.atomic():
        delivery = (AlertDelivery.objects.select_for_update(skip_locked=True)
                    .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
                    .exclude(lease_until__gt=now).order_by("next_attempt_at", "id").first())
        if delivery is None:
            return None
        delivery.attempts += 1  # tries since it was queued (an operator's requeue starts over)
        delivery.lease_until = now + lease
        delivery.save(update_fields=["attempts", "lease_until"])
        number = AlertDeliveryAttempt.objects.filter(delivery=delivery).count() + 1
        attempt = AlertDeliveryAttempt.objects.create(delivery=delivery, number=number, worker=_worker_name(),
                                                      started_at=now)
    return delivery, attempt


def _delivery_finish(delivery: AlertDelivery, attempt: AlertDeliveryAttempt, result: alerting.SendResult) -> str:
    """Store the attempt's answer and what follows: delivered (final), another try after the
    backoff, or failed once the attempts are spent (a warning alert, not notified, says so)."""
    now = timezone.now()
    with transaction.atomic():
        AlertDeliveryAttempt.objects.filter(pk=attempt.pk).update(
            finished_at=now, status_code=result.status_code, ok=result.ok, error=result.error,
            duration_ms=result.duration_ms)
        row = AlertDelivery.objects.select_for_update().get(pk=delivery.pk)
        if row.status != DeliveryStatus.PENDING:  # another worker settled it while our lease had run out
            return row.status
        if row.attempts != delivery.attempts and not result.ok:  # another worker claimed it since: its call
            return row.status
        row.lease_until = None
        if result.ok:
            row.status, row.delivered_at, row.last_error = DeliveryStatus.DELIVERED, now, ""
        elif row.attempts >= settings.ALERT_DELIVERY_MAX_ATTEMPTS:
            row.status, row.last_error = DeliveryStatus.FAILED, result.error
        else:
            row.last_error = result.error
            row.next_attempt_at = now + conditions.backoff_delay(
                row.attempts, base_seconds=settings.ALERT_DELIVERY_BACKOFF_SECONDS,
                max_seconds=settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS)
        row.save(update_fields=["status", "delivered_at", "last_error", "lease_until", "next_attempt_at"])
        if row.status == DeliveryStatus.FAILED:
            alert_raise(dedup_key=f"alert_delivery_failed:{row.channel}", severity=AlertSeverity.WARNING,
                        title=f"Alert notifications by {row.channel} are failing",
                        evidence={"delivery_id": row.pk, "alert_id": row.alert_id, "attempts": row.attempts,
                                  "last_error": row.last_error}, actor="system:alert-delivery", notify=False)
    return row.status


def alert_deliveries_run(*, max_deliveries: int = 500, time_budget_seconds: float = 50.0) -> dict[str, int]:
    """Send what is due, one delivery at a time, until nothing is due or the budget is spent.

    Safe to run in several workers at once and to kill at any moment: a delivery is claimed under a
    row lock with SKIP LOCKED and a lease, the attempt row is written before the request leaves, and
    a delivered row is final. A worker killed mid-send leaves its attempt unfinished; once the lease
    ends the next run sends it again under the same ``X-Torghut-Delivery`` id. Nothing the receiver
    answered 2xx is ever sent again.
    """
    import time

    started = time.monotonic()
    tally = {"sent": 0, "delivered": 0, "retrying": 0, "failed": 0}
    while tally["sent"] < max_deliveries and time.monotonic() - started < time_budget_seconds:
        claimed = _delivery_claim(timezone.now())
        if claimed is None:
            break
        delivery, attempt = claimed
        result = alerting.send(channel=delivery.channel, target=delivery.target, payload=delivery.payload,
                               delivery_id=delivery.pk, event=delivery.event)
        status = _delivery_finish(delivery, attempt, result)
        tally["sent"] += 1
        tally[{"delivered": "delivered", "failed": "failed"}.get(status, "retrying")] += 1
    return tally


def alert_delivery_requeue(*, delivery_id: int, actor: str, via: str = Via.ADMIN) -> AlertDelivery:
    """Send a failed delivery again (its attempts start over). Audited."""
    with transaction.atomic():
        row = AlertDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if row is None:
            raise NotFound(f"No delivery #{delivery_id}.")
        if row.status != DeliveryStatus.FAILED:
            raise Conflict(f"Delivery #{row.pk} is {row.status}; only a failed one is queued again.",
                           code="delivery_not_failed")
        row.status, row.attempts, row.next_attempt_at, row.lease_until = DeliveryStatus.PENDING, 0, timezone.now(), None
        row.save(update_fields=["status", "attempts", "next_attempt_at", "lease_until"])
        audit_record(actor=actor, via=via, action="alert_delivery_requeue", object_ref=f"alert_delivery:{row.pk}",
                     details={"before": DeliveryStatus.FAILED, "after": DeliveryStatus.PENDING})
    transaction.on_commit(_wake_delivery_worker)
    return row


# --- Trading state and LEAN lane, as the conditions move them --------------------------------

STALENESS_ACTOR = "system:staleness"
FAILURE_STREAK_ACTOR = "system:autonomy-failures"
LEAN_CIRCUIT_ACTOR = "system:lean-circuit"
STATE_RANK = {TradingStateChoice.ACTIVE: 0, TradingStateChoice.REDUCING: 1, TradingStateChoice.HALTED: 2}


def _global_state() -> TradingState:
    row, _ = TradingState.objects.select_for_update().get_or_create(id=1)
    return row


def _trading_reduce(*, reason: str, actor: str, evidence: dict) -> bool:
    """Move global trading to REDUCING unless it is already as strict or stricter. True if it moved."""
    row = _global_state()
    if STATE_RANK[row.state] >= STATE_RANK[TradingStateChoice.REDUCING]:
        return False
    trading_state_set(state=TradingStateChoice.REDUCING, reason=reason, actor=actor)
    return True


def _reducing_by(actor: str) -> bool:
    """Global trading is REDUCING because ``actor`` put it there (nobody changed it since)."""
    row = _global_state()
    return row.state == TradingStateChoice.REDUCING and row.updated_by == actor


def _lean_enabled() -> bool:
    """A plain read (the order path calls this): disabling the lane twice is harmless."""
    row = TradingState.objects.filter(id=1).only("lean_enabled").first()
    return True if row is None else row.lean_enabled


# --- Heartbeats and the failure streak -------------------------------------------------------

FUTURE_TOLERANCE = timedelta(seconds=300)


def _evaluation(*, kind: str, inputs: dict, verdict: dict, tripped: bool, action: str | None, actor: str,
                scope: str = "global", cycle: int | None = None, at: datetime | None = None) -> ConditionEvaluation:
    return ConditionEvaluation.objects.create(kind=kind, scope=scope, cycle=cycle, at=at or timezone.now(),
                                              inputs=inputs, verdict=verdict, tripped=tripped, action=action or "",
                                              actor=actor)


def heartbeat_record(*, source: str, observed_at: datetime, symbol: str = "", status: str = HeartbeatStatus.OK,
                     detail: str = "", actor: str, now: datetime | None = None) -> SignalSource:
    """Store one heartbeat of an autonomy loop and keep its source's latest state.

    A ``failed`` cycle extends the source's failure streak; at ``AUTONOMY_FAILURE_STREAK`` (3) in a
    row trading moves to REDUCING at once (an operator lifts it) and a warning alert opens. Every
    evaluation of the streak is stored with its inputs. ``now`` (when it was received) is for tests.
    """
    now = now or timezone.now()
    if observed_at > now + FUTURE_TOLERANCE:
        raise InvalidInput("observed_at is in the future.",
                           details={"fields": {"observed_at": [f"later than the server's clock {now.isoformat()} "
                                                               "by more than 300 s"]}})
    symbol = symbol.upper()
    with transaction.atomic():
        Heartbeat.objects.create(source=source, symbol=symbol, observed_at=observed_at, received_at=now,
                                 status=status, detail=detail, actor=actor)
        row = SignalSource.objects.select_for_update().filter(source=source, symbol=symbol).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = SignalSource.objects.create(source=source, symbol=symbol, last_observed_at=observed_at,
                                                      last_received_at=now)
            except IntegrityError:
                row = SignalSource.objects.select_for_update().get(source=source, symbol=symbol)
        before_streak = row.failure_streak
        row.last_observed_at = max(row.last_observed_at, observed_at)
        row.last_received_at, row.last_status, row.beats = now, status, row.beats + 1
        row.failure_streak = row.failure_streak + 1 if status == HeartbeatStatus.FAILED else 0
        row.save()
        if status == HeartbeatStatus.FAILED or before_streak:
            _failure_streak_apply(row, detail=detail, actor=actor)
    return row


def _failure_streak_apply(row: SignalSource, *, detail: str, actor: str) -> None:
    verdict = conditions.failure_streak_evaluate(streak=row.failure_streak, threshold=settings.AUTONOMY_FAILURE_STREAK)
    scope = f"source:{row}"
    action = None
    evidence = {"source": row.source, "symbol": row.symbol, "streak": row.failure_streak, "last_detail": detail}
    if verdict.tripped:
        if _trading_reduce(reason=f"autonomy_failure_streak: {row} failed {row.failure_streak} cycles in a row",
                           actor=FAILURE_STREAK_ACTOR, evidence=evidence):
            action = conditions.REDUCE
        alert_raise(dedup_key=f"autonomy_failure_streak:{row}", severity=AlertSeverity.WARNING,
                    title=f"Autonomy loop {row} failed {row.failure_streak} cycles in a row: trading is REDUCING",
                    evidence=evidence, actor=FAILURE_STREAK_ACTOR)
    _evaluation(kind=ConditionKind.FAILURE_STREAK, scope=scope, inputs={**evidence, "reported_by": actor},
                verdict=conditions.as_data(verdict), tripped=verdict.tripped, action=action,
                actor=FAILURE_STREAK_ACTOR)


# --- Stale signals ---------------------------------------------------------------------------

def freshness_policy() -> conditions.FreshnessPolicy:
    return conditions.FreshnessPolicy(lag_seconds=settings.AUTONOMY_STALE_LAG_SECONDS,
                                      no_signal_cycles=settings.AUTONOMY_NO_SIGNAL_CYCLES,
                                      recovery_cycles=settings.AUTONOMY_RECOVERY_CYCLES)


def market_session() -> conditions.MarketSession:
    return conditions.MarketSession.parse(settings.AUTONOMY_MARKET_SESSION)


def sweep_cycle(now: datetime) -> int:
    """The number of the sweep period ``now`` falls in (one evaluation per condition and period)."""
    return int(now.timestamp() // (max(1, settings.AUTONOMY_SWEEP_MINUTES) * 60))


def staleness_sweep(*, now: datetime | None = None) -> ConditionEvaluation | None:
    """One cycle of the stale-signal rule: evaluate, store the evaluation, act.

    Idempotent per cycle and safe to run concurrently: the state row is claimed with
    ``FOR UPDATE SKIP LOCKED`` (another sweep holding it -> None), and a cycle already evaluated is
    not evaluated again (None).
    """
    now = now or timezone.now()
    cycle = sweep_cycle(now)
    with transaction.atomic():
        FreshnessState.objects.get_or_create(id=1)
        state = FreshnessState.objects.select_for_update(skip_locked=True).filter(id=1).first()
        if state is None or (state.last_cycle is not None and state.last_cycle >= cycle):
            return None
        sources = list(SignalSource.objects.values_list("source", "symbol", "last_observed_at", "last_received_at"))
        newest = max((s[2] for s in sources), default=None)
        since = state.last_cycle_at
        inputs = conditions.FreshnessInputs(
            now=now, in_session=conditions.in_session(now, market_session()), newest_observed_at=newest,
            signal_since_last_cycle=since is None or any(s[3] > since for s in sources),
            no_signal_streak=state.no_signal_streak, clean_streak=state.clean_streak,
            tripped=_reducing_by(STALENESS_ACTOR),
            sources={(f"{s[0]}/{s[1]}" if s[1] else s[0]): round((now - s[2]).total_seconds(), 3) for s in sources})
        verdict = conditions.freshness_evaluate(inputs, freshness_policy())
        action = _freshness_apply(verdict, inputs)
        state.last_cycle, state.last_cycle_at = cycle, now
        state.no_signal_streak, state.clean_streak = verdict.no_signal_streak, verdict.clean_streak
        state.save()
        return _evaluation(kind=ConditionKind.STALE_SIGNALS, cycle=cycle, at=now, inputs=conditions.as_data(inputs),
                           verdict=conditions.as_data(verdict), tripped=verdict.stale, action=action,
                           actor=STALENESS_ACTOR)


def _freshness_apply(verdict: conditions.FreshnessVerdict, inputs: conditions.FreshnessInputs) -> str | None:
    evidence = {"lag_seconds": verdict.lag_seconds, "no_signal_streak": verdict.no_signal_streak,
                "reasons": verdict.reasons, "sources": inputs.sources}
    if verdict.stale:
        alert_raise(dedup_key="stale_signals", severity=AlertSeverity.WARNING,
                    title="Autonomy signals are stale: " + "; ".join(verdict.reasons), evidence=evidence,
                    actor=STALENESS_ACTOR)
    if verdict.action == conditions.REDUCE:
        moved = _trading_reduce(reason="stale_signals: " + "; ".join(verdict.reasons), actor=STALENESS_ACTOR,
                                evidence=evidence)
        return conditions.REDUCE if moved else None
    if verdict.action == conditions.RECOVER:
        trading_state_set(state=TradingStateChoice.ACTIVE, actor=STALENESS_ACTOR,
                          reason=f"stale_signals cleared: {verdict.clean_streak} clean cycles")
        alert_clear(dedup_key="stale_signals", actor=STALENESS_ACTOR,
                    reason=f"signals fresh again for {verdict.clean_streak} cycles; trading is ACTIVE")
        return conditions.RECOVER
    if not verdict.stale and not inputs.tripped:
        alert_clear(dedup_key="stale_signals", actor=STALENESS_ACTOR, reason="signals are fresh again")
    return None


# --- LEAN circuit ----------------------------------------------------------------------------

LEAN_ALERT_KEY = "lean_circuit"


def lean_circuit_policy() -> conditions.LeanCircuitPolicy:
    return conditions.LeanCircuitPolicy(fallback_ratio=settings.AUTONOMY_LEAN_FALLBACK_RATIO,
                                        min_requests=settings.AUTONOMY_LEAN_MIN_REQUESTS,
                                        window_seconds=settings.TRADING_LEAN_CIRCUIT_WINDOW_SECONDS,
                                        recovery_probes=settings.AUTONOMY_LEAN_RECOVERY_PROBES)


def lean_circuit_check(*, requests: int, fallbacks: int, outage_open: bool, outage_reason: str = "",
                       trigger: str, cycle: int | None = None) -> conditions.LeanCircuitVerdict | None:
    """Evaluate the LEAN circuit on figures execution measured, store the evaluation and, on a breach
    while the lane is on, disable it at once with an incident and a critical alert, all in the
    caller's transaction (the order path calls this as the failure happens; the sweep is a backstop).
    None when this cycle was already evaluated."""
    with transaction.atomic():
        inputs = conditions.LeanCircuitInputs(lean_enabled=_lean_enabled(), outage_open=outage_open,
                                              requests=requests, fallbacks=fallbacks, outage_reason=outage_reason)
        verdict = conditions.lean_circuit_evaluate(inputs, lean_circuit_policy())
        if cycle is not None and ConditionEvaluation.objects.filter(kind=ConditionKind.LEAN_CIRCUIT, scope="global",
                                                                    cycle=cycle).exists():
            return None
        if verdict.action == conditions.DISABLE_LEAN:
            _lean_disable(verdict, inputs, trigger=trigger)
        _evaluation(kind=ConditionKind.LEAN_CIRCUIT, cycle=cycle, inputs={**conditions.as_data(inputs),
                                                                          "trigger": trigger},
                    verdict=conditions.as_data(verdict), tripped=verdict.breached, action=verdict.action,
                    actor=LEAN_CIRCUIT_ACTOR)
    return verdict


def _lean_disable(verdict: conditions.LeanCircuitVerdict, inputs: conditions.LeanCircuitInputs, *,
                  trigger: str) -> None:
    reason = "lean_circuit: " + "; ".join(verdict.reasons)
    evidence = {**conditions.as_data(inputs), "ratio": verdict.ratio, "reasons": verdict.reasons, "trigger": trigger}
    lean_lane_set(enabled=False, reason=reason, actor=LEAN_CIRCUIT_ACTOR)
    LeanRecovery.objects.update_or_create(id=1, defaults={"tripped": True, "tripped_at": timezone.now(),
                                                          "clean_probes": 0})
    alert = alert_raise(dedup_key=LEAN_ALERT_KEY, severity=AlertSeverity.CRITICAL,
                        title="LEAN lane disabled by its circuit: " + "; ".join(verdict.reasons), evidence=evidence,
                        actor=LEAN_CIRCUIT_ACTOR)
    incident_open(kind=LEAN_ALERT_KEY, reason=reason, evidence=evidence, alert=alert)


def incident_open(*, kind: str, reason: str, evidence: dict, alert: Alert | None = None,
                  severity: str = AlertSeverity.CRITICAL) -> Incident:
    """Open the incident of this kind, or return the one already open."""
    with transaction.atomic():
        open_now = Incident.objects.select_for_update().filter(kind=kind, status=IncidentStatus.OPEN).first()
        if open_now is not None:
            return open_now
        try:
            with transaction.atomic():
                incident = Incident.objects.create(kind=kind, severity=severity, reason=reason, evidence=evidence,
                                                   alert=alert)
        except IntegrityError:
            return Incident.objects.get(kind=kind, status=IncidentStatus.OPEN)
        audit_record(actor=LEAN_CIRCUIT_ACTOR if kind == LEAN_ALERT_KEY else "system", via=Via.WORKER,
                     action="incident_open", object_ref=f"incident:{incident.pk}",
                     details={"kind": kind, "reason": reason})
    return incident


def incident_close(*, kind: str, actor: str, reason: str, via: str = Via.WORKER) -> Incident | None:
    with transaction.atomic():
        incident = Incident.objects.select_for_update().filter(kind=kind, status=IncidentStatus.OPEN).first()
        if incident is None:
            return None
        incident.status, incident.closed_at = IncidentStatus.CLOSED, timezone.now()
        incident.closed_by, incident.close_reason = actor, reason
        incident.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])
        audit_record(actor=actor, via=via, action="incident_close", object_ref=f"incident:{incident.pk}",
                     details={"kind": kind, "reason": reason, "before": IncidentStatus.OPEN,
                              "after": IncidentStatus.CLOSED})
    return incident


def lean_recovery_probe(*, probe_ok: bool, outage_open: bool, detail: str = "",
                        cycle: int | None = None) -> conditions.LeanRecoveryVerdict | None:
    """One health probe of a lane the circuit disabled. Counts clean probes; when the policy allows
    (``AUTONOMY_LEAN_RECOVERY_PROBES`` > 0) and enough came in a row, the lane comes back, the
    incident closes and the alert resolves. A lane an operator enabled meanwhile just ends the
    watch. None when the circuit has not disabled the lane (or another sweep holds the row)."""
    with transaction.atomic():
        LeanRecovery.objects.get_or_create(id=1)
        row = LeanRecovery.objects.select_for_update(skip_locked=True).filter(id=1, tripped=True).first()
        if row is None or (cycle is not None and ConditionEvaluation.objects.filter(
                kind=ConditionKind.LEAN_RECOVERY, scope="global", cycle=cycle).exists()):
            return None
        if _lean_enabled():  # an operator brought it back
            row.tripped, row.clean_probes = False, 0
            row.save()
            return None
        verdict = conditions.lean_recovery_evaluate(probe_ok=probe_ok, clean_probes=row.clean_probes,
                                                    outage_open=outage_open, policy=lean_circuit_policy())
        row.clean_probes, row.last_probe_at = verdict.clean_probes, timezone.now()
        if verdict.action == conditions.ENABLE_LEAN:
            lean_lane_set(enabled=True, reason=verdict.reason, actor=LEAN_CIRCUIT_ACTOR)
            row.tripped = False
            incident_close(kind=LEAN_ALERT_KEY, actor=LEAN_CIRCUIT_ACTOR, reason=verdict.reason)
            alert_clear(dedup_key=LEAN_ALERT_KEY, actor=LEAN_CIRCUIT_ACTOR, reason=verdict.reason)
        row.save()
        _evaluation(kind=ConditionKind.LEAN_RECOVERY, cycle=cycle,
                    inputs={"probe_ok": probe_ok, "outage_open": outage_open, "detail": detail[:500]},
                    verdict=conditions.as_data(verdict), tripped=not probe_ok, action=verdict.action,
                    actor=LEAN_CIRCUIT_ACTOR)
    return verdict
