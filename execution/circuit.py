"""The LEAN circuit breaker, persisted so every worker process shares it.

* Closed: orders try LEAN. Each LEAN failure increments ``consecutive_failures`` under a
  row lock; the breaker opens after ``TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES`` in a row,
  or when LEAN failures / LEAN-routed orders over ``TRADING_LEAN_CIRCUIT_WINDOW_SECONDS``
  exceed ``TRADING_LEAN_CIRCUIT_FAILURE_RATIO`` (with at least ``..._MIN_REQUESTS`` orders).
  Opening records a :class:`LeanOutage` (``ended_at`` NULL; a partial unique index allows one).
* Open: orders go straight to Alpaca with reason ``lean_circuit_open``.
* Half-open: once ``next_probe_at`` has passed, exactly one caller claims the probe (a
  conditional UPDATE), calls LEAN's ``/healthz`` and, when healthy, closes the outage.
  Reconciliation also probes, so an outage closes without order traffic.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from autonomy.selectors import lean_recovery_watching
from autonomy.services import lean_circuit_check, lean_recovery_probe, sweep_cycle
from core.db import is_database_unavailable
from execution.adapters.base import BrokerAdapter
from execution.choices import Adapter, HealthEventKind
from execution.models import AdapterHealthEvent, LeanCircuit, LeanOutage

logger = logging.getLogger(__name__)


def _circuit_locked() -> LeanCircuit:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO execution_lean_circuit (id, consecutive_failures, last_failure_reason) "
                       "VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING")
    return LeanCircuit.objects.select_for_update().get(id=1)


def open_outage() -> LeanOutage | None:
    return LeanOutage.objects.filter(ended_at__isnull=True).first()


def lean_probe(adapter: BrokerAdapter, *, force: bool = False) -> bool | None:
    """Half-open probe. Returns True (closed), False (still down) or None (not our turn / nothing open)."""
    now = timezone.now()
    if not LeanOutage.objects.filter(ended_at__isnull=True).exists():
        return None
    claim = LeanCircuit.objects.filter(id=1)
    if not force:
        claim = claim.filter(Q(next_probe_at__isnull=True) | Q(next_probe_at__lte=now))
    probe_after = timedelta(seconds=settings.TRADING_LEAN_CIRCUIT_PROBE_SECONDS)
    if not claim.update(next_probe_at=now + probe_after):
        return None
    started = time.perf_counter()
    result = adapter.health()
    latency = (time.perf_counter() - started) * 1000
    AdapterHealthEvent.objects.create(adapter=Adapter.LEAN, kind=HealthEventKind.PROBE, ok=result.ok,
                                      reason=result.reason or "", detail=result.detail[:500], latency_ms=latency)
    if not result.ok:
        LeanOutage.objects.filter(ended_at__isnull=True).update(failures=F("failures") + 1)
        return False
    lean_circuit_close(reason="probe_ok")
    return True


def lean_circuit_close(*, reason: str) -> int:
    now = timezone.now()
    with transaction.atomic():
        circuit = _circuit_locked()
        closed = LeanOutage.objects.filter(ended_at__isnull=True).update(ended_at=now, closed_reason=reason)
        circuit.consecutive_failures = 0
        circuit.next_probe_at = None
        circuit.save(update_fields=["consecutive_failures", "next_probe_at"])
        if closed:
            AdapterHealthEvent.objects.create(adapter=Adapter.LEAN, kind=HealthEventKind.CIRCUIT_CLOSE, ok=True,
                                              reason=reason)
    return closed


def lean_failure_record(*, reason: str, detail: str = "") -> LeanOutage | None:
    """Count one LEAN failure; open an outage when a threshold is crossed. Returns the open outage."""
    now = timezone.now()
    window_start = now - timedelta(seconds=settings.TRADING_LEAN_CIRCUIT_WINDOW_SECONDS)
    with transaction.atomic():
        circuit = _circuit_locked()
        circuit.consecutive_failures += 1
        circuit.last_failure_reason = reason
        circuit.last_failure_at = now
        AdapterHealthEvent.objects.create(adapter=Adapter.LEAN, kind=HealthEventKind.FAILURE, ok=False,
                                          reason=reason, detail=detail[:500], at=now)
        requests, failures = lean_window_counts(window_start)
        outage = open_outage()
        if outage is not None:
            LeanOutage.objects.filter(pk=outage.pk).update(failures=F("failures") + 1)
        else:
            trip = circuit.consecutive_failures >= settings.TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES
            if not trip and requests >= settings.TRADING_LEAN_CIRCUIT_MIN_REQUESTS:
                trip = failures / requests > settings.TRADING_LEAN_CIRCUIT_FAILURE_RATIO
            if trip:
                try:
                    with transaction.atomic():
                        outage = LeanOutage.objects.create(started_at=now, reason=reason,
                                                           failures=circuit.consecutive_failures)
                except IntegrityError:  # another worker opened it first
                    outage = open_outage()
                else:
                    AdapterHealthEvent.objects.create(adapter=Adapter.LEAN, kind=HealthEventKind.CIRCUIT_OPEN,
                                                      ok=False, reason=reason, at=now)
                circuit.next_probe_at = now + timedelta(seconds=settings.TRADING_LEAN_CIRCUIT_PROBE_SECONDS)
        circuit.save()
        # The autonomy kill switch, at once and in this transaction: an open outage or a fallback
        # ratio at or over its threshold disables the LEAN lane, with an incident and a critical alert.
        lean_circuit_check(requests=requests, fallbacks=failures, outage_open=outage is not None,
                           outage_reason=outage.reason if outage is not None else "", trigger="order_path")
    return outage


def lean_window_counts(window_start) -> tuple[int, int]:
    """(orders expected on LEAN, LEAN failures) since ``window_start``, in one statement: each failure
    sent its order elsewhere or left it pending, so failures / requests is the fallback ratio."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM executions WHERE created_at >= %s AND NOT legacy"
            "        AND execution_expected_adapter = %s),"
            " (SELECT count(*) FROM execution_adapter_health_events WHERE adapter = %s AND kind = %s AND at >= %s)",
            [window_start, Adapter.LEAN, Adapter.LEAN, HealthEventKind.FAILURE, window_start])
        requests, failures = cursor.fetchone()
    return requests, failures


def lean_circuit_sweep(adapter: BrokerAdapter, *, now=None) -> dict:
    """The backstop of the LEAN kill switch (the order path trips it as failures happen): evaluate the
    window once per sweep cycle and, while the circuit keeps the lane disabled, probe LEAN's health
    for the recovery the policy may allow."""
    now = now or timezone.now()
    cycle = sweep_cycle(now)
    requests, failures = lean_window_counts(now - timedelta(seconds=settings.TRADING_LEAN_CIRCUIT_WINDOW_SECONDS))
    outage = open_outage()
    verdict = lean_circuit_check(requests=requests, fallbacks=failures, outage_open=outage is not None,
                                 outage_reason=outage.reason if outage is not None else "", trigger="sweep",
                                 cycle=cycle)
    recovery = None
    if lean_recovery_watching():
        result = adapter.health()
        recovery = lean_recovery_probe(probe_ok=result.ok, outage_open=open_outage() is not None,
                                       detail=result.reason or result.detail or "", cycle=cycle)
    return {"cycle": cycle, "requests": requests, "failures": failures,
            "breached": None if verdict is None else verdict.breached,
            "action": None if verdict is None else verdict.action,
            "recovery": None if recovery is None else recovery.action,
            "clean_probes": None if recovery is None else recovery.clean_probes}


def lean_success_record() -> None:
    LeanCircuit.objects.filter(id=1, consecutive_failures__gt=0).update(consecutive_failures=0)


#: The breaker's state: consecutive LEAN failures, and whether an outage is open (two columns).
CIRCUIT_STATE_COLUMNS = ("(SELECT consecutive_failures FROM execution_lean_circuit WHERE id = 1),"
                         " EXISTS (SELECT 1 FROM execution_lean_outages WHERE ended_at IS NULL)")


class PersistedLeanGate:
    """:class:`execution.routing.LeanGate` backed by the tables above. ``state``: the breaker's state as the
    caller already read it (:data:`CIRCUIT_STATE_COLUMNS`, e.g. with the order's look-up), used by the first
    ``allow_lean`` instead of reading it again."""

    def __init__(self, lean: BrokerAdapter, state: tuple[int | None, bool] | None = None) -> None:
        self.lean = lean
        self._consecutive = 0
        self._state = state

    def allow_lean(self) -> bool:
        if self._state is not None:
            (consecutive, is_open), self._state = self._state, None
        else:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {CIRCUIT_STATE_COLUMNS}")
                consecutive, is_open = cursor.fetchone()
        self._consecutive = consecutive or 0
        if not is_open:
            return True
        return bool(lean_probe(self.lean))

    # The breaker's bookkeeping after a LEAN answer must not abort the route: LEAN may have just
    # taken the order (its outcome still has to be written), or the order still has to fall back.
    # When the database is unavailable the count is skipped, and the order goes on.

    def lean_succeeded(self) -> None:
        if self._consecutive:
            _unless_database_unavailable(lean_success_record)

    def lean_failed(self, reason: str, detail: str) -> None:
        _unless_database_unavailable(lean_failure_record, reason=reason, detail=detail)


def _unless_database_unavailable(record, **kwargs) -> None:
    try:
        record(**kwargs)
    except DatabaseError as exc:
        if not is_database_unavailable(exc):
            raise
        logger.warning("LEAN circuit bookkeeping skipped (%s): the database is unavailable: %s", record.__name__, exc)
