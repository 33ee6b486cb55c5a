"""Upgrading a database that already holds audit and control events chains those rows in id order: the
first verification after the upgrade passes, and rows written afterwards continue the chain."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from access.choices import Via
from access.services import audit_record

BEFORE = [("access", "0002_strategy_in_strategies_app"), ("autonomy", "0011_fill_in_one_statement")]
AFTER = [("access", "0003_hash_chain"), ("autonomy", "0012_hash_chain")]


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_chains_the_stored_rows_in_id_order_and_verify_passes():
    MigrationExecutor(connection).migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            for row_id in (30, 10, 20):  # stored out of id order: the chain follows the ids
                cursor.execute(
                    "INSERT INTO audit_events (id, at, actor, actor_roles, via, method, path, action, object_ref, "
                    "request_id, outcome, status_code, client_ip, details) VALUES (%s, now() - interval '1 day', "
                    "'ops', '{operator}', 'api', 'POST', '/api/v1/x', 'legacy', '', 'r', 'ok', 201, '::1', "
                    "'{\"n\": 1.50, \"text\": \"caf\\u00e9\"}')", [row_id])
            cursor.execute("INSERT INTO autonomy_control_events (kind, scope, actor, via, reason, evidence, before, "
                           "after, at) VALUES ('trading_state', 'global', 'ops', 'api', 'old', '{}', "
                           "'{\"state\": \"ACTIVE\"}', '{\"state\": \"HALTED\"}', now())")
    finally:
        MigrationExecutor(connection).migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, chain_position FROM audit_events ORDER BY chain_position")
        assert cursor.fetchall() == [(10, 1), (20, 2), (30, 3)]
    new = audit_record(actor="ops", via=Via.COMMAND, action="after-upgrade")
    assert new.chain_position == 4 and new.pk > 30

    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert "audit_events: 4 rows unbroken" in out.getvalue()
    assert "autonomy_control_events: 1 rows unbroken" in out.getvalue()
