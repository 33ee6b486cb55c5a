"""Gate 3 reads the LLM review error ratio of the strategy's window (operations["llm"], supplied by the
autonomy app) and stores it in the signed evaluation."""
from __future__ import annotations

import pytest

from autonomy import services
from autonomy.llm_schemas import LlmReviewIn

pytestmark = pytest.mark.django_db


def reviews(*, good: int, errors: int) -> None:
    order = {"strategy": "macd_rsi", "symbol": "AAPL", "side": "buy", "qty": "10"}
    for n in range(good + errors):
        body = {"client_order_id": f"g3-{n}", "model": "m", "prompt_version": "p", "order": order}
        body |= ({"error": "timeout"} if n < errors else
                 {"verdict": "approve", "confidence": 0.9, "rationale": "fine", "risk_flags": []})
        services.llm_review_record(review=LlmReviewIn.model_validate(body), actor="lane")


def gate3(evaluation: dict) -> dict:
    return next(g for g in evaluation["gates"] if g["gate_id"] == "gate3_shadow_paper_quality")


def test_gate3_passes_at_an_llm_error_ratio_of_one_tenth(flow):
    reviews(good=9, errors=1)
    evaluation = flow.evaluate("paper")
    gate = gate3(evaluation)
    assert gate["status"] == "pass"
    assert gate["observed"]["llm_error_ratio"] == "0.1"


def test_gate3_fails_above_one_tenth_and_the_evaluation_keeps_what_it_read(flow):
    from promotions.models import Evaluation

    reviews(good=8, errors=2)
    evaluation = flow.evaluate("paper")
    gate = gate3(evaluation)
    assert gate["status"] == "fail" and evaluation["allowed"] is False
    assert any("LLM review error ratio" in reason for reason in gate["reasons"])
    stored = Evaluation.objects.get(evaluation_id=evaluation["evaluation_id"])
    assert stored.operations["llm"] == {"reviews": 10, "errors": 2, "window_days": 30, "error_ratio": "0.2000"}


def test_gate3_with_no_reviews_is_not_contradicted(flow):
    gate = gate3(flow.evaluate("paper"))
    assert gate["status"] == "pass" and "llm_error_ratio" not in gate["observed"]
