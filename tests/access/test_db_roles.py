"""PostgreSQL runtime roles against the real server: grants, refusals, default privileges,
the check command and the system check. Roles are probed with SET LOCAL ROLE inside
transactions that are rolled back."""
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from access import db_roles
from access.checks import ledger_read_errors, ledger_readable
from access.models import AuditEvent
from ledger.models import ResearchRun

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def applied():
    db_roles.apply(connection)


def can(role: str, sql: str) -> bool:
    """Run ``sql`` as ``role``; True unless PostgreSQL refuses it for lack of privilege."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL ROLE {role}")
            cursor.execute(sql)
            transaction.set_rollback(True)
        return True
    except DatabaseError as exc:
        if db_roles._sqlstate(exc) == db_roles.INSUFFICIENT_PRIVILEGE:
            return False
        raise


def test_append_only_and_research_tables_are_found_from_the_models():
    infos = {t.name: t for t in db_roles.tables(connection)}
    assert infos["research_runs"].protected == {"UPDATE", "DELETE"} and infos["research_runs"].research
    assert infos["audit_events"].protected == {"UPDATE", "DELETE"} and not infos["audit_events"].research
    assert infos["strategies"].protected == frozenset()
    assert infos["knox_authtoken"].credential and not infos["django_migrations"].owned_by_model


def test_app_role_writes_but_never_updates_or_deletes_append_only_tables():
    app = db_roles.APP
    assert can(app, "SELECT 1 FROM research_runs LIMIT 0")
    assert can(app, "INSERT INTO research_runs (run_id) SELECT run_id FROM research_runs WHERE false")
    assert not can(app, "UPDATE research_runs SET run_id = run_id WHERE false")
    assert not can(app, "DELETE FROM audit_events WHERE false")
    assert can(app, "UPDATE strategies SET name = name WHERE false")
    assert can(app, "DELETE FROM django_q_task WHERE false")
    assert not can(app, "TRUNCATE strategies")
    assert not can(app, "CREATE TABLE sneaky (id int)")


def test_app_role_can_run_the_real_writer_and_the_audit_trail():
    from tests.ledger.factories import RunFactory

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {db_roles.APP}")
        run = RunFactory()
        AuditEvent.objects.create(actor="x", via="api", action="t", request_id="r", outcome="ok")
        with pytest.raises(DatabaseError), transaction.atomic():
            ResearchRun.objects.filter(pk=run.pk).update(status="failed")
        transaction.set_rollback(True)


def test_readonly_role_reads_everything_but_credentials_and_writes_nothing():
    ro = db_roles.READONLY
    for table in ("research_runs", "strategies", "audit_events", "auth_user", "django_q_task"):
        assert can(ro, f"SELECT 1 FROM {table} LIMIT 0"), table
    assert not can(ro, "SELECT 1 FROM knox_authtoken LIMIT 0")
    assert not can(ro, "SELECT 1 FROM django_session LIMIT 0")
    assert not can(ro, "INSERT INTO strategies (name) SELECT name FROM strategies WHERE false")
    assert not can(ro, "DELETE FROM research_runs WHERE false")


def test_research_role_reads_and_inserts_into_research_tables_and_strategies_only():
    rs = db_roles.RESEARCH
    assert can(rs, "SELECT 1 FROM strategies LIMIT 0")
    assert can(rs, "INSERT INTO research_fold_metrics (fold_name) SELECT fold_name FROM research_fold_metrics "
                   "WHERE false")
    assert not can(rs, "UPDATE research_runs SET run_id = run_id WHERE false")
    assert can(rs, "INSERT INTO strategies (name) SELECT name FROM strategies WHERE false")
    assert not can(rs, "UPDATE strategies SET name = name WHERE false")
    assert not can(rs, "INSERT INTO audit_events (actor) SELECT actor FROM audit_events WHERE false")


def test_default_privileges_cover_tables_created_later():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TABLE research_future (id int)")
        cursor.execute(f"SET LOCAL ROLE {db_roles.READONLY}")
        cursor.execute("SELECT 1 FROM research_future LIMIT 0")
        cursor.execute(f"SET LOCAL ROLE {db_roles.APP}")
        cursor.execute("INSERT INTO research_future VALUES (1)")
        transaction.set_rollback(True)


def test_check_prints_a_clean_matrix_after_apply():
    out = StringIO()
    call_command("db_roles", "check", stdout=out)
    text = out.getvalue()
    assert "no gaps" in text
    assert any(line.split() == ["research_runs", "SI...", "S....", "SI..."] for line in text.splitlines())
    assert any(line.split() == ["knox_authtoken", "SIUD.", ".....", "....."] for line in text.splitlines())


def test_check_reports_both_kinds_of_gap_and_exits_non_zero():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"REVOKE SELECT ON research_runs FROM {db_roles.READONLY}")
            cursor.execute(f"GRANT UPDATE ON research_candidates TO {db_roles.APP}")
        probes = db_roles.check(connection)
        gaps = db_roles.describe_gaps(probes)
        assert "torghut_readonly SELECT on research_runs must work but is refused" in gaps
        assert "torghut_app UPDATE on research_candidates must be refused but works" in gaps
        assert len(gaps) == 2
        err = StringIO()
        with pytest.raises(SystemExit) as exit_info:
            call_command("db_roles", "check", stdout=StringIO(), stderr=err)
        assert exit_info.value.code == 1 and "GAP:" in err.getvalue()
        matrix = {line.split()[0]: line.split()[1:] for line in db_roles.render_matrix(probes).splitlines()[1:-2]}
        assert matrix["research_runs"] == ["SI...", ".....!", "SI..."]
        assert matrix["research_candidates"] == ["SIU..!", "S....", "SI..."]
        transaction.set_rollback(True)


def test_apply_command_is_idempotent_and_audited():
    for _ in range(2):
        out = StringIO()
        call_command("db_roles", "apply", stdout=out)
        assert "granted on" in out.getvalue()
    assert AuditEvent.objects.filter(action="db_roles_apply", outcome="ok").count() == 2
    assert not db_roles.describe_gaps(db_roles.check(connection))


def test_post_migrate_applies_quietly_and_warns_instead_of_failing(capsys, monkeypatch):
    from access.apps import grant_after_migrate

    def refuse(conn, create=True):
        raise DatabaseError("permission denied to create role")

    monkeypatch.setattr(db_roles, "apply", refuse)
    grant_after_migrate(sender=None, using="default", verbosity=1)
    assert "grants not applied" in capsys.readouterr().err


def test_system_check_flags_a_user_that_cannot_read_the_ledger():
    assert ledger_readable(databases=["default"]) == []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE ROLE torghut_test_nobody NOLOGIN")
        cursor.execute("SET LOCAL ROLE torghut_test_nobody")
        assert "research_runs" in ledger_read_errors(connection)
        messages = ledger_readable(databases=["default"])
        assert [m.id for m in messages] == ["access.E001"]
        assert "cannot read the research ledger" in messages[0].msg
        cursor.execute(f"SET LOCAL ROLE {db_roles.READONLY}")
        assert ledger_readable(databases=["default"]) == []
        transaction.set_rollback(True)


@pytest.mark.smoke
def test_research_role_can_really_store_a_run_and_readonly_can_read_it():
    """The failure torghut had: the service's role could not use the ledger. Do the real work."""
    from ledger.services import run_ingest
    from tests.ledger.factories import ArtifactFactory

    body = ArtifactFactory()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL ROLE {db_roles.RESEARCH}")
        result = run_ingest(body=body, actor="research-lane")
        assert result.created
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL ROLE {db_roles.READONLY}")
            cursor.execute("SELECT count(*) FROM research_fold_metrics f JOIN research_candidates c "
                           "ON c.id = f.candidate_id JOIN research_runs r ON r.id = c.run_id WHERE r.run_id = %s",
                           [body["run_id"]])
            assert cursor.fetchone()[0] == 6
            cursor.execute("RESET ROLE")
