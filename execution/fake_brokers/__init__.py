"""Loopback fake brokers (LEAN runner + Alpaca) with fault injection, for tests and demos.

See :mod:`.lean` and :mod:`.alpaca` for the HTTP contracts and :mod:`.base` for the
``/_fault`` switch (modes: ok, down, slow, error, malformed, accept_then_timeout,
accept_then_reset, reject; :data:`FAULT_MODE_HELP` says what each does).
"""

from .alpaca import FakeAlpaca
from .base import DEFAULT_DELAY_SECONDS, FAULT_MODE_HELP, FAULT_MODES, FakeBrokerServer, base_price
from .lean import FakeLeanRunner
from .server import (
    DEFAULT_ALPACA_PORT,
    DEFAULT_LEAN_PORT,
    FakeBrokers,
    serve_forever_both,
    start_fake_alpaca,
    start_fake_lean,
)

__all__ = [
    "DEFAULT_ALPACA_PORT",
    "DEFAULT_DELAY_SECONDS",
    "DEFAULT_LEAN_PORT",
    "FAULT_MODES",
    "FAULT_MODE_HELP",
    "FakeAlpaca",
    "FakeBrokerServer",
    "FakeBrokers",
    "FakeLeanRunner",
    "base_price",
    "serve_forever_both",
    "start_fake_alpaca",
    "start_fake_lean",
]
