"""Audit hash chain benchmarks (figures printed, never asserted).

* the chain trigger's cost: rows/s of a bulk INSERT … SELECT into ``audit_events`` (the trigger runs per
  row) against the same INSERT into a copy of the table without triggers;
* one audit row per INSERT in its own transaction: p50 / p90 latency, alone and with 4 writers at once (the
  chain lock is held from the insert to the commit), into the copy without triggers, into the chain, and as
  the request middleware writes it (``audit_record(after_commit_flush=False)``: the commit does not wait
  for the disk, so neither does the next writer);
* ``verify_audit``'s walk: rows/s over the whole chain (batches of ``AUDIT_CHAIN_BATCH_SIZE``).

Runs on a throw-away database. ``python -m bench.bench_audit_chain [--rows N]``.
"""
from __future__ import annotations

import itertools
import statistics
import sys
import threading
import time

from bench.common import bench_database

ROWS = 200_000

BULK = """
INSERT INTO {table} (at, actor, actor_roles, via, method, path, action, object_ref, request_id, outcome,
  status_code, client_ip, details{extra_columns})
SELECT now() - make_interval(secs => %s - g), 'bench-' || (g %% 50), '{{agent}}', 'api', 'POST',
  '/api/v1/trading/orders', 'order_create', 'client_order_id=b-' || g, md5(g::text), 'ok', 201, '127.0.0.1',
  jsonb_build_object('client_order_id', 'b-' || g, 'qty', 1.5){extra_values}
FROM generate_series(%s, %s) g
"""


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def _bulk(table: str, rows: int, *, plain: bool) -> float:
    from django.db import connection, transaction

    sql = BULK.format(table=table, extra_columns=", chain_position, prev_sha256, row_sha256" if plain else "",
                      extra_values=", g, '', ''" if plain else "")
    started = time.perf_counter()
    for first in range(1, rows + 1, 10_000):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [rows, first, min(rows, first + 9_999)])
    return rows / (time.perf_counter() - started)


ONE = """INSERT INTO {table} (at, actor, actor_roles, via, method, path, action, object_ref, request_id, outcome,
  status_code, client_ip, details{extra_columns}) VALUES (now(), 'bench', '{{agent}}', 'api', 'POST',
  '/api/v1/trading/orders', 'order_create', %s, md5(%s), 'ok', 201, '127.0.0.1', '{{"qty": "1"}}'{extra_values})"""

_positions = itertools.count(10_000_000)


def _latencies(n: int, table: str, asynchronous: bool = False) -> list[float]:
    """One audit row per statement in autocommit (``asynchronous``: ``audit_record`` as the request middleware
    calls it, committing without waiting for the WAL flush)."""
    from django.db import connection

    from access.choices import Via
    from access.services import audit_record

    plain = table != "audit_events"
    sql = ONE.format(table=table, extra_columns=", chain_position, prev_sha256, row_sha256" if plain else "",
                     extra_values=", %s, '', ''" if plain else "")
    out = []
    with connection.cursor() as cursor:
        for i in range(n):
            params = [f"client_order_id=l-{i}", str(i)] + ([next(_positions)] if plain else [])
            t = time.perf_counter()
            if asynchronous:
                audit_record(actor="bench", via=Via.API, method="POST", path="/api/v1/trading/orders",
                             action="order_create", object_ref=params[0], request_id=params[1], status_code=201,
                             client_ip="127.0.0.1", details={"qty": "1"}, after_commit_flush=False)
            else:
                cursor.execute(sql, params)
            out.append((time.perf_counter() - t) * 1000)
    return out


def _writers(count: int, per_writer: int, table: str, asynchronous: bool = False) -> tuple[float, list[float]]:
    """(rows/s, latencies) of ``count`` writers at once."""
    from django.db import connections

    together: list[float] = []
    lock = threading.Lock()

    def writer() -> None:
        try:
            mine = _latencies(per_writer, table, asynchronous)
            with lock:
                together.extend(mine)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(count)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(together) / (time.perf_counter() - started), together


def _ms(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):.2f} ms, p90 {statistics.quantiles(samples, n=10)[-1]:.2f} ms"


def main() -> int:
    rows = _arg("--rows", ROWS)
    with bench_database():
        from django.db import connection

        from autonomy.services import audit_chain_verify

        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_plain_audit (LIKE audit_events INCLUDING ALL)")
        plain = _bulk("bench_plain_audit", rows, plain=True)
        chained = _bulk("audit_events", rows, plain=False)
        print(f"bulk INSERT … SELECT of {rows:,} audit rows (10,000 per statement): chained {chained:,.0f} rows/s, "
              f"without triggers {plain:,.0f} rows/s (the chain trigger: {1e6 / chained - 1e6 / plain:.1f} µs/row)",
              flush=True)

        for label, table, asynchronous in (("without triggers", "bench_plain_audit", False),
                                           ("chained", "audit_events", False),
                                           ("chained, as the middleware writes it", "audit_events", True)):
            alone = _latencies(500, table, asynchronous)
            rate, together = _writers(4, 250, table, asynchronous)
            print(f"one audit row per autocommit INSERT, {label}: one writer {_ms(alone)}; 4 writers at once "
                  f"{rate:,.0f} rows/s, {_ms(together)}", flush=True)

        started = time.perf_counter()
        check = audit_chain_verify(actor="bench")
        elapsed = time.perf_counter() - started
        print(f"verify_audit: {check.rows_checked:,} rows in {elapsed:.1f} s = {check.rows_checked / elapsed:,.0f} "
              f"rows/s ({'unbroken' if check.ok else 'BROKEN: ' + str(check.first_break)})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
