"""The autonomous lane: one cycle takes new bars, runs the walk-forward of every strategy not HALTED,
evaluates the new candidates, files AgentRun handoffs and rolls back on broken live evidence; failures are
retried or pause the lane by torghut's rule; two workers never run the same cycle."""
from __future__ import annotations

import copy
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from autonomy import lane, playbook
from autonomy.choices import LaneCycleStatus, LaneTrigger
from autonomy.lane_services import LANE_ACTOR, lane_cycle_run, lane_resume
from autonomy.models import Alert, LaneCycle, LaneCycleStage, LaneState
from ledger.models import Dataset, ResearchRun
from promotions import services as promotion_services
from promotions.models import AgentRun, Evaluation, Promotion
from tests.promotions import conftest as promotion_fixtures
from tests.promotions.conftest import drills

signing_key, policies = promotion_fixtures.signing_key, promotion_fixtures.policies  # the promotions' fixtures

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
BARS_PER_SESSION = 390


# --- the retry rule, a pure function ----------------------------------------------------------------

def test_transient_failures_retry_four_times_with_doubling_backoff_then_pause_at_the_fifth():
    decisions = [lane.failure_decide(failure_class="transient", attempt=n) for n in range(1, 6)]
    assert [d.action for d in decisions] == ["retry"] * 4 + ["pause"]
    assert [d.delay_seconds for d in decisions[:4]] == [15, 30, 60, 120]


def test_deterministic_failures_pause_at_the_second_and_policy_failures_at_the_first():
    assert lane.failure_decide(failure_class="deterministic", attempt=1) == lane.FailureDecision(
        "retry", 15, "deterministic failure 1 of 2: retry in 15 s")
    assert lane.failure_decide(failure_class="deterministic", attempt=2).action == "pause"
    assert lane.failure_decide(failure_class="policy", attempt=1).action == "pause"


def test_the_backoff_doubles_up_to_300_seconds():
    assert [lane.backoff_seconds(n) for n in range(1, 9)] == [15, 30, 60, 120, 240, 300, 300, 300]
    with pytest.raises(ValueError):
        lane.failure_decide(failure_class="cosmic", attempt=1)


def test_no_signal_streak_counts_the_latest_empty_cycles():
    assert lane.no_signal_streak([0, 0, 390, 0]) == 2
    assert lane.no_signal_streak([390, 0]) == 0
    assert lane.no_signal_streak([]) == 0


def test_a_heartbeat_per_cycle_feeds_the_stale_rule_only_when_it_cannot_look_stale():
    fit = {"sweep_minutes": 1, "no_signal_cycles": 3, "lag_seconds": 600}
    assert not lane.heartbeats_fit(cycle_minutes=5, **fit)  # 4 sweeps between two beats: stale
    assert lane.heartbeats_fit(cycle_minutes=2, **fit)
    assert lane.heartbeats_wanted("on", cycle_minutes=5, **fit)
    assert not lane.heartbeats_wanted("auto", cycle_minutes=5, **fit)


def test_the_synthetic_feed_adds_one_session_per_period_and_catches_up_at_most_a_window():
    assert lane.new_sessions_due(periods_elapsed=0, window=12, produced=0) == 12
    assert lane.new_sessions_due(periods_elapsed=0, window=12, produced=12) == 0
    assert lane.new_sessions_due(periods_elapsed=3, window=12, produced=13) == 2
    assert lane.new_sessions_due(periods_elapsed=100, window=12, produced=13) == 12


def test_live_evidence_breaks_the_policy_only_past_the_minimum_of_fills():
    policy = json.loads(open("promotions/policies/v3-gates-1.json").read())
    limits = playbook.live_evidence_limits(policy, stage="paper", min_fills=5)
    assert limits.max_slippage_bps == Decimal("25") and limits.max_fallback_ratio == Decimal("0.25")
    bad = {"fills": 6, "orders": 6, "slippage_bps": "40.00", "fallback_ratio": "0.5000"}
    assert playbook.live_evidence_breaches(orders=bad, llm={}, limits=limits) == [
        "slippage 40.00 bps over 6 fills > 25 bps", "route fallback ratio 0.5000 > 0.25"]
    assert playbook.live_evidence_breaches(orders={**bad, "fills": 4}, llm={}, limits=limits) == []
    assert playbook.live_evidence_breaches(orders={"fills": 9, "slippage_bps": "3"}, llm={"reviews": 10, "errors": 5},
                                           limits=limits) == ["LLM error ratio 0.5000 over 10 reviews > 0.10"]


# --- cycles against the database ----------------------------------------------------------------------

@pytest.fixture
def lane_settings(settings, monkeypatch):
    for name in ("ALPACA_API_KEY_ID", "ALPACA_API_SECRET_KEY", "ALPACA_DATA_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.LANE_FEED = "auto"
    settings.LANE_SYMBOLS = ["AAPL"]
    settings.LANE_WINDOW_SESSIONS = 12
    settings.LANE_TRAIN_DAYS, settings.LANE_TEST_DAYS = 3, 1
    settings.LANE_CYCLE_MINUTES = 5
    settings.LANE_HEARTBEATS = "off"
    return settings


@pytest.fixture
def lenient_policy(policies):
    """v3-gates-1 with loose statistics and risk limits, active: every well-formed candidate passes."""
    document = copy.deepcopy(json.loads(open("promotions/policies/v3-gates-1.json").read()))
    document["version"] = "lane-lenient-1"
    document["gates"]["gate1_statistical_robustness"].update(
        {"min_net_pnl": "-1000000000", "max_negative_fold_ratio": "1", "max_fold_pnl_cv": "1000000000"})
    document["gates"]["gate2_risk_capacity"].update(
        {"max_drawdown": "1000000000", "max_turnover_ratio": "1000000", "max_cost_bps": "1000000"})
    promotion_services.policy_load(document=document, actor="test")
    promotion_services.policy_activate(version="lane-lenient-1", actor="test", reason="the lane's tests")
    drills()
    return document


def run(now=NOW, trigger=LaneTrigger.SCHEDULE, lines=None):
    return lane_cycle_run(now=now, trigger=trigger, progress=(lines.append if lines is not None else None))


@pytest.mark.django_db
def test_a_cycle_takes_new_bars_runs_the_walk_forward_and_files_a_handoff_per_strategy(lane_settings,
                                                                                       lenient_policy):
    lines: list[str] = []
    outcome = run(trigger=LaneTrigger.COMMAND, lines=lines)
    cycle = outcome.cycle
    assert cycle.status == LaneCycleStatus.SUCCEEDED, (cycle.reason, cycle.error)
    assert cycle.signals == 12 * BARS_PER_SESSION and cycle.source == "synthetic"
    from ledger.models import ResearchCandidate
    assert cycle.runs == ResearchRun.objects.filter(dataset=cycle.dataset).count() == 2
    assert cycle.candidates == ResearchCandidate.objects.filter(run__dataset=cycle.dataset).count() > 2
    assert cycle.evaluations == cycle.candidates == cycle.passed
    assert [s.stage for s in cycle.stages.all()] == ["research-intake", "candidate-build", "gate-evaluation",
                                                     "shadow-paper", "continuous-monitoring"]
    assert {s.status for s in cycle.stages.all()} == {"succeeded"}
    # one open promotion per strategy and target: the first passing candidate of each strategy is handed off
    assert cycle.handoffs == 2
    handoffs = AgentRun.objects.filter(created_by=LANE_ACTOR)
    assert handoffs.count() == 2
    assert set(Promotion.objects.values_list("strategy__name", "to_stage", "status")) == {
        ("macd_rsi", "paper", "pending_approval"), ("tsmom", "paper", "pending_approval")}
    not_filed = cycle.stages.get(stage="shadow-paper").detail["not_filed"]
    assert not_filed and {n["code"] for n in not_filed} == {"promotion_pending"}
    assert Evaluation.objects.filter(created_by=LANE_ACTOR).count() == cycle.evaluations
    assert any("AgentRun" in line and "pending approval" in line for line in lines)


@pytest.mark.django_db
def test_an_empty_window_is_stored_as_a_skipped_cycle_with_its_reason(lane_settings, lenient_policy):
    first = run(trigger=LaneTrigger.COMMAND).cycle
    assert first.status == LaneCycleStatus.SUCCEEDED
    skipped = run(now=NOW + timedelta(seconds=30)).cycle  # the same 5-minute period: no new session yet
    assert skipped.status == LaneCycleStatus.SKIPPED and skipped.signals == 0
    assert "no new bars" in skipped.reason
    assert skipped.stages.get().stage == "research-intake" and skipped.stages.get().status == "skipped"
    again = run(now=NOW + timedelta(seconds=40))
    assert again.cycle is None and "already ran" in again.message  # the period is taken
    later = run(now=NOW + timedelta(minutes=5)).cycle
    assert later.status == LaneCycleStatus.SUCCEEDED and later.signals == BARS_PER_SESSION
    window = Dataset.objects.get(pk=later.dataset_id)
    assert window.bar_count == 12 * BARS_PER_SESSION and window.first_ts > first.dataset.first_ts


@pytest.mark.django_db
def test_the_synthetic_feed_adds_a_session_as_each_period_begins(lane_settings, lenient_policy):
    """A session per period on the periods' boundaries (as the cycles' keys count them), not per five minutes
    since the first cycle: a first cycle late in its period, the next one early in the next period."""
    period = timedelta(minutes=5)
    start = datetime.fromtimestamp(NOW.timestamp() // 300 * 300, UTC)
    assert run(now=start + timedelta(minutes=4, seconds=50)).cycle.status == LaneCycleStatus.SUCCEEDED
    early = run(now=start + period + timedelta(seconds=10)).cycle
    assert early.status == LaneCycleStatus.SUCCEEDED and early.signals == BARS_PER_SESSION


@pytest.mark.django_db
def test_a_halted_strategy_is_skipped(lane_settings, lenient_policy):
    from autonomy.services import trading_state_set
    from tests.access.factories import StrategyFactory

    StrategyFactory(name="macd_rsi")
    trading_state_set(state="HALTED", reason="drawdown review", actor="ops", roles={"operator"}, strategy="macd_rsi")
    cycle = run().cycle
    assert cycle.status == LaneCycleStatus.SUCCEEDED and cycle.strategies_halted == 1
    build = cycle.stages.get(stage="candidate-build").detail
    assert [r["strategy"] for r in build["runs"]] == ["tsmom"]
    assert build["halted"] == [{"strategy": "macd_rsi", "state": "HALTED", "reason": "drawdown review"}]
    assert not ResearchRun.objects.filter(strategy_name="macd_rsi").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_a_transient_failure_is_retried_with_backoff_then_pauses_the_lane_at_the_fifth(
        lane_settings, lenient_policy, monkeypatch, make_client, django_capture_on_commit_callbacks):
    monkeypatch.setenv("ALPACA_API_KEY_ID", "key")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "secret")
    monkeypatch.setenv("ALPACA_DATA_URL", f"http://127.0.0.1:{_closed_port()}")  # nothing listens
    from django_q.models import Schedule

    now, delays = NOW, []
    for attempt in range(1, 6):
        with django_capture_on_commit_callbacks(execute=True):
            cycle = run(now=now).cycle
        assert cycle.attempt == attempt and cycle.failure_class == "transient", cycle.error
        if attempt < 5:
            assert cycle.status == LaneCycleStatus.FAILED
            assert run(now=cycle.next_retry_at - timedelta(seconds=1)).cycle is None  # not due yet
            delays.append((cycle.next_retry_at - now).total_seconds())
            wake = Schedule.objects.get(name="autonomy.lane_retry")  # the worker wakes the lane when it is due
            assert wake.next_run == cycle.next_retry_at and wake.func == "autonomy.tasks.lane_cycle"
            now = cycle.next_retry_at
    assert delays == [15, 30, 60, 120]
    assert cycle.status == LaneCycleStatus.PAUSED and "transient failure 5 of 5" in cycle.reason
    assert LaneCycle.objects.count() == 1  # one cycle, five attempts
    state = LaneState.objects.get()
    assert state.paused and state.paused_cycle_id == cycle.pk and "Alpaca" in state.paused_reason
    assert Alert.objects.get(dedup_key="lane_paused").status == "open"
    assert "paused" in run(now=now + timedelta(hours=1)).message
    # agents may not resume; an operator may, and the alert resolves
    refused = make_client("agent").post("/api/v1/autonomy/lane/resume", {"reason": "let me"}, format="json")
    assert refused.status_code == 403
    resumed = make_client("operator").post("/api/v1/autonomy/lane/resume", {"reason": "Alpaca is back"},
                                           format="json")
    assert resumed.status_code == 200, resumed.content
    assert resumed.json()["paused"] is False and not LaneState.objects.get().paused
    assert Alert.objects.get(dedup_key="lane_paused").status == "resolved"


@pytest.mark.django_db
def test_a_deterministic_failure_pauses_the_lane_at_the_second(lane_settings, lenient_policy):
    lane_settings.LANE_SYMBOLS = []  # the same input fails the same way
    lane_settings.LANE_HEARTBEATS = "on"  # each cycle reports to the failure-streak rule
    first = run().cycle
    assert first.status == LaneCycleStatus.FAILED and first.failure_class == "deterministic"
    assert (first.next_retry_at - NOW).total_seconds() == 15
    second = run(now=first.next_retry_at).cycle
    assert second.pk == first.pk and second.attempt == 2 and second.status == LaneCycleStatus.PAUSED
    assert "LANE_SYMBOLS" in second.error and LaneState.objects.get().paused
    from autonomy.models import SignalSource
    source = SignalSource.objects.get(source="lane")
    assert source.last_status == "failed" and source.failure_streak == 2


@pytest.mark.django_db
def test_a_policy_failure_pauses_the_lane_at_once(lane_settings, signing_key):
    cycle = run().cycle  # bars and candidates, but no gate policy is active
    assert cycle.status == LaneCycleStatus.PAUSED and cycle.failure_class == "policy" and cycle.attempt == 1
    failed = cycle.stages.get(status="failed")
    assert failed.stage == "gate-evaluation" and "no gate policy is active" in failed.error.lower()
    assert cycle.stages.get(stage="candidate-build").status == "succeeded"
    # an operator resumes; the cycle that paused the lane stays paused in the history
    with pytest.raises(Exception, match="agents may not"):
        lane_resume(actor="bot", roles={"agent"}, reason="try again")
    lane_resume(actor="ops", roles={"operator"}, reason="policy v3 activated")
    assert LaneCycle.objects.get(pk=cycle.pk).status == LaneCycleStatus.PAUSED
    from access.models import AuditEvent
    audit = AuditEvent.objects.filter(action="lane_resume").get()
    assert audit.details["before"]["paused"] is True and audit.details["after"] == {"paused": False}


@pytest.mark.django_db
def test_a_cycle_left_running_by_a_killed_worker_is_resumed_from_its_first_unfinished_stage(
        lane_settings, lenient_policy):
    first = run().cycle
    # a worker dies after the walk-forward: the row stays running, the later stages unfinished
    LaneCycle.objects.filter(pk=first.pk).update(status=LaneCycleStatus.SUCCEEDED)  # (keep the FSM honest)
    killed = LaneCycle.objects.create(key="period:killed", trigger="schedule", started_at=NOW)
    stage = first.stages.get(stage="research-intake")
    LaneCycleStage.objects.create(cycle=killed, stage="research-intake", position=1, status="succeeded",
                                  detail=stage.detail, summary="taken", started_at=NOW, finished_at=NOW)
    killed.dataset_id = first.dataset_id
    killed.save()
    lines: list[str] = []
    resumed = run(now=NOW + timedelta(minutes=5), lines=lines).cycle
    assert resumed.pk == killed.pk and resumed.attempt == 2 and resumed.status == LaneCycleStatus.SUCCEEDED
    assert any("left running by a worker that stopped" in line for line in lines)
    assert any("done in attempt 1" in line for line in lines)
    assert resumed.stages.count() == 5 and resumed.signals == 0  # the bars were taken the first time


@pytest.mark.django_db(transaction=True)
def test_two_workers_running_the_lane_at_once_do_the_cycle_once(lane_settings, lenient_policy):
    barrier, outcomes = threading.Barrier(2), []

    def worker():
        try:
            barrier.wait()
            outcomes.append(run())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ran = [o for o in outcomes if o.cycle is not None]
    assert len(ran) == 1 and ran[0].cycle.status == LaneCycleStatus.SUCCEEDED
    idle = [o.message for o in outcomes if o.cycle is None]
    assert len(idle) == 1 and ("another worker" in idle[0] or "already ran" in idle[0])
    assert LaneCycle.objects.count() == 1 and Dataset.objects.filter(version__startswith="lane-").count() == 1
    assert ResearchRun.objects.count() == 2 and AgentRun.objects.count() == 2


@pytest.mark.django_db
def test_a_strategy_whose_live_evidence_breaks_the_policy_is_rolled_back(lane_settings, lenient_policy):
    from promotions.models import PromotionDecision
    from strategies.models import Strategy
    from tests.execution.factories import ExecutionFactory
    from tests.promotions.conftest import client_for

    run(trigger=LaneTrigger.COMMAND)
    promotion = Promotion.objects.get(strategy__name="tsmom")
    approver = client_for("alice", ["approver"], ["tsmom"])
    assert approver.post(f"/api/v1/promotions/{promotion.pk}/approve", {"comment": "ok"},
                         format="json").status_code == 200
    strategy = Strategy.objects.get(name="tsmom")
    assert strategy.stage == "paper"
    from execution.models import TradeDecision
    for n in range(6):  # fills 2 % above their decision prices: 200 bps of adverse slippage
        decision = TradeDecision.objects.create(strategy=strategy, symbol="AAPL", side="buy", qty=Decimal("10"),
                                                decision_price=Decimal("100"), decision_hash=f"lane-rb-{n}")
        ExecutionFactory(strategy=strategy, strategy_stage="paper", trade_decision=decision,
                         avg_fill_price=Decimal("102"))
    cycle = run(now=timezone.now() + timedelta(minutes=5)).cycle
    assert cycle.status == LaneCycleStatus.SUCCEEDED and cycle.rollbacks == 1, cycle.reason
    strategy.refresh_from_db()
    assert strategy.stage == "shadow"
    promotion.refresh_from_db()
    assert promotion.status == "rolled_back"
    decision = PromotionDecision.objects.filter(promotion=promotion, action="rollback").get()
    assert decision.actor == LANE_ACTOR and "slippage 200.00 bps over 6 fills > 25 bps" in decision.comment
    rolled = cycle.stages.get(stage="continuous-monitoring").detail["rolled_back"]
    assert rolled[0]["strategy"] == "tsmom" and rolled[0]["stage_after"] == "shadow"


@pytest.mark.django_db
def test_the_command_prints_each_stage(lane_settings, lenient_policy):
    out = StringIO()
    call_command("run_lane_cycle", stdout=out)
    text = out.getvalue()
    for stage in ("1. Take the newest bars", "2. Walk-forward", "3. Gates", "4. AgentRun handoff",
                  "5. Live evidence"):
        assert stage in text
    assert "succeeded: 4680 new bars" in text


# --- Alpaca's data API (alpaca-py's real client against a loopback server) ---------------------------

class _Bars(__import__("http.server").server.BaseHTTPRequestHandler):
    """Five sessions of 1-minute bars before NOW; a request answers the bars at or after its ``start``."""

    days = [datetime(2026, 11, d, 14, 30, tzinfo=UTC) for d in (23, 24, 25, 26, 27)]
    requests: list[dict] = []
    hold: threading.Event | None = None  # set: each request waits for it (a data API that does not answer)
    holding = threading.Event()

    def do_GET(self):  # noqa: N802
        from urllib.parse import parse_qs, urlparse

        if _Bars.hold is not None:
            _Bars.holding.set()
            _Bars.hold.wait(120)
            return
        query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        _Bars.requests.append(query)
        start = datetime.fromisoformat(query["start"].replace("Z", "+00:00"))
        bars = {}
        for symbol in query["symbols"].split(","):
            rows = []
            for day in self.days:
                for i in range(BARS_PER_SESSION):
                    t = day + timedelta(minutes=i)
                    price = 100 + (i % 17) * 0.1 + day.day
                    if t >= start:
                        rows.append({"t": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": price, "h": price + 0.2,
                                     "l": price - 0.2, "c": price + 0.05, "v": 1000 + i, "n": 5, "vw": price})
            bars[symbol] = rows
        data = json.dumps({"bars": bars, "next_page_token": None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def alpaca_data(monkeypatch):
    """Alpaca's keys set and its data API on loopback (``_Bars``)."""
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bars)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ALPACA_API_KEY_ID", "key")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "secret")
    monkeypatch.setenv("ALPACA_DATA_URL", f"http://127.0.0.1:{server.server_port}")
    _Bars.requests, _Bars.hold = [], None
    _Bars.holding.clear()
    yield server
    if _Bars.hold is not None:
        _Bars.hold.set()
    server.shutdown()


@pytest.mark.django_db
def test_with_alpaca_keys_the_lane_takes_the_bars_printed_since_its_last_one(lane_settings, lenient_policy,
                                                                              alpaca_data):
    first = run().cycle
    assert first.status == LaneCycleStatus.SUCCEEDED and first.source == "alpaca", (first.reason, first.error)
    assert first.signals == 5 * BARS_PER_SESSION and first.runs == 2
    empty = run(now=NOW + timedelta(minutes=5)).cycle
    assert empty.status == LaneCycleStatus.SKIPPED and "Alpaca has nothing for AAPL after 2026-11-27T21:00:00Z" \
        in empty.reason
    assert _Bars.requests[-1]["start"].startswith("2026-11-27T21:00:00")  # the minute after the last bar it holds


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_cycle_leaves_the_cycle_to_the_next_run_which_finishes_it_once(
        lane_settings, lenient_policy, alpaca_data, tmp_path):
    """``run_lane_cycle`` in a process of its own waits on the data API; it is killed (SIGKILL) there. Its
    cycle stays ``running`` and its lock goes with its connection: the next run takes the cycle up."""
    import os
    import signal
    import subprocess
    import sys

    from tests.dbfaults import ROOT, DatabaseProxy, server_address

    _Bars.hold = threading.Event()
    settings_dict = connection.settings_dict
    with DatabaseProxy(*server_address(settings_dict)) as proxy:
        env = {**{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_NAME")},
               "DATABASE_URL": proxy.url(settings_dict), "LANE_SYMBOLS": "AAPL", "LANE_FEED": "alpaca"}
        with open(tmp_path / "cycle.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "manage.py", "run_lane_cycle"], cwd=str(ROOT), env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                assert _Bars.holding.wait(90), (tmp_path / "cycle.log").read_text()
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
    killed = LaneCycle.objects.get()
    assert killed.status == LaneCycleStatus.RUNNING and killed.trigger == "command"
    assert killed.stages.get().status == "running"  # it died taking the bars
    _Bars.hold.set()
    _Bars.hold = None
    lines: list[str] = []
    resumed = run(lines=lines).cycle
    assert resumed.pk == killed.pk and resumed.attempt == 2 and resumed.status == LaneCycleStatus.SUCCEEDED
    assert any("left running by a worker that stopped" in line for line in lines)
    assert resumed.signals == 5 * BARS_PER_SESSION and LaneCycle.objects.count() == 1
    assert run(now=NOW + timedelta(seconds=10)).cycle.status == LaneCycleStatus.SKIPPED  # nothing is done twice
    assert Dataset.objects.filter(version__startswith="lane-").count() == 1 and ResearchRun.objects.count() == 2
