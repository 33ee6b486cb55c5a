"""Adapter for Alpaca (the fallback route) built on alpaca-py's real ``TradingClient``.

alpaca-py 0.44 sends requests without a timeout and retries 429/504 three times
with a 3 s wait; :func:`configure_trading_client` gives the client's session a
default timeout and sets the retry policy (default: no retries, so the router sees
failures at once and decides itself). Use ``url_override`` to point at the fake::

    adapter = AlpacaAdapter("key", "secret", url_override="http://127.0.0.1:8782")

Failures raise :class:`~execution.adapters.base.AdapterError` with reasons like
``alpaca_submit_timeout``, ``alpaca_submit_network_error``,
``alpaca_submit_http_422`` (a refusal of the order, or a duplicate ``client_order_id``:
``AdapterError.duplicate`` tells them apart) and
``alpaca_submit_contract_violation`` (non-JSON or unparsable body).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pydantic
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading import requests as apca_requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order
from requests.adapters import HTTPAdapter

from core import latency

from ._transport import classify_request_exception, describe, requests_request_sent
from .base import (
    KIND_CONTRACT_VIOLATION,
    KIND_FAILED,
    AdapterError,
    BrokerOrder,
    HealthResult,
    OrderRequest,
    http_kind,
)

DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_LIST_LIMIT = 500  # Alpaca's page-size ceiling for GET /v2/orders

T = TypeVar("T")


class _TimeoutHTTPAdapter(HTTPAdapter):
    """Applies a default timeout to every request that does not set its own."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def configure_trading_client(
    client: TradingClient,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    retry_attempts: int = 0,
    retry_wait_seconds: float = 1.0,
) -> TradingClient:
    """Give ``client`` a request timeout and a retry policy for 429/504 answers.

    alpaca-py exposes neither through ``TradingClient.__init__`` (and ignores
    ``retry_attempts=0`` in ``RESTClient``), so this sets the session adapter and
    the ``_retry``/``_retry_wait`` attributes ``RESTClient._request`` reads.
    """
    adapter = _TimeoutHTTPAdapter(float(timeout_seconds))
    client._session.mount("https://", adapter)
    client._session.mount("http://", adapter)
    client._retry = max(0, int(retry_attempts))
    client._retry_wait = float(retry_wait_seconds)
    return client


def _to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


class AlpacaAdapter:
    """``BrokerAdapter`` for Alpaca via alpaca-py's ``TradingClient``."""

    name = "alpaca"

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        paper: bool = True,
        url_override: str | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_attempts: int = 0,
        retry_wait_seconds: float = 1.0,
        client: TradingClient | None = None,
    ) -> None:
        self.client = client or TradingClient(
            api_key=api_key, secret_key=secret_key, paper=paper, url_override=url_override
        )
        configure_trading_client(
            self.client,
            timeout_seconds=timeout_seconds,
            retry_attempts=retry_attempts,
            retry_wait_seconds=retry_wait_seconds,
        )

    # ----------------------------------------------------------------- protocol
    def submit(self, order: OrderRequest) -> BrokerOrder:
        try:
            common = {
                "symbol": order.symbol,
                "qty": float(order.qty),
                "side": OrderSide(order.side),
                "time_in_force": TimeInForce(order.time_in_force),
                "client_order_id": order.client_order_id,
            }
            if order.order_type == "limit":
                request = apca_requests.LimitOrderRequest(**common, limit_price=float(order.limit_price))
            else:
                request = apca_requests.MarketOrderRequest(**common)
        except (ValueError, TypeError) as exc:
            raise self._error("submit", KIND_FAILED, f"cannot build alpaca request: {exc}") from exc

        result = self._call("submit", lambda: self._to_broker_order(self.client.submit_order(request), "submit"))
        if result.client_order_id != order.client_order_id:
            raise self._error(
                "submit",
                KIND_CONTRACT_VIOLATION,
                f"alpaca answered for client_order_id {result.client_order_id!r}, "
                f"expected {order.client_order_id!r}",
            )
        return result

    def cancel(self, broker_order_id: str) -> None:
        if not _is_uuid(broker_order_id):
            raise self._error("cancel", KIND_FAILED, f"not an alpaca order id: {broker_order_id!r}")
        self._call("cancel", lambda: self.client.cancel_order_by_id(broker_order_id))

    def get_order(self, broker_order_id: str) -> BrokerOrder | None:
        if not _is_uuid(broker_order_id):
            return None
        return self._call(
            "get_order",
            lambda: self._to_broker_order(self.client.get_order_by_id(broker_order_id), "get_order"),
            none_on_404=True,
        )

    def get_by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        op = "get_by_client_order_id"
        return self._call(
            op,
            lambda: self._to_broker_order(self.client.get_order_by_client_id(client_order_id), op),
            none_on_404=True,
        )

    def list_orders(self, status: str = "all", *, after: datetime | None = None,
                    page_size: int = MAX_LIST_LIMIT, max_pages: int = 40) -> list[BrokerOrder]:
        """Orders newest first, paged through ``until`` (Alpaca answers at most 500 per call);
        with ``after``, only those submitted after it. At most ``max_pages`` pages are read."""
        query = status if status in ("open", "closed", "all") else "all"
        result: list[BrokerOrder] = []
        seen: set[str] = set()
        until = None
        for _ in range(max_pages):
            request = apca_requests.GetOrdersRequest(status=QueryOrderStatus(query), limit=page_size, after=after,
                                                     until=until, direction="desc")
            page = self._call("list_orders", lambda request=request: self.client.get_orders(request))
            fresh = [o for o in page if str(o.id) not in seen]
            seen.update(str(o.id) for o in fresh)
            result += [self._to_broker_order(o, "list_orders") for o in fresh]
            if len(page) < page_size or not fresh:
                break
            # the next page ends where this one did (``until`` is exclusive; ids already seen are skipped)
            until = min(o.submitted_at for o in page if o.submitted_at is not None) + timedelta(microseconds=1)
        if query != status:
            result = [o for o in result if o.status == status]
        return result

    def account(self) -> dict[str, Any]:
        return self._call("account", lambda: self.client.get_account().model_dump(mode="json"))

    def positions(self) -> list[dict[str, Any]]:
        return self._call(
            "positions", lambda: [p.model_dump(mode="json") for p in self.client.get_all_positions()]
        )

    def health(self) -> HealthResult:
        try:
            account = self._call("health", self.client.get_account)
        except AdapterError as exc:
            return HealthResult(False, exc.detail, exc.reason)
        status = getattr(account.status, "value", account.status)
        if status != "ACTIVE" or account.trading_blocked or account.account_blocked:
            return HealthResult(
                False,
                f"account status {status}, trading_blocked={account.trading_blocked}",
                f"{self.name}_health_account_unavailable",
            )
        return HealthResult(True, f"account {account.account_number} {status}")

    # ---------------------------------------------------------------- internals
    def _error(self, operation: str, kind: str, detail: str = "", **kwargs: Any) -> AdapterError:
        return AdapterError(operation, kind, detail, adapter=self.name, **kwargs)

    def _call(self, operation: str, fn: Callable[[], T], *, none_on_404: bool = False) -> T | None:
        with latency.broker_call(self.name, operation):
            return self._call_untimed(operation, fn, none_on_404=none_on_404)

    def _call_untimed(self, operation: str, fn: Callable[[], T], *, none_on_404: bool = False) -> T | None:
        try:
            return fn()
        except AdapterError:
            raise
        except APIError as exc:
            status = exc.status_code
            if none_on_404 and status == 404:
                return None
            payload = _api_error_payload(exc)
            detail = payload.get("message") if isinstance(payload, dict) else None
            raise self._error(
                operation,
                http_kind(status) if status else KIND_FAILED,
                str(detail or exc)[:500],
                status_code=status,
                payload=payload,
                duplicate=operation == "submit" and status == 422 and _is_duplicate_id(detail),
            ) from exc
        except requests.exceptions.JSONDecodeError as exc:  # before RequestException
            raise self._error(operation, KIND_CONTRACT_VIOLATION, f"response is not JSON: {exc}") from exc
        except requests.RequestException as exc:
            raise self._error(operation, classify_request_exception(exc), describe(exc),
                              request_sent=requests_request_sent(exc)) from exc
        except (pydantic.ValidationError, TypeError, ValueError, AttributeError) as exc:
            raise self._error(operation, KIND_CONTRACT_VIOLATION, describe(exc)) from exc

    def _to_broker_order(self, order: Any, operation: str) -> BrokerOrder:
        if not isinstance(order, Order):
            raise self._error(operation, KIND_CONTRACT_VIOLATION, f"expected an Order, got {type(order).__name__}")
        return BrokerOrder(
            broker_order_id=str(order.id),
            client_order_id=order.client_order_id,
            status=getattr(order.status, "value", str(order.status)),
            filled_qty=_to_decimal(order.filled_qty) or Decimal(0),
            filled_avg_price=_to_decimal(order.filled_avg_price),
            raw=order.model_dump(mode="json"),
        )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _is_duplicate_id(message: Any) -> bool:
    """Alpaca refuses a reused client order id with 422 ``client_order_id must be unique`` (the only
    422 that means "an order with this id exists"; every other 422 refuses the order itself)."""
    text = str(message or "").lower()
    return "client_order_id" in text and "unique" in text


def _api_error_payload(exc: APIError) -> Any:
    try:
        return json.loads(str(exc))
    except (ValueError, TypeError):
        return None
