"""System checks: the database user must be able to read the research ledger."""
from __future__ import annotations

from django.apps import apps
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError, connections


def ledger_read_errors(connection) -> list[str]:
    """Ledger tables (that exist) the connection's current user cannot SELECT from."""
    existing = set(connection.introspection.table_names(include_views=False))
    wanted = [m._meta.db_table for m in apps.get_app_config("ledger").get_models()]
    missing = []
    with connection.cursor() as cursor:
        for table in wanted:
            if table not in existing:
                continue  # not migrated yet; migrate creates it (owned by this user)
            cursor.execute("SELECT has_table_privilege(%s, 'SELECT')", [connection.ops.quote_name(table)])
            if not cursor.fetchone()[0]:
                missing.append(table)
    return missing


@register(Tags.database)
def ledger_readable(app_configs=None, databases=None, **kwargs):
    """Runs with ``manage.py check --database default``, before ``migrate``, and in db_roles check."""
    messages = []
    for alias in databases or []:
        connection = connections[alias]
        try:
            denied = ledger_read_errors(connection)
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_user")
                user = cursor.fetchone()[0]
        except DatabaseError as exc:
            messages.append(Warning(f"Could not check ledger access on database {alias!r}: {exc}",
                                    id="access.W001"))
            continue
        if denied:
            messages.append(Error(
                f"The database user {user!r} cannot read the research ledger: permission denied on "
                f"{', '.join(denied)}.",
                hint=f"Run `manage.py db_roles apply` as the schema owner, then GRANT torghut_app "
                     f"(service) or torghut_readonly (dashboards) TO {user}.",
                id="access.E001"))
    return messages
