"""A realistic demo: research runs from the real walk-forward runner, principals to log in with,
and (from the execution app) orders routed through the fake brokers with LEAN outages.

Every step is idempotent: running ``load_demo`` twice leaves the same data.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from access.roles import Role
from access.services import principal_create, roles_bootstrap
from ledger.choices import DatasetSource
from ledger.services import dataset_store_bars, walkforward_run

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "torghut-demo"  # noqa: S105 - a local demo login, printed on purpose

DATASETS = [
    # (label, symbols, start, days, seed)
    ("demo-bars-2025q1", ["AAPL", "MSFT", "NVDA", "SPY"], "2025-01-02", 45, 11),
    ("demo-bars-2025q2", ["AAPL", "AMZN", "META", "QQQ"], "2025-04-01", 45, 23),
]


@dataclass
class DemoLogin:
    username: str
    password: str
    agent_token: str


def demo_principals() -> DemoLogin:
    roles_bootstrap()
    User = get_user_model()
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=DEMO_USERNAME,
                                                   defaults={"is_staff": True, "is_superuser": True})
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = True
            user.save()
    principal_create(name=DEMO_USERNAME, roles=[Role.OPERATOR, Role.APPROVER, Role.AUDITOR, Role.RESEARCHER])
    agent = principal_create(name="demo-agent", roles=[Role.AGENT])
    principal_create(name="demo-researcher", roles=[Role.RESEARCHER])
    return DemoLogin(DEMO_USERNAME, DEMO_PASSWORD, agent.token)


def demo_research(progress: Callable[[str], object] = print) -> int:
    """Store the demo datasets and run both strategies on each through the walk-forward runner."""
    import datetime as dt

    from ledger.walkforward import FoldSpec
    from ledger.walkforward.synthetic import generate_bars

    runs = 0
    for label, symbols, start, days, seed in DATASETS:
        progress(f"dataset {label}: generating {days} days × {len(symbols)} symbols (seed {seed})")
        bars = generate_bars(symbols, start=dt.date.fromisoformat(start), n_days=days, seed=seed)
        dataset, _ = dataset_store_bars(bars=bars, version=label, source=DatasetSource.SYNTHETIC,
                                        snapshot_ref=f"synthetic:seed={seed}:start={start}:days={days}",
                                        actor="demo")
        for spec in (FoldSpec(train_days=15, test_days=5), FoldSpec(train_days=10, test_days=5)):
            outcomes = walkforward_run(dataset=dataset, strategies=["macd_rsi", "tsmom"], code_commit="demo",
                                       fold_spec=spec, actor="demo-agent", progress=progress)
            runs += len(outcomes)
    return runs
