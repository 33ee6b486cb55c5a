import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from knox.models import AuthToken

from access.selectors import user_roles
from demo import services

pytestmark = pytest.mark.django_db


def test_demo_principals_are_idempotent_and_only_the_agent_gets_new_tokens():
    first = services.demo_principals()
    second = services.demo_principals()
    assert first.agent_token != second.agent_token
    counts = dict(AuthToken.objects.values_list("user__username").order_by().annotate(n=Count("pk")))
    assert counts == {"demo": 1, "demo-researcher": 1, "demo-agent": 2}
    demo = get_user_model().objects.get(username="demo")
    assert demo.check_password(services.DEMO_PASSWORD) and demo.is_superuser
    assert {"operator", "approver", "auditor", "researcher"} <= user_roles(demo)


@pytest.mark.django_db(transaction=True)
def test_the_demo_walks_strategies_through_the_gates_and_trades_only_what_was_promoted(settings, tmp_path):
    """A short replay: lane strategies reach paper, canary and live through signed evaluations and
    approvals; one request is rejected and one left pending; orders come only from promoted strategies."""
    from django.db.models import Count

    from demo.services import demo_executions, demo_principals
    from execution.models import Execution, OrderRefusal
    from promotions.models import Promotion
    from strategies.models import Strategy

    settings.SIGNING_KEY_DIR = tmp_path / "keys"
    settings.FAKE_BROKER_BOOK_DIR = tmp_path / "books"
    demo_principals()
    before = _settings_snapshot()
    counts = demo_executions(days=21, orders_per_hour=4, legacy_rows=10, progress=lambda m: None)
    # nothing global is left changed: the settings, the clock and the models' default timestamps
    assert _settings_snapshot() == before and before["READINESS_PHASE_D"] == "True"
    from django.utils import timezone

    from autonomy.models import ControlEvent
    assert abs((timezone.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert ControlEvent._meta.get_field("at").default is timezone.now
    stages = dict(Strategy.objects.values_list("name", "stage"))
    assert stages["breakout"] == "live" and stages["pairs_revert"] == "paper" and stages["vol_carry"] == "paper"
    statuses = {(p.strategy.name, p.to_stage): p.status for p in Promotion.objects.select_related("strategy")}
    assert statuses[("breakout", "live")] == "applied"
    assert statuses[("pairs_revert", "canary")] == "rejected"
    assert statuses[("vol_carry", "canary")] == "pending_approval"
    by_stage = dict(Execution.objects.filter(client_order_id__startswith="demo-").values_list("strategy_stage")
                    .annotate(n=Count("id")))
    assert set(by_stage) == {"paper", "canary", "live"}
    assert counts["orders_refused"] > 0
    assert OrderRefusal.objects.filter(code="strategy_not_live", strategy_name__in=["macd_rsi", "tsmom"]).exists()
    from promotions.selectors import promotion_replay
    assert all(promotion_replay(promotion=p)["reproducible"] for p in Promotion.objects.all())
    # LEAN's outages disabled the lane at once (critical alert, incident); the demo's operator enabled it
    # again once LEAN was healthy, which resolved each alert and closed each incident
    from autonomy.models import Alert, Incident
    from autonomy.selectors import trading_state_get

    lean_alerts = Alert.objects.filter(dedup_key="lean_lane")
    assert lean_alerts.count() >= 2 and not lean_alerts.exclude(status="resolved").exists()
    assert Incident.objects.filter(kind="lean_circuit").count() == lean_alerts.count()
    assert not Incident.objects.filter(status="open").exists()
    assert trading_state_get().lean_enabled
    # Phase D held throughout: each time the demo's operator enabled the lane, the readiness scorecard had
    # been green for the required hours (the worker's sweeps ran through the simulated weeks), on record
    from autonomy.models import ControlEvent, ReadinessSnapshot

    enables = ControlEvent.objects.filter(kind="lean_lane", actor="demo", after__enabled=True)
    assert enables.count() == lean_alerts.count()
    for event in enables:
        readiness = event.evidence["readiness"]
        assert readiness["green"] is True
        assert event.at - dt.datetime.fromisoformat(readiness["green_since"]) >= dt.timedelta(hours=24)
    assert ReadinessSnapshot.objects.filter(green=True).exists()
    assert ReadinessSnapshot.objects.filter(at__lt=enables.order_by("at").first().at).count() >= 10
    assert not ReadinessSnapshot.objects.filter(at__gt=enables.order_by("at").first().at - dt.timedelta(hours=24),
                                                at__lt=enables.order_by("at").last().at, green=False).exists()

    # serve_demo's brokers start from the books load_demo's orders went to: each filled order is in the
    # book of the broker that filled it (reconciliation finds it there: tests/execution/test_fake_broker_books.py)
    from execution.fake_brokers import FakeBrokers

    with FakeBrokers(book_dir=settings.FAKE_BROKER_BOOK_DIR) as fakes:
        books = {"lean": {o["client_order_id"] for o in fakes.lean.orders()},
                 "alpaca": {o["client_order_id"] for o in fakes.alpaca.orders()}}
    filled = Execution.objects.filter(client_order_id__startswith="demo-", status="filled")
    assert filled.count() > 100
    for adapter, client_order_id in filled.values_list("execution_actual_adapter", "client_order_id"):
        assert client_order_id in books[adapter], f"{client_order_id} filled at {adapter}, not in its book"

    _the_llm_page_shows_the_reviews(counts)
    _the_lane_judges_the_promoted_strategies_and_rolls_none_back(stages)

    # idempotent: a second load changes nothing
    from autonomy.models import LaneCycle, LlmDecisionReview
    from demo.services import demo_lane
    totals = (Execution.objects.count(), OrderRefusal.objects.count(), LlmDecisionReview.objects.count(),
              ControlEvent.objects.count(), Promotion.objects.count(), LaneCycle.objects.count())
    demo_executions(days=21, orders_per_hour=4, legacy_rows=10, progress=lambda m: None)
    assert demo_lane(progress=lambda m: None) == []
    assert (Execution.objects.count(), OrderRefusal.objects.count(), LlmDecisionReview.objects.count(),
            ControlEvent.objects.count(), Promotion.objects.count(), LaneCycle.objects.count()) == totals


def _settings_snapshot() -> dict[str, str]:
    from django.conf import settings

    return {name: repr(getattr(settings, name)) for name in dir(settings) if name.isupper()}


def _the_llm_page_shows_the_reviews(counts) -> None:
    """The reviewer's advice through the rollout: shadow, veto only, bounded adjust; vetoes, clamped and
    blocked adjustments, the circuit opened once; orders admitted as the applied verdict let them."""
    from django.test import Client

    from autonomy.models import ControlEvent, LlmDecisionReview, LlmStageDecision
    from autonomy.selectors import llm_stage_decision_verify
    from execution.models import Execution, OrderRefusal

    reviews = LlmDecisionReview.objects.all()
    assert counts["llm_reviews"] == reviews.count() > 50
    assert set(reviews.values_list("stage", flat=True)) == {"stage1", "stage2", "stage3"}
    assert {"approve", "veto", "adjust"} <= set(reviews.values_list("applied_verdict", flat=True))
    assert reviews.filter(stage="stage1", guarded_verdict="veto", applied_verdict="approve").exists()

    def reviewed(reason: str, **kw):
        return reviews.filter(guardrail_reasons__contains=[reason], **kw)

    assert reviewed("confidence_below_minimum", applied_verdict="veto").exists()
    assert reviewed("adjusted_qty_clamped", applied_verdict="adjust").exists()
    assert reviewed("adjust_not_allowed", stage="stage2", applied_verdict="veto").exists()  # blocked below stage3
    assert reviewed("adjusted_qty_not_positive", applied_verdict="veto").exists()  # blocked: adjusted to zero
    assert reviews.filter(verdict="error").count() == 3
    assert reviewed("llm_circuit_open", applied_verdict="veto", effective_mode="circuit_open").exists()
    assert ControlEvent.objects.filter(kind="llm_circuit").count() == 1
    decisions = LlmStageDecision.objects.order_by("id")
    assert [(d.stage_before, d.stage_after) for d in decisions] == [
        ("stage0", "stage1"), ("stage1", "stage2"), ("stage2", "stage3")]
    assert all(llm_stage_decision_verify(d) is None for d in decisions)
    assert decisions[1].evidence["readiness"] is None and decisions[1].evidence["reviews"] >= 20

    # admission followed the applied verdict: a vetoed order was refused (423 llm_veto, unless a control
    # refused it first), an adjusted one was sent with the adjusted quantity (and admitted, or refused by a
    # control such as a canary cap), or refused when sent unchanged (422 llm_adjustment_mismatch)
    refused = dict(OrderRefusal.objects.values_list("client_order_id", "code"))
    for review in reviews.exclude(verdict="error"):
        stored = Execution.objects.filter(client_order_id=review.client_order_id).first()
        code = refused.get(review.client_order_id)
        if review.applied_verdict == "veto":
            assert stored is None and code is not None
        elif review.applied_verdict == "adjust":
            assert stored.submitted_qty == review.applied_qty if stored else code not in (None, "llm_veto")
        else:
            assert code not in ("llm_veto", "llm_adjustment_mismatch")
    codes = list(refused.values())
    assert codes.count("llm_adjustment_mismatch") == 1 and codes.count("llm_veto") >= 10
    assert Execution.objects.filter(client_order_id__in=reviews.filter(applied_verdict="adjust")
                                    .values("client_order_id")).exists()

    client = Client()
    client.force_login(get_user_model().objects.get(username="demo"))
    # the LLM's refusals are among the refused orders, each with its status
    mismatch = OrderRefusal.objects.get(code="llm_adjustment_mismatch").client_order_id
    refused_page = client.get("/executions/refused/", {"code": "llm_adjustment_mismatch"}).content.decode()
    assert mismatch in refused_page and "422" in refused_page
    vetoed = OrderRefusal.objects.filter(code="llm_veto").order_by("-id").first().client_order_id
    refused_page = client.get("/executions/refused/", {"code": "llm_veto"}).content.decode()
    assert vetoed in refused_page and "423" in refused_page

    page = client.get("/autonomy/llm/").content.decode()
    assert '<h2 id="llm-stage">stage3</h2>' in page
    for shown in ("stage0 → stage1", "stage1 → stage2", "stage2 → stage3", "torghut-reviewer-2026-05",
                  "order-review/v3", "chart-llm-mix"):
        assert shown in page
    table = page.split('id="llm-reviews"')[1].split("</table>")[0]
    assert table.count("<tr>") > 10
    for verdict, reason in (("adjust", "adjusted_qty_clamped"), ("veto", "confidence_below_minimum"),
                            ("veto", "adjust_not_allowed"), ("veto", "adjusted_qty_not_positive"),
                            ("veto", "llm_circuit_open")):
        review = reviewed(reason, applied_verdict=verdict).first()
        filtered = client.get("/autonomy/llm/", {"client_order_id": review.client_order_id})
        table = filtered.content.decode().split('id="llm-reviews"')[1].split("</table>")[0]
        assert reason in table and review.client_order_id in table and f">{verdict}</span>" in table


def _the_lane_judges_the_promoted_strategies_and_rolls_none_back(stages: dict[str, str]) -> None:
    """The lane's first cycles after the replay: each one's monitoring stage judges the live evidence of
    breakout (live), pairs_revert and vol_carry (paper) under v4-gates-1; the LEAN outages' fallbacks are a
    small share of their orders, so it holds and nothing is rolled back."""
    from django.test import Client

    from autonomy.models import LaneCycle
    from demo.services import demo_lane
    from promotions.models import AgentRun
    from strategies.models import Strategy

    ran = demo_lane(progress=lambda m: None)
    assert [status for _, status in ran] == ["succeeded", "succeeded", "skipped", "succeeded"]
    for cycle in LaneCycle.objects.filter(status="succeeded"):
        monitoring = cycle.stages.get(stage="continuous-monitoring").detail
        judged = {j["strategy"]: j for j in monitoring["judged"]}
        assert {name: j["stage"] for name, j in judged.items()} == {
            "breakout": "live", "pairs_revert": "paper", "vol_carry": "paper"}
        assert all(j["policy"] == "v4-gates-1" and j["breaches"] == [] for j in judged.values())
        assert monitoring["rolled_back"] == [] and cycle.rollbacks == 0
    after = dict(Strategy.objects.values_list("name", "stage"))
    assert {name: after[name] for name in judged} == {name: stages[name] for name in judged}
    assert not AgentRun.objects.filter(created_by="system:lane").exists()  # v4-gates-1 passed no candidate

    client = Client()
    client.force_login(get_user_model().objects.get(username="demo"))
    tile = client.get("/").content.decode().split('id="tile-lane"')[1].split("</section>")[0]
    last = LaneCycle.objects.order_by("-id").first()
    assert f"#{last.pk}</a>" in tile and 'data-figure="lane-last-status">succeeded<' in tile
    assert 'data-figure="lane-streak">0<' in tile and "No cycle has run yet" not in tile
    page = client.get("/autonomy/lane/").content.decode()
    assert page.count('class="lane-cycle"') == 4
    assert "(session 13) is in already" in page and "3 strategies judged, 0 rolled back" in page
