"""Adapter for torghut's QuantConnect LEAN runner HTTP API (the primary route).

Speaks the runner contract served by :mod:`execution.fake_brokers.lean` over a keep-alive
urllib3 connection pool (the adapter sits on every order's path; a bare pool costs a fraction of
a ``requests`` session per call). Configuration comes in through the constructor (the Django side
reads ``TRADING_LEAN_RUNNER_URL`` / ``TRADING_LEAN_RUNNER_TIMEOUT_SECONDS`` and
passes them in)::

    adapter = LeanAdapter("http://127.0.0.1:8781", timeout_seconds=5)
    order = adapter.submit(OrderRequest("c-1", "AAPL", "buy", Decimal("10")))

Failures raise :class:`~execution.adapters.base.AdapterError` with reasons like
``lean_submit_timeout``, ``lean_submit_network_error``, ``lean_submit_http_500``
and ``lean_submit_contract_violation`` (non-JSON body or missing fields); a network error
says whether the request had been sent (``request_sent``), a 409 on submit is a duplicate
and a 422 a refusal of the order.
"""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3

from core import latency

from ._transport import classify_urllib3_exception, describe, urllib3_request_sent
from .base import (
    KIND_CONTRACT_VIOLATION,
    AdapterError,
    BrokerOrder,
    HealthResult,
    OrderRequest,
    http_kind,
    parse_decimal,
)

DEFAULT_TIMEOUT_SECONDS = 5.0  # TRADING_LEAN_RUNNER_TIMEOUT_SECONDS


def _decimal_str(value) -> str:
    return format(value, "f")


class LeanAdapter:
    """``BrokerAdapter`` for the LEAN runner."""

    name = "lean"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        headers: dict[str, str] | None = None,
        max_connections: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = float(timeout_seconds)
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.max_connections = max_connections
        self._pool: urllib3.HTTPConnectionPool | None = None  # made at the first request (a bad URL fails there)
        self._path_prefix = urlsplit(self.base_url).path

    def _connection_pool(self) -> urllib3.HTTPConnectionPool:
        """The runner's one pool. It is addressed directly: no proxy look-ups, no retries (a retried submit
        could place an order twice; the router decides what happens after a failure), connections kept
        alive; one host, so no pool manager to pick a pool by URL on every request."""
        if self._pool is None:
            self._pool = urllib3.connection_from_url(
                self.base_url,
                maxsize=self.max_connections,
                retries=False,
                timeout=urllib3.Timeout(connect=self.timeout_seconds, read=self.timeout_seconds),
            )
        return self._pool

    # ----------------------------------------------------------------- protocol
    def submit(self, order: OrderRequest) -> BrokerOrder:
        body: dict[str, Any] = {
            "client_order_id": order.client_order_id,
            "symbol": order.symbol,
            "side": order.side,
            "qty": _decimal_str(order.qty),
            "type": order.order_type,
            "time_in_force": order.time_in_force,
        }
        if order.limit_price is not None:
            body["limit_price"] = _decimal_str(order.limit_price)
        payload = self._request("submit", "POST", "/v1/orders/submit", json=body)
        result = self._order_from(payload, "submit")
        if result.client_order_id != order.client_order_id:
            raise self._error(
                "submit",
                KIND_CONTRACT_VIOLATION,
                f"runner answered for client_order_id {result.client_order_id!r}, "
                f"expected {order.client_order_id!r}",
                payload=payload,
            )
        return result

    def cancel(self, broker_order_id: str) -> None:
        self._request("cancel", "POST", f"/v1/orders/{quote(broker_order_id, safe='')}/cancel")

    def cancel_all(self) -> list[BrokerOrder]:
        payload = self._request("cancel_all", "POST", "/v1/orders/cancel-all")
        items = payload.get("canceled") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise self._error("cancel_all", KIND_CONTRACT_VIOLATION, "missing 'canceled' list", payload=payload)
        return [self._order_from(item, "cancel_all") for item in items]

    def get_order(self, broker_order_id: str) -> BrokerOrder | None:
        payload = self._request(
            "get_order", "GET", f"/v1/orders/{quote(broker_order_id, safe='')}", none_on_404=True
        )
        return None if payload is None else self._order_from(payload, "get_order")

    def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        payload = self._request(
            "get_by_client_order_id",
            "GET",
            f"/v1/orders/client/{quote(client_order_id, safe='')}",
            none_on_404=True,
        )
        return None if payload is None else self._order_from(payload, "get_by_client_order_id")

    def list_orders(self, status: str = "all", *, after: datetime | None = None) -> list[BrokerOrder]:
        """Every order the runner holds (its API has no paging); with ``after``, those created after
        it (by the order's ``created_at``; an order without a readable one is kept)."""
        payload = self._request("list_orders", "GET", "/v1/orders", params={"status": status})
        items = payload.get("orders") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise self._error("list_orders", KIND_CONTRACT_VIOLATION, "missing 'orders' list", payload=payload)
        orders = [self._order_from(item, "list_orders") for item in items]
        if after is not None:
            orders = [o for o in orders if not _created_before(o.raw.get("created_at"), after)]
        return orders

    def health(self) -> HealthResult:
        try:
            payload = self._request("health", "GET", "/healthz")
        except AdapterError as exc:
            return HealthResult(False, exc.detail, exc.reason)
        status = payload.get("status") if isinstance(payload, dict) else None
        if status != "ok":
            return HealthResult(False, f"runner status {status!r}", f"{self.name}_health_{KIND_CONTRACT_VIOLATION}")
        return HealthResult(True, "ok")

    # ---------------------------------------------------------------- internals
    def _error(self, operation: str, kind: str, detail: str = "", **kwargs: Any) -> AdapterError:
        return AdapterError(operation, kind, detail, adapter=self.name, **kwargs)

    def _request(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        with latency.broker_call(self.name, operation):
            return self._request_untimed(operation, *args, **kwargs)

    def _request_untimed(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        none_on_404: bool = False,
    ) -> Any:
        url = self._path_prefix + path
        if params:
            url += "?" + urlencode(params)
        headers = self.headers
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers = {**headers, "Content-Type": "application/json"}
        try:
            response = self._connection_pool().request(method, url, body=body, headers=headers, redirect=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._error(operation, classify_urllib3_exception(exc), describe(exc),
                              request_sent=urllib3_request_sent(exc)) from exc

        status = response.status
        if none_on_404 and status == 404:
            return None
        if status >= 400:
            payload = _json_or_none(response.data)
            raise self._error(
                operation,
                http_kind(status),
                _error_detail(status, response.data, payload),
                status_code=status,
                payload=payload,
                # a conflict on submit: the runner already holds an order under this client order id
                duplicate=operation == "submit" and status == 409,
            )
        if not 200 <= status < 300:
            raise self._error(
                operation,
                KIND_CONTRACT_VIOLATION,
                f"unexpected HTTP {status}",
                status_code=status,
            )
        try:
            return jsonlib.loads(response.data)
        except ValueError as exc:
            raise self._error(
                operation,
                KIND_CONTRACT_VIOLATION,
                f"response is not JSON ({response.headers.get('Content-Type', '?')}): {_text(response.data)[:120]!r}",
                status_code=status,
            ) from exc

    def _order_from(self, payload: Any, operation: str) -> BrokerOrder:
        try:
            if not isinstance(payload, dict):
                raise TypeError(f"expected an order object, got {type(payload).__name__}")
            for key in ("id", "client_order_id", "status"):
                if not isinstance(payload.get(key), str) or not payload[key]:
                    raise ValueError(f"{key} is missing")
            return BrokerOrder(
                broker_order_id=payload["id"],
                client_order_id=payload["client_order_id"],
                status=payload["status"],
                filled_qty=parse_decimal(payload.get("filled_qty"), field_name="filled_qty"),
                filled_avg_price=parse_decimal(
                    payload.get("filled_avg_price"), field_name="filled_avg_price", allow_none=True
                ),
                raw=payload,
            )
        except (ValueError, TypeError) as exc:
            raise self._error(operation, KIND_CONTRACT_VIOLATION, str(exc), payload=payload) from exc


def _created_before(raw: Any, bound: datetime) -> bool:
    try:
        created = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return False
    return created.tzinfo is not None and created <= bound


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _json_or_none(data: bytes) -> Any:
    try:
        return jsonlib.loads(data)
    except ValueError:
        return None


def _error_detail(status: int, data: bytes, payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("message", "error", "detail"):
            if payload.get(key):
                return str(payload[key])[:500]
    return f"HTTP {status}: {_text(data)[:200]}"
