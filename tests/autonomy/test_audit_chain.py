"""The audit trail and the control events are hash-chained by the database: each row stores the SHA-256 of
its canonical content and the hash of the row before it. ``manage.py verify_audit`` walks both chains and
names the first row changed, removed or inserted out of order, however it was done (here: as the superuser
with the triggers off); the result is stored, shown by the readiness scorecard, and a break raises a
critical alert."""
from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.utils import timezone

from access.choices import Via
from access.models import AuditEvent
from access.services import audit_record
from autonomy import schedules, selectors, services, tasks
from autonomy.models import Alert, AuditChainCheck, ControlEvent
from core import chain
from tests.access.test_serving_role import login_as_serving, refused  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def audits(n: int, prefix: str = "chain") -> list[AuditEvent]:
    return [audit_record(actor="ops", via=Via.COMMAND, action=f"{prefix}-{i}", details={"i": i, "note": "é\n\"x\""},
                         client_ip="10.1.2.3") for i in range(n)]


def verify() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("verify_audit", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def broken() -> str:
    """verify_audit's complaint (it exits non-zero)."""
    err = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("verify_audit", stdout=StringIO(), stderr=err)
    return err.getvalue() + str(info.value)


def tamper(*statements: str, params=None) -> None:
    """As the superuser, with every trigger off for the statements (the append-only and chain triggers)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        try:
            for sql in statements:
                cursor.execute(sql, params)
        finally:  # SET LOCAL outlives a savepoint: the test's own transaction goes on with triggers on
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")


def rows(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT chain_position, id, prev_sha256, row_sha256 FROM {table} ORDER BY chain_position")
        return cursor.fetchall()


def test_the_database_chains_each_row_and_the_offline_definition_recomputes_it():
    events = audits(3)
    services.trading_state_set(state="HALTED", reason="drill", actor="ops")  # a control event (and audit rows)
    chained = rows("audit_events")
    assert [r[0] for r in chained] == list(range(1, len(chained) + 1))
    assert chained[0][2] == chain.GENESIS
    assert all(later[2] == earlier[3] for earlier, later in zip(chained, chained[1:], strict=False))
    assert [r[1] for r in chained] == sorted(r[1] for r in chained)  # ids increase along the chain
    # the row a writer got back carries what the database set
    first = AuditEvent.objects.get(pk=events[0].pk)
    assert (events[0].chain_position, events[0].row_sha256) == (first.chain_position, first.row_sha256)

    # the documented canonical content, rebuilt in Python from the row's values
    columns = chain.chained_columns(AuditEvent)
    values = [getattr(first, name) if kind not in (chain.INET, chain.JSONB) else None for name, kind in columns]
    with connection.cursor() as cursor:
        cursor.execute("SELECT host(client_ip), details::text FROM audit_events WHERE id = %s", [first.pk])
        ip, details = cursor.fetchone()
    values[[n for n, _ in columns].index("client_ip")] = ip
    values[[n for n, _ in columns].index("details")] = details
    content = chain.row_content("audit_events", columns, position=first.chain_position, row_id=first.pk,
                                prev_sha256=first.prev_sha256, values=values)
    assert content.startswith(b'["audit_events", 1, ') and b'"10.1.2.3"' in content
    assert chain.row_sha256("audit_events", columns, position=first.chain_position, row_id=first.pk,
                            prev_sha256=first.prev_sha256, values=values) == first.row_sha256

    out, _ = verify()
    assert "audit_events:" in out and "autonomy_control_events: 1 rows unbroken" in out and "unbroken (check #" in out
    check = AuditChainCheck.objects.get()
    assert check.ok and check.first_break is None and check.rows_checked >= len(chained) + 1
    assert check.chains["autonomy_control_events"]["head_position"] == 1


def test_a_writer_cannot_choose_the_position_or_the_hashes():
    audits(2)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO audit_events (at, actor, actor_roles, via, method, path, action, object_ref, "
                       "request_id, outcome, details, chain_position, prev_sha256, row_sha256) VALUES (now(), 'x', "
                       "'{}', 'command', '', '', 'forged', '', 'r', 'ok', '{}', 999, 'forged', 'forged') "
                       "RETURNING chain_position, prev_sha256, row_sha256")
        position, prev, sha = cursor.fetchone()
    assert position == 3 and prev == rows("audit_events")[1][3] and len(sha) == 64
    verify()


def test_a_row_edited_as_superuser_with_the_triggers_off_is_named_alerted_and_turns_readiness_red(make_client):
    events = audits(5)
    verify()
    target = events[2]
    tamper("UPDATE audit_events SET action = 'nothing-to-see' WHERE id = %s", params=[target.pk])

    complaint = broken()
    assert f"audit_events position {target.chain_position} (id {target.pk}): changed" in complaint
    assert "changed after it was written" in complaint
    check = AuditChainCheck.objects.order_by("-id").first()
    assert not check.ok and check.first_break["id"] == target.pk and check.first_break["problem"] == "changed"
    alert = Alert.objects.get(dedup_key=services.AUDIT_CHAIN_ALERT_KEY)
    assert alert.severity == "critical" and alert.status == "open" and alert.evidence["id"] == target.pk

    body = make_client("auditor").get("/api/v1/readiness").json()
    criterion = next(c for c in body["criteria"] if c["id"] == "audit_chain_verified")
    assert criterion["status"] == "fail" and criterion["observed"].startswith("broken at ")
    assert f"audit_events position {target.chain_position} (id {target.pk}): changed" in criterion["detail"]
    assert body["green"] is False


def test_a_deleted_row_is_named_by_the_gap_it_leaves():
    events = audits(5)
    tamper("DELETE FROM audit_events WHERE id = %s", params=[events[1].pk])
    complaint = broken()
    assert (f"audit_events position {events[2].chain_position} (id {events[2].pk}): removed: position(s) "
            f"{events[1].chain_position} missing before it") in complaint


def test_a_row_inserted_out_of_order_is_named_even_with_hashes_that_fit():
    events = audits(4)
    head = AuditEvent.objects.get(pk=events[-1].pk)
    columns = chain.chained_columns(AuditEvent)
    forged = {"at": head.at - timedelta(hours=1), "actor": "ops", "actor_roles": [], "via": "command", "method": "",
              "path": "", "action": "backdated", "object_ref": "", "request_id": "r", "outcome": "ok",
              "status_code": None, "client_ip": None, "details": "{}"}
    position, row_id = head.chain_position + 1, events[0].pk - 1  # below every id already chained
    sha = chain.row_sha256("audit_events", columns, position=position, row_id=row_id, prev_sha256=head.row_sha256,
                           values=[forged[name] for name, _ in columns])
    tamper("INSERT INTO audit_events (id, at, actor, actor_roles, via, method, path, action, object_ref, request_id, "
           "outcome, details, chain_position, prev_sha256, row_sha256) VALUES (%s, %s, 'ops', '{}', 'command', '', '', "
           "'backdated', '', 'r', 'ok', '{}', %s, %s, %s)",
           params=[row_id, forged["at"], position, head.row_sha256, sha])
    complaint = broken()
    assert f"audit_events position {position} (id {row_id}): out_of_order" in complaint
    assert f"not above the previous row's (id {head.pk}" in complaint


def test_a_chain_cut_from_the_end_or_rewritten_after_a_verification_shows():
    events = audits(4)
    services.trading_state_set(state="HALTED", reason="drill", actor="ops")
    services.trading_state_set(state="ACTIVE", reason="drill over", actor="ops")
    verify()
    last = ControlEvent.objects.order_by("-chain_position").first()
    tamper("DELETE FROM autonomy_control_events WHERE id = %s", params=[last.pk])
    complaint = broken()
    assert "autonomy_control_events position 2: removed: the chain ends at position 1" in complaint
    assert "rows removed from the end" in complaint
    assert events  # the audit chain itself verified (the first break is in the control events)


def test_the_scorecard_needs_a_recent_unbroken_verification(make_client):
    agent = make_client("auditor")

    def criterion():
        body = agent.get("/api/v1/readiness").json()
        return next(c for c in body["criteria"] if c["id"] == "audit_chain_verified")

    never = criterion()
    assert never["status"] == "fail" and "never verified" in never["detail"]
    assert never["threshold"] == "unbroken, verified within 2 h 00 min"
    summary = tasks.verify_audit_chain()
    assert summary["ok"] is True
    fresh = criterion()
    check = AuditChainCheck.objects.get()
    assert fresh["status"] == "pass" and fresh["observed"] == f"verified at {check.at:%Y-%m-%d %H:%M:%S} UTC"
    assert "unbroken, checked " in fresh["detail"]
    later = selectors.readiness_get(now=timezone.now() + timedelta(hours=3))  # no verification since
    stale = next(c for c in later["criteria"] if c["id"] == "audit_chain_verified")
    assert stale["status"] == "fail" and "older than 2 h 00 min" in stale["detail"]
    [schedule] = [s for s in schedules.desired_schedules() if s["name"] == schedules.VERIFY_AUDIT_CHAIN]
    assert schedule["func"] == "autonomy.tasks.verify_audit_chain" and schedule["minutes"] == 60


def test_verify_audit_walks_in_batches_with_progress_and_its_help_has_an_example():
    audits(7)
    out = StringIO()
    call_command("verify_audit", "--batch-size", "3", stdout=out)
    assert "audit_events: 3 rows verified (position 3)" in out.getvalue()
    assert "audit_events: 6 rows verified (position 6)" in out.getvalue()
    from autonomy.management.commands.verify_audit import Command
    text = Command().create_parser("manage.py", "verify_audit").format_help()
    assert "Example:\n  python manage.py verify_audit" in text


def test_the_serving_role_cannot_rewrite_the_hash_columns_nor_skip_the_chain(login_as_serving):  # noqa: F811
    conn = login_as_serving
    for table in ("audit_events", "autonomy_control_events"):
        assert refused(conn, f"UPDATE {table} SET row_sha256 = repeat('0', 64)") == "42501", table
        assert refused(conn, f"UPDATE {table} SET chain_position = chain_position + 1") == "42501", table
    (pgid,) = [t.get_pgid(AuditEvent) for t in AuditEvent._meta.triggers if isinstance(t, chain.HashChain)]
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + pgid + "}"])
        position, sha = conn.execute(
            "INSERT INTO audit_events (at, actor, actor_roles, via, method, path, action, object_ref, request_id, "
            "outcome, details, chain_position, prev_sha256, row_sha256) VALUES (now(), 'web', '{}', 'api', 'POST', "
            "'/x', 'x', '', 'r', 'ok', '{}', 1, 'forged', 'forged') RETURNING chain_position, row_sha256").fetchone()
    assert sha != "forged" and len(sha) == 64 and position >= 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_build_one_unbroken_chain():
    """Writers in parallel transactions (several rows each, some holding their transaction open a moment):
    positions are dense, ids rise along the chain, every link holds."""
    threads, per_thread, errors = 6, 8, []
    barrier = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    audit_record(actor=f"w{n}", via=Via.WORKER, action=f"write-{i}")
                    if i % 3 == 0:
                        audit_record(actor=f"w{n}", via=Via.WORKER, action=f"write-{i}-b")
                        connection.cursor().execute("SELECT pg_sleep(0.01)")
                if n % 2 == 0 and i % 4 == 0:
                    services.symbol_mode_set(symbol=f"SY{n}", mode="disabled" if i % 8 else "enabled",
                                             reason="concurrency", actor=f"w{n}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == []
    chained = rows("audit_events")
    assert len(chained) >= threads * (per_thread + 3)
    assert [r[0] for r in chained] == list(range(1, len(chained) + 1))
    assert [r[1] for r in chained] == sorted(r[1] for r in chained)
    assert ControlEvent.objects.count() > 0
    out, _ = verify()
    assert "unbroken (check #" in out


def test_the_admin_shows_the_chain_columns_read_only(client):
    from django.contrib.auth import get_user_model

    event = AuditEvent.objects.get(pk=audits(1)[0].pk)
    services.trading_state_set(state="HALTED", reason="drill", actor="ops")
    control = ControlEvent.objects.get()
    verify()
    client.force_login(get_user_model().objects.create_superuser("root", password="a-long-password-1"))
    for url, row in ((f"/admin/access/auditevent/{event.pk}/change/", event),
                     (f"/admin/autonomy/controlevent/{control.pk}/change/", control)):
        page = client.get(url).content.decode()
        assert row.row_sha256 in page and row.prev_sha256 in page and "Chain position" in page
        assert 'name="row_sha256"' not in page  # shown, not an input
    assert "ok" in client.get("/admin/autonomy/auditchaincheck/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_request_audit_row_does_not_wait_for_the_disk_and_leaves_the_setting_alone():
    """The middleware's row commits on its own without waiting for the WAL flush (the chain lock is held
    until commit); the setting is its transaction's alone, and never touched inside a caller's transaction."""
    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    from django.test.utils import CaptureQueriesContext

    no_wait = "set_config('synchronous_commit', 'off', true)"
    assert connection.get_autocommit() and setting() == "on"
    with CaptureQueriesContext(connection) as captured:
        event = audit_record(actor="web", via=Via.API, action="order_create", after_commit_flush=False)
    assert no_wait in captured.captured_queries[-1]["sql"]  # its own transaction does not wait
    assert event.chain_position == 1 and setting() == "on"
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        audit_record(actor="web", via=Via.API, action="inside", after_commit_flush=False)
        assert setting() == "on"
    assert not any(no_wait in q["sql"] for q in captured.captured_queries)
    out, _ = verify()
    assert "audit_events: 2 rows unbroken" in out
