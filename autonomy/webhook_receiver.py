"""A loopback receiver for alert webhooks: it checks each request's HMAC signature the way a real
receiver would (:func:`autonomy.alerting.verify_signature`) and keeps every request it got.

``manage.py demo_loop`` proves with it that an alert reached a webhook, signed; the tests take it down
(connections refused: the port is closed), make it answer 503, or make it hang until released; it comes
back on the same port.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from autonomy.alerting import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify_signature


@dataclass
class Received:
    delivery_id: str
    event: str
    body: dict
    signed: bool
    answered: int | None  # the status it answered (None: it never answered)
    signature_header: str = ""  # as received, for a reader who checks it again
    raw: bytes = b""  # the body as received (what the signature covers)


@dataclass
class WebhookReceiver:
    secret: str
    mode: str = "ok"  # ok | error | hang
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def __post_init__(self):
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.hanging = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/torghut"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get(SIGNATURE_HEADER, "")
                entry = Received(self.headers.get(DELIVERY_HEADER, ""), self.headers.get(EVENT_HEADER, ""),
                                 json.loads(raw), verify_signature(receiver.secret, raw, header), None, header, raw)
                with receiver.lock:
                    receiver.received.append(entry)
                    mode = receiver.mode
                if mode == "hang":
                    receiver.hanging.set()
                    receiver.release.wait(60)
                status = 503 if mode == "error" else 200
                entry.answered = status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "unavailable"}')

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Down: the port closes, so connections are refused."""
        if self._server is not None:
            self.release.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered_ids(self) -> list[str]:
        """Delivery ids this receiver answered 2xx, in order (a duplicate appears twice)."""
        with self.lock:
            return [r.delivery_id for r in self.received if r.answered is not None and 200 <= r.answered < 300]
