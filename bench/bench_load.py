"""Bounded load run: mixed reads and writes at a constant rate against the API as deployed.

The server is started as ``make serve`` runs it (gunicorn, gthread workers, as the service login,
DEBUG off; see :func:`bench.bench_executions._gunicorn`), in front of the sandbox brokers
(``manage.py fake_brokers``) and a throw-away database. The load is open-loop (as wrk2 drives it):
request *i* is due at ``start + i / rate`` whatever the server's answers, and its latency is
counted from that due time, so a stalled server shows in the percentiles instead of slowing the
load down. One asyncio process with a pool of keep-alive HTTP/1.1 connections drives it: cheap on
a two-core machine shared with the server, the database and the brokers.

The mix, by weight: order submissions (each a new ``client_order_id``) 40, executions pages 25,
autonomy status 15, route-stats 10, research-run ingest (a small run, new ``run_id``) 10.

Printed: p50, p95 and p99 per endpoint, the rate achieved, errors by kind. Then checked: no
errors (no 5xx, no other unexpected status, no connection error or timeout), every order
answered 201 is stored once, and no ``client_order_id`` is at a broker more than once (the fake
brokers' books compared with the stored executions). Exit status 1 when any check fails.

``python -m bench load --rate 200 --seconds 60 [--workers 2] [--threads 8] [--connections 128]
[--timeout 30] [--mix orders=40,executions=25,status=15,route-stats=10,ingest=10]`` (or
``python -m bench.bench_load ...``); ``--mix status=1`` drives one endpoint alone.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from bench.bench_executions import _gunicorn, _postmaster_pid, _spawn, _trading_strategy, _tree_cpu_seconds
from bench.common import bench_database, machine_share, machine_times

MIX = (("orders", 40), ("executions", 25), ("status", 15), ("route-stats", 10), ("ingest", 10))
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN")
EXPECTED = {"orders": {201}, "executions": {200}, "status": {200}, "route-stats": {200}, "ingest": {201}}
IDLE_SECONDS = 1.0  # gunicorn closes a keep-alive connection idle for 2 s: never reuse one idle this long


def _opt(name: str, default: float) -> float:
    if name in sys.argv:
        return float(sys.argv[sys.argv.index(name) + 1])
    return default


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def parse_mix(text: str) -> tuple[tuple[str, int], ...]:
    """``"orders=40,status=15"`` -> the mix (kinds of :data:`MIX` only)."""
    mix = tuple((kind.strip(), int(weight)) for kind, weight in (part.split("=") for part in text.split(",")))
    unknown = {kind for kind, _ in mix} - set(EXPECTED)
    if unknown:
        raise SystemExit(f"unknown endpoint kinds in --mix: {sorted(unknown)} (known: {sorted(EXPECTED)})")
    return mix


def schedule(mix: tuple[tuple[str, int], ...] = MIX, seed: int = 12) -> list[str]:
    """One cycle of endpoint kinds in the mix's proportions, shuffled (the load repeats it)."""
    cycle = [kind for kind, weight in mix for _ in range(weight)]
    random.Random(seed).shuffle(cycle)
    return cycle


# --- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------------
class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = time.monotonic()
        self.requests = 0

    def close(self) -> None:
        self.writer.close()


class Pool:
    """Keep-alive connections to one server, most recently used first; opens more on demand, up to ``size``."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: list[Connection] = []
        self.slots = asyncio.Semaphore(size)
        self.opened = 0

    async def _take(self) -> Connection:
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.used < IDLE_SECONDS and not conn.reader.at_eof():
                return conn
            conn.close()
        self.opened += 1
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return Connection(reader, writer)

    async def request(self, method: str, path: str, headers: bytes, body: bytes = b"") -> tuple[int, bytes]:
        async with self.slots:
            conn = await self._take()
            try:
                status, payload, keep = await _exchange(conn, method, path, headers, body)
            except BaseException:
                conn.close()
                raise
            conn.used = time.monotonic()
            if keep:
                self.idle.append(conn)
            else:
                conn.close()
            return status, payload

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


async def _exchange(conn: Connection, method: str, path: str, headers: bytes, body: bytes) -> tuple[int, bytes, bool]:
    head = (f"{method} {path} HTTP/1.1\r\nContent-Length: {len(body)}\r\n").encode() + headers + b"\r\n"
    conn.writer.write(head + body)
    await conn.writer.drain()
    conn.requests += 1
    status_line = await conn.reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection without an answer")
    status = int(status_line.split()[1])
    length, chunked, keep = None, False, True
    while (line := await conn.reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    if chunked:
        parts = []
        while size := int((await conn.reader.readline()).split(b";")[0], 16):
            parts.append(await conn.reader.readexactly(size))
            await conn.reader.readline()
        await conn.reader.readline()
        payload = b"".join(parts)
    elif length is not None:
        payload = await conn.reader.readexactly(length)
    else:
        payload, keep = await conn.reader.read(), False
    return status, payload, keep


# --- the requests ------------------------------------------------------------------------------------
@dataclass
class Requests:
    """Builds each kind of request; remembers what was sent so the stored rows can be checked."""

    run: str
    token: str
    ingest_template: str
    orders_sent: list[str] = field(default_factory=list)
    since: str = field(default_factory=lambda: (datetime.now(UTC) - timedelta(days=1)).isoformat())

    def __post_init__(self) -> None:
        self.json_headers = (f"Host: 127.0.0.1\r\nAuthorization: Token {self.token}\r\n"
                             "Content-Type: application/json\r\n").encode()
        self.get_headers = f"Host: 127.0.0.1\r\nAuthorization: Token {self.token}\r\n".encode()

    def build(self, kind: str, n: int) -> tuple[str, str, bytes, bytes]:
        if kind == "orders":
            cid = f"ld-{self.run}-{n}"
            self.orders_sent.append(cid)
            body = json.dumps({"client_order_id": cid, "strategy": "bench", "symbol": SYMBOLS[n % len(SYMBOLS)],
                               "side": "buy", "qty": "1"}).encode()
            return "POST", "/api/v1/trading/orders", self.json_headers, body
        if kind == "ingest":
            body = self.ingest_template.replace("RUN_ID", f"ld-{self.run}-{n}").encode()
            return "POST", "/api/v1/research/runs", self.json_headers, body
        if kind == "executions":
            query = "limit=100" if n % 2 else f"limit=100&symbol={SYMBOLS[n % len(SYMBOLS)]}&adapter=lean"
            return "GET", f"/api/v1/trading/executions?{query}", self.get_headers, b""
        if kind == "status":
            return "GET", "/api/v1/autonomy/status", self.get_headers, b""
        return "GET", f"/api/v1/trading/route-stats?bucket=hour&since={self.since.replace('+', '%2B')}", \
            self.get_headers, b""


def ingest_template() -> str:
    """A small research run (1 candidate x 4 folds x 1 stress case) whose ids say ``RUN_ID``."""
    from tests.ledger.factories import ArtifactFactory, CandidateArtifactFactory, folds, stress_rows

    body = ArtifactFactory(run_id="RUN_ID", candidates=[
        CandidateArtifactFactory(candidate_id="cand-RUN_ID", folds=folds(4), stress=stress_rows()[:1])])
    return json.dumps(body)


@dataclass
class Tally:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # from the due time, ms
    service: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # from the send, ms
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: Counter = field(default_factory=Counter)
    created_orders: set[str] = field(default_factory=set)
    last_done: float = 0.0


async def drive(base: str, requests: Requests, *, rate: float, seconds: float, connections: int,
                timeout: float = 30.0, mix: tuple[tuple[str, int], ...] = MIX) -> tuple[Tally, float, float]:
    """Send ``rate`` requests per second for ``seconds``, open-loop; returns the tally, the start and
    the time the last request was sent (monotonic)."""
    parts = urlsplit(base)
    pool = Pool(parts.hostname, parts.port, connections)
    tally = Tally()
    cycle = schedule(mix)
    total = int(rate * seconds)
    loop = asyncio.get_running_loop()

    async def one(n: int, due: float) -> None:
        kind = cycle[n % len(cycle)]
        method, path, headers, body = requests.build(kind, n)
        sent = loop.time()
        try:
            status, payload = await asyncio.wait_for(pool.request(method, path, headers, body), timeout)
        except TimeoutError:
            tally.errors[f"{kind}: timeout after {timeout:.0f} s"] += 1
            return
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            tally.errors[f"{kind}: connection error ({exc.__class__.__name__})"] += 1
            return
        done = loop.time()
        tally.last_done = max(tally.last_done, done)
        tally.latency[kind].append((done - due) * 1000)
        tally.service[kind].append((done - sent) * 1000)
        tally.statuses[kind][status] += 1
        if status not in EXPECTED[kind]:
            tally.errors[f"{kind}: HTTP {status} {payload[:120].decode('utf-8', 'replace')}"] += 1
        elif kind == "orders":
            tally.created_orders.add(json.loads(payload)["client_order_id"])

    tasks = set()
    start = loop.time()
    for n in range(total):
        due = start + n / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    last_sent = loop.time()
    if tasks:
        await asyncio.wait(tasks)
    pool.close()
    print(f"connections opened: {pool.opened}", flush=True)
    return tally, start, last_sent


def broker_books(lean_url: str, alpaca_url: str, run: str) -> tuple[Counter, set[str]]:
    """(orders per client_order_id of this run at the brokers, client_order_ids of this run stored)."""
    import requests as http

    from execution.models import Execution

    lean = http.get(f"{lean_url}/v1/orders", params={"status": "all"}, timeout=60).json()["orders"]
    alpaca = http.get(f"{alpaca_url}/v2/orders", params={"status": "all"}, timeout=60,
                      headers={"APCA-API-KEY-ID": "bench", "APCA-API-SECRET-KEY": "bench"}).json()
    at_brokers = Counter(o["client_order_id"] for o in lean + alpaca
                         if o["client_order_id"].startswith(f"ld-{run}-"))
    stored = set(Execution.objects.filter(client_order_id__startswith=f"ld-{run}-")
                 .values_list("client_order_id", flat=True))
    return at_brokers, stored


def report(tally: Tally, *, start: float, last_sent: float, rate: float, seconds: float,
           mix: tuple[tuple[str, int], ...] = MIX) -> int:
    sent = sum(sum(c.values()) for c in tally.statuses.values()) + sum(tally.errors.values())
    answered = sum(sum(c.values()) for c in tally.statuses.values())
    print(f"{'endpoint':<12} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}   "
          f"(latency from each request's due time; service time p50 / p99 after it)")
    for kind, _ in mix:
        values = tally.latency[kind]
        served = tally.service[kind]
        print(f"{kind:<12} {len(values):>8} {percentile(values, 50):>8.1f} {percentile(values, 95):>8.1f} "
              f"{percentile(values, 99):>8.1f} {max(values, default=0):>8.1f}   "
              f"{percentile(served, 50):.1f} / {percentile(served, 99):.1f}")
    every = [v for values in tally.latency.values() for v in values]
    print(f"{'all':<12} {len(every):>8} {percentile(every, 50):>8.1f} {percentile(every, 95):>8.1f} "
          f"{percentile(every, 99):>8.1f} {max(every, default=0):>8.1f}")
    send_window = max(last_sent - start, 1e-9)
    done_window = max(tally.last_done - start, 1e-9)
    print(f"rate: target {rate:.0f}/s for {seconds:.0f} s; sent {sent} in {send_window:.1f} s = "
          f"{sent / send_window:.1f}/s; answered {answered} in {done_window:.1f} s = {answered / done_window:.1f}/s")
    errors = sum(tally.errors.values())
    print(f"errors: {errors}")
    for what, count in tally.errors.most_common(10):
        print(f"  {count} x {what}")
    return errors


def main() -> int:
    rate = _opt("--rate", 200)
    seconds = _opt("--seconds", 60)
    workers, threads = int(_opt("--workers", 2)), int(_opt("--threads", 8))
    connections = int(_opt("--connections", 128))
    timeout = _opt("--timeout", 30)
    mix = parse_mix(sys.argv[sys.argv.index("--mix") + 1]) if "--mix" in sys.argv else MIX
    os.environ.setdefault("TEST_DATABASE_NAME", "torghut_bench_load")
    print(f"load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs; figures move with what else runs on the machine)", flush=True)
    with bench_database():
        from access.services import principal_create

        procs: list[subprocess.Popen] = []
        try:
            fakes, lines = _spawn(["manage.py", "fake_brokers", "--lean-port", "0", "--alpaca-port", "0",
                                   "--quiet"], "http://", count=2)
            procs.append(fakes)
            lean_url, alpaca_url = lines[0].split()[-1], lines[1].split()[-1]
            server, base = _gunicorn(workers=workers, threads=threads, lean_url=lean_url, alpaca_url=alpaca_url)
            procs.append(server)
            _trading_strategy("bench")
            token = principal_create(name="bench-load-agent", roles=["agent"]).token
            run = uuid.uuid4().hex[:8]
            requests = Requests(run=run, token=token, ingest_template=ingest_template())
            warm = Requests(run=f"warm{run}", token=token, ingest_template=requests.ingest_template)
            # warm both workers (imports, first database connections) outside the measured window
            asyncio.run(drive(base, warm, rate=20, seconds=2, connections=8))
            trees = {"web": server.pid, "database": _postmaster_pid(), "brokers": fakes.pid}
            cpu_before = {name: _tree_cpu_seconds(pid) for name, pid in trees.items() if pid}
            own_before = resource.getrusage(resource.RUSAGE_SELF)
            machine_before = machine_times()
            print(f"driving {rate:.0f} requests/s for {seconds:.0f} s (gunicorn {workers} gthread workers x "
                  f"{threads} threads, up to {connections} client connections)…", flush=True)
            tally, start, last_sent = asyncio.run(drive(base, requests, rate=rate, seconds=seconds,
                                                        connections=connections, timeout=timeout, mix=mix))
            own = resource.getrusage(resource.RUSAGE_SELF)
            cpu = {name: _tree_cpu_seconds(trees[name]) - before for name, before in cpu_before.items()}
            share = machine_share(machine_before, machine_times())
            errors = report(tally, start=start, last_sent=last_sent, rate=rate, seconds=seconds, mix=mix)
            client_cpu = own.ru_utime - own_before.ru_utime + own.ru_stime - own_before.ru_stime
            answered = sum(sum(c.values()) for c in tally.statuses.values())
            print("CPU per answered request: " + ", ".join(
                f"{name} {value / max(answered, 1) * 1000:.1f} ms" for name, value in cpu.items()))
            print("CPU over the run: " + ", ".join(f"{name} {value:.1f} s" for name, value in cpu.items())
                  + f", load generator {client_cpu:.1f} s; load average now "
                  + " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
            print(share, flush=True)

            # requests the client gave up on may still be in the server: its graceful stop finishes them
            # (and closes its database sessions) before the books are compared
            stop(server, 90)
            at_brokers, stored = broker_books(lean_url, alpaca_url, run)
            duplicates = sorted(cid for cid, n in at_brokers.items() if n > 1)
            print(f"orders: {len(requests.orders_sent)} sent, {len(tally.created_orders)} answered 201 "
                  f"(the server may have stored more: a client that gave up does not stop the order), "
                  f"{len(stored)} execution rows stored, {sum(at_brokers.values())} broker orders for "
                  f"{len(at_brokers)} client_order_ids; duplicate broker orders: "
                  f"{sum(at_brokers[c] - 1 for c in duplicates)}")
            problems = []
            if errors:
                problems.append(f"{errors} errors")
            if duplicates:
                problems.append(f"client_order_ids at a broker more than once: {duplicates[:10]}")
            if tally.created_orders - stored:
                problems.append(f"{len(tally.created_orders - stored)} orders answered 201 are not stored")
            if set(at_brokers) - stored:
                problems.append(f"{len(set(at_brokers) - stored)} broker orders have no execution row")
            print("FAILED: " + "; ".join(problems) if problems else
                  "OK: no errors, no duplicate broker orders, every created order stored once")
            return 1 if problems else 0
        finally:
            for proc in procs:
                stop(proc, 90)


def stop(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, and SIGKILL after ``timeout`` s (gunicorn's workers exit when their master is gone)."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
