"""Build adapters and the route policy from settings (cached per process and settings)."""
from __future__ import annotations

import threading

from django.conf import settings

from execution.adapters import AlpacaAdapter, LeanAdapter
from execution.routing import RoutePolicy

_lock = threading.Lock()
_cache: dict[tuple, tuple[LeanAdapter, AlpacaAdapter]] = {}


def route_policy() -> RoutePolicy:
    return RoutePolicy(
        primary=settings.TRADING_EXECUTION_ADAPTER,
        fallback=settings.TRADING_EXECUTION_FALLBACK_ADAPTER,
        policy=settings.TRADING_EXECUTION_ADAPTER_POLICY,
        symbols=frozenset(s.upper() for s in settings.TRADING_EXECUTION_ADAPTER_SYMBOLS),
    )


def adapters() -> tuple[LeanAdapter, AlpacaAdapter]:
    """(LEAN, Alpaca) adapters for the current settings; HTTP sessions are reused."""
    key = (settings.TRADING_LEAN_RUNNER_URL, settings.TRADING_LEAN_RUNNER_TIMEOUT_SECONDS,
           settings.ALPACA_BASE_URL, settings.ALPACA_PAPER, settings.ALPACA_API_KEY_ID,
           settings.ALPACA_API_SECRET_KEY, settings.ALPACA_TIMEOUT_SECONDS, threading.get_ident())
    pair = _cache.get(key)
    if pair is None:
        with _lock:
            lean = LeanAdapter(settings.TRADING_LEAN_RUNNER_URL,
                               timeout_seconds=settings.TRADING_LEAN_RUNNER_TIMEOUT_SECONDS)
            alpaca = AlpacaAdapter(settings.ALPACA_API_KEY_ID or "unset", settings.ALPACA_API_SECRET_KEY or "unset",
                                   paper=settings.ALPACA_PAPER, url_override=settings.ALPACA_BASE_URL,
                                   timeout_seconds=settings.ALPACA_TIMEOUT_SECONDS)
            pair = _cache.setdefault(key, (lean, alpaca))
    return pair
