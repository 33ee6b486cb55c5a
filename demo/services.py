"""A realistic demo: research runs from the real walk-forward runner, principals to log in with,
and (from the execution app) orders routed through the fake brokers with LEAN outages.

Every step is idempotent: running ``load_demo`` twice leaves the same data.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from access.roles import Role
from access.selectors import user_roles
from access.services import principal_create, roles_bootstrap
from core import locks
from ledger.choices import DatasetSource
from ledger.services import dataset_store_bars, walkforward_run

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "torghut-demo"  # noqa: S105 - a local demo login, printed on purpose

DATASETS = [
    # (label, symbols, start, days, seed)
    ("demo-bars-2025q1", ["AAPL", "MSFT", "NVDA", "SPY"], "2025-01-02", 45, 11),
    ("demo-bars-2025q2", ["AAPL", "AMZN", "META", "QQQ"], "2025-04-01", 45, 23),
]


@dataclass
class DemoLogin:
    username: str
    password: str
    agent_token: str


def demo_principals() -> DemoLogin:
    roles_bootstrap()
    User = get_user_model()
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=DEMO_USERNAME,
                                                   defaults={"is_staff": True, "is_superuser": True})
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = True
            user.save()
    # Browser principals get their roles once; only the agent's token is printed, so only it is
    # issued on every load (earlier ones stay valid).
    for name, roles in [(DEMO_USERNAME, [Role.OPERATOR, Role.APPROVER, Role.AUDITOR, Role.RESEARCHER]),
                        ("demo-researcher", [Role.RESEARCHER])]:
        existing = User.objects.filter(username=name).first()
        if existing is None or not set(roles) <= user_roles(existing):
            principal_create(name=name, roles=roles)
    agent = principal_create(name="demo-agent", roles=[Role.AGENT])
    return DemoLogin(DEMO_USERNAME, DEMO_PASSWORD, agent.token)


def demo_research(progress: Callable[[str], object] = print) -> int:
    """Store the demo datasets and run both strategies on each through the walk-forward runner."""
    import datetime as dt

    from ledger.walkforward import FoldSpec
    from ledger.walkforward.synthetic import generate_bars

    runs = 0
    for label, symbols, start, days, seed in DATASETS:
        progress(f"dataset {label}: generating {days} days × {len(symbols)} symbols (seed {seed})")
        bars = generate_bars(symbols, start=dt.date.fromisoformat(start), n_days=days, seed=seed)
        dataset, _ = dataset_store_bars(bars=bars, version=label, source=DatasetSource.SYNTHETIC,
                                        snapshot_ref=f"synthetic:seed={seed}:start={start}:days={days}",
                                        actor="demo")
        for spec in (FoldSpec(train_days=15, test_days=5), FoldSpec(train_days=10, test_days=5)):
            outcomes = walkforward_run(dataset=dataset, strategies=["macd_rsi", "tsmom"], code_commit="demo",
                                       fold_spec=spec, actor="demo-agent", progress=progress)
            runs += len(outcomes)
    return runs


# --- Executions: orders routed through the real router to the fake brokers ------------------------

DEMO_SYMBOLS = ["AAPL", "MSFT", "NVDA", "SPY", "AMZN", "QQQ"]
# LEAN's process is not running: connections are refused (the demo points LEAN's adapter at a
# port where nothing listens; the fake has no such mode, it is always listening).
LEAN_STOPPED = "stopped"
# (trading day, first hour, last hour, LEAN fault mode): what the demo lives through. Every kind of
# LEAN failure opens the circuit after a few orders; the open outage disables the LEAN lane at once
# (a critical alert and an incident), so the rest of the hour goes to Alpaca by policy; when LEAN is
# healthy again an operator (the demo) enables the lane, which resolves the alert and the incident.
LEAN_INCIDENTS = [
    (2, 1, 3, "down"),          # LEAN closes connections unanswered: the first orders stay pending (LEAN may
                                # hold them), then the circuit opens; reconciliation settles the pending ones
    (4, 4, 4, "error"),         # LEAN answers 500: fallbacks with lean_submit_http_500
    (6, 2, 2, "malformed"),     # LEAN answers garbage: contract violations, pending after a failed look-up
    (7, 3, 4, LEAN_STOPPED),    # LEAN stopped: connections refused, fallbacks with lean_submit_network_error
    (9, 0, 5, "down"),          # a long outage
    (11, 1, 1, "accept_then_reset"),    # LEAN takes orders but the answer is lost: found by look-up
    (12, 3, 3, "accept_then_timeout"),  # LEAN accepts but answers late: found by look-up, never duplicated
    (13, 5, 5, "slow"),         # LEAN hangs: timeouts
    (14, 2, 2, "reject"),       # LEAN refuses orders (buying power): rejected, never sent to Alpaca
]


@contextmanager
def simulated_clock(start):
    """Run code as if ``timezone.now()`` were ``clock["now"]`` (the demo replays past days), also where a
    model field's default is ``timezone.now`` (the field holds the function itself, so patching the module
    does not reach it: control events, alerts and condition evaluations would carry today's time)."""
    from unittest import mock

    from django.apps import apps
    from django.utils import timezone

    clock = {"now": start}
    real_now = timezone.now

    def now():
        return clock["now"]

    fields = [f for model in apps.get_models() for f in model._meta.concrete_fields if f.default is real_now]

    def set_default(value) -> None:
        for field in fields:
            field.default = value
            field.__dict__.pop("_get_default", None)  # Field caches its default callable

    set_default(now)
    try:
        with mock.patch("django.utils.timezone.now", now):
            yield clock
    finally:
        set_default(real_now)


def demo_executions(*, days: int = 21, orders_per_hour: int = 30, legacy_rows: int = 1500,
                    progress: Callable[[str], object] = print) -> dict[str, int]:
    """Route three weeks of orders through the real router and adapters to the fake brokers over
    loopback HTTP, switching LEAN's faults on a schedule, while strategies are promoted through the
    gates (``demo.promotions``); then recover legacy rows' routes and reconcile. Idempotent: client
    order ids are derived from the simulated time."""
    import datetime as dt
    import random
    import socket
    from contextlib import closing
    from decimal import Decimal

    from django.test import override_settings

    from autonomy.selectors import trading_state_get
    from core.errors import Blocked, PolicyRefused
    from demo.llm import DemoLlm
    from demo.promotions import LANES, WALK_FORWARD, DemoPromotions
    from execution.adapters import AlpacaAdapter, LeanAdapter
    from execution.backfill import backfill_routes
    from execution.circuit import PersistedLeanGate
    from execution.fake_brokers.base import base_price
    from execution.fake_brokers.server import FakeBrokers
    from execution.models import Execution
    from execution.reconciliation import reconcile_run
    from execution.routing import OrderRouter
    from execution.services import OrderInput, order_submit

    if Execution.objects.filter(client_order_id__startswith="demo-").exists():
        progress("executions: demo orders already loaded")
        return {"orders": Execution.objects.filter(client_order_id__startswith="demo-").count()}
    rng = random.Random(42)
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - dt.timedelta(days=days)
    counts = {"legacy": _demo_legacy_rows(legacy_rows, first_day, rng)}
    result = backfill_routes(batch_size=500)
    progress(f"legacy rows: {counts['legacy']} stored with null routes; backfill recovered "
             f"{result.updated - result.unknown}, marked {result.unknown} unknown")
    incidents = {(d, h): mode for d, h0, h1, mode in LEAN_INCIDENTS for h in range(h0, h1 + 1)}
    counts["orders"] = counts["orders_refused"] = 0
    refusals: dict[str, int] = {}
    story = DemoPromotions(progress)
    llm = DemoLlm(progress)
    lanes = {s for s, *_ in LANES}
    traders = [s for s, *_ in LANES] * 8 + WALK_FORWARD  # the walk-forward strategies stay at shadow: refused
    # Phase D holds throughout: the worker's readiness and LEAN-circuit sweeps run through the simulated weeks,
    # so the demo's operator enables the LEAN lane after each incident (and advances the LLM stage) only
    # because the scorecard has been green for READINESS_GREEN_HOURS, as in production.
    # The brokers keep their books where serve_demo's will read them, emptied first: they hold exactly
    # the orders of this database (a book left by an earlier database would show as position drift).
    with FakeBrokers(delay_seconds=0.4, book_dir=settings.FAKE_BROKER_BOOK_DIR) as fakes, \
            override_settings(TRADING_LEAN_CIRCUIT_PROBE_SECONDS=600), \
            closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as nothing_listens:
        nothing_listens.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        fakes.reset()
        lean = LeanAdapter(fakes.lean.url, timeout_seconds=0.2)
        lean_stopped = LeanAdapter(f"http://127.0.0.1:{nothing_listens.getsockname()[1]}", timeout_seconds=0.2)
        alpaca = AlpacaAdapter("demo-key", "demo-secret", url_override=fakes.alpaca.url, timeout_seconds=2)
        routers = {False: OrderRouter(lean=lean, alpaca=alpaca, gate=PersistedLeanGate(lean)),
                   True: OrderRouter(lean=lean_stopped, alpaca=alpaca, gate=PersistedLeanGate(lean_stopped))}
        with simulated_clock(first_day) as clock:
            story.setup(first_day)
            llm.setup()
            trading_days = [first_day + dt.timedelta(days=d) for d in range(days)]
            for day, date in enumerate(d for d in trading_days if d.weekday() < 5):
                clock["now"] = date + dt.timedelta(hours=14)
                _demo_sweeps(lean)
                llm.on_day(day)
                story.on_day(day)
                for hour in range(7):  # 14:30-21:00 UTC
                    mode = incidents.get((day, hour), "ok")
                    router = routers[mode == LEAN_STOPPED]
                    lean_now = lean_stopped if mode == LEAN_STOPPED else lean
                    fakes.lean.set_fault("ok" if mode == LEAN_STOPPED else mode)
                    clock["now"] = date + dt.timedelta(hours=14, minutes=29 + hour * 60)
                    _demo_sweeps(lean_now)
                    if mode == "ok" and not trading_state_get().lean_enabled:
                        # the LEAN circuit disabled the lane during the incident (critical alert, incident);
                        # LEAN is healthy again and an operator brings the lane back, which resolves both
                        _demo_lean_enable(progress)
                    for n in range(orders_per_hour):
                        clock["now"] = date + dt.timedelta(hours=14, minutes=30 + hour * 60 + n * 60 // orders_per_hour)
                        symbol = rng.choice(DEMO_SYMBOLS)
                        price = base_price(symbol)
                        order_type = "limit" if rng.random() < 0.2 else "market"
                        data = OrderInput(
                            client_order_id=f"demo-{clock['now']:%Y%m%d%H%M}-{n:02d}", strategy=rng.choice(
                                traders), symbol=symbol, side=rng.choice(["buy", "sell"]),
                            qty=Decimal(rng.choice([1, 2, 5, 10, 25])), order_type=order_type,
                            limit_price=price if order_type == "limit" else None,
                            decision_price=price * Decimal(str(1 + rng.uniform(-0.002, 0.002))).quantize(
                                Decimal("0.0001")))
                        if n % 3 == 0 and data.strategy in lanes:  # the LLM reviews it before it is sent
                            data = llm.review(data, clock=clock, live=story.stage(data.strategy) == "live")
                        try:
                            order_submit(data=data, actor="demo-agent", router=router)
                            counts["orders"] += 1
                        except (Blocked, PolicyRefused) as refused:
                            # shadow strategies, canary caps, the LLM's vetoes and adjustments: refusals on record
                            counts["orders_refused"] += 1
                            refusals[refused.code] = refusals.get(refused.code, 0) + 1
                    if mode != "ok":
                        progress(f"  day {day + 1}, hour {hour + 1}: LEAN {mode}")
                progress(f"executions: {date:%a %Y-%m-%d} routed ({counts['orders']} orders so far)")
            fakes.lean.set_fault("ok")
            clock["now"] = dt.datetime.now(dt.UTC)
            run = reconcile_run(trigger="demo", lookback_hours=24 * (days + 1),
                                brokers={"lean": lean, "alpaca": alpaca})
            progress(f"reconciliation: {run.checked} orders checked, {run.updated} updated, "
                     f"{run.discrepancy_count} discrepancies recorded")
    progress(f"refusals by code: {dict(sorted(refusals.items()))}")
    counts.update(llm.counts)
    counts.update(story.counts)
    return counts


def _demo_sweeps(lean) -> None:
    """What the worker's schedules run every few minutes, once per simulated hour: the LEAN circuit's
    backstop sweep (with its recovery probe), the verification of the audit hash chains, then the readiness
    sweep (the promotions every activation rests on replayed, a scorecard snapshot stored)."""
    from autonomy.tasks import readiness_sweep, verify_audit_chain
    from execution.circuit import lean_circuit_sweep

    lean_circuit_sweep(lean)
    verify_audit_chain()
    readiness_sweep()


def _demo_lean_enable(progress: Callable[[str], object]) -> bool:
    """The operator enables the LEAN lane through the real Phase D rule; the readiness it rested on is
    recorded in the control event's evidence. A refusal leaves the lane off (and says why)."""
    from access.choices import Via
    from autonomy.selectors import readiness_get
    from autonomy.services import lean_lane_set
    from core.errors import PolicyRefused

    readiness = readiness_get()
    evidence = {"readiness": {"green": readiness["green"], "green_since": readiness["green_since"].isoformat()
                              if readiness["green_since"] else None,
                              "required_green_hours": readiness["required_green_hours"]}}
    try:
        lean_lane_set(enabled=True, actor="demo", via=Via.COMMAND, evidence=evidence,
                      reason="LEAN healthy again after the incident; lane re-enabled")
    except PolicyRefused as refused:
        progress(f"  LEAN lane stays off: {refused.message}")
        return False
    return True


def _demo_legacy_rows(n: int, before, rng) -> int:
    """Historical rows from before route provenance existed: null routes, hints in raw_order."""
    import datetime as dt
    from decimal import Decimal

    from execution.fake_brokers.base import base_price
    from execution.models import Execution

    hints = [{"_execution_route_actual": "lean", "_execution_route_expected": "lean"},
             {"_execution_adapter": "alpaca_fallback"},
             {"execution_actual_adapter": "alpaca", "execution_expected_adapter": "lean"},
             {"_execution_adapter": "lean"}, {"alpaca_order": {"id": "legacy"}}, {}]
    rows = []
    for i in range(n):
        at = before - dt.timedelta(days=1 + i % 30, minutes=i)
        symbol = rng.choice(DEMO_SYMBOLS)
        rows.append(Execution(
            client_order_id=f"legacy-{i:05d}", symbol=symbol, side="buy", order_type="market", time_in_force="day",
            submitted_qty=Decimal(1), filled_qty=Decimal(1), avg_fill_price=base_price(symbol),
            status="filled", raw_order=hints[i % len(hints)], legacy=True, submitted_by="legacy",
            execution_expected_adapter=None, execution_actual_adapter=None, created_at=at, last_update_at=at))
    Execution.objects.bulk_create(rows, batch_size=1000)
    return n


# --- The autonomous lane: a few cycles just before the demo is served -----------------------------

def demo_lane(progress: Callable[[str], object] = print) -> list[tuple[str, str]]:
    """The autonomous lane's first cycles, as the worker (and an operator) would have run them in the
    ``LANE_CYCLE_MINUTES`` periods just before now, so the lane page and the home tile have a history and
    ``serve_demo``'s worker goes on from them (its first cycle adds the sessions of the periods since).

    The demo's operator rehearses the kill-switch and rollback drills first (gate 4 reads them), then: a
    scheduled cycle takes the synthetic feed's first window, the next period's takes one more session, an
    operator's ``run_lane_cycle`` in that same period finds nothing new (``skipped``), and the period after
    takes one more. Each cycle's monitoring stage judges the live evidence of the demo's promoted strategies
    under the active policy, as every later cycle will (nothing new trades in the demo, so the same
    evidence). Runs on the synthetic feed (``LANE_FEED`` set to it here: the demo never asks Alpaca for
    bars). Dated just before now rather than in the replayed weeks: a lane whose feed started days ago
    would catch up a whole window per cycle once served. Idempotent: nothing is done when the lane has run a
    cycle already. Returns (key, status) of the cycles it ran."""
    import datetime as dt

    from django.test import override_settings

    from autonomy.choices import LaneTrigger
    from autonomy.lane_services import lane_cycle_run
    from autonomy.models import LaneCycle
    from demo.promotions import drills_rehearse

    if LaneCycle.objects.exists():
        progress("lane: cycles already ran")
        return []
    period = dt.timedelta(minutes=settings.LANE_CYCLE_MINUTES)
    now = dt.datetime.now(dt.UTC)
    first = locks.period_start(now, settings.LANE_CYCLE_MINUTES) - 3 * period  # three periods before this one
    tick = period / 5  # a minute into the period with the default 5-minute cycles
    plan = [(first + tick, LaneTrigger.SCHEDULE),                 # the first window
            (first + period + tick, LaneTrigger.SCHEDULE),        # one more session
            (first + period + 2 * tick, LaneTrigger.COMMAND),     # nothing new in this period: skipped
            (first + 2 * period + tick, LaneTrigger.SCHEDULE)]    # one more session
    ran = []
    with simulated_clock(first) as clock, override_settings(LANE_FEED=DatasetSource.SYNTHETIC):
        drills_rehearse(progress)
        for at, trigger in plan:
            clock["now"] = at
            outcome = lane_cycle_run(now=at, trigger=trigger)
            progress(f"lane: {outcome.message}")
            if outcome.cycle is not None:
                ran.append((outcome.cycle.key, outcome.cycle.status))
    return ran
