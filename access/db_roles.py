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

django-pgtrigger lets a session switch its triggers off with ``SET pgtrigger.ignore = '{...}'``, a
custom setting every role may set. ``apply`` (run after every migrate) redefines pgtrigger's shared
check, ``_pgtrigger_should_ignore``, so that the setting is honoured only for a role that could
disable the trigger anyway (the table's owner, or a superuser): for the runtime roles and their
logins every pgtrigger trigger (append-only tables, fixed columns, stage machines) fires whatever
they set. ``check`` proves it for each role.
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
# The login `make serve` creates on the embedded server and serves (gunicorn, qcluster) as.
SERVICE_LOGIN = "torghut_web"
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


# --- pgtrigger's escape hatch -----------------------------------------------------------------

IGNORE_FUNCTION = "_pgtrigger_should_ignore"

# Same signature and meaning as pgtrigger 4.x's function (every pgtrigger trigger calls it first and
# skips itself when it answers TRUE), with one more condition: the current role must have the
# privileges of the owner of the trigger's table, i.e. could run ALTER TABLE ... DISABLE TRIGGER
# anyway. Catalog names are schema-qualified so that no search_path can redirect them. The common
# path (nothing ignored) reads one setting and returns, without pgtrigger's exception block.
HARDENED_IGNORE_SQL = """
CREATE OR REPLACE FUNCTION {function}(trigger_name NAME)
RETURNS BOOLEAN AS $$
    DECLARE
        _raw TEXT := pg_catalog.current_setting('pgtrigger.ignore', true);
        _ignore TEXT[];
    BEGIN
        IF _raw IS NULL OR _raw = '' THEN
            RETURN FALSE;
        END IF;
        BEGIN
            _ignore := _raw::TEXT[];
        EXCEPTION WHEN OTHERS THEN
            RETURN FALSE;
        END;
        IF (trigger_name = ANY(_ignore)) IS NOT TRUE THEN
            RETURN FALSE;
        END IF;
        RETURN EXISTS (SELECT FROM pg_catalog.pg_trigger t WHERE t.tgname = trigger_name)
           AND NOT EXISTS (
               SELECT FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
               WHERE t.tgname = trigger_name
                 AND NOT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE'));
    END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION {function}(NAME) IS
    'pgtrigger.ignore, honoured only for roles with the privileges of the table owner (torghut db_roles apply)';
"""


def ignore_functions(connection) -> list[str]:
    """pgtrigger's ignore functions present in the database, schema-qualified and quoted."""
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                       "WHERE p.proname = %s AND p.pronargs = 1 ORDER BY 1", [IGNORE_FUNCTION])
        return [f"{q(row[0])}.{q(IGNORE_FUNCTION)}" for row in cursor.fetchall()]


def pgtrigger_triggers(connection) -> dict[str, str]:
    """{trigger name: table} for the pgtrigger-managed triggers of the current schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.tgname, string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND t.tgname LIKE 'pgtrigger\\_%' "
            "GROUP BY t.tgname ORDER BY t.tgname")
        return dict(cursor.fetchall())


def harden_trigger_ignore(connection) -> list[str]:
    """Redefine pgtrigger's ignore function(s) (see ``HARDENED_IGNORE_SQL``). Returns warnings.

    pgtrigger rewrites the function whenever it installs a trigger (a migration, or
    ``manage.py pgtrigger install``), so this runs after every migrate; ``check`` reports a
    runtime role for which the hatch works again."""
    warnings = []
    for function in ignore_functions(connection):
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(HARDENED_IGNORE_SQL.format(function=function))
        except DatabaseError as exc:
            warnings.append(f"cannot redefine {function} ({exc}); pgtrigger.ignore still switches triggers "
                            "off for every role: run `manage.py db_roles apply` as its owner.")
    return warnings


def _ignored_by_current_role(cursor, triggers: Iterable[str], functions: Iterable[str]) -> set[str]:
    """Triggers that would skip themselves for the current role if it set pgtrigger.ignore."""
    names = sorted(triggers)
    if not names:
        return set()
    cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"])
    ignored: set[str] = set()
    for function in functions:
        cursor.execute(f"SELECT name FROM unnest(%s::name[]) AS name WHERE {function}(name) IS TRUE", [names])
        ignored.update(row[0] for row in cursor.fetchall())
    cursor.execute("SELECT set_config('pgtrigger.ignore', NULL, true)")
    return ignored


def trigger_bypass_gaps(connection, roles: Iterable[str] = RUNTIME_ROLES) -> list[str]:
    """For each runtime role (SET LOCAL ROLE, rolled back): the triggers it could switch off by
    setting ``pgtrigger.ignore``. Empty when the hatch is closed to all of them."""
    q = connection.ops.quote_name
    gaps: list[str] = []
    present = existing_roles(connection)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        triggers = pgtrigger_triggers(connection)
        functions = ignore_functions(connection)
        for role in roles:
            if role not in present:
                continue  # reported by check as a missing role
            sid = transaction.savepoint(using=connection.alias)
            try:
                cursor.execute(f"SET LOCAL ROLE {q(role)}")
            except DatabaseError:
                transaction.savepoint_rollback(sid, using=connection.alias)
                continue  # check() reports the role as untried
            for name in sorted(_ignored_by_current_role(cursor, triggers, functions)):
                gaps.append(f"{role} can switch off trigger {name} ({triggers[name]}) with pgtrigger.ignore")
            transaction.savepoint_rollback(sid, using=connection.alias)
        transaction.set_rollback(True, using=connection.alias)
    return gaps


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
    warnings: list[str] = harden_trigger_ignore(connection)
    created: list[str] = []
    if create:
        created, create_warnings = create_roles(connection)
        warnings += create_warnings
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


# --- the serving login ----------------------------------------------------------------------

class UnsafeServiceRole(Exception):
    """An existing role may not become (or stay) a serving login: it could bypass the invariants."""


LOGIN_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"


def ensure_login(connection, name: str, member_of: str = APP) -> str:
    """Create the login role ``name`` (member of ``member_of``, owner of nothing) if missing, or check
    an existing one. Returns "created" or "exists". Idempotent; sets no password (the embedded
    server trusts its Unix socket; elsewhere the operator sets one). Refuses a role that is a
    superuser, may create roles or databases, replicate or bypass row security, owns anything in
    this database, or holds the migrating user's privileges."""
    q = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                       "FROM pg_roles WHERE rolname = %s", [name])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(f"CREATE ROLE {q(name)} {LOGIN_ATTRIBUTES}")
            outcome = "created"
        else:
            problems = [label for label, bad in zip(
                ("superuser", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"), row, strict=True) if bad]
            cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND pg_has_role(%s, c.relowner, 'USAGE')", [name])
            owned = cursor.fetchone()[0]
            if owned:
                problems.append(f"owns (or holds the owner's rights on) {owned} relations of this schema")
            cursor.execute("SELECT pg_has_role(%s, current_user, 'USAGE')", [name])
            if cursor.fetchone()[0]:
                problems.append("holds the migrating user's privileges")
            if problems:
                raise UnsafeServiceRole(f"role {name} cannot serve: {'; '.join(problems)}. "
                                        "Choose another name for the serving login.")
            cursor.execute(f"ALTER ROLE {q(name)} LOGIN INHERIT")
            outcome = "exists"
        cursor.execute(f"GRANT {q(member_of)} TO {q(name)}")
    return outcome


def service_role_report(connection) -> tuple[str, list[str]]:
    """Describe the connecting role as a serving role: (description, problems). The serving
    processes run this on their own connection before they start; any problem means the role could
    rewrite history (or could not do its work) and the process must not serve."""
    q = connection.ops.quote_name
    problems: list[str] = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls "
                       "FROM pg_roles WHERE rolname = current_user")
        user, *flags = cursor.fetchone()
        problems += [f"is {label}" for label, bad in zip(
            ("a superuser", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"), flags, strict=True) if bad]
        members = [r for r in RUNTIME_ROLES if r in existing_roles(connection)]
        held = []
        for role in members:
            cursor.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", [role])
            if cursor.fetchone()[0]:
                held.append(role)
        if APP not in held:
            problems.append(f"does not hold {APP}'s privileges (GRANT {APP} TO {q(user)})")
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1")
        owned = [row[0] for row in cursor.fetchall()]
        if owned:
            problems.append(f"owns (or holds the owner's rights on) {len(owned)} relations, e.g. {owned[0]}: it could "
                            "ALTER, DISABLE TRIGGER or DROP them")
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND has_table_privilege(c.oid, 'TRUNCATE') ORDER BY 1")
        truncatable = [row[0] for row in cursor.fetchall()]
        if truncatable:
            problems.append(f"may TRUNCATE {len(truncatable)} tables, e.g. {truncatable[0]}")
        cursor.execute("SELECT has_schema_privilege(current_schema(), 'CREATE')")
        if cursor.fetchone()[0]:
            problems.append("may CREATE in the schema")
        triggers = pgtrigger_triggers(connection)
        ignored = _ignored_by_current_role(cursor, triggers, ignore_functions(connection))
        if ignored:
            problems.append(f"can switch off {len(ignored)} triggers with pgtrigger.ignore, e.g. {min(ignored)} "
                            "(run `manage.py db_roles apply` as the owner)")
        transaction.set_rollback(True, using=connection.alias)
    description = (f"serving as {user} (member of {', '.join(held) or 'no runtime role'}): owns nothing, "
                   f"no TRUNCATE, no CREATE, pgtrigger.ignore refused on its {len(triggers)} triggers"
                   if not problems else f"cannot serve as {user}")
    return description, problems


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
