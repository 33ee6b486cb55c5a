"""Reviews arriving at once (real threads, real PostgreSQL): one review decides an order, and concurrent
LLM errors open the circuit exactly once."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from autonomy import services
from autonomy.llm_schemas import LlmReviewIn
from autonomy.models import ControlEvent, LlmCircuitEvaluation, LlmDecisionReview
from core.errors import Conflict
from tests.autonomy.llm_support import described, review_body, strategy_at


def _at_once(bodies: list[dict]) -> tuple[list, list]:
    barrier = threading.Barrier(len(bodies))
    results, errors = [], []

    def worker(body):
        try:
            barrier.wait()
            results.append(services.llm_review_record(review=LlmReviewIn.model_validate(body), actor="lane")[0])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(body,)) for body in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_six_different_reviews_of_one_order_at_once_store_one():
    strategy_at("llm_paper", "paper")
    verdicts = ["approve", "veto", "adjust"] * 2
    results, errors = _at_once([review_body("race-1", verdict=v, confidence=0.5 + i / 100, order=described())
                                for i, v in enumerate(verdicts)])
    assert len(results) == 1 and len(errors) == 5
    assert all(isinstance(e, Conflict) and e.code == "llm_review_exists" for e in errors)
    assert LlmDecisionReview.objects.filter(client_order_id="race-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_six_errors_at_once_open_the_circuit_once():
    strategy_at("llm_paper", "paper")
    results, errors = _at_once([review_body(f"err-{i}", verdict=None, confidence=None, rationale=None,
                                            risk_flags=None, error="timeout", order=described())
                                for i in range(6)])
    assert errors == [] and len(results) == 6
    # each review saw the errors committed before it: 1, 2, 3 (opens) … 6
    assert sorted(LlmCircuitEvaluation.objects.values_list("errors_in_window", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert LlmCircuitEvaluation.objects.filter(opened=True).count() == 1
    assert ControlEvent.objects.filter(kind="llm_circuit").count() == 1
