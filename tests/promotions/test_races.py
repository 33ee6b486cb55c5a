"""Races on promotions: exactly one outcome each (real threads, real PostgreSQL, transaction=True)."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from promotions.models import AgentRun, Promotion, PromotionDecision
from strategies.models import Strategy
from tests.promotions.conftest import STRATEGY


def _at_once(*calls):
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_approvers_race_on_one_promotion(flow):
    pid = flow.handoff(flow.evaluate()).json()["promotion_id"]
    responses = _at_once(*[lambda c=c: c.post(f"/api/v1/promotions/{pid}/approve", {"comment": c.username},
                                              format="json") for c in (flow.approver, flow.approver2)])
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409], [r.content for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["error"]["code"] == "promotion_not_pending"
    assert PromotionDecision.objects.filter(promotion_id=pid, action="approve").count() == 1
    assert PromotionDecision.objects.filter(promotion_id=pid, action="apply").count() == 1
    assert Strategy.objects.get(name=STRATEGY).stage == "paper"


@pytest.mark.django_db(transaction=True)
def test_the_same_agent_run_submitted_twice_at_once(flow):
    evaluation = flow.evaluate()
    responses = _at_once(lambda: flow.handoff(evaluation), lambda: flow.handoff(evaluation))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409], [r.content for r in responses]
    assert next(r for r in responses if r.status_code == 409).json()["error"]["code"] == "promotion_pending"
    assert Promotion.objects.count() == 1 and AgentRun.objects.count() == 1
