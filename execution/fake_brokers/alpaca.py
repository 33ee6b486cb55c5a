"""Fake Alpaca trading REST API (the subset alpaca-py's ``TradingClient`` uses).

Point the real client at it with
``TradingClient(key, secret, paper=True, url_override=fake.url)``.

Routes (JSON, errors as ``{"code": <int>, "message": <str>}`` like Alpaca):

``POST /v2/orders``
    market and limit orders (``qty`` or ``notional``). Market orders fill at once
    at :func:`base_price`; marketable limits fill at the base price, other limits
    rest as ``new``. A reused ``client_order_id`` is rejected with ``422``
    ``client_order_id must be unique`` -- even after the first order was
    canceled -- and records nothing. Missing ``client_order_id`` gets a uuid.
``GET /v2/orders/{id}`` / ``GET /v2/orders:by_client_order_id?client_order_id=``
    ``200`` order or ``404`` ``order not found``.
``GET /v2/orders?status=open|closed|all&limit=&direction=&after=&until=&symbols=&side=``
    ``status`` defaults to ``open``, ``direction`` to ``desc``; ``after`` and ``until``
    (ISO 8601) keep orders submitted strictly after / before them, as Alpaca does. Without an
    explicit ``limit`` *every* matching order is returned (real Alpaca pages at
    50), so ``status=all`` counts every order ever accepted, duplicates included.
``DELETE /v2/orders/{id}``
    ``204``; ``404`` unknown; ``422`` when already filled/canceled. With :meth:`FakeAlpaca.set_cancel_lag`
    on, the order shows ``pending_cancel`` until :meth:`FakeAlpaca.settle_cancels`, as Alpaca may.
``DELETE /v2/orders``
    ``207`` ``[{"id", "status": 200, "body": <order>}]`` for each open order.
``GET /v2/account``, ``GET /v2/positions``, ``GET /v2/positions/{symbol}``
    Paper account with 100,000 USD starting cash; positions are derived from
    fills and marked at the base price.

In the ``reject`` fault mode ``POST /v2/orders`` answers ``422``
``{"code": "insufficient_buying_power", "message": ...}`` and records nothing; in
``accept_then_reset`` it records the order and closes the connection unanswered (a cancel,
``DELETE /v2/orders/{id}``, too: it is carried out, and its answer lost, or late in
``accept_then_timeout``).

Every broker route requires the ``APCA-API-KEY-ID``/``APCA-API-SECRET-KEY``
headers (any non-empty value) or an ``Authorization`` header, else ``401``.
"""

from __future__ import annotations

import copy
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import unquote

from .base import (
    ApiRequest,
    ApiResponse,
    FakeBrokerServer,
    base_price,
    decimal_str,
    fills_at_once,
    money_str,
    parse_positive_decimal,
)

STARTING_CASH = Decimal(100000)
ACCOUNT_ID = "4f6d1f5c-3b0e-4c1e-9a51-7a3c2f0f1a00"
_ASSET_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # NAMESPACE_URL

OPEN_STATUSES = {
    "new",
    "accepted",
    "pending_new",
    "partially_filled",
    "accepted_for_bidding",
    "pending_cancel",
    "pending_replace",
    "held",
}
TIME_IN_FORCE = {"day", "gtc", "opg", "cls", "ioc", "fok"}
NASDAQ_SYMBOLS = {"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "QQQ"}

_ORDER_BY_ID = re.compile(r"^/v2/orders/(?P<id>[^/]+)$")
_POSITION = re.compile(r"^/v2/positions/(?P<symbol>[^/]+)$")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(raw: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _err(status: int, code: int, message: str) -> ApiResponse:
    return ApiResponse(status, {"code": code, "message": message})


def _unprocessable(message: str) -> ApiResponse:
    return _err(422, 40010001, message)


def asset_id(symbol: str) -> str:
    """Deterministic asset uuid for ``symbol``."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, f"fake-alpaca-asset:{symbol.upper()}"))


class FakeAlpaca(FakeBrokerServer):
    """In-memory Alpaca paper account; see the module docstring for the contract."""

    name = "alpaca"
    error_payload: ClassVar[Any] = {"code": 50010000, "message": "internal server error (injected fault)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._orders: list[dict[str, Any]] = []  # every accepted order, oldest first
        self._by_id: dict[str, dict[str, Any]] = {}
        self._by_client: dict[str, dict[str, Any]] = {}
        self._cancel_lag = False
        super().__init__(*args, **kwargs)  # reads a kept book into the empty one

    # ------------------------------------------------------------ public helpers
    def set_cancel_lag(self, on: bool) -> None:
        """Cancel as Alpaca may: ``DELETE`` answers 204 and the order shows ``pending_cancel`` until
        :meth:`settle_cancels` (off: cancels take effect at once)."""
        with self.lock:
            self._cancel_lag = bool(on)

    def settle_cancels(self) -> int:
        """Every ``pending_cancel`` order becomes ``canceled``; returns how many."""
        with self.lock:
            now = _now()
            pending = [o for o in self._orders if o["status"] == "pending_cancel"]
            for order in pending:
                order.update(status="canceled", canceled_at=now, updated_at=now)
        if pending:
            self.book_changed()
        return len(pending)

    def orders(self) -> list[dict[str, Any]]:
        """Snapshot of every accepted order, oldest first."""
        with self.lock:
            return [copy.deepcopy(o) for o in self._orders]

    def get_order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        with self.lock:
            order = self._by_client.get(client_order_id)
            return copy.deepcopy(order) if order else None

    def reset(self) -> None:
        with self.lock:
            self._orders.clear()
            self._by_id.clear()
            self._by_client.clear()
        self.book_changed()

    def book_orders(self) -> list[dict[str, Any]]:
        return self._orders

    def book_restore(self, orders: list[dict[str, Any]]) -> None:
        self._orders = [dict(o) for o in orders]
        self._by_id = {o["id"]: o for o in self._orders}
        self._by_client = {o["client_order_id"]: o for o in self._orders}

    def is_submit(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v2/orders"

    def is_cancel(self, method: str, path: str) -> bool:
        return method == "DELETE" and bool(_ORDER_BY_ID.match(path))

    def bad_json_response(self) -> ApiResponse:
        return _err(400, 40010000, "request body format is invalid")

    def reject_response(self, req: ApiRequest) -> ApiResponse:
        if not self._authorized(req.headers):
            return ApiResponse(401, {"code": 40110000, "message": "request is not authorized"})
        return super().reject_response(req)

    # -------------------------------------------------------------------- routes
    def handle_api(self, req: ApiRequest) -> ApiResponse:
        path, method = req.path, req.method
        if path == "/healthz" and method == "GET":
            return ApiResponse(200, {"status": "ok", "service": "fake-alpaca"})
        if not self._authorized(req.headers):
            return ApiResponse(401, {"code": 40110000, "message": "request is not authorized"})
        if path == "/v2/orders":
            if method == "POST":
                return self._submit(req.body)
            if method == "GET":
                return self._list(req)
            if method == "DELETE":
                return self._cancel_all()
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            order = self.get_order_by_client_id(req.q("client_order_id") or "")
            return ApiResponse(200, order) if order else _err(404, 40410000, "order not found")
        if m := _ORDER_BY_ID.match(path):
            order_id = unquote(m["id"])
            if method == "GET":
                with self.lock:
                    order = copy.deepcopy(self._by_id.get(order_id))
                return ApiResponse(200, order) if order else _err(404, 40410000, "order not found")
            if method == "DELETE":
                return self._cancel(order_id)
        if path == "/v2/account" and method == "GET":
            return ApiResponse(200, self._account())
        if path == "/v2/positions" and method == "GET":
            return ApiResponse(200, list(self._positions().values()))
        if (m := _POSITION.match(path)) and method == "GET":
            position = self._positions().get(unquote(m["symbol"]).upper())
            if position is None:
                return _err(404, 40410000, "position does not exist")
            return ApiResponse(200, position)
        return _err(404, 40410000, f"endpoint not found: {method} {path}")

    @staticmethod
    def _authorized(headers: dict[str, str]) -> bool:
        if headers.get("authorization"):
            return True
        return bool(headers.get("apca-api-key-id")) and bool(headers.get("apca-api-secret-key"))

    def _submit(self, body: Any) -> ApiResponse:
        if not isinstance(body, dict):
            return _err(400, 40010000, "request body format is invalid")
        symbol = body.get("symbol")
        side = body.get("side")
        order_type = body.get("type") or body.get("order_type")
        tif = body.get("time_in_force")
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if not isinstance(symbol, str) or not symbol.strip():
            return _unprocessable("symbol is required")
        if side not in ("buy", "sell"):
            return _unprocessable("side must be buy or sell")
        if order_type not in ("market", "limit"):
            return _unprocessable(f"order type {order_type!r} is not supported")
        if tif not in TIME_IN_FORCE:
            return _unprocessable("invalid time_in_force")
        if not isinstance(cid, str) or len(cid) > 128:
            return _unprocessable("client_order_id must be a string of at most 128 characters")
        qty = parse_positive_decimal(body.get("qty"))
        notional = parse_positive_decimal(body.get("notional"))
        if (qty is None) == (notional is None):
            return _unprocessable("qty or notional is required (exactly one)")
        limit_price = None
        if order_type == "limit":
            limit_price = parse_positive_decimal(body.get("limit_price"))
            if limit_price is None:
                return _unprocessable("limit_price is required for limit orders")
            if notional is not None:
                return _unprocessable("notional is only supported for market orders")

        symbol = symbol.strip().upper()
        price = base_price(symbol)
        if qty is None:
            qty = (notional / price).quantize(Decimal("0.000000001"))
        fills = fills_at_once(order_type, side, limit_price, price)
        now = _now()
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": now if fills else None,
            "expired_at": None,
            "expires_at": None,
            "canceled_at": None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": asset_id(symbol),
            "symbol": symbol,
            "asset_class": "us_equity",
            "notional": decimal_str(notional) if notional is not None else None,
            "qty": decimal_str(qty) if notional is None else None,
            "filled_qty": decimal_str(qty) if fills else "0",
            "filled_avg_price": money_str(price) if fills else None,
            "order_class": "",
            "order_type": order_type,
            "type": order_type,
            "side": side,
            "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
            "time_in_force": tif,
            "limit_price": money_str(limit_price) if limit_price is not None else None,
            "stop_price": None,
            "status": "filled" if fills else "new",
            "extended_hours": bool(body.get("extended_hours", False)),
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
        }
        with self.lock:
            if cid in self._by_client:
                return _unprocessable("client_order_id must be unique")
            self._orders.append(order)
            self._by_id[order["id"]] = order
            self._by_client[cid] = order
            return ApiResponse(200, copy.deepcopy(order))

    def _cancel(self, order_id: str) -> ApiResponse:
        with self.lock:
            order = self._by_id.get(order_id)
            if order is None:
                return _err(404, 40410000, "order not found")
            if order["status"] not in OPEN_STATUSES:
                return _err(422, 42210000, f'order is already in "{order["status"]}" state')
            now = _now()
            if self._cancel_lag:
                order.update(status="pending_cancel", updated_at=now)
            else:
                order.update(status="canceled", canceled_at=now, updated_at=now)
        return ApiResponse(204, None)

    def _cancel_all(self) -> ApiResponse:
        results = []
        with self.lock:
            now = _now()
            for order in self._orders:
                if order["status"] in OPEN_STATUSES:
                    order.update(status="canceled", canceled_at=now, updated_at=now)
                    results.append({"id": order["id"], "status": 200, "body": copy.deepcopy(order)})
        return ApiResponse(207, results)

    def _list(self, req: ApiRequest) -> ApiResponse:
        status = req.q("status") or "open"
        if status not in ("open", "closed", "all"):
            return _unprocessable("status must be open, closed or all")
        with self.lock:
            orders = [copy.deepcopy(o) for o in self._orders]
        if status == "open":
            orders = [o for o in orders if o["status"] in OPEN_STATUSES]
        elif status == "closed":
            orders = [o for o in orders if o["status"] not in OPEN_STATUSES]
        if symbols := req.q("symbols"):
            wanted = {s.strip().upper() for s in symbols.split(",") if s.strip()}
            orders = [o for o in orders if o["symbol"] in wanted]
        if side := req.q("side"):
            orders = [o for o in orders if o["side"] == side]
        for name, keep in (("after", lambda at, bound: at > bound), ("until", lambda at, bound: at < bound)):
            if raw := req.q(name):
                bound = _parse_time(raw)
                if bound is None:
                    return _unprocessable(f"{name} must be an ISO 8601 timestamp")
                orders = [o for o in orders if keep(_parse_time(o["submitted_at"]), bound)]
        if (req.q("direction") or "desc") == "desc":
            orders.reverse()
        if limit := req.q("limit"):
            try:
                orders = orders[: max(0, min(int(limit), 500))]
            except ValueError:
                return _unprocessable("limit must be an integer")
        return ApiResponse(200, orders)

    # ------------------------------------------------------- account & positions
    def _fills(self) -> list[tuple[str, str, Decimal, Decimal]]:
        with self.lock:
            return [
                (o["symbol"], o["side"], Decimal(o["filled_qty"]), Decimal(o["filled_avg_price"]))
                for o in self._orders
                if o["filled_avg_price"] is not None and Decimal(o["filled_qty"]) > 0
            ]

    def _positions(self) -> dict[str, dict[str, Any]]:
        book: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, cost basis)
        for symbol, side, qty, price in self._fills():
            signed = qty if side == "buy" else -qty
            held, cost = book.get(symbol, (Decimal(0), Decimal(0)))
            if held == 0 or (held > 0) == (signed > 0):
                held, cost = held + signed, cost + signed * price
            else:
                remaining = held + signed
                if remaining == 0:
                    held, cost = Decimal(0), Decimal(0)
                elif (remaining > 0) == (held > 0):
                    cost = cost * remaining / held
                    held = remaining
                else:  # flipped side: the remainder opens at this fill price
                    held, cost = remaining, remaining * price
            book[symbol] = (held, cost)

        positions = {}
        for symbol, (held, cost) in book.items():
            if held == 0:
                continue
            price = base_price(symbol)
            market_value = held * price
            unrealized = market_value - cost
            plpc = (unrealized / abs(cost)) if cost else Decimal(0)
            positions[symbol] = {
                "asset_id": asset_id(symbol),
                "symbol": symbol,
                "exchange": "NASDAQ" if symbol in NASDAQ_SYMBOLS else "NYSE",
                "asset_class": "us_equity",
                "asset_marginable": True,
                "avg_entry_price": money_str(cost / held),
                "qty": decimal_str(held),
                "qty_available": decimal_str(held),
                "side": "long" if held > 0 else "short",
                "market_value": money_str(market_value),
                "cost_basis": money_str(cost),
                "unrealized_pl": money_str(unrealized),
                "unrealized_plpc": str(plpc.quantize(Decimal("0.0001"))),
                "unrealized_intraday_pl": money_str(unrealized),
                "unrealized_intraday_plpc": str(plpc.quantize(Decimal("0.0001"))),
                "current_price": money_str(price),
                "lastday_price": money_str(price),
                "change_today": "0",
            }
        return positions

    def _account(self) -> dict[str, Any]:
        cash = STARTING_CASH
        for _symbol, side, qty, price in self._fills():
            cash += -qty * price if side == "buy" else qty * price
        long_value = short_value = Decimal(0)
        for position in self._positions().values():
            value = Decimal(position["market_value"])
            if value > 0:
                long_value += value
            else:
                short_value += value
        equity = cash + long_value + short_value
        return {
            "id": ACCOUNT_ID,
            "account_number": "PA0FAKE00001",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": money_str(max(equity, Decimal(0)) * 2),
            "regt_buying_power": money_str(max(equity, Decimal(0)) * 2),
            "non_marginable_buying_power": money_str(max(cash, Decimal(0))),
            "options_buying_power": money_str(max(cash, Decimal(0))),
            "cash": money_str(cash),
            "accrued_fees": "0",
            "pending_transfer_out": None,
            "pending_transfer_in": "0",
            "portfolio_value": money_str(equity),
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2024-01-02T14:30:00Z",
            "trade_suspended_by_user": False,
            "multiplier": "2",
            "shorting_enabled": True,
            "equity": money_str(equity),
            "last_equity": money_str(STARTING_CASH),
            "long_market_value": money_str(long_value),
            "short_market_value": money_str(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "options_approved_level": 0,
            "options_trading_level": 0,
        }
