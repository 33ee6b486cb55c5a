"""LEAN-first order routing with Alpaca fallback.

The router knows the adapter protocol (:mod:`execution.adapters.base`), never alpaca-py or
HTTP details, and the circuit breaker through a small interface (:class:`LeanGate`). It is
plain Python: the database work (row insert, breaker state, final update) is done by
:mod:`execution.services` and :mod:`execution.circuit`.

Rules (torghut's, plus "never place an order twice"):

* the expected adapter comes from the policy: ``TRADING_EXECUTION_ADAPTER`` (lean|alpaca), the
  LEAN lane's one switch (the autonomy flag; the setting gives its first value) and the LEAN allowlist
  per symbol (the autonomy controls' entry, else the settings' allowlist policy);
  an order routed to Alpaca by policy is *expected* on Alpaca, not a fallback;
* a LEAN failure is classified ``lean_submit_{timeout|network_error|http_<code>|contract_violation}``;
* when the broker may hold the order (:attr:`AdapterError.ambiguous`: a timeout, a connection
  closed without an answer after the request was sent, a body that is not an order, a
  duplicate-id answer) the router asks it by client order id before doing anything else: found
  -> the order is that broker's; "not found" -> LEAN did not take it, fall back; the look-up
  cannot answer -> the order is left ``pending`` and is *not* sent anywhere else;
* a connection refused (the request was never sent) counts as "LEAN did not take it" and the
  order falls back to Alpaca at once;
* a refusal of the order itself (:attr:`AdapterError.refused`, HTTP 422) is final on either leg:
  the order is ``rejected`` with the broker's code and message and never sent to the other broker
  (a LEAN that refuses orders is answering, so it does not count against the circuit breaker);
* when no broker takes the order, the outcome is ``rejected`` (brokers answered or never got it)
  or ``pending`` (a broker may have it), with the route fields naming what was tried and why.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from execution.adapters.base import AdapterError, BrokerAdapter, BrokerOrder, OrderRequest
from execution.choices import Adapter, ExecutionStatus, status_from_broker

CIRCUIT_OPEN_REASON = "lean_circuit_open"


@dataclass(frozen=True)
class RoutePolicy:
    primary: str = Adapter.LEAN
    fallback: str = Adapter.ALPACA
    policy: str = "all"  # all | allowlist
    symbols: frozenset[str] = frozenset()


def expected_adapter(policy: RoutePolicy, symbol: str, *, lean_enabled: bool = True,
                     lean_allowed: bool | None = None) -> tuple[str, str]:
    """(expected adapter, why) for an order on ``symbol``. Pure.

    ``lean_enabled`` is the LEAN lane's global switch (the autonomy flag, whose first value comes from
    ``TRADING_LEAN_LANE_DISABLE_SWITCH``); ``lean_allowed`` the symbol's allowlist entry in the autonomy
    controls (None: the settings' allowlist policy decides).
    """
    if policy.primary != Adapter.LEAN:
        return policy.primary, "primary_adapter"
    if not lean_enabled:
        return policy.fallback, "lean_lane_disabled"
    allowed = lean_allowed if lean_allowed is not None else (
        policy.policy != "allowlist" or symbol.upper() in policy.symbols)
    if not allowed:
        return policy.fallback, "symbol_not_in_allowlist"
    return Adapter.LEAN, "lean_first"


def fallback_reason_for(expected: str, actual: str, reason: str = "") -> tuple[str, int]:
    """torghut's rule: expected <> actual with no reason -> ``fallback_from_<e>_to_<a>``, count 1."""
    if expected == actual:
        return reason, 0
    return (reason or f"fallback_from_{expected}_to_{actual}"), 1


class LeanGate(Protocol):
    """The circuit breaker as the router sees it (persisted by :mod:`execution.circuit`)."""

    def allow_lean(self) -> bool: ...

    def lean_succeeded(self) -> None: ...

    def lean_failed(self, reason: str, detail: str) -> None: ...


class AlwaysClosed:
    """A gate that never opens (for pure router tests)."""

    def allow_lean(self) -> bool:
        return True

    def lean_succeeded(self) -> None:
        pass

    def lean_failed(self, reason: str, detail: str) -> None:
        pass


@dataclass
class Attempt:
    adapter: str
    order: BrokerOrder | None = None
    reason: str = ""
    detail: str = ""
    ambiguous: bool = False  # the broker may hold the order and we could not find out
    recovered_by_lookup: bool = False
    refused: bool = False  # the broker refused the order on its content: final
    broker_code: str = ""
    elapsed_ms: float = 0.0

    @property
    def error(self) -> str:
        """What ``last_error`` records: the reason, plus the broker's code and message for a refusal."""
        if not self.refused:
            return self.reason
        return ": ".join(part for part in (self.reason, self.broker_code, self.detail[:300]) if part)

    def as_json(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "ok": self.order is not None, "reason": self.reason,
                "detail": self.detail[:300], "ambiguous": self.ambiguous,
                "recovered_by_lookup": self.recovered_by_lookup, "refused": self.refused,
                "broker_code": self.broker_code, "elapsed_ms": round(self.elapsed_ms, 2)}


# What the router does once the LEAN attempt is over.
TAKEN, REFUSED, HOLD_PENDING, FALL_BACK = "taken", "refused", "hold_pending", "fall_back"


def after_lean(attempt: Attempt) -> str:
    """The next step after the LEAN attempt. Pure.

    ``taken`` (LEAN has the order, answered or found by look-up), ``refused`` (LEAN refused the
    order itself: final, never sent to Alpaca), ``hold_pending`` (LEAN may hold it and could not
    say: send it nowhere else) or ``fall_back`` (LEAN does not have it: try Alpaca).
    """
    if attempt.order is not None:
        return TAKEN
    if attempt.refused:
        return REFUSED
    if attempt.ambiguous:
        return HOLD_PENDING
    return FALL_BACK


@dataclass
class RouteOutcome:
    expected: str
    actual: str
    status: str
    fallback_reason: str = ""
    fallback_count: int = 0
    broker_order: BrokerOrder | None = None
    last_error: str = ""
    policy_reason: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    adapter_ms: float = 0.0


class OrderRouter:
    def __init__(self, *, lean: BrokerAdapter, alpaca: BrokerAdapter, gate: LeanGate | None = None) -> None:
        self.adapters = {Adapter.LEAN: lean, Adapter.ALPACA: alpaca}
        self.gate = gate or AlwaysClosed()

    def attempt(self, adapter_name: str, order: OrderRequest) -> Attempt:
        adapter = self.adapters[adapter_name]
        started = time.perf_counter()
        result = Attempt(adapter=adapter_name)
        try:
            result.order = adapter.submit(order)
        except AdapterError as exc:
            result.reason, result.detail = exc.reason, exc.detail
            if exc.refused:
                result.refused, result.broker_code = True, exc.broker_code
            elif exc.ambiguous:
                try:
                    found = adapter.get_by_client_order_id(order.client_order_id)
                except AdapterError as lookup_exc:
                    result.ambiguous = True
                    result.detail = f"{exc.detail}; look-up failed: {lookup_exc.reason}"
                else:
                    if found is not None:
                        result.order, result.recovered_by_lookup = found, True
        result.elapsed_ms = (time.perf_counter() - started) * 1000
        return result

    def route(self, order: OrderRequest, *, expected: str, policy_reason: str = "") -> RouteOutcome:
        attempts: list[Attempt] = []
        fallback_reason = ""
        if expected == Adapter.LEAN:
            if self.gate.allow_lean():
                lean = self.attempt(Adapter.LEAN, order)
                attempts.append(lean)
                if lean.reason and not lean.refused:
                    self.gate.lean_failed(lean.reason, lean.detail)
                else:
                    self.gate.lean_succeeded()
                step = after_lean(lean)
                if step == TAKEN:
                    return self._done(expected, Adapter.LEAN, lean, attempts, policy_reason, fallback_reason="")
                if step in (REFUSED, HOLD_PENDING):
                    # refused: final, Alpaca would only be asked to place a refused order;
                    # pending: LEAN may hold the order, so it goes nowhere else (reconciliation decides)
                    return RouteOutcome(expected=expected, actual=Adapter.LEAN,
                                        status=ExecutionStatus.REJECTED if step == REFUSED else ExecutionStatus.PENDING,
                                        last_error=lean.error, policy_reason=policy_reason, attempts=attempts,
                                        adapter_ms=_ms(attempts))
                fallback_reason = lean.reason
            else:
                fallback_reason = CIRCUIT_OPEN_REASON
            target = Adapter.ALPACA
        else:
            target = expected
        final = self.attempt(target, order)
        attempts.append(final)
        if final.order is not None:
            return self._done(expected, target, final, attempts, policy_reason, fallback_reason)
        reason, count = fallback_reason_for(expected, target, fallback_reason)
        return RouteOutcome(expected=expected, actual=target,
                            status=ExecutionStatus.PENDING if final.ambiguous else ExecutionStatus.REJECTED,
                            fallback_reason=reason, fallback_count=count, last_error=final.error,
                            policy_reason=policy_reason, attempts=attempts, adapter_ms=_ms(attempts))

    @staticmethod
    def _done(expected: str, actual: str, attempt: Attempt, attempts: list[Attempt], policy_reason: str,
              fallback_reason: str) -> RouteOutcome:
        reason, count = fallback_reason_for(expected, actual, fallback_reason)
        return RouteOutcome(expected=expected, actual=actual, status=status_from_broker(attempt.order.status),
                            fallback_reason=reason, fallback_count=count, broker_order=attempt.order,
                            last_error=attempt.reason if attempt.recovered_by_lookup else "",
                            policy_reason=policy_reason, attempts=attempts, adapter_ms=_ms(attempts))


def _ms(attempts: list[Attempt]) -> float:
    return sum(a.elapsed_ms for a in attempts)
