"""Fixtures for the promotion flow: a signing key, the shipped policies, a stored run, drills,
and principals scoped to the strategy."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from access.services import principal_create
from ledger.models import ResearchRun
from promotions import services
from tests.ledger.factories import ArtifactFactory, RunFactory

STRATEGY = "macd_rsi"


@pytest.fixture
def signing_key(settings, tmp_path):
    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    return services.signing_key_rotate(actor="test")


@pytest.fixture
def policies(signing_key):
    import json

    from promotions.management.commands.gate_policy import SHIPPED
    for path in sorted(SHIPPED.glob("*.json")):
        services.policy_load(document=json.loads(path.read_text()), actor="test")
    services.policy_activate(version="v3-gates-1", actor="test", reason="tests use torghut's matrix")


def client_for(name: str, roles: list[str], strategies: list[str] | None = None) -> APIClient:
    result = principal_create(name=name, roles=roles, strategies=strategies)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {result.token}")
    client.username = name
    return client


@dataclass
class Flow:
    run: ResearchRun
    candidate_id: str
    agent: APIClient
    approver: APIClient
    approver2: APIClient
    operator: APIClient

    def evaluate(self, target="paper", candidate_id=None):
        resp = self.agent.post("/api/v1/promotions/evaluations",
                               {"candidate_id": candidate_id or self.candidate_id, "target": target}, format="json")
        assert resp.status_code == 201, resp.content
        return resp.json()

    def handoff(self, evaluation: dict, target="paper", **overrides):
        body = {"run_id": self.run.run_id, "candidate_id": evaluation["candidate_id"], "promotion_target": target,
                "gate_proof": {"evaluation_id": evaluation["evaluation_id"],
                               "artifact_sha256": evaluation["artifact_sha256"],
                               "signature": evaluation["signature"]}, **overrides}
        return self.agent.post("/api/v1/agent-runs", body, format="json")

    def promote(self, target="paper", approvers=None):
        """Evaluate, hand off and approve: returns the promotion body."""
        created = self.handoff(self.evaluate(target), target)
        assert created.status_code == 201, created.content
        pid = created.json()["promotion_id"]
        for client in approvers or [self.approver]:
            resp = client.post(f"/api/v1/promotions/{pid}/approve", {"comment": "ok"}, format="json")
            assert resp.status_code == 200, resp.content
        return resp.json()


def drills(actor="ops"):
    services.drill_run(kind="kill_switch", strategy_name=None, actor=actor)
    services.drill_run(kind="rollback", strategy_name=None, actor=actor)


@pytest.fixture
def flow(db, policies):
    run = RunFactory(body=ArtifactFactory(strategy={"name": STRATEGY, "version": "3.0.1", "type": "plugin_v3"}))
    drills()
    return Flow(run=run, candidate_id=run.candidates.order_by("position").first().candidate_id,
                agent=client_for("lane-1", ["agent"]),
                approver=client_for("alice", ["approver"], [STRATEGY]),
                approver2=client_for("bob", ["approver"], [STRATEGY]),
                operator=client_for("ops1", ["operator"], [STRATEGY]))
