"""Verify the hash chains of the audit events and the control events (``core.chain``)."""
import time

from django.conf import settings
from django.core.management.base import CommandError

from access.choices import Via
from access.commands import AuditedCommand
from access.services import command_actor
from autonomy import services

HELP = """Walk the hash chains of the audit events (audit_events) and the control events
(autonomy_control_events) in position order, in batches, recompute each row's SHA-256 from its
columns and check that it links to the row before it. Names the first row that was changed,
removed or inserted out of order (table, position, id and what is wrong) and exits 1; exits 0
when both chains are unbroken. Each run is stored (the readiness scorecard's audit_chain_verified
shows the newest) and a break raises the critical alert audit_chain; the worker runs the same
check every AUDIT_CHAIN_VERIFY_MINUTES (schedule autonomy.verify_audit_chain).

Example:
  python manage.py verify_audit
  python manage.py verify_audit --batch-size 50000"""


class Command(AuditedCommand):
    help = HELP

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=settings.AUDIT_CHAIN_BATCH_SIZE,
                            help="rows read per query (default %(default)s; memory stays flat on long chains)")

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        started = time.perf_counter()
        verbose = options["verbosity"] >= 1

        def progress(state):
            if verbose and state.rows >= batch_size:
                self.stdout.write(f"  {state.table}: {state.rows:,} rows verified (position {state.position:,}), "
                                  f"{time.perf_counter() - started:.1f} s")

        check = services.audit_chain_verify(actor=command_actor(), via=Via.COMMAND, batch_size=batch_size,
                                            progress=progress)
        for table, chain in check.chains.items():
            status = "unbroken" if chain["ok"] else "BROKEN"
            self.stdout.write(f"{table}: {chain['rows']:,} rows {status} up to position {chain['head_position']:,}"
                              f" (row_sha256 {chain['head_sha256'][:16]}…)")
        self.audit_details = {"check": check.pk, "ok": check.ok, "rows_checked": check.rows_checked}
        elapsed = time.perf_counter() - started
        if not check.ok:
            b = check.first_break
            where = f"{b['table']} position {b['position']}" + (f" (id {b['id']})" if b["id"] is not None else "")
            self.stderr.write(f"BROKEN: {where}: {b['problem']}: {b['detail']}")
            raise CommandError(f"the hash chain is broken at {where} (check #{check.pk}, {elapsed:.1f} s); "
                               f"the critical alert {services.AUDIT_CHAIN_ALERT_KEY} is raised")
        self.stdout.write(f"verified {check.rows_checked:,} rows in {len(check.chains)} chains in {elapsed:.1f} s: "
                          f"unbroken (check #{check.pk})")
