"""Broker-neutral adapter contract: request/result dataclasses, the protocol, the error.

Every broker adapter (``lean``, ``alpaca``) turns its transport failures into one
:class:`AdapterError` whose :attr:`AdapterError.reason` is a stable, loggable code
``{adapter}_{operation}_{kind}`` such as ``lean_submit_timeout`` or
``alpaca_cancel_http_422``. The router decides what to do from ``kind``:

``timeout``
    the broker may or may not have the order -- reconcile by client order id.
``network_error``
    no answer (refused / reset / closed without response).
``http_<code>``
    the broker answered with an HTTP error status.
``contract_violation``
    the broker answered 2xx but not with what the contract promises.
``failed``
    anything else.

Three facts the adapters establish, so the router never has to guess them from a kind:

:attr:`AdapterError.request_sent`
    ``False`` when the request never left (connection refused, unreachable, connect timeout);
    a broker cannot hold an order it was never sent. ``True`` otherwise, including a connection
    closed without an answer *after* the request was written.
:attr:`AdapterError.duplicate`
    the broker says it already holds an order with this client order id (LEAN's 409, Alpaca's
    422 ``client_order_id must be unique``).
:attr:`AdapterError.refused` (derived)
    the broker refused the order on its content (HTTP 422 that is not a duplicate): final.
:attr:`AdapterError.ambiguous` (derived)
    the broker may hold the order and did not say so: ask it by client order id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]

KIND_TIMEOUT = "timeout"
KIND_NETWORK_ERROR = "network_error"
KIND_CONTRACT_VIOLATION = "contract_violation"
KIND_FAILED = "failed"


def http_kind(status_code: int) -> str:
    return f"http_{status_code}"


@dataclass(frozen=True)
class OrderRequest:
    """An order as the operator plane wants it placed (broker-neutral)."""

    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType = "market"
    time_in_force: str = "day"
    limit_price: Decimal | None = None

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValueError("client_order_id is required")
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be buy or sell, not {self.side!r}")
        if self.order_type not in ("market", "limit"):
            raise ValueError(f"order_type must be market or limit, not {self.order_type!r}")
        if not isinstance(self.qty, Decimal) or self.qty <= 0:
            raise ValueError("qty must be a positive Decimal")
        if self.order_type == "limit" and (
            not isinstance(self.limit_price, Decimal) or self.limit_price <= 0
        ):
            raise ValueError("limit orders need a positive Decimal limit_price")


@dataclass(frozen=True)
class BrokerOrder:
    """An order as a broker reports it. ``status`` is the broker's own status string."""

    broker_order_id: str
    client_order_id: str
    status: str
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class HealthResult:
    """Outcome of a health probe; truthy when healthy. ``reason`` is set when not."""

    ok: bool
    detail: str = ""
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.ok


class AdapterError(Exception):
    """A broker call failed; ``reason`` is ``{adapter}_{operation}_{kind}``.

    ``status_code`` and ``payload`` carry the HTTP status and the parsed error body
    when the broker answered with one (e.g. LEAN's 409 duplicate includes the
    existing order under ``payload["order"]``). ``request_sent`` and ``duplicate``:
    see the module docstring.
    """

    def __init__(
        self,
        operation: str,
        kind: str,
        detail: str = "",
        *,
        adapter: str,
        status_code: int | None = None,
        payload: Any = None,
        request_sent: bool = True,
        duplicate: bool = False,
    ) -> None:
        self.adapter = adapter
        self.operation = operation
        self.kind = kind
        self.detail = detail
        self.status_code = status_code
        self.payload = payload
        self.request_sent = request_sent
        self.duplicate = duplicate
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)

    @property
    def reason(self) -> str:
        return f"{self.adapter}_{self.operation}_{self.kind}"

    @property
    def is_timeout(self) -> bool:
        """True when the broker may have acted on the request without us knowing."""
        return self.kind == KIND_TIMEOUT

    @property
    def refused(self) -> bool:
        """The broker answered and refused the order on its content (HTTP 422): final."""
        return self.status_code == 422 and not self.duplicate

    @property
    def ambiguous(self) -> bool:
        """The broker may hold the order: its answer was lost after the request was sent (timeout,
        connection closed unanswered, a body that is not an order), or it says the id is taken."""
        if self.duplicate:
            return True
        return self.request_sent and self.kind in (KIND_TIMEOUT, KIND_NETWORK_ERROR, KIND_CONTRACT_VIOLATION)

    @property
    def broker_code(self) -> str:
        """The broker's own error code, when its error body names one (``insufficient_buying_power``)."""
        if isinstance(self.payload, dict):
            for key in ("code", "error"):
                if self.payload.get(key) not in (None, ""):
                    return str(self.payload[key])
        return ""


@runtime_checkable
class BrokerAdapter(Protocol):
    """What the order router needs from a broker."""

    name: str  # "lean" | "alpaca"

    def submit(self, order: OrderRequest) -> BrokerOrder: ...

    def cancel(self, broker_order_id: str) -> None: ...

    def get_order(self, broker_order_id: str) -> BrokerOrder | None: ...

    def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def list_orders(self, status: str = "all", *, after: datetime | None = None) -> list[BrokerOrder]: ...

    def health(self) -> HealthResult: ...


def parse_decimal(value: Any, *, field_name: str, allow_none: bool = False) -> Decimal | None:
    """Parse a broker-supplied number; raise ``ValueError``/``TypeError`` naming the field."""
    if value is None or value == "":
        if allow_none:
            return None
        raise ValueError(f"{field_name} is missing")
    if isinstance(value, bool):
        raise TypeError(f"{field_name} is not a number: {value!r}")
    try:
        dec = Decimal(str(value))
    except ArithmeticError as exc:
        raise ValueError(f"{field_name} is not a number: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError(f"{field_name} is not finite: {value!r}")
    return dec
