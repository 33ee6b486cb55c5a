"""factory-boy factories for run artifacts (plain dicts) and stored runs (through the writer)."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import factory

from ledger import services


def sha(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


BASE = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


class FoldFactory(factory.DictFactory):
    class Params:
        index = factory.Sequence(lambda n: n % 40)

    name = factory.LazyAttribute(lambda o: f"fold_{o.index + 1}")
    order = factory.LazyAttribute(lambda o: o.index + 1)
    train_start = factory.LazyAttribute(lambda o: iso(BASE + timedelta(days=7 * o.index)))
    train_end = factory.LazyAttribute(lambda o: iso(BASE + timedelta(days=7 * o.index + 4, hours=6)))
    test_start = factory.LazyAttribute(lambda o: iso(BASE + timedelta(days=7 * o.index + 5)))
    test_end = factory.LazyAttribute(lambda o: iso(BASE + timedelta(days=7 * o.index + 6, hours=6)))
    decision_count = 40
    trade_count = 12
    gross_pnl = "120.50"
    net_pnl = "101.25"
    max_drawdown = "35.00"
    turnover_ratio = "2.10"
    cost_bps = "6.5"
    sharpe = "1.42"
    regime_label = "vol=mid|trend=up|liq=liquid"


def folds(n: int, **overrides) -> list[dict]:
    return [FoldFactory(index=i, **overrides) for i in range(n)]


def stress_rows() -> list[dict]:
    return [
        {"case": "spread", "net_pnl": "80.10", "max_drawdown": "41.00", "pessimistic_pnl_delta": "-21.15"},
        {"case": "volatility", "net_pnl": "70.00", "max_drawdown": "52.00", "pessimistic_pnl_delta": "-31.25"},
        {"case": "liquidity", "net_pnl": "90.00", "max_drawdown": "38.00", "pessimistic_pnl_delta": "-11.25"},
        {"case": "halt", "net_pnl": "95.00", "max_drawdown": "36.00", "pessimistic_pnl_delta": "-6.25"},
    ]


class CandidateArtifactFactory(factory.DictFactory):
    candidate_id = factory.Sequence(lambda n: f"cand-{n:06d}")
    parameter_set = factory.LazyFunction(lambda: {"rsi_buy": 35})
    decision_count = 412
    trade_count = 118
    symbols = factory.LazyFunction(lambda: ["AAPL", "MSFT"])
    folds = factory.LazyFunction(lambda: folds(3))
    stress = factory.LazyFunction(stress_rows)


class ArtifactFactory(factory.DictFactory):
    schema_version = "torghut.research-run/v1"
    run_id = factory.Sequence(lambda n: f"wf-test-{n:06d}")
    status = "passed"
    strategy = factory.LazyFunction(lambda: {"name": "macd_rsi", "version": "3.0.1", "type": "plugin_v3"})
    code_commit = "9f2c1e0"
    runner_version = "walkforward/1.0"
    dataset = factory.LazyFunction(lambda: {
        "version": "bars-2026-02", "fingerprint": sha("bars-2026-02"),
        "from": "2026-01-02T14:30:00Z", "to": "2026-02-10T21:00:00Z",
        "snapshot_ref": "datasets/bars-2026-02.parquet", "symbols": ["AAPL", "MSFT"]})
    features = factory.LazyFunction(lambda: {
        "schema_version": "3.0.0", "spec_hash": sha("spec"), "snapshot_fingerprint": sha("features"),
        "null_rate": {"macd": "0.000", "rsi": "0.002"}, "staleness_ms_p95": 4200})
    candidates = factory.LazyAttribute(lambda o: [
        CandidateArtifactFactory(candidate_id=f"cand-{o.run_id}-{letter}") for letter in "ab"])


class RunFactory(factory.Factory):
    """Stores an artifact through the one writer and returns the ResearchRun."""

    class Meta:
        model = dict

    body = factory.SubFactory(ArtifactFactory)
    actor = "factory"

    @classmethod
    def _create(cls, model_class, body, actor):
        return services.run_ingest(body=body, actor=actor).run


def set_path(body: dict, path: str, value) -> dict:
    """``set_path(body, "candidates[0].folds[0].order", 1)`` (field paths as the API names them)."""
    node: object = body
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last = parts[-1]
    node[int(last) if last.isdigit() else last] = value
    return body
