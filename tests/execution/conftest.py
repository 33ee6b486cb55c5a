"""Fixtures for the fake-broker and adapter tests: both fakes on free loopback ports.

Delays are short (``FAULT_DELAY`` s) and adapter timeouts shorter
(``ADAPTER_TIMEOUT`` s) so timeout cases finish quickly.
"""

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
