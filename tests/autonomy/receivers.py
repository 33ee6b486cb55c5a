"""Loopback receivers for alert deliveries: a webhook endpoint and an SMTP server, each on a thread.

The webhook receiver checks each request's HMAC signature, keeps every request it got, and can be
taken down (connections refused: the port is closed), made to answer 503, or made to hang until
released; it comes back on the same port.
"""
from __future__ import annotations

import json
import socketserver
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
                entry = Received(self.headers.get(DELIVERY_HEADER, ""), self.headers.get(EVENT_HEADER, ""),
                                 json.loads(raw), verify_signature(receiver.secret, raw,
                                                                   self.headers.get(SIGNATURE_HEADER, "")), None)
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


class SMTPReceiver:
    """A minimal SMTP server (HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) keeping each message."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 loopback ESMTP")
                sender, recipients = "", []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    command = line.decode(errors="replace").strip()
                    verb = command[:4].upper()
                    if verb in ("HELO", "EHLO"):
                        self.reply("250 loopback")
                    elif verb == "MAIL":
                        sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(command.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(chunk)
                        receiver.messages.append({"from": sender, "to": recipients,
                                                  "data": b"".join(data).decode(errors="replace")})
                        self.reply("250 OK: queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

