"""How an alert notification leaves the plane: a signed webhook POST or an email.

No database here: :func:`autonomy.services.alert_deliveries_run` claims a delivery, calls
:func:`send`, and stores the attempt with what it returned.

**Webhook.** ``POST`` of the delivery's JSON payload (compact, keys sorted) with

* ``X-Torghut-Delivery``: the delivery id. A delivery whose answer was lost (the worker died while
  sending, a timeout) is sent again under the same id, so a receiver that keeps the ids it has seen
  processes each notification once;
* ``X-Torghut-Event``: ``opened``, ``escalated`` or ``resolved``;
* ``X-Torghut-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256 with ``ALERT_WEBHOOK_SECRET`` over
  ``"<t>.<body>"`` (verify with :func:`verify_signature`; refuse old ``t`` to stop replays).

Any 2xx answer delivers it; anything else (another status, a refused connection, a timeout) is a
failed attempt that is retried with exponential backoff.

**Email** goes through Django's mail settings (``EMAIL_HOST``, ``EMAIL_PORT``, ...) to
``ALERT_EMAIL_TO``; the SMTP server accepting the message delivers it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import urllib3
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from autonomy.choices import DeliveryChannel

SIGNATURE_HEADER = "X-Torghut-Signature"
DELIVERY_HEADER = "X-Torghut-Delivery"
EVENT_HEADER = "X-Torghut-Event"

_pool = urllib3.PoolManager(retries=False)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: float = 0.0


def body_bytes(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, now: float | None = None,
                     tolerance_seconds: float = 300) -> bool:
    """What a receiver checks: the MAC over ``"<t>.<body>"``, and ``t`` within the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, body, timestamp), header)


def webhook_send(*, url: str, payload: dict, delivery_id: int, event: str, secret: str,
                 timeout_seconds: float) -> SendResult:
    body = body_bytes(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "torghut-alerts/1",
               DELIVERY_HEADER: str(delivery_id), EVENT_HEADER: event,
               SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
    started = time.perf_counter()
    try:
        response = _pool.request("POST", url, body=body, headers=headers, redirect=False,
                                 timeout=urllib3.Timeout(total=timeout_seconds), preload_content=True)
    except urllib3.exceptions.HTTPError as exc:
        return SendResult(False, None, f"{exc.__class__.__name__}: {exc}"[:1000], _ms(started))
    ok = 200 <= response.status < 300
    error = "" if ok else f"HTTP {response.status}: {response.data[:300].decode(errors='replace')}"
    return SendResult(ok, response.status, error, _ms(started))


def email_subject(payload: dict) -> str:
    alert = payload["alert"]
    return f"[torghut {alert['severity']}] {payload['event']}: {alert['title']}"[:200]


def email_body(payload: dict) -> str:
    alert = payload["alert"]
    lines = [f"{alert['title']}", "", f"Alert #{alert['id']} ({alert['dedup_key']}) was {payload['event']}.",
             f"Severity: {alert['severity']}", f"Status: {alert['status']}", f"Opened at: {alert['opened_at']}",
             f"Occurrences: {alert['occurrences']}", "", "Evidence:",
             json.dumps(alert["evidence"], indent=2, sort_keys=True, default=str)]
    return "\n".join(lines)


def email_send(*, recipients: list[str], payload: dict, timeout_seconds: float | None = None) -> SendResult:
    started = time.perf_counter()
    try:
        connection = get_connection(fail_silently=False, timeout=timeout_seconds or settings.EMAIL_TIMEOUT)
        sent = EmailMessage(email_subject(payload), email_body(payload), settings.DEFAULT_FROM_EMAIL, recipients,
                            connection=connection).send()
    except Exception as exc:  # noqa: BLE001 - SMTP, socket and DNS errors alike are a failed attempt
        return SendResult(False, None, f"{exc.__class__.__name__}: {exc}"[:1000], _ms(started))
    if not sent:
        return SendResult(False, None, "the mail backend sent nothing", _ms(started))
    return SendResult(True, None, "", _ms(started))


def send(*, channel: str, target: str, payload: dict, delivery_id: int, event: str) -> SendResult:
    """Send one delivery on its channel (never raises)."""
    if channel == DeliveryChannel.WEBHOOK:
        return webhook_send(url=target, payload=payload, delivery_id=delivery_id, event=event,
                            secret=settings.ALERT_WEBHOOK_SECRET,
                            timeout_seconds=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS)
    return email_send(recipients=[r for r in target.split(",") if r], payload=payload)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
