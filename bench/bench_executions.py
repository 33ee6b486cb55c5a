"""Execution provenance benchmarks (figures printed, never asserted).

* 1,000,000 executions stored (generate_series): an executions API page (limit 500, with
  filters) — target < 100 ms;
* the 90-day fallback-rate dashboard — target < 300 ms server time, printed as a ratio to the
  bare SQL aggregate run in the same process (aim < 1.5x);
* backfill of 1,000,000 legacy rows — target < 60 s, printed as a ratio to one raw UPDATE doing
  the same mapping (aim < 3x);
* against the fake brokers: router overhead per order on top of the adapter call (p50 < 5 ms),
  and 200 orders/s sustained through the HTTP API with zero duplicate broker orders.

Runs on a throw-away database (``test_`` + TEST_DATABASE_NAME, created, migrated and dropped).
``python -m bench.bench_executions [--rows N] [--seconds S] [--clients C] [--workers W]``.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

from bench.common import ROOT, bench_database, machine_share, machine_times, timed, verdict

ROWS = 1_000_000


def _arg(name: str, default: int) -> int:
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


def _exec(sql: str, params=None) -> None:
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


GENERATE_ROUTED = """
INSERT INTO executions (client_order_id, broker_order_id, symbol, side, order_type, time_in_force, submitted_qty,
  filled_qty, avg_fill_price, status, raw_order, execution_expected_adapter, execution_actual_adapter,
  execution_fallback_reason, execution_fallback_count, last_error, correlation_id, idempotency_key, legacy,
  submitted_by, created_at, submitted_at, last_update_at)
SELECT 'b-' || g, 'brk-' || g,
  (ARRAY['AAPL','MSFT','NVDA','AMZN','GOOGL','META','TSLA','SPY','QQQ','IWM'])[1 + g %% 10],
  CASE WHEN g %% 2 = 0 THEN 'buy' ELSE 'sell' END, 'market', 'day', 10, 10, 100 + g %% 50, 'filled', '{}',
  CASE WHEN g %% 20 = 0 THEN 'alpaca' ELSE 'lean' END,
  CASE WHEN g %% 20 = 0 OR g %% 10 = 1 THEN 'alpaca' ELSE 'lean' END,
  CASE WHEN g %% 20 <> 0 AND g %% 10 = 1 THEN
    (ARRAY['lean_submit_timeout','lean_submit_network_error','lean_submit_http_503','lean_circuit_open'])[1 + g %% 4]
    ELSE '' END,
  CASE WHEN g %% 20 <> 0 AND g %% 10 = 1 THEN 1 ELSE 0 END,
  '', '', 'b-' || g, false, 'bench',
  now() - make_interval(secs => (%s - g) * (90.0 * 86400 / %s)),
  now() - make_interval(secs => (%s - g) * (90.0 * 86400 / %s)),
  now() - make_interval(secs => (%s - g) * (90.0 * 86400 / %s))
FROM generate_series(1, %s) g
"""

GENERATE_LEGACY = """
INSERT INTO executions (client_order_id, symbol, side, order_type, time_in_force, submitted_qty, filled_qty, status,
  raw_order, execution_fallback_reason, execution_fallback_count, last_error, correlation_id, idempotency_key,
  legacy, submitted_by, created_at, last_update_at)
SELECT 'l-' || g, 'AAPL', 'buy', 'market', 'day', 1, 1, 'filled',
  CASE g %% 6
    WHEN 0 THEN '{"_execution_route_actual": "lean", "_execution_route_expected": "lean"}'::jsonb
    WHEN 1 THEN '{"_execution_adapter": "alpaca_fallback"}'::jsonb
    WHEN 2 THEN '{"execution_actual_adapter": "alpaca", "execution_expected_adapter": "lean"}'::jsonb
    WHEN 3 THEN '{"_execution_adapter": "lean"}'::jsonb
    WHEN 4 THEN '{"alpaca_order": {"id": "x"}}'::jsonb
    ELSE '{}'::jsonb END,
  '', 0, '', '', '', true, 'legacy', now() - make_interval(days => g %% 700), now()
FROM generate_series(1, %s) g
"""

RESET_LEGACY = """UPDATE executions SET execution_expected_adapter = NULL, execution_actual_adapter = NULL,
  execution_fallback_count = 0, execution_fallback_reason = '' WHERE legacy"""


def bench_reads(rows: int) -> None:
    from datetime import timedelta

    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from rest_framework.test import APIClient

    from access.services import principal_create
    from execution import selectors
    from execution.figures import fallback_rate_figure, to_html

    started = time.perf_counter()
    _exec(GENERATE_ROUTED, [rows, rows, rows, rows, rows, rows, rows])
    _exec("VACUUM ANALYZE executions")
    # The bulk load above upserted the rollup a million times in ONE transaction; compact it
    # (live traffic spreads those updates over many transactions and autovacuum keeps it small).
    _exec("VACUUM FULL ANALYZE execution_route_hourly")
    print(f"generated {rows:,} executions in {time.perf_counter() - started:.1f} s", flush=True)

    token = principal_create(name="bench-agent", roles=["auditor"]).token
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    since = (timezone.now() - timedelta(days=30)).isoformat()
    cases = {
        "limit=500": {"limit": 500},
        "limit=500&symbol&adapter": {"limit": 500, "symbol": "MSFT", "adapter": "alpaca"},
        "limit=500&symbol&adapter (no match)": {"limit": 500, "symbol": "NVDA", "adapter": "alpaca"},
        "limit=500&symbol&since&fallback": {"limit": 500, "symbol": "MSFT", "since": since, "fallback": "true"},
        "limit=500&status=rejected (rare)": {"limit": 500, "status": "rejected"},
    }
    for label, params in cases.items():
        def page(params=params):
            resp = api.get("/api/v1/trading/executions", params)
            assert resp.status_code == 200, resp.content[:200]
            return resp
        median, best = timed(page, repeat=7)
        print(f"executions API page [{label}]: median {median:.1f} ms, best {best:.1f} ms "
              f"(target < 100 ms: {verdict(median, 100)})")
    first = api.get("/api/v1/trading/executions", {"limit": 500}).json()
    deep = first["next"]
    pages = 1
    while deep and pages < 20:  # a small --rows has fewer pages
        following = api.get(deep).json()["next"]
        if not following:
            break
        deep, pages = following, pages + 1
    if deep:
        median, _ = timed(lambda: api.get(deep), repeat=5)
        print(f"executions API page {pages + 1} (cursor): median {median:.1f} ms")

    since90 = timezone.now() - timedelta(days=90)

    def bare():
        with connection.cursor() as cursor:
            cursor.execute(selectors.RAW_FALLBACK_SQL, ["hour", since90, timezone.now()])
            cursor.fetchall()

    def bare_rollup():
        with connection.cursor() as cursor:
            cursor.execute(selectors._FALLBACK_BY_BUCKET_REASON, ["hour", since90, timezone.now()])
            cursor.fetchall()

    def dashboard():
        dash = selectors.fallback_dashboard(since=since90)
        to_html(fallback_rate_figure(dash.hourly, title="hourly"))
        to_html(fallback_rate_figure(dash.daily, title="daily", step=timedelta(days=1)))

    bare_ms, _ = timed(bare, repeat=5)
    rollup_ms, _ = timed(bare_rollup, repeat=5)
    dash_ms, _ = timed(dashboard, repeat=5)
    print(f"90-day fallback-rate dashboard (selector + hourly and daily figures): median {dash_ms:.1f} ms "
          f"(target < 300 ms: {verdict(dash_ms, 300)}); bare SQL aggregate over executions {bare_ms:.1f} ms; "
          f"ratio {dash_ms / bare_ms:.2f}x (aim < 1.5x: {verdict(dash_ms / bare_ms, 1.5)}); "
          f"[the dashboard reads the trigger-kept hourly rollup; that bare query alone: {rollup_ms:.1f} ms]")
    from django.contrib.auth import get_user_model
    user = get_user_model().objects.create_user("bench-viewer")
    browser = Client()
    browser.force_login(user)
    page_ms, _ = timed(lambda: browser.get("/executions/dashboards/", {"since": since90.isoformat()}), repeat=3)
    print(f"whole dashboards page (4 charts, 90 days, server time): median {page_ms:.1f} ms")
    _exec("TRUNCATE executions, execution_fills, trade_decisions, execution_route_hourly CASCADE")


def bench_backfill(rows: int) -> None:
    from execution.backfill import ONE_SHOT_UPDATE_SQL, backfill_routes

    started = time.perf_counter()
    _exec(GENERATE_LEGACY, [rows])
    _exec("VACUUM ANALYZE executions")
    print(f"generated {rows:,} legacy rows in {time.perf_counter() - started:.1f} s", flush=True)

    from django.db import connection
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(ONE_SHOT_UPDATE_SQL)
        raw_updated = cursor.fetchone()[0]
    raw_s = time.perf_counter() - started
    print(f"one raw UPDATE (same mapping): {raw_updated:,} rows in {raw_s:.1f} s", flush=True)
    _exec(RESET_LEGACY)
    _exec("VACUUM ANALYZE executions")

    started = time.perf_counter()
    result = backfill_routes(batch_size=100_000, restart=True)
    batched_s = time.perf_counter() - started
    print(f"backfill_routes (batched, checkpointed): {result.updated:,} rows ({result.unknown:,} unknown) in "
          f"{result.batches} batches, {batched_s:.1f} s (target < 60 s: {verdict(batched_s, 60)}); "
          f"ratio to raw UPDATE {batched_s / raw_s:.2f}x (aim < 3x: {verdict(batched_s / raw_s, 3)})")
    started = time.perf_counter()
    again = backfill_routes(batch_size=100_000)
    print(f"second run (idempotent): {again.updated} rows in {time.perf_counter() - started:.2f} s")
    _exec("TRUNCATE executions, execution_fills, trade_decisions, execution_route_hourly CASCADE")


def _trading_strategy(name: str) -> None:
    """Register the strategy the benchmark trades, at paper (a strategy at shadow does not trade)."""
    from strategies.models import Strategy
    from strategies.services import strategy_register

    Strategy.objects.filter(pk=strategy_register(name=name).pk, stage="shadow").update(stage="paper")


def bench_router(orders: int) -> None:
    from decimal import Decimal

    from django.conf import settings

    from execution.adapters import LeanAdapter
    from execution.adapters.base import OrderRequest
    from execution.fake_brokers import FakeBrokers
    from execution.services import OrderInput, order_submit

    _trading_strategy("bench")
    with FakeBrokers(delay_seconds=1) as fakes:
        settings.TRADING_LEAN_RUNNER_URL = fakes.lean.url
        settings.ALPACA_BASE_URL = fakes.alpaca.url
        settings.ALPACA_API_KEY_ID = settings.ALPACA_API_SECRET_KEY = "bench"
        direct = LeanAdapter(fakes.lean.url)
        direct_ms = []
        for i in range(200):
            t = time.perf_counter()
            direct.submit(OrderRequest(f"direct-{i}", "AAPL", "buy", Decimal(1)))
            direct_ms.append((time.perf_counter() - t) * 1000)
        overhead, totals = [], []
        for i in range(orders):
            t = time.perf_counter()
            result = order_submit(data=OrderInput(client_order_id=f"r-{i}", strategy="bench", symbol="AAPL",
                                                  side="buy", qty=Decimal(1)))
            total = (time.perf_counter() - t) * 1000
            totals.append(total)
            overhead.append(total - result.outcome.adapter_ms)
        p50 = statistics.median(overhead)
        print(f"router overhead per order (order_submit minus adapter time), {orders} orders: p50 {p50:.2f} ms, "
              f"p90 {statistics.quantiles(overhead, n=10)[-1]:.2f} ms (target p50 < 5 ms: {verdict(p50, 5)}); "
              f"order_submit p50 {statistics.median(totals):.2f} ms; bare LEAN adapter call p50 "
              f"{statistics.median(direct_ms):.2f} ms")


def _spawn(args: list[str], marker: str, count: int = 1) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=str(ROOT))
    lines: list[str] = []
    while len(lines) < count:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{args} exited before printing {marker!r}")
        if marker in line:
            lines.append(line.strip())
    return proc, lines


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _service_database() -> tuple[dict[str, str], str]:
    """The API runs as deployed: as the service login, not as the owner of the benchmark database.
    Embedded server: torghut_web (created if missing). DATABASE_URL: SERVICE_DATABASE_URL when set,
    else the same server as torghut_web without a password (created if missing: a server that trusts
    local connections, as the development one does)."""
    from django.db import connection

    from access import db_roles
    from core import serving

    if not os.environ.get("DATABASE_URL"):
        db_roles.ensure_login(connection, serving.SERVICE_LOGIN)
        return {"EMBEDDED_DATABASE_USER": serving.SERVICE_LOGIN}, serving.SERVICE_LOGIN
    url = os.environ.get("SERVICE_DATABASE_URL", "").strip()
    if not url:
        db_roles.ensure_login(connection, serving.SERVICE_LOGIN)
        parts = urlsplit(os.environ["DATABASE_URL"])
        host = parts.netloc.rsplit("@", 1)[-1]
        url = urlunsplit(parts._replace(netloc=f"{serving.SERVICE_LOGIN}@{host}"))
    return {"DATABASE_URL": url}, urlsplit(url).username or "?"


def _gunicorn(*, workers: int, threads: int, lean_url: str, alpaca_url: str) -> tuple[subprocess.Popen, str]:
    """The API as deployed: gunicorn as `make serve` runs it (gthread workers), as the service login,
    persistent database connections, DEBUG off."""
    import requests
    from django.db import connection

    from core import serving

    port = _free_port()
    database, role = _service_database()
    env = {**{k: v for k, v in os.environ.items() if k not in ("SERVICE_DATABASE_URL", "EMBEDDED_DATABASE_USER")},
           **database, "BENCH_DATABASE_NAME": connection.settings_dict["NAME"],
           "TRADING_LEAN_RUNNER_URL": lean_url, "ALPACA_BASE_URL": alpaca_url, "ALPACA_API_KEY_ID": "bench",
           "ALPACA_API_SECRET_KEY": "bench", "DEBUG": "0", "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "127.0.0.1",
           "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz", "DB_CONN_MAX_AGE": "600",
           # the throttle still runs on every request, with a budget the load stays under
           "API_TOKEN_RATE": "1000000/min"}
    print(f"API server: gunicorn as database role {role}", flush=True)
    proc = subprocess.Popen(serving.gunicorn_command("bench.wsgi_bench:application", bind=f"127.0.0.1:{port}",
                                                     workers=workers, threads=threads,
                                                     extra=["--log-level", "warning"]),
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # workers import the whole project before they answer
    try:
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/", timeout=5, allow_redirects=False)
                return proc, base
            except requests.RequestException:  # not listening yet, or listening while the workers boot
                if proc.poll() is not None:
                    raise RuntimeError("gunicorn exited at start") from None
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer within 60 s")
    except BaseException:  # never leave the server (and its hold on the embedded database) behind
        proc.terminate()
        proc.wait(30)
        raise


def bench_throughput(seconds: float, clients: int, workers: int) -> None:
    """Fakes and the API (gunicorn) in their own processes, as deployed; the load generator in others."""
    import requests

    from access.services import principal_create
    from execution.models import Execution

    procs: list[subprocess.Popen] = []
    try:
        fakes, lines = _spawn(["manage.py", "fake_brokers", "--lean-port", "0", "--alpaca-port", "0", "--quiet"],
                              "http://", count=2)
        procs.append(fakes)
        lean_url = lines[0].split()[-1]
        alpaca_url = lines[1].split()[-1]
        server, base = _gunicorn(workers=workers, threads=max(4, clients), lean_url=lean_url, alpaca_url=alpaca_url)
        procs.append(server)
        # one URL per load-generator process (the same server: gunicorn's workers share the socket)
        urls = [f"{base}/api/v1/trading/orders"] * 2
        token = principal_create(name="bench-trader", roles=["agent"]).token
        _trading_strategy("bench")
        run_id = uuid.uuid4().hex[:8]
        counts = {"201": 0, "200": 0, "other": 0}
        latencies: list[float] = []
        lock = threading.Lock()
        sequence = iter(range(10**9))
        for i in range(workers * 2):  # warm the workers (imports, first database connections)
            requests.post(urls[0], json={"client_order_id": f"warm-{run_id}-{i}", "strategy": "bench",
                                         "symbol": "MSFT", "side": "buy", "qty": "1"},
                          headers={"Authorization": f"Token {token}"}, timeout=10)
        deadline = time.perf_counter() + seconds

        def client(index: int) -> None:
            # A lean keep-alive client (http.client): the load generator shares the two cores with
            # the servers, so it should spend as little CPU per request as it can.
            import http.client
            import json as jsonlib
            from urllib.parse import urlsplit

            parts = [urlsplit(u) for u in urls]
            conns = [http.client.HTTPConnection(p.hostname, p.port, timeout=10) for p in parts]
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            while time.perf_counter() < deadline:
                with lock:
                    n = next(sequence)
                # every tenth request replays an earlier id (on another connection): idempotency under load
                cid = f"tp-{run_id}-{n - 5 if n % 10 == 9 else n}"
                body = jsonlib.dumps({"client_order_id": cid, "strategy": "bench", "symbol": "MSFT", "side": "buy",
                                      "qty": "1"})
                k = n % len(urls)
                t = time.perf_counter()
                conns[k].request("POST", parts[k].path, body=body, headers=headers)
                resp = conns[k].getresponse()
                resp.read()
                elapsed = (time.perf_counter() - t) * 1000
                key = str(resp.status) if resp.status in (200, 201) else "other"
                with lock:
                    counts[key] += 1
                    latencies.append(elapsed)

        trees = {"web": server.pid, "database": _postmaster_pid(), "brokers": fakes.pid}
        cpu_before = {name: _tree_cpu_seconds(pid) for name, pid in trees.items() if pid}
        machine_before = machine_times()
        started = time.perf_counter()
        wrk = shutil.which("wrk")
        if wrk:
            # wrk (C) drives the load, one process per server, so the load generator's own CPU
            # stays small on this 2-core machine; its Lua script does the replays.
            per = max(2, clients // len(urls))
            script = str(ROOT / "bench" / "orders.lua")
            runs = [subprocess.Popen([wrk, "-t1", f"-c{per}", f"-d{int(seconds)}s", "-s", script, url, "--", run_id,
                                      token, str(i)], stdout=subprocess.PIPE, text=True)
                    for i, url in enumerate(urls)]
            for run in runs:
                out, _ = run.communicate()
                fields = next(line for line in out.splitlines() if line.startswith("RESULT")).split()
                counts["201"] += int(fields[1])
                counts["200"] += int(fields[2])
                counts["other"] += int(fields[3])
                latencies.append(float(fields[4]))
            generator = f"wrk, {len(urls)} processes x {per} connections"
        else:
            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            generator = f"{clients} Python client threads (install wrk for a lighter load generator)"
        elapsed = time.perf_counter() - started
        cpu_used = {name: _tree_cpu_seconds(trees[name]) - before for name, before in cpu_before.items()}
        share = machine_share(machine_before, machine_times())
        time.sleep(2)  # requests still in flight when the load generator stopped finish before counting
        broker_orders = (requests.get(f"{lean_url}/v1/orders", params={"status": "all"}, timeout=30).json()["orders"]
                         + requests.get(f"{alpaca_url}/v2/orders", params={"status": "all"},
                                        headers={"APCA-API-KEY-ID": "b", "APCA-API-SECRET-KEY": "b"},
                                        timeout=30).json())
        cids = [o["client_order_id"] for o in broker_orders if o["client_order_id"].startswith(f"tp-{run_id}")]
        duplicates = len(cids) - len(set(cids))
        rows = Execution.objects.filter(client_order_id__startswith=f"tp-{run_id}").count()
        rate = counts["201"] / elapsed
        print(f"API throughput (gunicorn, {workers} gthread workers, {generator}, {elapsed:.1f} s): "
              f"{counts['201']} orders created = {rate:.0f} orders/s (target >= 200: "
              f"{'OK' if rate >= 200 else 'UNDER TARGET'}); {counts['200']} idempotent replays, {counts['other']} "
              f"other answers; request p50 {statistics.median(latencies):.1f} ms; broker orders {len(cids)}, "
              f"duplicates {duplicates}, execution rows {rows}")
        if counts["201"] and cpu_used:
            # CPU per order moves far less than the rate when the machine is shared: compare versions by it
            total_ms = sum(cpu_used.values()) / counts["201"] * 1000
            print("  CPU per created order (all processes of each): " + ", ".join(
                f"{name} {seconds / counts['201'] * 1000:.2f} ms" for name, seconds in cpu_used.items())
                + f"; total {total_ms:.2f} ms", flush=True)
            print(f"  {share}; at that CPU per order, {os.cpu_count()} whole cores would carry at most "
                  f"{os.cpu_count() * 1000 / total_ms:.0f} orders/s (the load generator and the kernel's share aside)",
                  flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (Linux /proc; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, changed = {pid}, True
    while changed:
        changed = False
        for child, (parent, _cpu) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    return sum(stats[p][1] for p in tree if p in stats)


def _postmaster_pid() -> int | None:
    """The PostgreSQL server's main process when it runs on this machine (its backends are its children)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        if not open(f"/proc/{backend}/comm").read().startswith("postgres"):
            return None  # a server elsewhere (that pid here is another process)
        return int(open(f"/proc/{backend}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):  # a server elsewhere
        return None


def _commit_latency() -> None:
    from django.db import connection, transaction
    _exec("CREATE TABLE IF NOT EXISTS bench_commit_probe (x int)")

    def commit():
        with transaction.atomic():
            _exec("INSERT INTO bench_commit_probe VALUES (1)")
    median, _ = timed(commit, repeat=50)
    _exec("DROP TABLE bench_commit_probe")
    s = connection.settings_dict
    print(f"database {s['NAME']} at {s['HOST'] or 'local socket'}:{s['PORT'] or ''}; "
          f"one INSERT + COMMIT: {median:.2f} ms; CPUs: {os.cpu_count()}", flush=True)


def main() -> int:
    rows = _arg("--rows", ROWS)
    os.environ.setdefault("TEST_DATABASE_NAME", "torghut_bench_exec")
    with bench_database():
        _commit_latency()
        bench_reads(rows)
        bench_backfill(rows)
        bench_router(_arg("--orders", 500))
        bench_throughput(float(_arg("--seconds", 10)), _arg("--clients", 6), _arg("--workers", 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
