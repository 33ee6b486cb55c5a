"""Writes of the autonomous lane: one cycle (:func:`lane_cycle_run`), and an operator's resume of a
paused lane (:func:`lane_resume`).

A cycle, in torghut's orchestration stages:

1. ``research-intake``: the newest bars (Alpaca's data API when its keys are set, else the synthetic
   feed, one session per ``LANE_CYCLE_MINUTES`` period), appended to the lane's rolling window and stored
   as a dataset; no new bar -> the cycle is ``skipped`` with its reason;
2. ``candidate-build``: the walk-forward of every strategy whose effective trading state is not HALTED;
3. ``gate-evaluation``: each new candidate's gates under the active policy, toward its strategy's next
   stage (a signed evaluation, as ``POST /api/v1/promotions/evaluations`` stores);
4. ``shadow-paper``: an AgentRun handoff for each candidate that passed (one open promotion per strategy and
   target: a candidate behind an open one is noted, not filed);
5. ``continuous-monitoring``: a rollback of each strategy whose live evidence breaks the policy
   (:func:`autonomy.playbook.live_evidence_breaches`).

One cycle runs at a time: the runner holds a PostgreSQL session lock for the whole cycle (a killed worker's
lock goes with its connection), and claims its cycle row with ``select_for_update(skip_locked=True)`` and a
unique key, so two workers never run the same cycle. A stage commits with what it wrote; a cycle left
``running`` by a worker that died is resumed by the next run from its first unfinished stage, every stage
being idempotent (datasets by fingerprint, runs by run_id, evaluations and handoffs looked up first).
A failure is classified (:func:`failure_class_of`) and :func:`autonomy.lane.failure_decide` says whether
it is retried (``failed`` with ``next_retry_at``) or pauses the lane (``paused``).
"""
from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from access.choices import Via
from access.services import audit_record
from autonomy import lane, lane_feed, lane_selectors, playbook, rules
from autonomy.choices import (
    AlertSeverity,
    HeartbeatStatus,
    LaneCycleStatus,
    LaneStageStatus,
    LaneTrigger,
    TradingStateChoice,
    strictest,
)
from autonomy.models import LaneCycle, LaneCycleStage, LaneState
from core import locks
from core.errors import Blocked, Conflict, InvalidInput, PermissionRefused, PolicyRefused
from ledger.choices import DatasetSource
from ledger.sources.alpaca_bars import AlpacaBarsError, alpaca_configured, alpaca_credentials, fetch_alpaca_bars
from promotions.choices import FailureClass, OrchestrationStage
from strategies.choices import STAGE_RANK, STAGES, Stage

LANE_ACTOR = "system:lane"
LANE_LOCK = "autonomy:lane"
PAUSE_ALERT = "lane_paused"
HEARTBEAT_SOURCE = "lane"
RETRY_SCHEDULE = "autonomy.lane_retry"  # a one-off django-q2 schedule that wakes the lane when a retry is due

#: The stages of a cycle, in order, with what each does.
STEPS: list[tuple[str, str]] = [
    (OrchestrationStage.RESEARCH_INTAKE, "Take the newest bars"),
    (OrchestrationStage.CANDIDATE_BUILD, "Walk-forward of every strategy not HALTED"),
    (OrchestrationStage.GATE_EVALUATION, "Gates of each new candidate under the active policy"),
    (OrchestrationStage.SHADOW_PAPER, "AgentRun handoff of each candidate that passed"),
    (OrchestrationStage.CONTINUOUS_MONITORING, "Live evidence against the policy; rollbacks"),
]
STEP_TITLES = dict(STEPS)


class SkipCycle(Exception):
    """Nothing new to work on: the cycle ends ``skipped`` with this reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CycleOutcome:
    cycle: LaneCycle | None
    message: str

    @property
    def ran(self) -> bool:
        return self.cycle is not None


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:150]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def failure_class_of(exc: BaseException) -> str:
    """torghut's failure classes: ``policy`` for a refusal by policy (no active gate policy, no signing key,
    a permission), ``transient`` for what may pass by itself (the network, a timeout, the database away),
    ``deterministic`` for the rest (the same input would fail the same way)."""
    from promotions.services import NoSigningKey

    if isinstance(exc, PolicyRefused | PermissionRefused | Blocked | NoSigningKey):
        return FailureClass.POLICY
    if isinstance(exc, AlpacaBarsError):
        return FailureClass.TRANSIENT if exc.transient else FailureClass.DETERMINISTIC
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return FailureClass.TRANSIENT
    return FailureClass.DETERMINISTIC


# --- running a cycle ------------------------------------------------------------------------------

def lane_state_locked() -> LaneState:
    return LaneState.objects.select_for_update().get_or_create(id=1)[0]


def lane_cycle_run(*, now: datetime | None = None, trigger: str = LaneTrigger.SCHEDULE,
                   progress: Callable[[str], object] | None = None) -> CycleOutcome:
    """Run one cycle of the lane (or resume or retry the one that is due). ``CycleOutcome.cycle`` is None
    when nothing ran, and ``message`` says why: another worker holds the lane, the lane is paused, a failed
    cycle waits for its retry, or this period's cycle already ran."""
    now = now or timezone.now()
    say = progress or (lambda _message: None)
    if not locks.try_session_lock(LANE_LOCK):
        return CycleOutcome(None, "another worker is running a lane cycle")
    try:
        state = lane_selectors.lane_state_get()
        if state.paused:
            return CycleOutcome(None, f"the lane is paused since {_iso(state.paused_at)}: {state.paused_reason}")
        cycle, message = _claim(now=now, trigger=trigger)
        if cycle is None:
            return CycleOutcome(None, message)
        say(message)
        _execute(cycle, now=now, say=say)
        cycle.refresh_from_db()
        return CycleOutcome(cycle, f"cycle #{cycle.pk} {cycle.status}" + (f": {cycle.reason}" if cycle.reason else ""))
    finally:
        try:
            locks.session_unlock(LANE_LOCK)
        except DatabaseError:  # the connection is gone, and its lock with it
            pass


def _claim(*, now: datetime, trigger: str) -> tuple[LaneCycle | None, str]:
    with transaction.atomic():
        pending = (LaneCycle.objects.select_for_update(skip_locked=True)
                   .filter(Q(status=LaneCycleStatus.RUNNING)
                           | Q(status=LaneCycleStatus.FAILED, next_retry_at__lte=now)).order_by("id").first())
        if pending is not None:
            left_running = pending.status == LaneCycleStatus.RUNNING
            pending.status, pending.attempt, pending.next_retry_at = LaneCycleStatus.RUNNING, pending.attempt + 1, None
            pending.worker = _worker()
            pending.save(update_fields=["status", "attempt", "next_retry_at", "worker"])
            if left_running:
                return pending, (f"resuming cycle #{pending.pk} ({pending.key}), left running by a worker that "
                                 f"stopped: attempt {pending.attempt}")
            return pending, (f"retrying cycle #{pending.pk} ({pending.key}) after a {pending.failure_class} "
                             f"failure: attempt {pending.attempt}")
        waiting = LaneCycle.objects.filter(status=LaneCycleStatus.FAILED).order_by("next_retry_at").first()
        if waiting is not None:
            return None, f"cycle #{waiting.pk} waits for its retry at {_iso(waiting.next_retry_at)}"
        if trigger == LaneTrigger.SCHEDULE:
            key = f"period:{locks.period_index(now, settings.LANE_CYCLE_MINUTES)}"
        else:
            key = f"command:{now:%Y%m%dT%H%M%S.%f}"
        try:
            with transaction.atomic():
                cycle = LaneCycle.objects.create(key=key, trigger=trigger, started_at=now, worker=_worker())
        except IntegrityError:
            return None, f"the lane cycle {key} already ran"
    return cycle, f"cycle #{cycle.pk} ({key}) started at {_iso(now)}"


def _execute(cycle: LaneCycle, *, now: datetime, say: Callable[[str], object]) -> None:
    outputs: dict[str, dict] = {}
    for position, (stage, title) in enumerate(STEPS, start=1):
        row, _ = LaneCycleStage.objects.get_or_create(
            cycle=cycle, stage=stage, defaults={"position": position, "started_at": timezone.now(),
                                                "attempt": cycle.attempt})
        if row.status == LaneStageStatus.SUCCEEDED:
            outputs[stage] = row.detail
            say(f"{position}. {title}: done in attempt {row.attempt} ({row.summary})")
            continue
        row.status, row.attempt, row.error = LaneStageStatus.RUNNING, cycle.attempt, ""
        row.started_at, row.finished_at = timezone.now(), None
        row.save()
        say(f"{position}. {title} [{stage}]…")
        try:
            with transaction.atomic():
                summary, detail, counts = STEP_RUN[stage](cycle=cycle, now=now, outputs=outputs, say=say)
                _stage_end(row, LaneStageStatus.SUCCEEDED, summary=summary, detail=detail)
                if counts:
                    for name, value in counts.items():
                        setattr(cycle, name, value)
                    cycle.save(update_fields=list(counts))
        except SkipCycle as skip:
            with transaction.atomic():
                _stage_end(row, LaneStageStatus.SKIPPED, summary=skip.reason[:500], detail={})
                _finish(cycle, status=LaneCycleStatus.SKIPPED, reason=skip.reason, now=now)
            say(f"   skipped: {skip.reason}")
            return
        except Exception as exc:  # noqa: BLE001 - every failure is classified, stored and decided on
            failure = failure_class_of(exc)
            error = f"{exc.__class__.__name__}: {getattr(exc, 'message', None) or exc}"[:2000]
            with transaction.atomic():
                _stage_end(row, LaneStageStatus.FAILED, summary=f"{failure} failure", detail={}, error=error)
                decision = _fail(cycle, failure_class=failure, error=error, stage=stage, now=now)
            say(f"   failed ({failure}): {error}")
            say(f"   {decision.reason}")
            return
        outputs[stage] = detail
        say(f"   {summary}")
    with transaction.atomic():
        _finish(cycle, status=LaneCycleStatus.SUCCEEDED, reason="", now=now)


def _stage_end(row: LaneCycleStage, status: str, *, summary: str, detail: dict, error: str = "") -> None:
    row.status, row.summary, row.detail, row.error = status, summary[:500], detail, error
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "summary", "detail", "error", "finished_at"])


def _counts(cycle: LaneCycle) -> dict[str, int]:
    return {name: getattr(cycle, name) for name in ("signals", "runs", "candidates", "evaluations", "passed",
                                                    "handoffs", "rollbacks", "strategies_halted")}


def _finish(cycle: LaneCycle, *, status: str, reason: str, now: datetime) -> None:
    cycle.status, cycle.reason, cycle.finished_at = status, reason, timezone.now()
    cycle.failure_class, cycle.error = "", ""
    cycle.save(update_fields=["status", "reason", "finished_at", "failure_class", "error"])
    audit_record(actor=LANE_ACTOR, via=Via.WORKER, action="lane_cycle", object_ref=f"lane_cycle:{cycle.pk}",
                 details={"before": LaneCycleStatus.RUNNING, "after": status, "key": cycle.key,
                          "attempt": cycle.attempt, "reason": reason, **_counts(cycle)})
    _heartbeat(cycle, ok=True, now=now)


def _fail(cycle: LaneCycle, *, failure_class: str, error: str, stage: str, now: datetime) -> lane.FailureDecision:
    decision = lane.failure_decide(failure_class=failure_class, attempt=cycle.attempt)
    cycle.failure_class, cycle.error, cycle.reason = failure_class, error, f"{stage}: {decision.reason}"
    if decision.action == lane.RETRY:
        cycle.status, cycle.next_retry_at = LaneCycleStatus.FAILED, now + timedelta(seconds=decision.delay_seconds)
        transaction.on_commit(lambda at=cycle.next_retry_at: _schedule_retry(at))
    else:
        cycle.status, cycle.finished_at = LaneCycleStatus.PAUSED, timezone.now()
    cycle.save(update_fields=["status", "next_retry_at", "finished_at", "failure_class", "error", "reason"])
    audit_record(actor=LANE_ACTOR, via=Via.WORKER, action="lane_cycle", object_ref=f"lane_cycle:{cycle.pk}",
                 details={"before": LaneCycleStatus.RUNNING, "after": cycle.status, "key": cycle.key,
                          "attempt": cycle.attempt, "failure_class": failure_class, "stage": stage, "error": error,
                          "decision": decision.action, "retry_at": _iso(cycle.next_retry_at)})
    if decision.action == lane.PAUSE:
        _pause(cycle, reason=f"cycle #{cycle.pk} at {stage}: {decision.reason} ({error})"[:2000])
    _heartbeat(cycle, ok=False, now=now)
    return decision


def _pause(cycle: LaneCycle, *, reason: str) -> None:
    from autonomy.services import alert_raise

    state = lane_state_locked()
    before = {"paused": state.paused, "reason": state.paused_reason}
    state.paused, state.paused_reason, state.paused_at = True, reason, timezone.now()
    state.paused_by, state.paused_cycle = LANE_ACTOR, cycle
    state.save()
    audit_record(actor=LANE_ACTOR, via=Via.WORKER, action="lane_pause", object_ref="lane",
                 details={"before": before, "after": {"paused": True, "reason": reason}, "cycle": cycle.pk})
    alert_raise(dedup_key=PAUSE_ALERT, severity=AlertSeverity.WARNING,
                title=f"The autonomous lane paused: {reason}"[:300],
                evidence={"cycle": cycle.pk, "failure_class": cycle.failure_class, "attempt": cycle.attempt},
                actor=LANE_ACTOR)


def _schedule_retry(at: datetime) -> None:
    """Wake the lane when the retry is due (the regular schedule is the backstop)."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(name=RETRY_SCHEDULE, defaults={
        "func": "autonomy.tasks.lane_cycle", "schedule_type": Schedule.ONCE, "repeats": -1, "next_run": at})



def _heartbeat(cycle: LaneCycle, *, ok: bool, now: datetime) -> None:
    """Feed the stale-signal and failure-streak rules, when a heartbeat per cycle fits them."""
    from autonomy.services import heartbeat_record

    if not lane.heartbeats_wanted(settings.LANE_HEARTBEATS, cycle_minutes=settings.LANE_CYCLE_MINUTES,
                                  sweep_minutes=settings.AUTONOMY_SWEEP_MINUTES,
                                  no_signal_cycles=settings.AUTONOMY_NO_SIGNAL_CYCLES,
                                  lag_seconds=settings.AUTONOMY_STALE_LAG_SECONDS):
        return
    detail = f"cycle #{cycle.pk} {cycle.status}: {cycle.signals} new bars, {cycle.handoffs} handoffs"
    heartbeat_record(source=HEARTBEAT_SOURCE, observed_at=min(now, timezone.now()), actor=LANE_ACTOR,
                     status=HeartbeatStatus.OK if ok else HeartbeatStatus.FAILED, detail=detail[:500])


# --- the stages -----------------------------------------------------------------------------------

StepResult = tuple[str, dict, dict]


def _take_bars(*, cycle: LaneCycle, now: datetime, outputs: dict, say) -> StepResult:
    from ledger.selectors import dataset_bars
    from ledger.services import dataset_store_bars

    state = lane_state_locked()
    symbols = list(settings.LANE_SYMBOLS)
    if not symbols:
        raise InvalidInput("The lane has no symbols: set LANE_SYMBOLS.", code="lane_no_symbols")
    window_size = settings.LANE_WINDOW_SESSIONS
    source = lane_feed_source()
    # the window the last cycle took in, when it came from the same feed (a switch of feed starts anew)
    previous = (dataset_bars(dataset=state.feed_dataset)
                if state.feed_dataset_id and state.feed_dataset.source == source else None)
    if source == DatasetSource.ALPACA:
        newest = lane_feed.last_ts(previous)
        start = (datetime.fromtimestamp(newest + 60, dt.UTC) if newest is not None
                 else now - timedelta(days=window_size * 7 // 5 + 3))
        say(f"   asking Alpaca for {', '.join(symbols)} bars from {_iso(start)} to {_iso(now)}")
        fresh = fetch_alpaca_bars(symbols, start, now, empty_ok=True, **alpaca_credentials()) if start < now else {}
        window, added = lane_feed.window_append(previous, fresh, sessions=window_size)
        if not added:
            raise SkipCycle(f"no new bars: Alpaca has nothing for {', '.join(symbols)} after {_iso(start)}")
        version, ref = f"lane-alpaca-{now:%Y%m%dT%H%M}", f"alpaca:{','.join(symbols)}:to={_iso(now)}"
    else:
        if state.feed_origin is None:
            state.feed_origin = now
        # periods counted on their boundaries, as the cycles' keys are
        elapsed = (locks.period_index(now, settings.LANE_CYCLE_MINUTES)
                   - locks.period_index(state.feed_origin, settings.LANE_CYCLE_MINUTES))
        count = lane.new_sessions_due(periods_elapsed=elapsed, window=window_size, produced=state.feed_sessions)
        if count and previous is None:
            count = window_size  # nothing of this feed to append to (it switched back): a whole window
        if not count:
            raise SkipCycle(f"no new bars: the synthetic feed adds one session per {settings.LANE_CYCLE_MINUTES}-"
                            f"minute period, and this period's (session {state.feed_sessions}) is in already")
        fresh = lane_feed.synthetic_sessions(
            symbols, start=dt.date.fromisoformat(settings.LANE_SYNTHETIC_START), first=state.feed_sessions,
            count=count, seed=settings.LANE_SYNTHETIC_SEED, last_close=lane_feed.last_closes(previous))
        window, added = lane_feed.window_append(previous, fresh, sessions=window_size)
        state.feed_sessions += count
        version = f"lane-synthetic-{state.feed_sessions}"
        ref = f"synthetic-lane:seed={settings.LANE_SYNTHETIC_SEED}:sessions={state.feed_sessions}"
    dataset, created = dataset_store_bars(bars=window, version=version, source=source, snapshot_ref=ref,
                                          actor=LANE_ACTOR)
    state.feed_dataset = dataset
    state.save()
    cycle.source, cycle.dataset = source, dataset
    cycle.save(update_fields=["source", "dataset"])
    detail = {"source": source, "dataset": dataset.fingerprint, "dataset_version": dataset.version,
              "new_bars": added, "window_bars": dataset.bar_count, "symbols": symbols,
              "from": _iso(dataset.first_ts), "to": _iso(dataset.last_ts), "dataset_created": created}
    return (f"{added} new bars ({source}); window {dataset.version}: {dataset.bar_count} bars "
            f"{_iso(dataset.first_ts)} → {_iso(dataset.last_ts)}", detail, {"signals": added})


def lane_feed_source() -> str:
    """Where the bars come from (``LANE_FEED``): Alpaca's data API, or the synthetic feed. ``auto`` takes
    Alpaca when its keys are set, except when the broker is a sandbox (``ALPACA_BASE_URL`` set) and no
    ``ALPACA_DATA_URL`` says where the data is (the demo's fake brokers serve no market data)."""
    choice = settings.LANE_FEED
    if choice in (DatasetSource.ALPACA, DatasetSource.SYNTHETIC):
        return choice
    sandbox = bool(settings.ALPACA_BASE_URL) and not alpaca_credentials()["url_override"]
    return DatasetSource.ALPACA if alpaca_configured() and not sandbox else DatasetSource.SYNTHETIC


def _effective_states() -> dict[str, tuple[str, str]]:
    """Each strategy with a state of its own: its effective trading state (the strictest of the global one
    and its own) and the reason; ``""``: the global state, for every other strategy."""
    from autonomy.selectors import strategy_state_list, trading_state_get

    glob = trading_state_get()
    out = {"": (glob.trading_state, glob.trading_reason)}
    for row in strategy_state_list():
        state = strictest(glob.trading_state, row.state)
        own = state == row.state and row.state != glob.trading_state
        out[row.strategy.name] = (state, row.reason if own else glob.trading_reason)
    return out


def _walkforward(*, cycle: LaneCycle, now: datetime, outputs: dict, say) -> StepResult:
    from ledger.management.commands.run_walkforward import current_commit
    from ledger.services import walkforward_run
    from ledger.walkforward import FoldSpec
    from ledger.walkforward.strategies import strategy_names

    states = _effective_states()
    halted, running = [], []
    for name in strategy_names():
        state, reason = states.get(name, states[""])
        if state == TradingStateChoice.HALTED:
            halted.append({"strategy": name, "state": state, "reason": reason})
            say(f"   {name}: skipped, trading is HALTED ({reason or 'no reason given'})")
        else:
            running.append(name)
    runs = []
    if running:
        outcomes = walkforward_run(dataset=cycle.dataset, strategies=running, code_commit=current_commit(),
                                   fold_spec=FoldSpec(train_days=settings.LANE_TRAIN_DAYS,
                                                      test_days=settings.LANE_TEST_DAYS),
                                   actor=LANE_ACTOR, progress=lambda m: say(f"   {m}"))
        for outcome in outcomes:
            r = outcome.result
            runs.append({"strategy": outcome.strategy, "run_id": r.run.run_id, "status": r.run.status,
                         "created": r.created, "candidate_ids": list(r.candidate_ids)})
            say(f"   {outcome.strategy}: run {r.run.run_id} ({r.run.status}), {len(r.candidate_ids)} candidates")
    candidates = sum(len(r["candidate_ids"]) for r in runs)
    summary = (f"{len(runs)} run(s), {candidates} candidate(s)"
               + (f"; {len(halted)} strateg{'y' if len(halted) == 1 else 'ies'} HALTED, skipped" if halted else ""))
    return summary, {"runs": runs, "halted": halted}, {"runs": len(runs), "candidates": candidates,
                                                        "strategies_halted": len(halted)}


def _next_stage(stage: str) -> str | None:
    rank = STAGE_RANK[stage]
    return STAGES[rank + 1] if rank + 1 < len(STAGES) else None


def _gates(*, cycle: LaneCycle, now: datetime, outputs: dict, say) -> StepResult:
    from promotions import selectors as promotion_selectors
    from promotions.models import Evaluation
    from promotions.services import evaluation_create
    from strategies.models import Strategy

    runs = outputs[OrchestrationStage.CANDIDATE_BUILD]["runs"]
    if not runs:
        return "no new candidate to evaluate", {"evaluations": []}, {"evaluations": 0, "passed": 0}
    policy = promotion_selectors.policy_active()
    if policy is None:
        raise PolicyRefused("No gate policy is active: `manage.py gate_policy activate VERSION`.",
                            code="no_active_policy")
    evaluations = []
    for run in runs:
        strategy = Strategy.objects.get(name=run["strategy"])
        target = _next_stage(strategy.stage)
        if target is None:
            say(f"   {strategy.name} is live: no stage above it to evaluate toward")
            continue
        for candidate_id in run["candidate_ids"]:
            evaluation = (Evaluation.objects.filter(candidate__candidate_id=candidate_id, target=target, policy=policy,
                                                    created_by=LANE_ACTOR).order_by("-id").first()
                          or evaluation_create(candidate_id=candidate_id, target=target, actor=LANE_ACTOR, now=now))
            failing = [g["gate_id"] for g in evaluation.artifact["gates"] if g["status"] != "pass"]
            evaluations.append({"strategy": strategy.name, "run_id": run["run_id"], "candidate_id": candidate_id,
                                "target": target, "evaluation_id": str(evaluation.evaluation_id),
                                "allowed": evaluation.allowed, "failing": failing})
            verdict = "passed" if evaluation.allowed else f"failed {', '.join(failing)}"
            say(f"   {candidate_id} → {target}: {verdict}")
    passed = sum(1 for e in evaluations if e["allowed"])
    return (f"{len(evaluations)} evaluated under {policy.version}, {passed} passed",
            {"policy": policy.version, "evaluations": evaluations}, {"evaluations": len(evaluations),
                                                                      "passed": passed})


def _handoffs(*, cycle: LaneCycle, now: datetime, outputs: dict, say) -> StepResult:
    from promotions.models import AgentRun, Evaluation
    from promotions.services import agent_run_handoff

    filed, noted = [], []
    for item in outputs[OrchestrationStage.GATE_EVALUATION]["evaluations"]:
        if not item["allowed"]:
            continue
        existing = AgentRun.objects.filter(candidate_id=item["candidate_id"], promotion_target=item["target"],
                                           created_by=LANE_ACTOR).first()
        if existing is not None:
            filed.append({**_ids(item), "agent_run_id": str(existing.agent_run_id),
                          "promotion_id": getattr(getattr(existing, "promotion", None), "pk", None)})
            continue
        evaluation = Evaluation.objects.get(evaluation_id=item["evaluation_id"])
        proof = {"evaluation_id": item["evaluation_id"], "artifact_sha256": evaluation.artifact_sha256,
                 "signature": evaluation.signature}
        try:
            agent_run, promotion = agent_run_handoff(run_id=item["run_id"], candidate_id=item["candidate_id"],
                                                     promotion_target=item["target"], gate_proof=proof,
                                                     actor=LANE_ACTOR, now=now)
        except (Conflict, PolicyRefused, Blocked) as exc:  # one open promotion per strategy and target, a halt…
            noted.append({**_ids(item), "code": exc.code, "reason": exc.message})
            say(f"   {item['candidate_id']}: not filed ({exc.code}: {exc.message})")
            continue
        filed.append({**_ids(item), "agent_run_id": str(agent_run.agent_run_id), "promotion_id": promotion.pk})
        say(f"   {item['candidate_id']}: AgentRun {agent_run.agent_run_id} → promotion #{promotion.pk} "
            f"to {item['target']}, pending approval")
    return (f"{len(filed)} handoff(s) filed" + (f", {len(noted)} not filed" if noted else ""),
            {"filed": filed, "not_filed": noted}, {"handoffs": len(filed)})


def _ids(item: dict) -> dict:
    return {k: item[k] for k in ("strategy", "candidate_id", "target", "evaluation_id")}


def _rollbacks(*, cycle: LaneCycle, now: datetime, outputs: dict, say) -> StepResult:
    from autonomy.selectors import llm_gate_evidence
    from promotions import selectors as promotion_selectors
    from promotions.choices import PromotionStatus
    from promotions.models import Promotion
    from promotions.services import promotion_rollback_by_rule
    from strategies.models import Strategy

    policy = promotion_selectors.policy_active()
    judged, rolled = [], []
    if policy is None:
        return "no active gate policy: live evidence not judged", {"judged": [], "rolled_back": []}, {"rollbacks": 0}
    for strategy in Strategy.objects.exclude(stage=Stage.SHADOW).order_by("name"):
        promotion = (Promotion.objects.filter(strategy=strategy, status=PromotionStatus.APPLIED,
                                              to_stage=strategy.stage).order_by("-id").first())
        if promotion is None:
            continue
        orders = lane_selectors.stage_evidence(strategy_id=strategy.pk, stage=strategy.stage,
                                               since=strategy.stage_changed_at, now=now)
        if orders is None:
            continue
        llm = llm_gate_evidence(strategy_id=strategy.pk, now=now)
        limits = playbook.live_evidence_limits(policy.document, stage=strategy.stage,
                                               min_fills=settings.LANE_ROLLBACK_MIN_FILLS)
        breaches = playbook.live_evidence_breaches(orders=orders, llm=llm, limits=limits)
        evidence = {"stage": strategy.stage, "since": _iso(strategy.stage_changed_at), "orders": orders,
                    "llm": llm, "policy": policy.version, "breaches": breaches}
        judged.append({"strategy": strategy.name, **evidence})
        if not breaches:
            continue
        reason = f"live evidence breaks {policy.version}: " + "; ".join(breaches)
        result = promotion_rollback_by_rule(promotion_id=promotion.pk, actor=LANE_ACTOR, reason=reason,
                                            evidence=evidence)
        rolled.append({"strategy": strategy.name, "promotion_id": promotion.pk, "reason": reason, **result})
        say(f"   {strategy.name}: rolled back {result['stage_before']} → {result['stage_after']} ({reason})")
    return (f"{len(judged)} strateg{'y' if len(judged) == 1 else 'ies'} judged, {len(rolled)} rolled back",
            {"judged": judged, "rolled_back": rolled}, {"rollbacks": len(rolled)})


STEP_RUN: dict[str, Callable[..., StepResult]] = {
    OrchestrationStage.RESEARCH_INTAKE: _take_bars,
    OrchestrationStage.CANDIDATE_BUILD: _walkforward,
    OrchestrationStage.GATE_EVALUATION: _gates,
    OrchestrationStage.SHADOW_PAPER: _handoffs,
    OrchestrationStage.CONTINUOUS_MONITORING: _rollbacks,
}


# --- pause and resume -----------------------------------------------------------------------------

def lane_resume(*, actor: str, roles, reason: str, via: str = Via.PAGE) -> LaneState:
    """An operator resumes a paused lane (agents never may): the next cycle runs, and the cycle that paused
    it stays ``paused`` in the history. Audited with the state before and after; the pause alert resolves."""
    from autonomy.services import alert_clear

    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Say why the lane may run again.", details={"fields": {"reason": ["required"]}})
    if rules.actor_kind(actor, roles) != rules.PERSON:
        raise PermissionRefused("Only an operator resumes the autonomous lane; agents may not.",
                                code="agent_forbidden")
    with transaction.atomic():
        state = lane_state_locked()
        if not state.paused:
            raise Conflict("The lane is not paused.", code="lane_not_paused")
        before = {"paused": True, "reason": state.paused_reason, "paused_at": _iso(state.paused_at),
                  "cycle": state.paused_cycle_id}
        state.paused, state.paused_reason, state.paused_at, state.paused_by, state.paused_cycle = (
            False, "", None, "", None)
        state.resumed_at, state.resumed_by = timezone.now(), actor
        state.save()
        audit_record(actor=actor, actor_roles=sorted(roles), via=via, action="lane_resume", object_ref="lane",
                     details={"before": before, "after": {"paused": False}, "reason": reason})
        alert_clear(dedup_key=PAUSE_ALERT, actor=actor, reason=f"the lane was resumed: {reason}", via=via)
    return state

