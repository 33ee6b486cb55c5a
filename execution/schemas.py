"""The order endpoint's input and the execution row, as pydantic models.

They are on the order hot path: pydantic validates and renders in compiled code, where DRF
serializers spent milliseconds per request deep-copying their fields. The same models
document the API (drf-spectacular reads pydantic models).
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from core.canonical import decimal_str
from core.columns import column_decimal, column_decimal_json
from execution.choices import Adapter, OrderType, Side, TimeInForce
from execution.models import Execution, TradeDecision
from strategies.models import NAME_PATTERN as STRATEGY_NAME_PATTERN

# Decimals in answers are strings of the same shape as in requests (the column's, core.columns).
PlainDecimal = Annotated[Decimal, PlainSerializer(decimal_str, return_type=str, when_used="always"),
                         WithJsonSchema(column_decimal_json(Execution, "submitted_qty"), mode="serialization")]
OptionalPlainDecimal = PlainDecimal | None
# Quantities and prices are JSON strings holding decimals (the agent contract), in the one shape
# core.columns defines, positive, and within their numeric(24, 8) columns.
Quantity = column_decimal(Execution, "submitted_qty", gt=0)
Price = column_decimal(Execution, "limit_price", gt=0)
DecisionPrice = column_decimal(TradeDecision, "decision_price", gt=0)


class OrderIn(BaseModel):
    """``POST /api/v1/trading/orders``. Quantities and prices are decimal strings ("101.25"), never numbers."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
    strategy: Annotated[str, StringConstraints(pattern=STRATEGY_NAME_PATTERN)]
    symbol: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9.\-/]{0,31}$"), AfterValidator(str.upper)]
    side: Side
    qty: Quantity
    type: OrderType = OrderType.MARKET
    limit_price: Price | None = Field(default=None, validate_default=True)
    time_in_force: TimeInForce = TimeInForce.DAY
    decision_price: DecisionPrice | None = Field(default=None,
                                                 description="Reference price of the decision (slippage).")
    correlation_id: Annotated[str, StringConstraints(max_length=64)] = ""

    @field_validator("limit_price", mode="after")
    @classmethod
    def _limit_price_matches_type(cls, value, info: ValidationInfo):
        order_type = info.data.get("type")
        if order_type == OrderType.LIMIT and value is None:
            raise ValueError("a positive limit_price is required for limit orders")
        if order_type == OrderType.MARKET and value is not None:
            raise ValueError("market orders take no limit_price")
        return value


class ExecutionOut(BaseModel):
    """The execution row of the agent contract (plus ``last_error`` and ``legacy``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    submitted_qty: PlainDecimal
    filled_qty: PlainDecimal
    avg_fill_price: OptionalPlainDecimal
    status: str
    execution_expected_adapter: Adapter | None
    execution_actual_adapter: Adapter | None
    execution_fallback_reason: str
    execution_fallback_count: int
    created_at: datetime
    last_update_at: datetime
    last_error: str
    legacy: bool


class CancelOutcome(BaseModel):
    outcome: Literal["canceled", "requested", "unknown"] = Field(
        description="`canceled`: the broker confirmed; `requested`: the broker took the cancel and still reports "
                    "the order open (Alpaca's `pending_cancel`); `unknown`: the broker's answer was lost, the order "
                    "may or may not be canceled, and reconciliation decides (the row keeps its status; "
                    "`last_error` says why)")
    adapter: Adapter
    broker_order_id: str
    reason: str = Field(description="Why the outcome is not `canceled` (`lean_cancel_timeout`...); empty when it is")


class CancelOut(ExecutionOut):
    """The execution row after a cancel, and what the broker said."""

    cancel: CancelOutcome
