import sys

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from access import db_roles
from access.checks import ledger_read_errors
from access.choices import Outcome, Via
from access.services import audit_record, command_actor
from core.commands import BaseCommand


class Command(BaseCommand):
    help = """PostgreSQL runtime roles.
  apply          create torghut_app, torghut_readonly and torghut_research if missing, grant per
                 table, set default privileges, and close pgtrigger.ignore to every role but the
                 tables' owner (runs after every migrate)
  check          SET ROLE to each, try what must work and what must be refused on every table, print
                 a role x table matrix; exits non-zero on any gap
  login NAME     create (or check) the login role NAME, a member of torghut_app that owns nothing,
                 for the serving processes
  check-service  run on the serving connection: says which role it is and exits non-zero if that
                 role could bypass the invariants (superuser, owner, TRUNCATE, CREATE, pgtrigger.ignore)

Examples:
  manage.py db_roles apply
  manage.py db_roles check
  manage.py db_roles login torghut_web
  DATABASE_URL=postgresql://torghut_web@db.internal/torghut manage.py db_roles check-service"""

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["apply", "check", "login", "check-service"])
        parser.add_argument("name", nargs="?", help=f"login: the role to ensure (default {db_roles.SERVICE_LOGIN})")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, action, name, database, **options):
        connection = connections[database]
        if name and action != "login":
            raise CommandError(f"`{action}` takes no role name.")
        if action == "apply":
            return self.apply(connection)
        if action == "login":
            return self.login(connection, name or db_roles.SERVICE_LOGIN)
        if action == "check-service":
            description, problems = db_roles.service_role_report(connection)
            if problems:
                for problem in problems:
                    self.stderr.write(f"{description}: it {problem}")
                sys.exit(1)
            self.stdout.write(description)
            return
        probes = db_roles.check(connection)
        self.stdout.write(db_roles.render_matrix(probes))
        gaps = db_roles.describe_gaps(probes)
        gaps += db_roles.trigger_bypass_gaps(connection)
        denied = ledger_read_errors(connection)
        gaps += [f"the connecting user cannot read {t}" for t in denied]
        if gaps:
            for gap in gaps:
                self.stderr.write(f"GAP: {gap}")
            self.stderr.write(f"{len(gaps)} gap(s); run `manage.py db_roles apply`.")
            sys.exit(1)
        self.stdout.write(f"no gaps: {len(probes)} probes over {len({p.table for p in probes})} tables; "
                          f"pgtrigger.ignore refused to {', '.join(db_roles.RUNTIME_ROLES)}")

    def apply(self, connection):
        result = db_roles.apply(connection)
        for role in result.created:
            self.stdout.write(f"created role {role}")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(f"granted on {result.tables} tables to "
                          f"{', '.join(r for r in db_roles.RUNTIME_ROLES if r not in result.missing)}")
        audit_record(actor=command_actor(), via=Via.COMMAND, action="db_roles_apply",
                     outcome=Outcome.ERROR if result.missing else Outcome.OK,
                     details={"created": result.created, "missing": result.missing, "tables": result.tables})
        if result.missing:
            raise CommandError(f"roles missing: {', '.join(result.missing)}")

    def login(self, connection, name):
        try:
            outcome = db_roles.ensure_login(connection, name)
        except db_roles.UnsafeServiceRole as exc:
            audit_record(actor=command_actor(), via=Via.COMMAND, action="db_roles_login", outcome=Outcome.REFUSED,
                         details={"role": name, "reason": str(exc)})
            raise CommandError(str(exc)) from None
        audit_record(actor=command_actor(), via=Via.COMMAND, action="db_roles_login", outcome=Outcome.OK,
                     details={"role": name, "outcome": outcome})
        self.stdout.write(f"login role {name}: {outcome}, member of {db_roles.APP}, owns nothing")
