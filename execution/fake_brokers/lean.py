"""Fake QuantConnect LEAN runner speaking torghut's runner HTTP API.

Routes (all JSON):

``POST /v1/orders/submit``
    Body: ``client_order_id``, ``symbol``, ``side`` (buy|sell), ``qty`` (decimal
    string or number), ``type`` (market|limit), ``limit_price`` (limit only),
    ``time_in_force`` (day|gtc|ioc|fok|opg|cls, default day).
    ``201`` with the order. Market orders fill at once at :func:`base_price`;
    a limit order fills at once at the base price when marketable (buy limit >=
    base, sell limit <= base), otherwise it rests with status ``new``.
    A reused ``client_order_id`` answers ``409`` with
    ``{"error": "duplicate_client_order_id", "message": ..., "order": <existing>}``
    and records nothing. Invalid bodies answer ``400``.
``POST /v1/orders/{id}/cancel``
    ``200`` with the canceled order; ``404`` unknown; ``409`` when already
    filled/canceled (``{"error": "not_cancelable", "order": ...}``). In the
    ``accept_then_reset`` / ``accept_then_timeout`` modes the cancel is carried out and its
    answer lost / late, as for a submission.
    In the ``reject`` fault mode it answers ``422`` ``{"error"/"code":
    "insufficient_buying_power", "message": ...}`` and records nothing; in
    ``accept_then_reset`` it records the order and closes the connection unanswered.
``POST /v1/orders/cancel-all``
    ``200`` ``{"canceled": [<order>, ...], "count": n}`` for every open order.
``GET /v1/orders/{id}`` / ``GET /v1/orders/client/{client_order_id}``
    ``200`` order or ``404`` ``{"error": "not_found"}``.
``GET /v1/orders?status=open|closed|all|<order status>``
    ``200`` ``{"orders": [...], "count": n}`` oldest first; no/``all`` status lists all.
``GET /healthz``
    ``200`` ``{"status": "ok", "service": "fake-lean-runner"}``.

Order JSON: ``id``, ``client_order_id``, ``symbol``, ``side``, ``qty``,
``type``, ``limit_price``, ``time_in_force``, ``status`` (new|filled|canceled),
``filled_qty``, ``filled_avg_price`` (null until filled), ``created_at``,
``updated_at``, ``filled_at``, ``canceled_at``. Decimals are strings.
"""

from __future__ import annotations

import copy
import re
import uuid
from datetime import UTC, datetime
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

OPEN_STATUSES = {"new", "partially_filled"}
CLOSED_STATUSES = {"filled", "canceled", "rejected", "expired"}
TIME_IN_FORCE = {"day", "gtc", "ioc", "fok", "opg", "cls"}

_ORDER_CANCEL = re.compile(r"^/v1/orders/(?P<id>[^/]+)/cancel$")
_ORDER_BY_CLIENT = re.compile(r"^/v1/orders/client/(?P<cid>[^/]+)$")
_ORDER_BY_ID = re.compile(r"^/v1/orders/(?P<id>[^/]+)$")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _not_found(what: str) -> ApiResponse:
    return ApiResponse(404, {"error": "not_found", "message": f"{what} not found"})


def _bad(message: str) -> ApiResponse:
    return ApiResponse(400, {"error": "invalid_request", "message": message})


class FakeLeanRunner(FakeBrokerServer):
    """In-memory LEAN runner; see the module docstring for the contract."""

    name = "lean"
    error_payload: ClassVar[Any] = {"error": "internal_error", "message": "injected fault: runner error"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._orders: dict[str, dict[str, Any]] = {}
        self._by_client: dict[str, str] = {}
        super().__init__(*args, **kwargs)  # reads a kept book into the empty one

    # ------------------------------------------------------------ public helpers
    def orders(self) -> list[dict[str, Any]]:
        """Snapshot of every recorded order, oldest first."""
        with self.lock:
            return [copy.deepcopy(o) for o in self._orders.values()]

    def get_order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        with self.lock:
            oid = self._by_client.get(client_order_id)
            return copy.deepcopy(self._orders[oid]) if oid else None

    def reset(self) -> None:
        with self.lock:
            self._orders.clear()
            self._by_client.clear()
        self.book_changed()

    def book_orders(self) -> list[dict[str, Any]]:
        return list(self._orders.values())

    def book_restore(self, orders: list[dict[str, Any]]) -> None:
        self._orders = {o["id"]: dict(o) for o in orders}
        self._by_client = {o["client_order_id"]: o["id"] for o in orders}

    def is_submit(self, method: str, path: str) -> bool:
        return method == "POST" and path == "/v1/orders/submit"

    def is_cancel(self, method: str, path: str) -> bool:
        return method == "POST" and bool(_ORDER_CANCEL.match(path))

    def reject_response(self, req: ApiRequest) -> ApiResponse:
        response = super().reject_response(req)
        return ApiResponse(response.status, {"error": response.payload["code"], **response.payload})

    # -------------------------------------------------------------------- routes
    def handle_api(self, req: ApiRequest) -> ApiResponse:
        path, method = req.path, req.method
        if path == "/healthz" and method == "GET":
            return ApiResponse(200, {"status": "ok", "service": "fake-lean-runner"})
        if path == "/v1/orders/submit" and method == "POST":
            return self._submit(req.body)
        if path == "/v1/orders/cancel-all" and method == "POST":
            return self._cancel_all()
        if path == "/v1/orders" and method == "GET":
            return self._list(req.q("status"))
        if (m := _ORDER_CANCEL.match(path)) and method == "POST":
            return self._cancel(unquote(m["id"]))
        if (m := _ORDER_BY_CLIENT.match(path)) and method == "GET":
            order = self.get_order_by_client_id(unquote(m["cid"]))
            return ApiResponse(200, order) if order else _not_found("order")
        if (m := _ORDER_BY_ID.match(path)) and method == "GET":
            with self.lock:
                order = copy.deepcopy(self._orders.get(unquote(m["id"])))
            return ApiResponse(200, order) if order else _not_found("order")
        return ApiResponse(404, {"error": "not_found", "message": f"no route {method} {path}"})

    def _submit(self, body: Any) -> ApiResponse:
        if not isinstance(body, dict):
            return _bad("expected a JSON object")
        cid = body.get("client_order_id")
        symbol = body.get("symbol")
        side = body.get("side")
        order_type = body.get("type", "market")
        tif = body.get("time_in_force", "day")
        if not isinstance(cid, str) or not cid.strip():
            return _bad("client_order_id is required")
        if not isinstance(symbol, str) or not symbol.strip():
            return _bad("symbol is required")
        if side not in ("buy", "sell"):
            return _bad("side must be buy or sell")
        if order_type not in ("market", "limit"):
            return _bad("type must be market or limit")
        if tif not in TIME_IN_FORCE:
            return _bad(f"time_in_force must be one of {sorted(TIME_IN_FORCE)}")
        qty = parse_positive_decimal(body.get("qty"))
        if qty is None:
            return _bad("qty must be a positive decimal")
        limit_price = None
        if order_type == "limit":
            limit_price = parse_positive_decimal(body.get("limit_price"))
            if limit_price is None:
                return _bad("limit_price must be a positive decimal for limit orders")

        symbol = symbol.strip().upper()
        price = base_price(symbol)
        fills = fills_at_once(order_type, side, limit_price, price)
        now = _now()
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": cid,
            "symbol": symbol,
            "side": side,
            "qty": decimal_str(qty),
            "type": order_type,
            "limit_price": money_str(limit_price) if limit_price is not None else None,
            "time_in_force": tif,
            "status": "filled" if fills else "new",
            "filled_qty": decimal_str(qty) if fills else "0",
            "filled_avg_price": money_str(price) if fills else None,
            "created_at": now,
            "updated_at": now,
            "filled_at": now if fills else None,
            "canceled_at": None,
        }
        with self.lock:
            existing = self._by_client.get(cid)
            if existing is not None:
                return ApiResponse(
                    409,
                    {
                        "error": "duplicate_client_order_id",
                        "message": f"client_order_id {cid!r} already used",
                        "order": copy.deepcopy(self._orders[existing]),
                    },
                )
            self._orders[order["id"]] = order
            self._by_client[cid] = order["id"]
            return ApiResponse(201, copy.deepcopy(order))

    def _cancel(self, order_id: str) -> ApiResponse:
        with self.lock:
            order = self._orders.get(order_id)
            if order is None:
                return _not_found("order")
            if order["status"] not in OPEN_STATUSES:
                return ApiResponse(
                    409,
                    {
                        "error": "not_cancelable",
                        "message": f"order is {order['status']}",
                        "order": copy.deepcopy(order),
                    },
                )
            now = _now()
            order.update(status="canceled", canceled_at=now, updated_at=now)
            return ApiResponse(200, copy.deepcopy(order))

    def _cancel_all(self) -> ApiResponse:
        canceled = []
        with self.lock:
            now = _now()
            for order in self._orders.values():
                if order["status"] in OPEN_STATUSES:
                    order.update(status="canceled", canceled_at=now, updated_at=now)
                    canceled.append(copy.deepcopy(order))
        return ApiResponse(200, {"canceled": canceled, "count": len(canceled)})

    def _list(self, status: str | None) -> ApiResponse:
        with self.lock:
            orders = [copy.deepcopy(o) for o in self._orders.values()]
        if status in (None, "", "all"):
            selected = orders
        elif status == "open":
            selected = [o for o in orders if o["status"] in OPEN_STATUSES]
        elif status == "closed":
            selected = [o for o in orders if o["status"] in CLOSED_STATUSES]
        else:
            selected = [o for o in orders if o["status"] == status]
        return ApiResponse(200, {"orders": selected, "count": len(selected)})
