"""PostgreSQL runtime roles, granted and checked by code.

- ``torghut_app``: the service. SELECT/INSERT/UPDATE/DELETE on every application table, except
  no UPDATE or DELETE where a model's trigger refuses them (append-only tables: the ledger, the
  audit trail, and whatever other apps declare with ``core.db.append_only()``).
  Tables no model owns (``django_migrations``) are read-only for it.
- ``torghut_readonly``: SELECT on everything but credentials (token digests, session data), for
  dashboards and analysts.
- ``torghut_research``: what ``torghut_readonly`` reads, plus INSERT into ``research_*`` tables
  and ``strategies`` (a run's strategy is recorded on first sight).

No runtime role gets TRUNCATE, REFERENCES or TRIGGER, nor CREATE on the schema: the migrating
user owns the schema and the tables. Which table is append-only or a research table is derived
from the models, never from a hand-kept list.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pgtrigger
from django.apps import apps
from django.db import DatabaseError, transaction

APP = "torghut_app"
READONLY = "torghut_readonly"
RESEARCH = "torghut_research"
RUNTIME_ROLES = (APP, READONLY, RESEARCH)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
RESEARCH_PREFIX = "research_"
# A run names its strategy and the ledger writer records it on first sight, so a research
# writer also needs INSERT (never UPDATE/DELETE) on ``strategies``.
RESEARCH_EXTRA_TABLES = frozenset({"strategies"})
INSUFFICIENT_PRIVILEGE = "42501"


@dataclasses.dataclass(frozen=True)
class TableInfo:
    name: str
    owned_by_model: bool
    protected: frozenset[str]  # operations a trigger refuses: UPDATE and/or DELETE
    credential: bool

    @property
    def research(self) -> bool:
        return self.name.startswith(RESEARCH_PREFIX) or self.name in RESEARCH_EXTRA_TABLES


def protected_operations(model) -> frozenset[str]:
    """UPDATE/DELETE refused outright by a pgtrigger ``Protect`` trigger on the model (append-only).

    A conditional ``Protect`` (e.g. "the name never changes") refuses only some updates, so the
    runtime role keeps the privilege and the trigger refuses what it must."""
    ops: set[str] = set()
    for trigger in getattr(model._meta, "triggers", None) or []:
        if isinstance(trigger, pgtrigger.Protect) and trigger.condition is None:
            for part in str(trigger.operation).split(" OR "):
                word = part.split()[0].upper() if part.strip() else ""
                if word in ("UPDATE", "DELETE"):
                    ops.add(word)
    return frozenset(ops)


def _credential_tables() -> set[str]:
    names = set()
    for label in ("knox.AuthToken", "sessions.Session"):
        try:
            names.add(apps.get_model(label)._meta.db_table)
        except LookupError:
            pass
    return names


def tables(connection) -> list[TableInfo]:
    """Every table of the current schema, classified from the models that own them."""
    existing = set(connection.introspection.table_names(include_views=False))
    models = {m._meta.db_table: m for m in apps.get_models(include_auto_created=True)
              if not m._meta.proxy}
    credentials = _credential_tables()
    return [TableInfo(name=name, owned_by_model=name in models,
                      protected=protected_operations(models[name]) if name in models else frozenset(),
                      credential=name in credentials)
            for name in sorted(existing)]


def expected_privileges(role: str, table: TableInfo) -> frozenset[str]:
    if role == APP:
        if not table.owned_by_model:
            return frozenset({"SELECT"})
        return frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"}) - table.protected
    if table.credential:
        return frozenset()
    if role == READONLY:
        return frozenset({"SELECT"})
    if role == RESEARCH:
        return frozenset({"SELECT", "INSERT"}) if table.research else frozenset({"SELECT"})
    raise ValueError(f"Unknown runtime role {role!r}.")


# --- apply ----------------------------------------------------------------------------------

@dataclasses.dataclass
class ApplyResult:
    created: list[str]
    missing: list[str]
    tables: int
    warnings: list[str]


def existing_roles(connection) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(RUNTIME_ROLES)])
        return {row[0] for row in cursor.fetchall()}


def create_roles(connection) -> tuple[list[str], list[str]]:
    """Create the NOLOGIN runtime roles that are missing. Returns (created, warnings)."""
    created, warnings = [], []
    for role in sorted(set(RUNTIME_ROLES) - existing_roles(connection)):
        quoted = connection.ops.quote_name(role)
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(
                    "DO $$ BEGIN "
                    f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
                    f"CREATE ROLE {quoted} NOLOGIN; END IF; "
                    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$")
            created.append(role)
        except DatabaseError as exc:
            warnings.append(f"cannot create role {role} ({exc}); ask a superuser to run "
                            "`manage.py db_roles apply` or to CREATE ROLE it.")
    return created, warnings


def apply(connection, *, create: bool = True) -> ApplyResult:
    """Create the roles if missing, grant per table, and set default privileges so tables
    created later by the migrating user are covered. Idempotent."""
    warnings: list[str] = []
    created: list[str] = []
    if create:
        created, warnings = create_roles(connection)
    present = existing_roles(connection)
    missing = sorted(set(RUNTIME_ROLES) - present)
    roles = [r for r in RUNTIME_ROLES if r in present]
    q = connection.ops.quote_name
    infos = tables(connection)
    if not roles:
        return ApplyResult(created, missing, 0, warnings)
    role_list = ", ".join(q(r) for r in roles)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = q(cursor.fetchone()[0])
        cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role_list}")
        for info in infos:
            table = q(info.name)
            cursor.execute(f"REVOKE ALL ON TABLE {table} FROM {role_list}")
            for role in roles:
                privs = [p for p in PRIVILEGES if p in expected_privileges(role, info)]
                if privs:
                    cursor.execute(f"GRANT {', '.join(privs)} ON TABLE {table} TO {q(role)}")
        writers = ", ".join(q(r) for r in (APP, RESEARCH) if r in present)
        readers = ", ".join(q(r) for r in (READONLY, RESEARCH) if r in present)
        if writers:
            cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {writers}")
            cursor.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {writers}")
        if APP in present:
            cursor.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
                           f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q(APP)}")
        if readers:
            cursor.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {readers}")
    if missing:
        warnings.append(f"roles missing, not granted: {', '.join(missing)}")
    return ApplyResult(created, missing, len(infos), warnings)


# --- check ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Probe:
    role: str
    table: str
    privilege: str
    expected: bool
    actual: bool | None  # None: the probe itself failed for another reason
    error: str = ""

    @property
    def gap(self) -> bool:
        return self.actual is not self.expected


def _probe_column(cursor, table: str) -> str:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attidentity <> 'a' AND attgenerated = '' ORDER BY attnum LIMIT 1",
        [table])
    row = cursor.fetchone()
    return row[0] if row else ""


def _statement(privilege: str, table: str, column: str) -> str:
    if privilege == "SELECT":
        return f"SELECT 1 FROM {table} LIMIT 0"
    if privilege == "INSERT":
        return f"INSERT INTO {table} ({column}) SELECT {column} FROM {table} WHERE false"
    if privilege == "UPDATE":
        return f"UPDATE {table} SET {column} = {column} WHERE false"
    if privilege == "DELETE":
        return f"DELETE FROM {table} WHERE false"
    raise ValueError(privilege)


def _sqlstate(exc: BaseException) -> str | None:
    while exc is not None:
        state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if state:
            return state
        exc = exc.__cause__
    return None


def check(connection, roles: Iterable[str] = RUNTIME_ROLES) -> list[Probe]:
    """For each role: SET LOCAL ROLE, then try what must work and what must be refused on every
    table. UPDATE and DELETE match no row (their privilege check fires anyway), INSERT inserts
    nothing, TRUNCATE is asked of ``has_table_privilege``; everything is rolled back."""
    q = connection.ops.quote_name
    infos = tables(connection)
    probes: list[Probe] = []
    present = existing_roles(connection)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        columns = {info.name: _probe_column(cursor, q(info.name)) for info in infos}
        for role in roles:
            if role not in present:
                probes.extend(Probe(role, info.name, p, p in expected_privileges(role, info), None,
                                    "role does not exist") for info in infos for p in PRIVILEGES)
                continue
            sid = transaction.savepoint(using=connection.alias)
            try:
                cursor.execute(f"SET LOCAL ROLE {q(role)}")
            except DatabaseError as exc:
                transaction.savepoint_rollback(sid, using=connection.alias)
                probes.extend(Probe(role, info.name, p, p in expected_privileges(role, info), None,
                                    f"cannot SET ROLE: {exc}".strip()) for info in infos for p in PRIVILEGES)
                continue
            for info in infos:
                expected = expected_privileges(role, info)
                table = q(info.name)
                for privilege in PRIVILEGES:
                    should = privilege in expected
                    if privilege == "TRUNCATE":
                        cursor.execute("SELECT has_table_privilege(%s, 'TRUNCATE')", [table])
                        probes.append(Probe(role, info.name, privilege, should, bool(cursor.fetchone()[0])))
                        continue
                    column = q(columns[info.name]) if columns[info.name] else ""
                    if privilege in ("INSERT", "UPDATE") and not column:
                        probes.append(Probe(role, info.name, privilege, should, None, "no writable column"))
                        continue
                    point = transaction.savepoint(using=connection.alias)
                    try:
                        cursor.execute(_statement(privilege, table, column))
                        actual, error = True, ""
                    except DatabaseError as exc:
                        state = _sqlstate(exc)
                        actual = False if state == INSUFFICIENT_PRIVILEGE else None
                        error = "" if actual is False else f"{state}: {exc}".strip()
                    transaction.savepoint_rollback(point, using=connection.alias)
                    probes.append(Probe(role, info.name, privilege, should, actual, error))
            transaction.savepoint_rollback(sid, using=connection.alias)
        transaction.set_rollback(True, using=connection.alias)
    return probes


LETTERS = {"SELECT": "S", "INSERT": "I", "UPDATE": "U", "DELETE": "D", "TRUNCATE": "T"}


def render_matrix(probes: list[Probe], roles: Iterable[str] = RUNTIME_ROLES) -> str:
    """A role × table matrix: granted privileges as letters, ``.`` refused, ``!`` marks a gap."""
    roles = list(roles)
    cells: dict[tuple[str, str], list[str]] = {}
    gap_cells: set[tuple[str, str]] = set()
    for p in probes:
        letter = LETTERS[p.privilege] if p.actual else ("?" if p.actual is None else ".")
        cells.setdefault((p.table, p.role), []).append(letter)
        if p.gap:
            gap_cells.add((p.table, p.role))
    table_names = sorted({p.table for p in probes})
    width = max([len(t) for t in table_names] + [5]) + 2
    col = max(len(r) for r in roles) + 2
    lines = ["table".ljust(width) + "".join(r.ljust(col) for r in roles)]
    for table in table_names:
        row = table.ljust(width)
        for role in roles:
            text = "".join(cells.get((table, role), []))
            row += (text + ("!" if (table, role) in gap_cells else "")).ljust(col)
        lines.append(row.rstrip())
    lines.append("")
    lines.append("S select, I insert, U update, D delete, T truncate; . refused; ? probe failed; ! differs from policy")
    return "\n".join(lines)


def describe_gaps(probes: list[Probe]) -> list[str]:
    out = []
    for p in probes:
        if p.gap:
            want = "must work" if p.expected else "must be refused"
            got = {True: "works", False: "is refused", None: f"could not be tried ({p.error})"}[p.actual]
            out.append(f"{p.role} {p.privilege} on {p.table} {want} but {got}")
    return out
