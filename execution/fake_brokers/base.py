"""Shared machinery for the loopback fake brokers.

A :class:`FakeBrokerServer` wraps a stdlib ``ThreadingHTTPServer`` that runs in a
daemon thread. It owns the fault switch (``POST /_fault``), the reset hook
(``POST /_reset``), the order-store lock and a stop event that wakes handlers
sleeping in ``slow`` / ``accept_then_timeout`` mode so shutdown stays quick.

Subclasses implement :meth:`FakeBrokerServer.handle_api` (the broker's own
routes), :meth:`FakeBrokerServer.is_submit` (which request is "the order
submission" for ``accept_then_timeout``, ``accept_then_reset`` and ``reject``),
:meth:`FakeBrokerServer.is_cancel` (the cancel of one order, which the two
``accept_then_*`` modes carry out and answer late or never),
:meth:`FakeBrokerServer.book_orders` / :meth:`FakeBrokerServer.book_restore` (their
book of orders, for a kept book) and may shape :meth:`FakeBrokerServer.reject_response`.

The book is in memory unless ``book_path`` is given: then it is read from that file at
start and written back (the whole book, to a temporary file renamed over the old one, so a
reader or a crash never sees half a book) shortly after each change and at shutdown. A
restarted broker then knows the orders it took before, as a real one does.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import tempfile
import threading
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit

FAULT_OK = "ok"
FAULT_DOWN = "down"
FAULT_SLOW = "slow"
FAULT_ERROR = "error"
FAULT_MALFORMED = "malformed"
FAULT_ACCEPT_THEN_TIMEOUT = "accept_then_timeout"
FAULT_ACCEPT_THEN_RESET = "accept_then_reset"
FAULT_REJECT = "reject"

# Each mode and what the broker API does in it (``/_fault`` and ``/_reset`` always answer).
FAULT_MODE_HELP = {
    FAULT_OK: "answers correctly at once",
    FAULT_DOWN: "closes every connection without an answer, after reading the request (/healthz too); "
                "records nothing",
    FAULT_SLOW: "answers nothing for the delay (10 s), then closes the connection; records nothing",
    FAULT_ERROR: "HTTP 500 with a JSON error body; records nothing",
    FAULT_MALFORMED: "HTTP 200 whose body is not JSON; records nothing",
    FAULT_ACCEPT_THEN_TIMEOUT: "records each submitted order (or cancel) at once, answers it only after the "
                               "delay; look-ups answer at once",
    FAULT_ACCEPT_THEN_RESET: "records each submitted order (or cancel), then closes the connection without an "
                             "answer; look-ups answer at once",
    FAULT_REJECT: "refuses each submitted order on its content: HTTP 422 "
                  '{"code": "insufficient_buying_power", "message": ...}; records nothing; look-ups answer '
                  "as usual",
}
FAULT_MODES = tuple(FAULT_MODE_HELP)

REJECT_CODE = "insufficient_buying_power"

DEFAULT_DELAY_SECONDS = 10.0
BOOK_FORMAT = "torghut.fake-broker-book/v1"
BOOK_SAVE_INTERVAL_SECONDS = 0.2  # a burst of orders is written once, at most this late

# Deterministic reference prices; unknown symbols get a stable derived price.
BASE_PRICES = {
    "AAPL": Decimal("190.00"),
    "MSFT": Decimal("410.00"),
    "NVDA": Decimal("120.00"),
    "AMZN": Decimal("180.00"),
    "GOOGL": Decimal("170.00"),
    "META": Decimal("500.00"),
    "TSLA": Decimal("250.00"),
    "SPY": Decimal("550.00"),
    "QQQ": Decimal("470.00"),
    "IWM": Decimal("210.00"),
}

CENT = Decimal("0.01")


def base_price(symbol: str) -> Decimal:
    """Return the deterministic fill price used by both fakes for ``symbol``."""
    symbol = symbol.upper()
    if symbol in BASE_PRICES:
        return BASE_PRICES[symbol]
    # Stable across processes (unlike hash()): 20.00 .. 499.99
    total = sum((i + 1) * ord(ch) for i, ch in enumerate(symbol))
    return (Decimal(20) + Decimal(total % 48000) / 100).quantize(CENT)


def fills_at_once(order_type: str, side: str, limit_price: Decimal | None, price: Decimal) -> bool:
    """Both fakes fill a market order at once, and a limit order that would trade at ``price``."""
    return order_type == "market" or (
        limit_price is not None and (limit_price >= price if side == "buy" else limit_price <= price)
    )


def decimal_str(value: Decimal) -> str:
    """Render a Decimal without exponent or trailing zeros (``"10"``, ``"0.5"``)."""
    text = format(value.normalize(), "f")
    return text


def money_str(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def parse_positive_decimal(value: Any) -> Decimal | None:
    """Parse a JSON number/string into a positive finite Decimal, else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        dec = Decimal(str(value))
    except ArithmeticError:
        return None
    if not dec.is_finite() or dec <= 0:
        return None
    return dec


@dataclass
class ApiResponse:
    """What a broker route returns; ``payload`` is JSON-encoded unless it is bytes."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    raw_body: bytes
    headers: dict[str, str]

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


class BadJSON(Exception):
    """Raised while reading a request whose body is not valid JSON."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, fake: FakeBrokerServer):
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    # Connections are kept alive between requests: a stopped broker closes the ones still open, so a
    # client's pooled connection never reaches a broker that was shut down (or restarted on its port).
    def process_request(self, request, client_address) -> None:
        # An answer is written as it is ready: no Nagle delay on a kept-alive connection (its second
        # small write would otherwise wait ~40 ms for the client's delayed ACK).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's socket.getfqdn() (reverse DNS can be slow).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address) -> None:
        # Clients dropping connections (timeouts in tests) are expected; stay quiet.
        if self.fake.log_requests:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    # keep-alive, as a broker's API is: the adapters pool their connections (a fault answer closes it)
    protocol_version = "HTTP/1.1"
    server_version = "FakeBroker/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        self.server.fake._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.server.fake._dispatch(self, "POST")

    def do_DELETE(self) -> None:
        self.server.fake._dispatch(self, "DELETE")

    def do_PATCH(self) -> None:
        self.server.fake._dispatch(self, "PATCH")

    def do_PUT(self) -> None:
        self.server.fake._dispatch(self, "PUT")

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.log_requests:
            super().log_message(format, *args)


class FakeBrokerServer:
    """Base class: a fake broker HTTP API on loopback with fault injection.

    Parameters
    ----------
    host, port:
        Where to listen; ``port=0`` picks a free port (see :attr:`url`).
    delay_seconds:
        How long ``slow`` and ``accept_then_timeout`` hold a request (default 10 s).
    log_requests:
        Log each request to stderr (useful when serving in the foreground).
    book_path:
        Keep the book of orders in this file across restarts (see the module docstring);
        ``None`` (the default) keeps it in memory only.
    """

    name = "fake"
    error_payload: ClassVar[Any] = {"error": "internal_error", "message": "injected fault"}

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay_seconds: float = DEFAULT_DELAY_SECONDS,
        log_requests: bool = False,
        book_path: Path | str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.book_path = Path(book_path) if book_path is not None else None
        self._changes = 0  # book changes made / written: the saver writes while they differ
        self._saved_changes = 0
        self._changed = threading.Event()
        self._saver: threading.Thread | None = None
        self.log_requests = log_requests
        self._mode = FAULT_OK
        self._delay_seconds = float(delay_seconds)
        self._latency_seconds = 0.0
        self._stop = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self._thread: threading.Thread | None = None
        if self.book_path is not None and self.book_path.exists():
            try:
                self.load_book()
            except BaseException:
                self._httpd.server_close()
                raise

    # ------------------------------------------------------------------ lifecycle
    @property
    def host(self) -> str:
        return self._httpd.server_address[0]

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeBrokerServer:
        """Serve in a daemon thread and return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"{self.name}-fake-broker:{self.port}",
                daemon=True,
            )
            self._thread.start()
        if self.book_path is not None and self._saver is None:
            self._saver = threading.Thread(target=self._save_while_running, name=f"{self.name}-book", daemon=True)
            self._saver.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`shutdown` (or Ctrl-C)."""
        self._httpd.serve_forever(poll_interval=0.05)

    def shutdown(self) -> None:
        """Stop serving, wake sleeping handlers, close the listening socket and write the book."""
        self._stop.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()
        if self._saver is not None:
            self._changed.set()
            self._saver.join(timeout=5)
            self._saver = None
        self.save_book()

    # ------------------------------------------------------------------ the book
    def book_orders(self) -> list[dict[str, Any]]:
        """Every order of the book, oldest first (called holding :attr:`lock`)."""
        return []

    def book_restore(self, orders: list[dict[str, Any]]) -> None:
        """Replace the book with ``orders`` as :meth:`book_orders` returned them (holding :attr:`lock`)."""

    def book_changed(self) -> None:
        """Note a change of the book: a kept book is written shortly after."""
        if self.book_path is None:
            return
        with self.lock:
            self._changes += 1
        self._changed.set()

    def load_book(self) -> int:
        """Read the book from :attr:`book_path`; returns how many orders it holds."""
        try:
            document = json.loads(self.book_path.read_text())
            if document.get("format") != BOOK_FORMAT or document.get("broker") != self.name:
                raise ValueError(f"not a {self.name} book of {BOOK_FORMAT}")
            orders = list(document["orders"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"cannot read the {self.name} fake broker's book {self.book_path}: {exc}. "
                             "Remove the file to start with an empty book.") from None
        with self.lock:
            self.book_restore(orders)
        return len(orders)

    def save_book(self) -> bool:
        """Write the book if it changed since it was last written; atomic (a renamed temporary file)."""
        if self.book_path is None:
            return False
        with self.lock:
            changes = self._changes
            if changes == self._saved_changes and self.book_path.exists():
                return False
            text = json.dumps({"format": BOOK_FORMAT, "broker": self.name, "orders": self.book_orders()})
        self.book_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.book_path.parent, prefix=f".{self.book_path.name}.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.book_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self.lock:
            self._saved_changes = max(self._saved_changes, changes)
        return True

    def _save_while_running(self) -> None:
        while not self._stop.is_set():
            self._changed.wait()
            self._changed.clear()
            if self._stop.is_set():
                return  # shutdown writes the last state itself
            self.save_book()
            self._stop.wait(BOOK_SAVE_INTERVAL_SECONDS)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---------------------------------------------------------------- fault state
    @property
    def mode(self) -> str:
        with self.lock:
            return self._mode

    @property
    def delay_seconds(self) -> float:
        with self.lock:
            return self._delay_seconds

    def set_fault(self, mode: str, delay_seconds: float | None = None) -> None:
        """Switch fault mode (and optionally the delay) from the next request on."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {FAULT_MODES}")
        with self.lock:
            self._mode = mode
            if delay_seconds is not None:
                self._delay_seconds = float(delay_seconds)

    def set_latency(self, seconds: float) -> None:
        """Hold every broker answer this long after the request was handled (the order is already
        recorded meanwhile): a slow but healthy broker, so tests can act while orders are in flight."""
        with self.lock:
            self._latency_seconds = max(0.0, float(seconds))

    def fault_state(self) -> dict[str, Any]:
        with self.lock:
            return {"mode": self._mode, "delay_seconds": self._delay_seconds}

    def reset(self) -> None:
        """Forget every order (subclasses extend, and call :meth:`book_changed`); the fault mode is kept."""

    # ------------------------------------------------------------- subclass hooks
    def handle_api(self, req: ApiRequest) -> ApiResponse:  # pragma: no cover
        raise NotImplementedError

    def is_submit(self, method: str, path: str) -> bool:  # pragma: no cover
        raise NotImplementedError

    def is_cancel(self, method: str, path: str) -> bool:
        """Whether the request cancels one order (``accept_then_*`` carry it out and lose the answer)."""
        return False

    def bad_json_response(self) -> ApiResponse:
        return ApiResponse(400, {"error": "invalid_json", "message": "body is not valid JSON"})

    def reject_response(self, req: ApiRequest) -> ApiResponse:
        """``reject`` mode: the broker refuses the order on its content (HTTP 422, nothing recorded)."""
        order = req.body if isinstance(req.body, dict) else {}
        what = " ".join(str(order[k]) for k in ("side", "qty", "symbol") if order.get(k) is not None)
        message = f"insufficient buying power for {what}" if what else "insufficient buying power"
        return ApiResponse(422, {"code": REJECT_CODE, "message": message})

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self, handler: _Handler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        raw_body = self._read_body(handler)

        if path in ("/_fault", "/_reset"):
            self._send(handler, self._control(method, path, raw_body))
            return

        mode, delay = self._mode_and_delay()
        if mode == FAULT_DOWN:
            self._drop(handler)
            return
        if mode == FAULT_SLOW:
            self._stop.wait(delay)
            self._drop(handler)
            return
        if mode == FAULT_ERROR:
            self._send(handler, ApiResponse(500, self.error_payload), close=True)
            return
        if mode == FAULT_MALFORMED:
            self._send(
                handler,
                ApiResponse(
                    200,
                    b"<html><body>upstream proxy says hi</body></html>",
                    {"Content-Type": "text/html"},
                ),
                close=True,
            )
            return

        try:
            body = self._parse_json(raw_body)
        except BadJSON:
            self._send(handler, self.bad_json_response())
            return
        req = ApiRequest(
            method=method,
            path=path,
            query=parse_qs(parts.query, keep_blank_values=True),
            body=body,
            raw_body=raw_body,
            headers={k.lower(): v for k, v in handler.headers.items()},
        )
        if mode == FAULT_REJECT and self.is_submit(method, path):
            self._send(handler, self.reject_response(req), close=True)
            return
        try:
            response = self.handle_api(req)
        except Exception as exc:  # noqa: BLE001 - keep the fake alive whatever happens
            response = ApiResponse(500, {"error": "fake_broker_bug", "message": repr(exc)})
        if method != "GET":
            self.book_changed()  # submissions and cancels (a refused one writes the same book again)

        # a submission or a cancel is carried out, and its answer lost or late
        acted = self.is_submit(method, path) or self.is_cancel(method, path)
        if mode == FAULT_ACCEPT_THEN_RESET and acted:
            self._drop(handler)  # the order (or its cancel) is recorded; the answer is lost
            return
        if (
            mode == FAULT_ACCEPT_THEN_TIMEOUT
            and acted
            and self._stop.wait(delay)
        ):
            self._drop(handler)  # shutting down: do not answer at all
            return
        with self.lock:
            latency = self._latency_seconds
        if latency and self._stop.wait(latency):
            self._drop(handler)
            return
        self._send(handler, response)

    def _mode_and_delay(self) -> tuple[str, float]:
        with self.lock:
            return self._mode, self._delay_seconds

    def _control(self, method: str, path: str, raw_body: bytes) -> ApiResponse:
        if path == "/_reset":
            if method != "POST":
                return ApiResponse(405, {"error": "method_not_allowed"})
            self.reset()
            return ApiResponse(200, {"reset": True, **self.fault_state()})
        if method == "GET":
            return ApiResponse(200, self.fault_state())
        if method != "POST":
            return ApiResponse(405, {"error": "method_not_allowed"})
        try:
            body = self._parse_json(raw_body) or {}
        except BadJSON:
            return ApiResponse(400, {"error": "invalid_json"})
        if not isinstance(body, dict):
            return ApiResponse(400, {"error": "expected a JSON object"})
        mode = body.get("mode", self.mode)
        delay = body.get("delay_seconds")
        if delay is not None and (
            isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0
        ):
            return ApiResponse(400, {"error": "delay_seconds must be a number >= 0"})
        try:
            self.set_fault(mode, delay)
        except ValueError as exc:
            return ApiResponse(400, {"error": "unknown_mode", "message": str(exc)})
        return ApiResponse(200, self.fault_state())

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        length = handler.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            return b""
        return handler.rfile.read(n) if n > 0 else b""

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJSON from exc

    @staticmethod
    def _drop(handler: _Handler) -> None:
        """Close the connection without writing a single byte."""
        handler.close_connection = True

    @staticmethod
    def _send(handler: _Handler, response: ApiResponse, *, close: bool = False) -> None:
        """Answer; the connection stays open for the client's next request unless ``close``
        (the answers of injected faults) or the client asked to close it."""
        if isinstance(response.payload, bytes):
            body = response.payload
            content_type = "application/octet-stream"
        elif response.payload is None and response.status == 204:
            body = b""
            content_type = "application/json"
        else:
            body = json.dumps(response.payload).encode()
            content_type = "application/json"
        headers = {"Content-Type": content_type, **response.headers}
        try:
            handler.send_response(response.status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            if close:
                handler.send_header("Connection", "close")
            handler.end_headers()  # (send_header set close_connection when it sent "close")
            if body:
                handler.wfile.write(body)
        except OSError:
            handler.close_connection = True  # client went away (e.g. it timed out first)
