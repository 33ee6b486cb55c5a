"""Alert delivery against loopback receivers: a signed webhook with retries and backoff, and email
through Django's SMTP backend; exactly once in effect, also when the receiver is down for a while,
when workers race, and when a worker is killed mid-send."""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.utils import timezone

from autonomy import services
from autonomy.alerting import signature, verify_signature
from autonomy.models import AlertDelivery, AlertDeliveryAttempt
from tests.autonomy.receivers import SMTPReceiver, WebhookReceiver

SECRET = "whsec-test-0123456789"


@pytest.fixture
def hook(settings):
    receiver = WebhookReceiver(SECRET).start()
    settings.ALERT_WEBHOOK_URL, settings.ALERT_WEBHOOK_SECRET = receiver.url, SECRET
    settings.ALERT_EMAIL_TO = []
    settings.ALERT_NOTIFY_MIN_SEVERITY = "warning"
    settings.ALERT_WEBHOOK_TIMEOUT_SECONDS = 2
    settings.ALERT_DELIVERY_BACKOFF_SECONDS = 0.2
    settings.ALERT_DELIVERY_BACKOFF_MAX_SECONDS = 1.0
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 50
    yield receiver
    receiver.stop()


def raise_alerts(n: int, severity="critical"):
    return [services.alert_raise(dedup_key=f"cond-{i}", severity=severity, title=f"condition {i}",
                                 evidence={"i": i}) for i in range(n)]


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    body = b'{"a":1}'
    header = signature("k", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("k", body, header, now=1_700_000_100)
    assert not verify_signature("other", body, header, now=1_700_000_100)
    assert not verify_signature("k", b'{"a":2}', header, now=1_700_000_100)
    assert not verify_signature("k", body, header, now=1_700_001_000)  # too old: a replay


@pytest.mark.django_db
def test_webhook_is_posted_signed_and_each_attempt_is_stored(hook):
    alert = raise_alerts(1)[0]
    tally = services.alert_deliveries_run()
    assert tally == {"sent": 1, "delivered": 1, "retrying": 0, "failed": 0}
    [got] = hook.received
    assert got.signed and got.event == "opened" and got.body["alert"]["id"] == alert.pk
    assert got.body["alert"]["severity"] == "critical" and got.body["alert"]["evidence"] == {"i": 0}
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.delivered_at and got.delivery_id == str(delivery.pk)
    attempt = AlertDeliveryAttempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.ok, attempt.error) == (1, 200, True, "")
    assert attempt.finished_at and attempt.duration_ms is not None
    assert services.alert_deliveries_run()["sent"] == 0  # delivered is final


@pytest.mark.django_db
def test_error_answers_are_retried_with_growing_backoff_and_each_status_is_stored(hook):
    hook.mode = "error"
    raise_alerts(1)
    delays = []
    for _ in range(3):
        services.alert_deliveries_run()
        delivery = AlertDelivery.objects.get()
        delays.append((delivery.next_attempt_at - timezone.now()).total_seconds())
        AlertDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert [a.status_code for a in AlertDeliveryAttempt.objects.order_by("number")] == [503, 503, 503]
    assert all("HTTP 503" in a.error for a in AlertDeliveryAttempt.objects.all())
    assert delays[0] < delays[1] < delays[2] <= 1.0  # 0.2, 0.4, 0.8 s
    hook.mode = "ok"
    services.alert_deliveries_run()
    assert AlertDelivery.objects.get().status == "delivered"


@pytest.mark.django_db
def test_attempts_run_out_then_a_warning_alert_says_so_and_an_operator_requeues(hook, settings):
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 2
    hook.mode = "error"
    raise_alerts(1)
    for _ in range(2):
        AlertDelivery.objects.update(next_attempt_at=timezone.now())
        services.alert_deliveries_run()
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 2
    from autonomy.models import Alert

    failing = Alert.objects.get(dedup_key="alert_delivery_failed:webhook")
    assert failing.severity == "warning" and AlertDelivery.objects.filter(alert=failing).count() == 0
    hook.mode = "ok"
    services.alert_delivery_requeue(delivery_id=delivery.pk, actor="ops")
    services.alert_deliveries_run()
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempt_rows.count() == 3


@pytest.mark.django_db
def test_receiver_down_for_a_while_nothing_is_lost_or_sent_twice(hook):
    """Connections refused for several rounds of retries; once it is back every notification arrives,
    exactly once, and later runs send nothing."""
    hook.stop()
    alerts = raise_alerts(6)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        services.alert_deliveries_run()
        time.sleep(0.1)
    rows = list(AlertDelivery.objects.all())
    assert all(d.status == "pending" and d.attempts >= 3 for d in rows)
    assert all("Connection refused" in d.last_error or "NewConnectionError" in d.last_error for d in rows)
    assert not hook.received
    hook.start()  # back, on the same port
    deadline = time.monotonic() + 10
    while AlertDelivery.objects.filter(status="pending").exists() and time.monotonic() < deadline:
        services.alert_deliveries_run()
        time.sleep(0.1)
    delivered = hook.delivered_ids()
    assert sorted(delivered) == sorted(str(d.pk) for d in rows)  # each once, none lost
    assert {r.body["alert"]["id"] for r in hook.received} == {a.pk for a in alerts}
    for _ in range(3):
        services.alert_deliveries_run()
    assert hook.delivered_ids() == delivered


@pytest.mark.django_db(transaction=True)
def test_racing_workers_deliver_each_notification_once(hook):
    raise_alerts(30)
    errors = []

    def work():
        from django.db import connection

        try:
            services.alert_deliveries_run()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(hook.delivered_ids()) == 30 and len(set(hook.delivered_ids())) == 30
    assert AlertDeliveryAttempt.objects.count() == 30


@pytest.mark.django_db
def test_email_goes_through_djangos_smtp_backend_to_a_loopback_server(settings):
    smtp = SMTPReceiver()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.DEFAULT_FROM_EMAIL = "torghut@plane.test"
        settings.ALERT_WEBHOOK_URL = ""
        settings.ALERT_EMAIL_TO = ["ops@desk.test", "oncall@desk.test"]
        alert = services.alert_raise(dedup_key="budget:gross_notional", severity="critical",
                                     title="Budget gross_notional breached", evidence={"used": "120000"})
        assert services.alert_deliveries_run()["delivered"] == 1
        [message] = smtp.messages
        assert message["from"] == "torghut@plane.test" and message["to"] == ["ops@desk.test", "oncall@desk.test"]
        assert "Subject: [torghut critical] opened: Budget gross_notional breached" in message["data"]
        assert f"Alert #{alert.pk} (budget:gross_notional)" in message["data"] and "120000" in message["data"]
        smtp.close()  # the mail server goes away: the attempt fails and is retried
        services.alert_resolve(alert_id=alert.pk, actor="ops")
        services.alert_deliveries_run()
        retry = AlertDelivery.objects.get(event="resolved")
        assert retry.status == "pending" and retry.attempts == 1 and "Connection refused" in retry.last_error
    finally:
        smtp.close()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_send_leaves_the_work_to_the_next_run_which_sends_it_once(hook, settings, tmp_path):
    """The delivery task runs in a real django-q2 cluster; the receiver holds the first request
    unanswered and the cluster is killed (SIGKILL) meanwhile. The attempt stays unfinished; once its
    lease ends the next run delivers everything, each notification answered 2xx exactly once."""
    from django.db import connection
    from django_q.tasks import async_task

    from tests.dbfaults import DatabaseProxy, QCluster, server_address

    hook.mode = "hang"
    raise_alerts(3)
    settings_dict = connection.settings_dict
    env = {"Q_WORKERS": "1", "ALERT_WEBHOOK_SECRET": SECRET, "ALERT_DELIVERY_LEASE_SECONDS": "2",
           "ALERT_WEBHOOK_TIMEOUT_SECONDS": "30", "LOG_LEVEL": "WARNING"}
    with DatabaseProxy(*server_address(settings_dict)) as proxy, \
            QCluster({**env, "DATABASE_URL": proxy.url(settings_dict)}, log=tmp_path / "qcluster.log") as cluster:
        async_task("autonomy.tasks.deliver_alerts")
        assert hook.hanging.wait(60), cluster.log_tail()
        os.killpg(cluster.proc.pid, signal.SIGKILL)
        cluster.proc.wait(10)
    unfinished = AlertDeliveryAttempt.objects.get()
    assert unfinished.finished_at is None and unfinished.ok is None
    assert AlertDelivery.objects.filter(status="delivered").count() == 0
    hook.mode = "ok"
    settings.ALERT_DELIVERY_LEASE_SECONDS = 2
    time.sleep(2.2)  # the dead worker's lease ends
    from autonomy.tasks import deliver_alerts

    assert deliver_alerts()["delivered"] == 3
    assert deliver_alerts()["sent"] == 0
    assert sorted(hook.delivered_ids()) == sorted(str(pk) for pk in AlertDelivery.objects.values_list("pk", flat=True))
    hung = [r for r in hook.received if r.answered is None]
    assert len(hung) == 1 and hung[0].delivery_id in hook.delivered_ids()  # re-sent under the same id
    assert AlertDelivery.objects.filter(status="delivered").count() == 3
    assert AlertDeliveryAttempt.objects.filter(finished_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_admin_shows_attempts_and_requeues_a_failed_delivery_behind_a_confirmation(hook, settings, client):
    from django.contrib.auth import get_user_model

    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 1
    hook.mode = "error"
    raise_alerts(1)
    services.alert_deliveries_run()
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "failed"
    get_user_model().objects.create_superuser("root", "root@x.test", "a-long-password-1")
    client.login(username="root", password="a-long-password-1")
    page = client.get(f"/admin/autonomy/alertdelivery/{delivery.pk}/change/").content.decode()
    assert "HTTP 503" in page and "attempt" in page.lower()
    url = "/admin/autonomy/alertdelivery/"
    confirm = client.post(url, {"action": "requeue_selected", "_selected_action": [delivery.pk]})
    assert b"Yes, requeue" in confirm.content and AlertDelivery.objects.get().status == "failed"
    hook.mode = "ok"
    client.post(url, {"action": "requeue_selected", "_selected_action": [delivery.pk], "confirm": "yes"})
    assert AlertDelivery.objects.get().status == "pending"
    services.alert_deliveries_run()
    assert AlertDelivery.objects.get().status == "delivered" and len(hook.delivered_ids()) == 1
