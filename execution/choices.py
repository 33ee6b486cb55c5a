"""Choices of the execution app, defined once (models, filters, serializers, SQL)."""
from django.db import models


class Adapter(models.TextChoices):
    LEAN = "lean", "LEAN runner"
    ALPACA = "alpaca", "Alpaca"
    UNKNOWN = "unknown", "Unknown (legacy, unrecoverable)"


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"


class TimeInForce(models.TextChoices):
    DAY = "day", "Day"
    GTC = "gtc", "Good till canceled"


class ExecutionStatus(models.TextChoices):
    PENDING_SUBMIT = "pending_submit", "Being submitted"
    PENDING = "pending", "Ambiguous: broker did not confirm (reconciliation resolves it)"
    ACCEPTED = "accepted", "Accepted by the broker"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELED = "canceled", "Canceled"
    REJECTED = "rejected", "Rejected (no broker took it)"
    EXPIRED = "expired", "Expired"


# Broker status strings (LEAN runner and Alpaca) -> our status.
BROKER_STATUS_MAP = {
    "new": ExecutionStatus.ACCEPTED,
    "accepted": ExecutionStatus.ACCEPTED,
    "pending_new": ExecutionStatus.ACCEPTED,
    "accepted_for_bidding": ExecutionStatus.ACCEPTED,
    "held": ExecutionStatus.ACCEPTED,
    "done_for_day": ExecutionStatus.ACCEPTED,
    "pending_replace": ExecutionStatus.ACCEPTED,
    "replaced": ExecutionStatus.ACCEPTED,
    "calculated": ExecutionStatus.ACCEPTED,
    "pending_cancel": ExecutionStatus.ACCEPTED,
    "partially_filled": ExecutionStatus.PARTIALLY_FILLED,
    "filled": ExecutionStatus.FILLED,
    "canceled": ExecutionStatus.CANCELED,
    "cancelled": ExecutionStatus.CANCELED,
    "stopped": ExecutionStatus.CANCELED,
    "suspended": ExecutionStatus.ACCEPTED,
    "rejected": ExecutionStatus.REJECTED,
    "expired": ExecutionStatus.EXPIRED,
}


def status_from_broker(status: str) -> str:
    return BROKER_STATUS_MAP.get((status or "").lower(), ExecutionStatus.ACCEPTED)


class HealthEventKind(models.TextChoices):
    PROBE = "probe", "Health probe"
    FAILURE = "failure", "Request failure"
    CIRCUIT_OPEN = "circuit_open", "Circuit opened"
    CIRCUIT_CLOSE = "circuit_close", "Circuit closed"


class DiscrepancyKind(models.TextChoices):
    STATUS_CHANGED = "status_changed", "Status differed from the broker"
    FILL_CHANGED = "fill_changed", "Fill quantity differed from the broker"
    FOUND_AT_BROKER = "found_at_broker", "Ambiguous order found at a broker"
    NOT_FOUND_AT_BROKER = "not_found_at_broker", "Order unknown to every broker"
    ROUTE_CHANGED = "route_changed", "Order found at another adapter than recorded"
    UNKNOWN_BROKER_ORDER = "unknown_broker_order", "Broker order unknown to the database"
    BROKER_UNREACHABLE = "broker_unreachable", "Broker could not be asked"


class RefusalCode(models.TextChoices):
    """Why admission refused an order (execution_order_refusals.code): 423 control flags, 422 the LLM's
    adjustment not carried by the order."""

    TRADING_HALTED = "trading_halted", "Trading halted"
    TRADING_REDUCING = "trading_reducing", "Trading reducing: the order would not reduce"
    SYMBOL_DISABLED = "symbol_disabled", "Symbol disabled"
    STRATEGY_NOT_LIVE = "strategy_not_live", "Strategy unknown or at shadow"
    CANARY_CAP_EXCEEDED = "canary_cap_exceeded", "Canary cap exceeded"
    BUDGET_EXCEEDED = "budget_exceeded", "Daily budget exceeded"
    LLM_VETO = "llm_veto", "LLM review vetoed the order"
    LLM_ADJUSTMENT_MISMATCH = "llm_adjustment_mismatch", "Order does not carry the LLM's adjustment"


def refusal_status(code: str) -> int:
    """The HTTP status the order's submitter got for a refusal with ``code``."""
    return 422 if code == RefusalCode.LLM_ADJUSTMENT_MISMATCH else 423
