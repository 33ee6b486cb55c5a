"""The web process cannot rewrite history.

`make serve` migrates as the owner and serves (gunicorn, qcluster) as a login role that is a member
of ``torghut_app`` and owns nothing. That role is refused TRUNCATE, ALTER TABLE ... DISABLE TRIGGER
and ``session_replication_role``; and django-pgtrigger's escape hatch (``pgtrigger.ignore``, a
custom setting any role may set) no longer switches a trigger off for it, even where a privilege
was granted by mistake. The owner keeps the hatch.
"""
from io import StringIO

import pgtrigger
import psycopg
import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from access import db_roles
from access.models import AuditEvent
from ledger.models import ResearchRun
from tests.ledger.factories import RunFactory

pytestmark = pytest.mark.django_db

SERVING = db_roles.SERVICE_LOGIN


def pgid(model) -> str:
    (trigger,) = [t for t in model._meta.triggers if isinstance(t, pgtrigger.Protect)]
    return trigger.get_pgid(model)


@pytest.fixture
def login_as_serving(serving_login):
    """A real session of the serving role on the test database (not SET ROLE from a superuser)."""
    params = connection.get_connection_params()
    conn = psycopg.connect(dbname=params["dbname"], host=params.get("host"), port=params.get("port"),
                           user=serving_login, autocommit=True)
    yield conn
    conn.close()


def refused(conn, *statements: str | tuple[str, list]) -> str:
    """Run the statements in one transaction, which must fail; return PostgreSQL's SQLSTATE."""
    with pytest.raises(psycopg.Error) as info:
        with conn.transaction():
            for statement in statements:
                sql, params = statement if isinstance(statement, tuple) else (statement, None)
                conn.execute(sql, params)
    return info.value.sqlstate


@pytest.mark.smoke
def test_the_serving_login_owns_nothing_and_cannot_truncate_or_switch_triggers_off(login_as_serving):
    conn = login_as_serving
    row = conn.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, "
                       "pg_has_role(current_user, 'torghut_app', 'USAGE') FROM pg_roles "
                       "WHERE rolname = current_user").fetchone()
    assert row == (SERVING, False, False, False, False, False, True)
    owned = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = current_schema() AND pg_has_role(current_user, c.relowner, 'USAGE')"
                         ).fetchone()[0]
    assert owned == 0
    assert conn.execute("SELECT count(*) FROM research_runs").fetchone()[0] >= 0  # it does read the ledger
    for table in ("research_runs", "audit_events", "executions", "strategies"):
        assert refused(conn, f"TRUNCATE {table}") == "42501", table
    assert refused(conn, "ALTER TABLE research_runs DISABLE TRIGGER ALL") == "42501"
    assert refused(conn, "SET session_replication_role = replica") == "42501"
    assert refused(conn, "CREATE TABLE sneaky (id int)") == "42501"
    assert refused(conn, "DROP TABLE research_runs") == "42501"
    for table, model in (("research_runs", ResearchRun), ("audit_events", AuditEvent)):
        ignore = "{" + pgid(model) + "}"
        with conn.transaction(force_rollback=True):
            conn.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignore])
            # what each append-only trigger asks before it refuses: never "skip me" for this role
            assert conn.execute("SELECT public._pgtrigger_should_ignore(%s)", [pgid(model)]).fetchone()[0] is False
        set_ignore = ("SELECT set_config('pgtrigger.ignore', %s, true)", [ignore])
        assert refused(conn, set_ignore, f"UPDATE {table} SET id = id") == "42501"
        assert refused(conn, set_ignore, f"DELETE FROM {table}") == "42501"


@pytest.mark.parametrize("role", [SERVING, db_roles.APP, db_roles.RESEARCH])
def test_pgtrigger_ignore_does_not_switch_the_append_only_trigger_off_for_a_runtime_role(role, serving_login):
    """The second line of defence: even if UPDATE and DELETE were granted by mistake, the trigger holds."""
    RunFactory()
    AuditEvent.objects.create(actor="x", via="api", action="t", request_id="r", outcome="ok")
    ignore = "{" + ",".join([pgid(ResearchRun), pgid(AuditEvent)]) + "}"
    statements = ["UPDATE research_runs SET status = 'failed'", "DELETE FROM research_runs",
                  "UPDATE audit_events SET outcome = 'error'", "DELETE FROM audit_events"]
    for sql in statements:
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot update or delete"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("GRANT UPDATE, DELETE ON research_runs, audit_events TO torghut_app, torghut_research")
                cursor.execute(f"SET LOCAL ROLE {role}")
                cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", [ignore])
                cursor.execute(sql)
    # the same through pgtrigger's own API
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("GRANT UPDATE ON research_runs TO torghut_app, torghut_research")
        cursor.execute(f"SET LOCAL ROLE {role}")
        with pgtrigger.ignore("ledger.ResearchRun:append_only"):
            with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic():
                ResearchRun.objects.update(status="failed")
        transaction.set_rollback(True)
    assert ResearchRun.objects.get().status == "passed"
    assert AuditEvent.objects.filter(action="t", outcome="ok").count() == 1


@pytest.mark.smoke
def test_the_serving_login_cannot_jump_a_strategy_to_live_or_rename_it_by_ignoring_the_triggers(serving_login):
    """Where the service may UPDATE (strategies), the triggers alone hold the rules: one stage up at a
    time, names never change. pgtrigger.ignore must not lift them for the serving login."""
    from strategies.models import Strategy

    strategy = Strategy.objects.create(name="hatch-test")
    stage_fsm = Strategy._meta.triggers[0].get_pgid(Strategy)
    name_fixed = Strategy._meta.triggers[1].get_pgid(Strategy)
    for sql in (f"UPDATE strategies SET stage = 'live' WHERE id = {strategy.pk}",
                f"UPDATE strategies SET name = 'renamed' WHERE id = {strategy.pk}"):
        with pytest.raises(DatabaseError, match="pgtrigger"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL ROLE {serving_login}")
                cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + f"{stage_fsm},{name_fixed}}}"])
                cursor.execute(sql)
    with transaction.atomic(), connection.cursor() as cursor:  # what the service may do, it does
        cursor.execute(f"SET LOCAL ROLE {serving_login}")
        cursor.execute(f"UPDATE strategies SET stage = 'paper', description = 'x' WHERE id = {strategy.pk}")
        transaction.set_rollback(True)
    strategy.refresh_from_db()
    assert (strategy.name, strategy.stage) == ("hatch-test", "shadow")


def test_the_owner_keeps_the_escape_hatch():
    """Migrations and deliberate repairs run as the owner: pgtrigger.ignore still works for it."""
    RunFactory()
    with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic():
        ResearchRun.objects.update(status="failed")
    with transaction.atomic():
        with pgtrigger.ignore("ledger.ResearchRun:append_only"):
            assert ResearchRun.objects.update(status="failed") == 1
        assert ResearchRun.objects.get().status == "failed"
        with pytest.raises(DatabaseError, match="pgtrigger: Cannot"), transaction.atomic():
            ResearchRun.objects.update(status="passed")  # outside the block the trigger is back
        transaction.set_rollback(True)
    assert ResearchRun.objects.get().status == "passed"


def test_a_reinstalled_escape_hatch_is_a_gap_until_apply():
    """A migration that installs a trigger rewrites pgtrigger's shared ignore function; post_migrate
    (db_roles apply) hardens it again, and db_roles check reports it if that did not happen."""
    with transaction.atomic():
        assert db_roles.trigger_bypass_gaps(connection) == []
        with connection.cursor() as cursor:
            cursor.execute(ResearchRun._meta.triggers[0].compile(ResearchRun).install_sql)
        gaps = db_roles.trigger_bypass_gaps(connection)
        assert f"{db_roles.APP} can switch off trigger {pgid(ResearchRun)} (research_runs) with pgtrigger.ignore" \
            in gaps
        err = StringIO()
        with pytest.raises(SystemExit) as exit_info:
            call_command("db_roles", "check", stdout=StringIO(), stderr=err)
        assert exit_info.value.code == 1 and "with pgtrigger.ignore" in err.getvalue()
        db_roles.apply(connection)
        assert db_roles.trigger_bypass_gaps(connection) == []
        transaction.set_rollback(True)


def test_ensure_login_is_idempotent_and_refuses_a_powerful_role(serving_login):
    with transaction.atomic():
        assert db_roles.ensure_login(connection, SERVING) == "exists"
        assert db_roles.ensure_login(connection, "torghut_web_test") == "created"
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolcanlogin, rolsuper, rolinherit, pg_has_role('torghut_web_test', "
                           "'torghut_app', 'USAGE') FROM pg_roles WHERE rolname = 'torghut_web_test'")
            assert cursor.fetchone() == (True, False, True, True)
            cursor.execute("SELECT current_user")
            owner = cursor.fetchone()[0]
            cursor.execute("CREATE ROLE torghut_web_owner LOGIN")
            cursor.execute("ALTER TABLE strategies OWNER TO torghut_web_owner")
        with pytest.raises(db_roles.UnsafeServiceRole, match="superuser"):
            db_roles.ensure_login(connection, owner)
        with pytest.raises(db_roles.UnsafeServiceRole, match="owns"):
            db_roles.ensure_login(connection, "torghut_web_owner")
        transaction.set_rollback(True)


def test_check_service_accepts_the_serving_role_and_refuses_the_owner(serving_login):
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("db_roles", "check-service", stdout=out, stderr=err)
    assert exit_info.value.code == 1
    assert "superuser" in err.getvalue() and "TRUNCATE" in err.getvalue()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {SERVING}")
        out = StringIO()
        call_command("db_roles", "check-service", stdout=out, stderr=StringIO())
        assert f"serving as {SERVING} (member of torghut_app)" in out.getvalue()
        transaction.set_rollback(True)
