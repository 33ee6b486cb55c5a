"""The LLM governance page in a real browser at desktop and phone width (screenshots in var/screenshots/)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser import ARGS, CHROMIUM, MARKS, SHOTS, log_in

pytestmark = MARKS
ADVICE = [  # (verdict, confidence, extra) cycled over the reviews of the last ten days
    ("approve", 0.9, {}), ("veto", 0.8, {}), ("approve", 0.3, {}), ("adjust", 0.7, {"adjusted_qty": "80"}),
    ("approve", 0.95, {"rationale": "r" * 300}), (None, None, {"error": "upstream timeout"}),
    ("approve", 0.85, {}), ("adjust", 0.9, {"adjusted_order_type": "stop"}),
]


def seed(now):
    from autonomy import services
    from autonomy.llm_schemas import LlmReviewIn
    from tests.autonomy.llm_support import OPERATOR_ROLES, allow, described, review_body, strategy_at

    strategy_at("llm_paper", "paper")
    allow("claude-sonnet-4", "risk-review-v7")
    services.llm_stage_set(stage="stage1", reason="start the shadow window", actor="olga", roles=OPERATOR_ROLES,
                           now=now - timedelta(days=12))
    for i in range(48):
        verdict, confidence, extra = ADVICE[i % len(ADVICE)]
        overrides = {"verdict": verdict, "confidence": confidence, **extra}
        if verdict is None:
            overrides.update(rationale=None, risk_flags=None)
        body = review_body(f"dec-{i:04d}", model="claude-sonnet-4", prompt_version="risk-review-v7",
                           order=described(), **overrides)
        services.llm_review_record(review=LlmReviewIn.model_validate(body), actor="lane-llm",
                                   now=now - timedelta(hours=5 * i + 1))


@pytest.mark.django_db(transaction=True)
def test_llm_page_renders_and_changes_stage_at_1280_and_390(live_server, monkeypatch, settings, tmp_path):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from access.services import principal_create
    from autonomy.models import LlmGovernance
    from promotions import services as promotion_services

    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    promotion_services.signing_key_rotate(actor="test")
    seed(timezone.now())
    principal_create(name="olga", roles=["operator"])
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="olga")
    user.set_password("a-long-password-1")
    user.save()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width in (1280, 390):
            page = log_in(browser, live_server.url, width=width)
            if width < 760:
                page.click("button.nav-toggle")  # on a phone the navigation is a menu
            page.click("nav >> text=LLM")
            page.wait_for_selector("#chart-llm-rejections .main-svg", state="attached")
            page.wait_for_selector("#chart-llm-mix .main-svg", state="attached")
            assert page.locator("#llm-stage").inner_text() == "stage1"
            page.screenshot(path=str(SHOTS / f"llm-governance-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"/autonomy/llm/ is {overflow}px wider than {width}px"
            page.select_option("#llm-stage-form select[name=stage]", "stage2")
            page.click("#llm-stage-form button[type=submit]")
            page.wait_for_selector("textarea[name=reason]")
            page.screenshot(path=str(SHOTS / f"llm-stage-confirm-{width}.png"), full_page=True)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the stage confirmation is {overflow}px wider than {width}px"
            if width == 1280:
                # The error ratio of the window (1 in 8 reviews is an error) is above 0.10: refused, and said why.
                page.fill("input[name=evaluation_report]", "evals/2026-11.html")
                page.fill("input[name=effective_challenge_id]", "EC-7")
                page.fill("textarea[name=reason]", "shadow window reviewed")
                page.click("form.confirm-form button[type=submit]")
                page.wait_for_selector("text=Refused")
                assert "error ratio over the shadow window is 0.1250" in page.content()
                page.screenshot(path=str(SHOTS / "llm-stage-refused-1280.png"), full_page=True)
            page.close()
        browser.close()
    # Read the database outside Playwright's block: a query inside it would open a connection in the event
    # loop's context that outlives the test (and later tests would find it closed under them).
    assert LlmGovernance.objects.get().stage == "stage1"
