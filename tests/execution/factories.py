"""factory-boy factories for the execution app (orders go through the one writer)."""
from __future__ import annotations

from decimal import Decimal

import factory

from execution.models import Execution
from execution.services import OrderInput

_STATUS = "filled"


class OrderInputFactory(factory.Factory):
    class Meta:
        model = OrderInput

    client_order_id = factory.Sequence(lambda n: f"dec-{n:08d}")
    strategy = "macd_rsi"
    symbol = "AAPL"
    side = "buy"
    qty = Decimal("10")
    order_type = "market"
    time_in_force = "day"
    limit_price = None
    decision_price = Decimal("189.50")


class ExecutionFactory(factory.django.DjangoModelFactory):
    """A stored row without broker I/O (for selectors, API and page tests)."""

    class Meta:
        model = Execution

    client_order_id = factory.Sequence(lambda n: f"ex-{n:08d}")
    broker_order_id = factory.Sequence(lambda n: f"brk-{n:08d}")
    symbol = "AAPL"
    side = "buy"
    order_type = "market"
    time_in_force = "day"
    submitted_qty = Decimal("10")
    filled_qty = Decimal("10")
    avg_fill_price = Decimal("190.00")
    status = _STATUS
    execution_expected_adapter = "lean"
    execution_actual_adapter = "lean"
    execution_fallback_reason = ""
    execution_fallback_count = 0


class LegacyExecutionFactory(ExecutionFactory):
    legacy = True
    execution_expected_adapter = None
    execution_actual_adapter = None
    raw_order = factory.LazyFunction(dict)
