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
    counts = demo_executions(days=21, orders_per_hour=4, legacy_rows=10, progress=lambda m: None)
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
