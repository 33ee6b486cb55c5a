"""The pipeline board, a promotion's evidence page, the policy diff, and the admin approval queue."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from access.services import principal_create
from promotions.models import Promotion, PromotionDecision
from strategies.models import Strategy
from tests.promotions.conftest import STRATEGY

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(flow):
    return flow.handoff(flow.evaluate()).json()["promotion_id"]


def test_pipeline_board_shows_stages_champions_and_pending_approvals(flow, pending, browser):
    page = browser.get("/promotions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert STRATEGY in html and f'href="/promotions/{pending}/"' in html
    assert "1 promotion pending approval" in html and "0/1 approvals" in html


def test_promotion_page_shows_the_chain_gates_and_a_verified_signature(flow, pending, browser):
    html = browser.get(f"/promotions/{pending}/").content.decode()
    assert f'href="/research/runs/{flow.run.run_id}/"' in html and flow.candidate_id in html
    assert browser.get(f"/research/runs/{flow.run.run_id}/").status_code == 200  # the link leads somewhere
    assert "gate2_risk_capacity" in html and "max_drawdown" in html and "verified" in html
    assert browser.get("/promotions/999999999/").status_code == 404
    assert browser.get("/promotions/99999999999999999999999/").status_code == 404


def test_policy_page_diffs_two_versions_and_names_an_unknown_one(flow, browser):
    html = browser.get("/promotions/policies/?a=v3-gates-1&b=v4-gates-1").content.decode()
    assert "gates.gate6_selection_bias" in html and "active" in html
    bad = browser.get("/promotions/policies/?a=v9&b=v4-gates-1").content.decode()
    assert "No policy version &#x27;v9&#x27;." in bad


@pytest.fixture
def admin_client(client, flow):
    user = get_user_model().objects.create_superuser("root", password="a-long-password-1")
    client.force_login(user)
    return client


def test_admin_approval_goes_through_a_confirmation_page_showing_the_evidence(admin_client, pending):
    url = "/admin/promotions/promotion/"
    confirm = admin_client.post(url, {"action": "approve_selected", "_selected_action": [pending]})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Approve promotions?" in html and "gate1_statistical_robustness" in html and "verified" in html
    assert Promotion.objects.get(pk=pending).status == "pending_approval"  # nothing happened yet
    done = admin_client.post(url, {"action": "approve_selected", "_selected_action": [pending], "confirm": "yes",
                                   "comment": "evidence read"}, follow=True)
    assert "now Applied" in done.content.decode()
    assert Strategy.objects.get(name=STRATEGY).stage == "paper"
    decision = PromotionDecision.objects.get(promotion_id=pending, action="approve")
    assert decision.actor == "root" and decision.comment == "evidence read"


def test_a_failed_gate_never_reaches_applied_through_the_admin(admin_client, flow):
    import pgtrigger

    from promotions.models import Drill
    with pgtrigger.ignore("promotions.Drill:append_only"):
        Drill.objects.all().delete()
    failed = flow.evaluate()
    assert failed["allowed"] is False
    # force a promotion row on the failed evaluation (as a buggy or hostile writer might) ...
    from promotions.models import Evaluation
    evaluation = Evaluation.objects.get(evaluation_id=failed["evaluation_id"])
    promotion = Promotion.objects.create(strategy=evaluation.strategy, candidate=evaluation.candidate,
                                         evaluation=evaluation, from_stage="shadow", to_stage="paper",
                                         requested_by="lane-1")
    # ... the admin's approval still refuses it
    done = admin_client.post("/admin/promotions/promotion/", {
        "action": "approve_selected", "_selected_action": [promotion.pk], "confirm": "yes"}, follow=True)
    assert "no longer supports this promotion" in done.content.decode()
    assert Promotion.objects.get(pk=promotion.pk).status == "pending_approval"
    assert Strategy.objects.get(name=STRATEGY).stage == "shadow"


def test_admin_loads_and_activates_a_policy_with_a_reason(admin_client, flow):
    import json

    from promotions import selectors
    doc = {**selectors.policy_get(version="v3-gates-1").document, "version": "v3-gates-2",
           "evaluation_max_age_hours": 24}
    added = admin_client.post("/admin/promotions/gatepolicy/add/", {"document": json.dumps(doc)})
    assert added.status_code == 302
    stored = selectors.policy_get(version="v3-gates-2")
    bad = admin_client.post("/admin/promotions/gatepolicy/add/", {"document": json.dumps({**doc, "gates": {}})})
    assert bad.status_code == 200 and "thresholds missing" in bad.content.decode()
    url = "/admin/promotions/gatepolicy/"
    ask = admin_client.post(url, {"action": "activate_selected", "_selected_action": [stored.pk]})
    assert "Activate v3-gates-2?" in ask.content.decode() and "evaluation_max_age_hours" in ask.content.decode()
    no_reason = admin_client.post(url, {"action": "activate_selected", "_selected_action": [stored.pk],
                                        "confirm": "yes", "reason": ""})
    assert "Say why the policy changes." in no_reason.content.decode()
    admin_client.post(url, {"action": "activate_selected", "_selected_action": [stored.pk], "confirm": "yes",
                            "reason": "one day is enough"})
    assert selectors.policy_active().version == "v3-gates-2"


def test_an_agent_superuser_cannot_approve_in_the_admin(client, flow, pending):
    principal_create(name="bot", roles=["agent"])
    bot = get_user_model().objects.get(username="bot")
    bot.is_staff = bot.is_superuser = True
    bot.save()
    client.force_login(bot)
    done = client.post("/admin/promotions/promotion/", {"action": "approve_selected", "_selected_action": [pending],
                                                        "confirm": "yes"}, follow=True)
    assert "Agents may never" in done.content.decode()
    assert Promotion.objects.get(pk=pending).status == "pending_approval"
