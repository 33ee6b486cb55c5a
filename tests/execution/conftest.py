"""Fixtures for the fake-broker and adapter tests: both fakes on free loopback ports.

Delays are short (``FAULT_DELAY`` s) and adapter timeouts shorter
(``ADAPTER_TIMEOUT`` s) so timeout cases finish quickly.
"""

import socket

import pytest

from execution.adapters import AlpacaAdapter, LeanAdapter
from execution.fake_brokers import FakeBrokers

FAULT_DELAY = 1.0
ADAPTER_TIMEOUT = 0.5


@pytest.fixture
def fakes():
    with FakeBrokers(delay_seconds=FAULT_DELAY) as brokers:
        yield brokers


@pytest.fixture
def fault_delay():
    return FAULT_DELAY


@pytest.fixture
def adapter_timeout():
    return ADAPTER_TIMEOUT


@pytest.fixture
def lean_adapter(fakes):
    return LeanAdapter(fakes.lean.url, timeout_seconds=ADAPTER_TIMEOUT)


@pytest.fixture
def alpaca_adapter(fakes):
    return AlpacaAdapter("test-key", "test-secret", url_override=fakes.alpaca.url, timeout_seconds=ADAPTER_TIMEOUT)


# --- Routing fixtures: the Django settings pointed at the fakes --------------------------------
ROUTER_TIMEOUT = 0.5


@pytest.fixture
def routed(settings, fakes):
    """Settings pointed at the fakes (short timeouts, a low breaker threshold); yields the fakes."""
    settings.TRADING_EXECUTION_ADAPTER = "lean"
    settings.TRADING_EXECUTION_ADAPTER_POLICY = "all"
    settings.TRADING_LEAN_LANE_DISABLE_SWITCH = False
    settings.TRADING_LEAN_RUNNER_URL = fakes.lean.url
    settings.TRADING_LEAN_RUNNER_TIMEOUT_SECONDS = ROUTER_TIMEOUT
    settings.ALPACA_BASE_URL = fakes.alpaca.url
    settings.ALPACA_API_KEY_ID = "test-key"
    settings.ALPACA_API_SECRET_KEY = "test-secret"
    settings.ALPACA_TIMEOUT_SECONDS = ROUTER_TIMEOUT
    settings.TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES = 3
    settings.TRADING_LEAN_CIRCUIT_MIN_REQUESTS = 1000
    settings.TRADING_LEAN_CIRCUIT_PROBE_SECONDS = 0
    return fakes


# --- Strategies the orders of these tests trade --------------------------------------------------
KNOWN_STRATEGIES = ("macd_rsi", "tsmom", "s")


@pytest.fixture(autouse=True)
def known_strategies(request):
    """Register the strategies these tests trade, as a research run would, and put them at paper, as
    a promotion would (orders for a strategy the plane does not know, or one at shadow, are refused
    with 423 strategy_not_live)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not {"db", "transactional_db"} & set(request.fixturenames):
        return
    request.getfixturevalue("db")
    from strategies.models import Strategy
    from strategies.services import strategy_register

    for name in KNOWN_STRATEGIES:
        strategy_register(name=name)
    Strategy.objects.filter(name__in=KNOWN_STRATEGIES, stage="shadow").update(stage="paper")


@pytest.fixture
def refused_url():
    """A loopback address where connections are refused: a port bound (so nobody else takes it)
    but not listening. A request to it is never sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
