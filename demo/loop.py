"""The whole loop, end to end, with its evidence read back: what ``manage.py demo_loop`` (``make e2e``) runs.

It runs on a scratch database of its own (created, migrated and dropped here: the demo's data is never
touched) on the same PostgreSQL server, against the sandbox brokers, an API server and a webhook receiver it
starts on free loopback ports and stops at the end (also on Ctrl-C or SIGTERM). The agent, the operator and
the approver talk to the plane over real HTTP with their API tokens, as they do in production; the worker's
alert delivery task runs in this process. Each step then reads its evidence back from the database, the
brokers' books or the receiver, never trusting what an answer said, and the first step whose evidence is
missing stops the run with :class:`StepFailed` (which step, and what was missing).

The demo's own helpers are reused: principals (``demo.services.demo_principals``), the signing key and gate
policy (``demo.promotions.promotions_ready``), and a research lane's walk-forward artifact
(``demo.promotions.lane_artifact``).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import urllib3
from django.conf import settings

SCRATCH_PREFIX = "torghut_demo_loop_"
STRATEGY, SEED, EDGE = "breakout", 101, 45.0  # the demo's first research lane (demo.promotions.LANES)
SYMBOL = "AAPL"
STEPS = {
    1: "an agent ingests a walk-forward run",
    2: "an evaluation is signed",
    3: "the AgentRun handoff is made",
    4: "a scripted approver approves",
    5: "the candidate goes to paper",
    6: "orders route through LEAN; an outage falls back to Alpaca, opens the circuit, disables LEAN and alerts",
    7: "a budget breach halts trading and the next order is refused",
    8: "the promotion replays and its evidence bundle verifies offline",
}


class ScratchDatabaseError(Exception):
    """The scratch database cannot be created (the server refuses, the user may not create databases)."""


class StepFailed(Exception):
    """A step's evidence is missing: ``step`` names it, the message says what was looked for."""

    def __init__(self, step: int, missing: str):
        super().__init__(f"step {step} ({STEPS[step]}): evidence missing: {missing}")
        self.step, self.missing = step, missing


@dataclass
class LoopOptions:
    deliver_alerts: bool = True  # False: the plane is given no webhook (ALERT_WEBHOOK_URL unset), step 6 fails
    scratch_name: str = field(default_factory=lambda: f"{SCRATCH_PREFIX}{os.getpid()}")


# --- Resources: the scratch database, the API server, the HTTP client ---------------------------------------------


def _quoted(name: str) -> str:
    if not name.startswith(SCRATCH_PREFIX) or not name.replace("_", "").isalnum():
        raise ValueError(f"refusing to touch {name!r}: not a demo_loop scratch database")
    return f'"{name}"'


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """Create and migrate database ``name`` on the configured server, point every connection of this process
    at it, and drop it on the way out (whatever happens, Ctrl-C included). Only a name with the scratch prefix
    is ever created or dropped."""
    from django.core.management import call_command
    from django.db import DatabaseError, connection, connections

    quoted = _quoted(name)
    original = connection.settings_dict["NAME"]

    def drop() -> None:
        connections.close_all()
        connection.settings_dict["NAME"] = original
        with connection.creation._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")

    try:
        try:
            drop()  # one left behind by a run that was killed hard with this process id
            with connection.creation._nodb_cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {quoted}")
        except DatabaseError as exc:
            raise ScratchDatabaseError(f"cannot create the scratch database {name}: {exc} (demo_loop needs a "
                                       "database user that may create databases)") from exc
        connection.settings_dict["NAME"] = name
        call_command("migrate", verbosity=0, interactive=False)
        yield name
    finally:
        drop()


def _api_server_class():
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
            pass

    return ThreadedWSGIServer, Handler


@contextmanager
def api_server() -> Iterator[str]:
    """The project's WSGI application on a free loopback port, on threads of this process (so it reads the
    scratch database and the settings of the run); yields its base URL."""
    from django.core.handlers.wsgi import WSGIHandler

    server_class, handler = _api_server_class()
    server = server_class(("127.0.0.1", 0), handler, allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, name="demo-loop-api", daemon=True)
    # the refusals the loop provokes (403, 423) are its evidence, printed by the steps: not warnings
    request_log = logging.getLogger("django.request")
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        request_log.setLevel(level)


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        """The error envelope's code, if the body is one."""
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


class Api:
    """A principal calling the agent contract over HTTP with its token."""

    def __init__(self, base_url: str, token: str, who: str):
        self.base_url, self.token, self.who = base_url, token, who
        self._pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=30))

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        response = self._pool.request(
            method, f"{self.base_url}/api/v1/{path}", body=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json",
                     "Accept": "application/json"}, redirect=False)
        try:
            data = json.loads(response.data) if response.data else None
        except ValueError:
            data = response.data[:300].decode(errors="replace")
        return Answer(response.status, data)


def _broker_call(url: str, method: str, path: str, body: Any = None) -> Any:
    response = urllib3.request(method, f"{url}{path}", body=None if body is None else json.dumps(body).encode(),
                               headers={"Content-Type": "application/json", "APCA-API-KEY-ID": "demo-key",
                                        "APCA-API-SECRET-KEY": "demo-secret"}, retries=False, timeout=10)
    return json.loads(response.data)


# --- The loop ---------------------------------------------------------------------------------------------------


class Loop:
    """Runs the eight steps; ``say`` prints a line (the command's stdout)."""

    def __init__(self, *, say: Callable[[str], object], options: LoopOptions):
        self.say, self.options = say, options
        self.step = 0
        self.facts: dict[str, Any] = {}

    # evidence helpers
    def check(self, condition: Any, missing: str) -> None:
        if not condition:
            raise StepFailed(self.step, missing)

    def answer(self, answer: Answer, expected: int, what: str) -> Any:
        self.check(answer.status == expected, f"{what} answered {answer.status}, not {expected}: {answer.body}")
        return answer.body

    def evidence(self, text: str) -> None:
        self.say(f"      {text}")

    def begin(self, n: int) -> None:
        self.step = n
        self.say(f"[{n}/8] {STEPS[n]}")

    def done(self) -> None:
        self.say(f"      ok: step {self.step} proved")

    def run(self) -> None:
        from django.test import override_settings

        from autonomy.webhook_receiver import WebhookReceiver
        from execution.fake_brokers.server import FakeBrokers

        secret = secrets.token_hex(16)
        with contextlib.ExitStack() as stack:
            migrate_started = time.monotonic()
            stack.enter_context(scratch_database(self.options.scratch_name))
            where = "the embedded server" if settings.DATABASE_IS_EMBEDDED else "the server of DATABASE_URL"
            self.say(f"scratch database {self.options.scratch_name} on {where}, migrated in "
                     f"{time.monotonic() - migrate_started:.1f} s (dropped at the end)")
            fakes = stack.enter_context(FakeBrokers(delay_seconds=0.4))  # books in memory: the demo's stay as they are
            receiver = WebhookReceiver(secret=secret).start()
            stack.callback(receiver.stop)
            # the run's signing key and the evidence bundle it writes: a temporary folder, removed at the end
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="demo-loop-")))
            stack.enter_context(override_settings(
                TRADING_LEAN_RUNNER_URL=fakes.lean.url, TRADING_LEAN_RUNNER_TIMEOUT_SECONDS=2.0,
                ALPACA_BASE_URL=fakes.alpaca.url, ALPACA_API_KEY_ID="demo-key", ALPACA_API_SECRET_KEY="demo-secret",
                ALPACA_TIMEOUT_SECONDS=5.0, SIGNING_KEY_DIR=work_dir / "keys",
                ALERT_WEBHOOK_URL=receiver.url if self.options.deliver_alerts else "", ALERT_WEBHOOK_SECRET=secret,
                ALERT_EMAIL_TO=[], ALERT_NOTIFY_MIN_SEVERITY="warning",
                ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"]))
            base_url = stack.enter_context(api_server())
            self.say(f"API {base_url}/api/v1/   fake LEAN {fakes.lean.url}   fake Alpaca {fakes.alpaca.url}   "
                     f"webhook receiver {receiver.url}"
                     + ("" if self.options.deliver_alerts else "   (the plane gets NO webhook: --no-alert-delivery)"))
            self.setup(base_url)
            self.ingest()
            self.evaluate()
            self.handoff()
            self.approve()
            self.paper()
            self.route(fakes, receiver, secret)
            self.budget()
            self.replay(work_dir)

    def setup(self, base_url: str) -> None:
        from access.roles import Role
        from access.services import principal_create
        from demo.promotions import OPERATOR, promotions_ready
        from demo.services import demo_principals

        login = demo_principals()
        key_id, policy = promotions_ready(actor="demo-loop")
        self.agent = Api(base_url, login.agent_token, "demo-agent")
        self.operator = Api(base_url, principal_create(name=OPERATOR, roles=[Role.OPERATOR]).token, OPERATOR)
        self.base_url = base_url
        self.say(f"principals: demo-agent (agent), {OPERATOR} (operator); signing key {key_id}; "
                 f"gate policy {policy} active")

    # 1 ------------------------------------------------------------------------------------------------------------
    def ingest(self) -> None:
        from django.utils import timezone

        from core.canonical import content_sha256
        from demo.promotions import lane_artifact
        from ledger.models import FoldMetric, ResearchRun, StressMetric
        from strategies.models import Strategy

        self.begin(1)
        body = lane_artifact(STRATEGY, SEED, EDGE, timezone.now().replace(microsecond=0) - timedelta(weeks=20))
        expected_sha = content_sha256(body)
        created = self.answer(self.agent.call("POST", "research/runs", body), 201, "POST /api/v1/research/runs")
        self.evidence(f"POST /api/v1/research/runs as demo-agent → 201 run {created.get('run_id')}, "
                      f"artifact_sha256 {created.get('artifact_sha256')}")
        run = ResearchRun.objects.filter(run_id=body["run_id"]).first()
        self.check(run is not None, f"no research run {body['run_id']} in the ledger")
        self.check(run.artifact_sha256 == expected_sha == created.get("artifact_sha256"),
                   f"stored artifact_sha256 {run.artifact_sha256} ≠ the body's canonical sha256 {expected_sha}")
        self.check(run.created_by == "demo-agent", f"the run was stored by {run.created_by!r}, not demo-agent")
        candidates = list(run.candidates.order_by("position").values_list("candidate_id", flat=True))
        folds = FoldMetric.objects.filter(candidate__run=run).count()
        stress = StressMetric.objects.filter(candidate__run=run).count()
        sent_folds = sum(len(c["folds"]) for c in body["candidates"])
        self.check(len(candidates) == len(body["candidates"]) and folds == sent_folds,
                   f"the ledger holds {len(candidates)} candidates and {folds} folds, not what was sent")
        stage = Strategy.objects.filter(name=STRATEGY).values_list("stage", flat=True).first()
        self.check(stage == "shadow", f"strategy {STRATEGY} is at {stage!r}, not shadow")
        self.evidence(f"read back: run #{run.pk} by {run.created_by}, sha256 {run.artifact_sha256} = the body's "
                      f"canonical JSON; {len(candidates)} candidates, {folds} walk-forward folds, {stress} stress "
                      f"rows; strategy {STRATEGY} known at shadow")
        self.run_id, self.candidate_id = run.run_id, candidates[0]
        self.done()

    # 2 ------------------------------------------------------------------------------------------------------------
    def evaluate(self) -> None:
        from promotions.models import Drill, Evaluation, SigningKey
        from promotions.services import evaluation_verify

        self.begin(2)
        for kind in ("kill_switch", "rollback"):  # gate 4 reads rehearsed drills
            drill = self.answer(self.operator.call("POST", "autonomy/drills", {"kind": kind}), 201,
                                f"POST /api/v1/autonomy/drills ({kind})")
            row = Drill.objects.filter(pk=drill.get("id")).first()
            self.check(row is not None and row.passed, f"the {kind} drill #{drill.get('id')} is not stored as passed")
            self.evidence(f"drill {kind} #{row.pk} by {self.operator.who}: passed (stored)")
        body = self.answer(self.agent.call("POST", "promotions/evaluations",
                                           {"candidate_id": self.candidate_id, "target": "paper"}),
                           201, "POST /api/v1/promotions/evaluations")
        evaluation = Evaluation.objects.filter(evaluation_id=body.get("evaluation_id")).select_related("policy").first()
        self.check(evaluation is not None, f"no evaluation {body.get('evaluation_id')} stored")
        problem = evaluation_verify(evaluation)
        self.check(problem is None, f"evaluation {evaluation.evaluation_id}: {problem}")
        gates = {g["gate_id"]: g["status"] for g in evaluation.artifact["gates"]}
        self.check(evaluation.allowed and all(s == "pass" for s in gates.values()),
                   f"the stored evaluation does not allow paper: gates {gates}")
        key = SigningKey.objects.filter(key_id=evaluation.key_id).first()
        self.check(key is not None, f"the signing key {evaluation.key_id} is not stored")
        self.evidence(f"evaluation {evaluation.evaluation_id} of {self.candidate_id} → paper under policy "
                      f"{evaluation.policy.version}: gates {', '.join(f'{g}={s}' for g, s in gates.items())}")
        self.evidence(f"read back: artifact sha256 {evaluation.artifact_sha256} recomputed, Ed25519 signature by "
                      f"{evaluation.key_id} verifies against the stored public key")
        self.evaluation = evaluation
        self.done()

    # 3 ------------------------------------------------------------------------------------------------------------
    def handoff(self) -> None:
        from promotions.models import AgentRun, Promotion

        self.begin(3)
        proof = {"evaluation_id": str(self.evaluation.evaluation_id),
                 "artifact_sha256": self.evaluation.artifact_sha256, "signature": self.evaluation.signature}
        body = self.answer(self.agent.call("POST", "agent-runs", {
            "run_id": self.run_id, "candidate_id": self.candidate_id, "promotion_target": "paper",
            "gate_proof": proof}), 201, "POST /api/v1/agent-runs")
        agent_run = AgentRun.objects.filter(agent_run_id=body.get("agent_run_id")).first()
        self.check(agent_run is not None, f"no AgentRun {body.get('agent_run_id')} stored")
        promotion = Promotion.objects.filter(agent_run=agent_run).first()
        self.check(promotion is not None and promotion.pk == body.get("promotion_id"),
                   f"no promotion rests on AgentRun {agent_run.agent_run_id}")
        self.check(promotion.status == "pending_approval" and promotion.evaluation_id == self.evaluation.pk
                   and promotion.requested_by == "demo-agent",
                   f"promotion #{promotion.pk} is {promotion.status}, requested by {promotion.requested_by}")
        self.check(agent_run.gate_proof.get("signature") == self.evaluation.signature,
                   "the AgentRun does not store the gate proof it was handed")
        self.evidence(f"POST /api/v1/agent-runs → 201 AgentRun {agent_run.agent_run_id} "
                      f"({agent_run.orchestration_stage}), promotion #{promotion.pk}")
        self.evidence(f"read back: promotion #{promotion.pk} {promotion.from_stage} → {promotion.to_stage}, "
                      f"{promotion.status}, requested by {promotion.requested_by}, gate proof = evaluation "
                      f"{self.evaluation.evaluation_id}")
        self.promotion_id = promotion.pk
        self.done()

    # 4 ------------------------------------------------------------------------------------------------------------
    def approve(self) -> None:
        from access.roles import Role
        from access.services import principal_create
        from core.canonical import content_sha256
        from demo.promotions import SECOND_APPROVER
        from promotions import selectors, signing
        from promotions.models import PromotionDecision

        self.begin(4)
        refused = self.agent.call("POST", f"promotions/{self.promotion_id}/approve", {"comment": "self-approval"})
        self.check(refused.status == 403, f"an agent's approval answered {refused.status}, not 403")
        self.evidence(f"demo-agent approving its own request → 403 {refused.code}")
        approver = Api(self.base_url, principal_create(name=SECOND_APPROVER, roles=[Role.APPROVER],
                                                       strategies=[STRATEGY]).token, SECOND_APPROVER)
        self.answer(approver.call("POST", f"promotions/{self.promotion_id}/approve",
                                  {"comment": "scripted approver: evidence read, gates pass"}),
                    200, f"POST /api/v1/promotions/{self.promotion_id}/approve")
        decision = PromotionDecision.objects.filter(promotion_id=self.promotion_id, action="approve").first()
        self.check(decision is not None and decision.actor == SECOND_APPROVER,
                   f"no approval by {SECOND_APPROVER} stored for promotion #{self.promotion_id}")
        self.check(PromotionDecision.objects.filter(promotion_id=self.promotion_id, actor="demo-agent",
                                                    action="approve").count() == 0,
                   "the agent's refused approval was stored")
        public = selectors.verifying_keys().get(decision.key_id)
        self.check(content_sha256(decision.document) == decision.decision_sha256
                   and public and signing.verify(public, decision.document, decision.signature),
                   f"approval decision #{decision.pk}: its hash or signature does not verify")
        self.evidence(f"{SECOND_APPROVER} (approver, scoped to {STRATEGY}) → 200; read back: decision #{decision.pk} "
                      f"approve, sha256 {decision.decision_sha256}, signed by {decision.key_id} (verifies)")
        self.done()

    # 5 ------------------------------------------------------------------------------------------------------------
    def paper(self) -> None:
        from promotions.models import Promotion, PromotionDecision
        from strategies.models import Strategy

        self.begin(5)
        promotion = Promotion.objects.get(pk=self.promotion_id)
        strategy = Strategy.objects.get(name=STRATEGY)
        applied = PromotionDecision.objects.filter(promotion=promotion, action="apply").first()
        self.check(promotion.status == "applied", f"promotion #{promotion.pk} is {promotion.status}, not applied")
        self.check(applied is not None and applied.document.get("stage_after") == "paper",
                   f"no signed apply decision moving {STRATEGY} to paper")
        self.check(strategy.stage == "paper", f"strategy {STRATEGY} is at {strategy.stage}, not paper")
        seen = self.answer(self.agent.call("GET", f"strategies/{STRATEGY}"), 200, f"GET /api/v1/strategies/{STRATEGY}")
        self.check(seen.get("stage") == "paper" and seen.get("champion_candidate_id") == self.candidate_id,
                   f"the API shows {STRATEGY} at {seen.get('stage')} with champion {seen.get('champion_candidate_id')}")
        self.evidence(f"read back: promotion #{promotion.pk} applied (decision #{applied.pk}, "
                      f"{applied.document['stage_before']} → {applied.document['stage_after']}); strategy "
                      f"{STRATEGY} at {strategy.stage} since {strategy.stage_changed_at:%H:%M:%S} UTC, champion "
                      f"{self.candidate_id}")
        self.done()

    # 6 ------------------------------------------------------------------------------------------------------------
    def order(self, n: int) -> Answer:
        return self.agent.call("POST", "trading/orders", {
            "client_order_id": f"loop-{os.getpid()}-{n:03d}", "strategy": STRATEGY, "symbol": SYMBOL,
            "side": "buy", "qty": "1", "type": "market", "time_in_force": "day"})

    def route(self, fakes, receiver, secret: str) -> None:
        from autonomy.alerting import verify_signature
        from autonomy.models import Alert, AlertDelivery, Incident
        from autonomy.selectors import trading_state_get
        from autonomy.tasks import deliver_alerts
        from execution.models import Execution, LeanOutage

        self.begin(6)
        self.orders = 0

        def submit() -> Execution:
            self.orders += 1
            body = self.answer(self.order(self.orders), 201, "POST /api/v1/trading/orders")
            row = Execution.objects.filter(client_order_id=body.get("client_order_id")).first()
            self.check(row is not None, f"order {body.get('client_order_id')} is not stored")
            return row

        through_lean = [submit() for _ in range(3)]
        self.check(all(r.execution_actual_adapter == "lean" and r.execution_fallback_count == 0 and r.broker_order_id
                       for r in through_lean), "the first orders did not go through LEAN: "
                   + ", ".join(f"{r.client_order_id}={r.execution_actual_adapter}" for r in through_lean))
        self.evidence(f"{len(through_lean)} orders → LEAN: " + ", ".join(
            f"#{r.pk} {r.client_order_id} ({r.status}, broker id {r.broker_order_id})" for r in through_lean))
        for row in through_lean:
            held = _broker_call(fakes.lean.url, "GET", f"/v1/orders/client/{row.client_order_id}")
            self.check(held.get("id") == row.broker_order_id,
                       f"the LEAN runner does not hold {row.client_order_id} as order {row.broker_order_id}")
        self.evidence("the LEAN runner's book holds each of them under its broker id (GET /v1/orders/client/…)")
        fault = _broker_call(fakes.lean.url, "POST", "/_fault", {"mode": "error"})
        self.evidence(f"outage injected: POST {fakes.lean.url}/_fault → {fault}")
        fallbacks = []
        for _ in range(2 * settings.TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES + 2):
            row = submit()
            if row.execution_fallback_count:
                fallbacks.append(row)
            if not trading_state_get().lean_enabled:
                break
        self.check(fallbacks and all(r.execution_actual_adapter == "alpaca" and r.execution_expected_adapter == "lean"
                                     for r in fallbacks), "no order fell back from LEAN to Alpaca")
        reasons = sorted({r.execution_fallback_reason for r in fallbacks})
        self.evidence(f"{len(fallbacks)} orders fell back lean → alpaca, reason {', '.join(reasons)}: "
                      + ", ".join(f"#{r.pk}" for r in fallbacks))
        outage = LeanOutage.objects.filter(ended_at__isnull=True).first()
        self.check(outage is not None, "no open LEAN outage is stored (the circuit did not open)")
        state = trading_state_get()
        self.check(not state.lean_enabled, "the LEAN lane is still enabled after the circuit opened")
        alert = Alert.objects.filter(dedup_key="lean_lane", status="open").first()
        self.check(alert is not None and alert.severity == "critical", "no open critical lean_lane alert")
        incident = Incident.objects.filter(kind="lean_circuit", status="open").first()
        self.check(incident is not None, "no open lean_circuit incident")
        self.evidence(f"read back: outage #{outage.pk} open since {outage.started_at:%H:%M:%S} ({outage.reason}, "
                      f"{outage.failures} failures); LEAN lane disabled: {state.lean_disabled_reason!r}; "
                      f"alert #{alert.pk} {alert.severity} {alert.title!r}; incident #{incident.pk} open")
        after = submit()
        self.check(after.execution_expected_adapter == "alpaca" and after.execution_fallback_count == 0
                   and after.raw_order.get("_execution_route_policy") == "lean_lane_disabled",
                   f"order #{after.pk} after the lane was disabled was not routed to Alpaca by policy")
        self.evidence(f"next order #{after.pk} → alpaca by policy (lean_lane_disabled), no LEAN attempt")
        at_alpaca = [o.get("client_order_id") for o in _broker_call(fakes.alpaca.url, "GET", "/v2/orders?status=all")]
        for row in [*fallbacks, after]:
            self.check(at_alpaca.count(row.client_order_id) == 1,
                       f"the Alpaca fake holds {at_alpaca.count(row.client_order_id)} orders {row.client_order_id}")
        self.evidence(f"Alpaca's book holds each routed order exactly once ({len(at_alpaca)} orders, no duplicate)")
        summary = deliver_alerts()  # the worker's delivery task (scheduled every minute, woken on commit)
        self.evidence(f"alert delivery task (autonomy.tasks.deliver_alerts): {summary}")
        deliveries = list(AlertDelivery.objects.filter(alert=alert, channel="webhook"))
        got = [r for r in receiver.received if r.body.get("alert", {}).get("id") == alert.pk]
        self.check(got, f"the loopback webhook received no notification of alert #{alert.pk} (lean_lane); "
                        f"webhook deliveries stored for it: {len(deliveries)}"
                        + ("" if deliveries else " (the plane has no webhook configured: ALERT_WEBHOOK_URL is unset)"))
        first = got[0]
        self.check(verify_signature(secret, first.raw, first.signature_header),
                   f"the webhook request for alert #{alert.pk} carries no valid HMAC signature")
        delivery = next((d for d in deliveries if str(d.pk) == first.delivery_id), None)
        self.check(delivery is not None and delivery.status == "delivered",
                   f"delivery {first.delivery_id} of alert #{alert.pk} is not stored as delivered")
        self.evidence(f"webhook received delivery {first.delivery_id} ({first.event}) of alert #{alert.pk}: "
                      f"X-Torghut-Signature {first.signature_header[:24]}… verifies (HMAC-SHA256); read back: "
                      f"delivery #{delivery.pk} {delivery.status} after {delivery.attempts} attempt(s)")
        self.done()

    # 7 ------------------------------------------------------------------------------------------------------------
    def budget(self) -> None:
        from autonomy.models import Alert, ConditionEvaluation, TradingState
        from execution.models import Execution, OrderRefusal

        self.begin(7)
        status = self.answer(self.agent.call("GET", "autonomy/status"), 200, "GET /api/v1/autonomy/status")
        used = next((b["used"] for b in status.get("budgets", []) if b["name"] == "order_count"), None)
        self.check(used is not None, "the status shows no order_count budget")
        self.answer(self.operator.call("PUT", "autonomy/budgets/order_count", {
            "limit": used, "reason": "demo_loop: the day's order budget is what has been used"}),
            200, "PUT /api/v1/autonomy/budgets/order_count")
        self.evidence(f"operator sets today's order_count budget to {used} (what is used)")
        refusals = []
        for _ in range(2):
            self.orders += 1
            answer = self.order(self.orders)
            coid = f"loop-{os.getpid()}-{self.orders:03d}"
            self.check(answer.status == 423, f"order {coid} answered {answer.status}, not 423: {answer.body}")
            code = answer.code
            stored = OrderRefusal.objects.filter(client_order_id=coid).first()
            self.check(stored is not None and stored.code == code, f"no refusal record {code} for {coid}")
            self.check(not Execution.objects.filter(client_order_id=coid).exists(), f"the refused {coid} was stored")
            refusals.append((coid, code, stored.pk))
        state = TradingState.objects.filter(id=1).first()
        self.check(state is not None and state.state == "HALTED" and state.cause == "budget",
                   f"global trading is {state and state.state} (cause {state and state.cause}), "
                   "not HALTED by the budget")
        breach = ConditionEvaluation.objects.filter(scope="budget:order_count", breached=True).first()
        self.check(breach is not None, "no stored breach evaluation of budget:order_count")
        alert = Alert.objects.filter(dedup_key="budget:order_count", status="open").first()
        self.check(alert is not None and alert.severity == "critical", "no open critical budget:order_count alert")
        self.check(refusals[0][1] == "budget_exceeded", f"the breaching order was refused {refusals[0][1]}")
        self.evidence(f"order {refusals[0][0]} → 423 {refusals[0][1]} (refusal #{refusals[0][2]}): the breach")
        self.evidence(f"read back: breach evaluation #{breach.pk}; global trading {state.state}, cause {state.cause} "
                      f"({state.reason!r}); "
                      f"alert #{alert.pk} {alert.severity} {alert.title!r}")
        self.evidence(f"next order {refusals[1][0]} → 423 {refusals[1][1]} (refusal #{refusals[1][2]}); "
                      "neither order is stored as an execution")
        self.done()

    # 8 ------------------------------------------------------------------------------------------------------------
    def replay(self, work_dir: Path) -> None:
        import io

        from django.core.management import call_command

        from promotions.bundle import verify
        from promotions.models import ReplayRecord

        self.begin(8)
        out = io.StringIO()
        with contextlib.suppress(SystemExit):  # its exit status is read back from the record below
            call_command("replay_promotion", self.promotion_id, stdout=out)
        record = ReplayRecord.objects.filter(promotion_id=self.promotion_id).order_by("-id").first()
        self.check(record is not None and record.reproducible,
                   f"promotion #{self.promotion_id}: no reproducible replay recorded "
                   f"({record.mismatches if record else 'none recorded'})")
        self.evidence(f"manage.py replay_promotion {self.promotion_id}: {out.getvalue().strip()}")
        self.evidence(f"read back: replay record #{record.pk} reproducible, {len(record.mismatches)} mismatches, "
                      f"{record.elapsed_ms} ms")
        bundle = self.answer(self.agent.call("GET", f"promotions/{self.promotion_id}/evidence"), 200,
                             f"GET /api/v1/promotions/{self.promotion_id}/evidence")
        path = work_dir / f"promotion-{self.promotion_id}-evidence.json"
        path.write_text(json.dumps(bundle))
        from core.canonical import sha256_hex

        offline = subprocess.run([sys.executable, str(settings.BASE_DIR / "manage.py"), "verify_evidence", str(path)],
                                 capture_output=True, text=True, timeout=120)
        self.check(offline.returncode == 0, f"verify_evidence exited {offline.returncode}: "
                                            f"{(offline.stdout + offline.stderr).strip()[-500:]}")
        self.evidence(f"bundle {path.name} (sha256 {sha256_hex(path.read_bytes())}) → manage.py verify_evidence, "
                      f"no database: exit 0, {offline.stdout.strip()}")
        tampered = json.loads(path.read_text())
        tampered["evaluation"]["artifact"]["gates"][0]["status"] = "fail"
        problems = verify(tampered)
        self.check(problems, "a bundle with one gate changed still verifies: the check proves nothing")
        self.evidence(f"control: the same bundle with one gate's status changed fails ({len(problems)} problems, "
                      f"first: {problems[0]})")
        self.done()
