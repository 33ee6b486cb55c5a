"""The LLM governance page and its stage-change confirmation, through Django's test client."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from access.roles import Role
from access.services import principal_create
from autonomy.models import LlmGovernance, LlmStageDecision
from tests.autonomy.llm_support import allow, described, force_stage, review_body

pytestmark = pytest.mark.django_db
PAGE = "/autonomy/llm/"


def record(n: int, **advice) -> None:
    from autonomy import services
    from autonomy.llm_schemas import LlmReviewIn

    for i in range(n):
        body = review_body(f"page-{advice.get('verdict', 'x')}-{i}-{timezone.now().timestamp()}",
                           order=described(), **advice)
        services.llm_review_record(review=LlmReviewIn.model_validate(body), actor="lane",
                                   now=timezone.now() - timedelta(days=i % 3))


@pytest.fixture
def operator(client, db):
    principal_create(name="olga", roles=[Role.OPERATOR])
    user = get_user_model().objects.get(username="olga")
    client.force_login(user)
    return client


def test_page_shows_stage_mode_error_rate_rejections_and_allowlists(browser, paper):
    force_stage("stage2")
    allow("claude-page", "p-page")
    record(3, verdict="veto")
    record(2, confidence=0.1)
    record(1, verdict=None, confidence=None, rationale=None, risk_flags=None, error="timeout")
    html = browser.get(PAGE).content.decode()
    assert 'id="llm-stage">stage2<' in html and "veto_only" in html
    assert "claude-page" in html and "p-page" in html
    assert 'id="llm-error-rate">17%<' in html  # 1 error in 6 reviews
    assert "confidence_below_minimum" in html and "chart-llm-rejections" in html
    assert "Operators change the stage here" in html and 'id="llm-stage-form"' not in html


def test_reviews_on_the_page_filter_like_the_api(browser, paper):
    force_stage("stage2")
    allow()
    record(2, verdict="veto")
    record(1)
    html = browser.get(PAGE, {"applied_verdict": "approve"}).content.decode()
    assert html.count(">page-veto-") == 0 and html.count(">page-x-") == 1  # each review links its order
    assert "Select a valid choice" in browser.get(PAGE, {"verdict": "sideways"}).content.decode()


def test_page_queries_do_not_grow_with_the_reviews(browser, paper):
    record(2)
    with CaptureQueriesContext(connection) as few:
        assert browser.get(PAGE).status_code == 200
    record(30, verdict="veto")
    with CaptureQueriesContext(connection) as many:
        assert browser.get(PAGE).status_code == 200
    assert len(many) == len(few)


def test_operators_change_the_stage_through_a_confirmation_asking_for_a_reason(operator, signing_key):
    html = operator.get(PAGE).content.decode()
    assert 'id="llm-stage-form"' in html
    confirm = operator.get("/autonomy/llm/stage/", {"stage": "stage1"}).content.decode()
    assert "stage0 → stage1" in confirm and 'name="reason"' in confirm
    refused = operator.post("/autonomy/llm/stage/", {"stage": "stage1", "confirm": "yes", "reason": " "})
    assert refused.status_code == 200 and "reason: say why the stage changes" in refused.content.decode()
    assert not LlmStageDecision.objects.exists()
    done = operator.post("/autonomy/llm/stage/", {"stage": "stage1", "confirm": "yes", "reason": "start shadow"})
    assert done.status_code == 302 and done.url == PAGE
    decision = LlmStageDecision.objects.get()
    assert (decision.stage_after, decision.via, decision.actor) == ("stage1", "page", "olga")
    assert "verified" in operator.get(PAGE).content.decode()


def test_advancing_above_shadow_from_the_page_shows_what_is_missing(operator, signing_key):
    force_stage("stage1")
    page = operator.get("/autonomy/llm/stage/", {"stage": "stage2"}).content.decode()
    assert 'name="evaluation_report"' in page and 'name="effective_challenge_id"' in page
    refused = operator.post("/autonomy/llm/stage/", {"stage": "stage2", "confirm": "yes", "reason": "go",
                                                     "evaluation_report": "evals/x"}).content.decode()
    assert "an effective-challenge id is required" in refused and "evaluation report is required" not in refused
    assert LlmGovernance.objects.get().stage == "stage1"


def test_only_operators_reach_the_stage_change(browser):
    assert browser.get("/autonomy/llm/stage/", {"stage": "stage1"}).status_code == 403
    assert browser.post("/autonomy/llm/stage/", {"stage": "stage1", "confirm": "yes", "reason": "x"}).status_code == 403
    assert not LlmStageDecision.objects.exists()


def test_nav_links_the_llm_page(browser):
    html = browser.get(PAGE).content.decode()
    assert '<a href="/autonomy/llm/" class="active" aria-current="page">LLM</a>' in html
