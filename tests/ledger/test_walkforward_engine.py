"""Tests of the pure walk-forward engine (no Django, no database)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from typing import Any

import numpy as np
import pytest

from ledger.walkforward import engine as engine_mod
from ledger.walkforward.bars import SymbolBars
from ledger.walkforward.contract import validate_artifact
from ledger.walkforward.costs import CostAssumptions, trade_costs
from ledger.walkforward.csv_io import BarsCsvError, format_bars_csv, parse_bars_csv
from ledger.walkforward.engine import (
    FoldSpec,
    apply_halt,
    make_folds,
    max_drawdown,
    run_walkforward,
    sharpe,
    shock_volatility,
)
from ledger.walkforward.features import (
    FeatureSpec,
    compute_features,
    ema,
    ema_recursive,
    feature_block,
    macd,
    rsi_wilder,
)
from ledger.walkforward.fingerprint import (
    canonical_json,
    dataset_fingerprint,
    sha256_prefixed,
)
from ledger.walkforward.strategies import Strategy, get_strategy, hold_state, register
from ledger.walkforward.synthetic import generate_bars

SYMBOLS = ("AAPL", "MSFT", "TSLA")
FOLDS = FoldSpec(train_days=6, test_days=3)


def _run(
    bars: dict[str, SymbolBars], strategy: str = "macd_rsi", **kw: Any
) -> dict[str, Any]:
    return run_walkforward(
        bars,
        strategy_name=strategy,
        dataset_version="synthetic-test",
        snapshot_ref="datasets/synthetic.csv",
        code_commit="abc1234",
        fold_spec=kw.pop("fold_spec", FOLDS),
        raise_errors=kw.pop("raise_errors", True),
        **kw,
    )


@pytest.fixture(scope="module")
def bars() -> dict[str, SymbolBars]:
    return generate_bars(SYMBOLS, n_days=15, seed=11)


@pytest.fixture(scope="module")
def artifact(bars: dict[str, SymbolBars]) -> dict[str, Any]:
    return _run(bars)


@pytest.fixture(scope="module")
def tsmom_artifact(bars: dict[str, SymbolBars]) -> dict[str, Any]:
    return _run(bars, "tsmom")


# --------------------------------------------------------------------------- synthetic data


def test_synthetic_same_seed_is_byte_identical() -> None:
    a = generate_bars(SYMBOLS, n_days=3, seed=5)
    b = generate_bars(SYMBOLS, n_days=3, seed=5)
    for s in SYMBOLS:
        for col in ("ts", "open", "high", "low", "close", "volume", "spread_bps"):
            assert getattr(a[s], col).tobytes() == getattr(b[s], col).tobytes()


def test_synthetic_per_symbol_seed_is_independent_of_other_symbols() -> None:
    alone = generate_bars(("MSFT",), n_days=3, seed=5)
    together = generate_bars(SYMBOLS, n_days=3, seed=5)
    assert alone["MSFT"].close.tobytes() == together["MSFT"].close.tobytes()
    assert together["AAPL"].close.tobytes() != together["MSFT"].close.tobytes()


def test_synthetic_bars_are_market_hours_minutes_on_weekdays() -> None:
    sb = generate_bars(("AAPL",), start=dt.date(2026, 1, 2), n_days=4, seed=1)["AAPL"]
    assert len(sb) == 4 * 390
    stamps = [dt.datetime.fromtimestamp(int(t), dt.UTC) for t in sb.ts]
    assert all(s.weekday() < 5 for s in stamps)
    minutes = {s.hour * 60 + s.minute for s in stamps}
    assert min(minutes) == 14 * 60 + 30 and max(minutes) == 20 * 60 + 59
    assert sorted({s.date() for s in stamps}) == [
        dt.date(2026, 1, 2),
        dt.date(2026, 1, 5),
        dt.date(2026, 1, 6),
        dt.date(2026, 1, 7),
    ]
    assert np.all(sb.high >= np.maximum(sb.open, sb.close))
    assert np.all(sb.low <= np.minimum(sb.open, sb.close))


# --------------------------------------------------------------------------- fingerprints


def test_canonical_json_and_sha256_helpers() -> None:
    assert canonical_json({"b": 1, "a": ["é", 2]}) == '{"a":["é",2],"b":1}'.encode()
    assert sha256_prefixed(b"abc") == (
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_dataset_fingerprint_depends_on_seed_and_values(
    bars: dict[str, SymbolBars],
) -> None:
    again = generate_bars(SYMBOLS, n_days=15, seed=11)
    other = generate_bars(SYMBOLS, n_days=15, seed=12)
    assert dataset_fingerprint(bars) == dataset_fingerprint(again)
    assert dataset_fingerprint(bars) != dataset_fingerprint(other)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", dataset_fingerprint(bars))


# --------------------------------------------------------------------------- indicators


def _naive_ema(x: np.ndarray, alpha: float, y: float) -> np.ndarray:
    out = []
    for v in x:
        y = alpha * v + (1 - alpha) * y
        out.append(y)
    return np.array(out)


def test_ema_hand_computed() -> None:
    # span 3 -> alpha 0.5, seeded with the first value
    assert ema(np.array([1.0, 2.0, 3.0]), 3).tolist() == [1.0, 1.5, 2.25]
    assert ema_recursive(np.array([4.0, 0.0]), 0.25, 0.0).tolist() == [1.0, 0.75]


@pytest.mark.parametrize("alpha", [2 / 13, 2 / 27, 2 / 10, 1 / 14, 0.9, 0.002])
def test_blocked_ema_matches_the_recursion(alpha: float) -> None:
    x = 100 + np.cumsum(np.random.default_rng(3).standard_normal(20_000))
    np.testing.assert_allclose(
        ema_recursive(x, alpha, 50.0), _naive_ema(x, alpha, 50.0), rtol=0, atol=1e-9
    )


def test_macd_warm_up_and_reference() -> None:
    close = 50 + np.cumsum(np.random.default_rng(4).standard_normal(300))
    line, sig = macd(close)
    assert np.isnan(line[:25]).all() and not np.isnan(line[25:]).any()
    assert np.isnan(sig[:33]).all() and not np.isnan(sig[33:]).any()
    ref_line = _naive_ema(close, 2 / 13, close[0]) - _naive_ema(close, 2 / 27, close[0])
    np.testing.assert_allclose(line[25:], ref_line[25:], atol=1e-10)
    ref_sig = _naive_ema(ref_line[25:], 0.2, ref_line[25])
    np.testing.assert_allclose(sig[33:], ref_sig[8:], atol=1e-10)


def test_rsi_wilder_hand_computed() -> None:
    # deltas +1, +1, -1: first averages (period 2) gain 1, loss 0 -> 100;
    # then gain 1 + (0 - 1)/2 = 0.5, loss 0 + (1 - 0)/2 = 0.5 -> RS 1 -> 50.
    rsi = rsi_wilder(np.array([1.0, 2.0, 3.0, 2.0]), period=2)
    assert np.isnan(rsi[:2]).all()
    assert rsi[2:].tolist() == [100.0, 50.0]
    assert np.all(rsi_wilder(np.arange(1.0, 40.0))[14:] == 100.0)
    assert np.all(rsi_wilder(np.full(30, 7.0))[14:] == 50.0)


def test_rsi_wilder_matches_reference_loop() -> None:
    close = 20 + np.cumsum(np.random.default_rng(5).standard_normal(500)) * 0.1
    d = np.diff(close)
    g, loss = np.clip(d, 0, None), np.clip(-d, 0, None)
    ag, al = g[:14].mean(), loss[:14].mean()
    ref = [100 - 100 / (1 + ag / al)]
    for i in range(14, d.size):
        ag += (g[i] - ag) / 14
        al += (loss[i] - al) / 14
        ref.append(100 - 100 / (1 + ag / al))
    np.testing.assert_allclose(rsi_wilder(close)[14:], ref, atol=1e-9)


def test_features_are_causal() -> None:
    close = 30 + np.cumsum(np.random.default_rng(6).standard_normal(400)) * 0.2
    changed = close.copy()
    changed[300:] *= 1.5
    for a, b in zip(
        macd(close) + (rsi_wilder(close),),
        macd(changed) + (rsi_wilder(changed),),
        strict=True,
    ):
        np.testing.assert_array_equal(a[:300], b[:300])


def test_feature_block(bars: dict[str, SymbolBars]) -> None:
    spec = FeatureSpec()
    block = feature_block(bars, compute_features(bars, spec), spec)
    assert block["schema_version"] == "3.0.0"
    assert block["staleness_ms_p95"] == 60_000
    n = 15 * 390
    assert block["null_rate"] == {
        "macd": f"{25 / n:.3f}",
        "macd_signal": f"{33 / n:.3f}",
        "rsi": f"{14 / n:.3f}",
    }
    assert (
        block["spec_hash"]
        == FeatureSpec().spec_hash()
        != FeatureSpec(rsi_period=10).spec_hash()
    )


# --------------------------------------------------------------------------- strategies, costs


def test_hold_state_enters_and_exits() -> None:
    enter = np.array([0, 1, 0, 0, 1, 0, 0], dtype=bool)
    leave = np.array([1, 0, 0, 1, 1, 0, 0], dtype=bool)
    assert hold_state(enter, leave).tolist() == [0, 1, 1, 0, 0, 0, 0]


def test_tsmom_goes_long_after_a_rise() -> None:
    close = np.r_[np.full(5, 10.0), np.linspace(10, 12, 10)]
    sb = SymbolBars.from_arrays(
        "X", np.arange(15) * 60, close, close, close, close, np.ones(15)
    )
    sig = get_strategy("tsmom").signals(sb, {}, {"lookback": 3, "threshold": "0.01"})
    assert sig.target[:3].tolist() == [0, 0, 0]
    assert sig.target[-1] == 1.0
    assert sig.decision.sum() == 1


def test_cost_model_arithmetic() -> None:
    a = CostAssumptions(
        commission_per_share=0.005,
        commission_bps=1.0,
        impact_coefficient_bps=10.0,
        spread_multiplier=1.0,
    )
    c = trade_costs(
        np.array([10_000.0, 10_000.0, 0.0]),
        np.array([100.0, 100.0, 100.0]),
        np.array([10_000.0, 0.0, 10_000.0]),
        np.array([4.0, 4.0, 4.0]),
        a,
    )
    np.testing.assert_allclose(c.spread, [2.0, 2.0, 0.0])  # half of 4 bps on 10,000
    np.testing.assert_allclose(c.commission, [1.5, 1.5, 0.0])  # 100 sh x 0.005 + 1 bps
    np.testing.assert_allclose(
        c.impact, [1.0, 10.0, 0.0]
    )  # 10 bps x sqrt(1 %); no volume -> cap
    np.testing.assert_allclose(c.total, [4.5, 13.5, 0.0])
    doubled = trade_costs(
        np.array([10_000.0]),
        np.array([100.0]),
        np.array([10_000.0]),
        4.0,
        CostAssumptions(spread_multiplier=2.0),
    )
    np.testing.assert_allclose(doubled.spread, [4.0])
    with pytest.raises(ValueError):
        CostAssumptions(commission_bps=-1.0)


def test_drawdown_and_sharpe() -> None:
    assert max_drawdown(np.array([10.0, -4.0, -8.0, 5.0, -1.0])) == 12.0
    assert max_drawdown(np.array([-3.0, 1.0])) == 3.0
    assert max_drawdown(np.array([])) == 0.0
    assert sharpe(np.array([0.01])) == 0.0
    assert sharpe(np.array([0.01, 0.01])) == 0.0
    r = np.array([0.01, -0.005, 0.02])
    assert sharpe(r) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))


# --------------------------------------------------------------------------- CSV


def test_csv_round_trip_keeps_fingerprint(bars: dict[str, SymbolBars]) -> None:
    small = generate_bars(("AAPL", "MSFT"), n_days=2, seed=2)
    parsed = parse_bars_csv(format_bars_csv(small).splitlines(keepends=True))
    assert sorted(parsed) == ["AAPL", "MSFT"]
    assert dataset_fingerprint(parsed) == dataset_fingerprint(small)


def test_csv_accepts_iso_timestamps_and_optional_spread() -> None:
    text = (
        "symbol,timestamp,open,high,low,close,volume\n"
        "AAPL,2026-01-02T14:31:00Z,10,11,9,10.5,100\n"
        "AAPL,2026-01-02T14:30:00+00:00,10,10,10,10,50\n"
    )
    parsed = parse_bars_csv(text.splitlines(keepends=True))["AAPL"]
    assert parsed.ts.tolist() == [1767364200, 1767364260]
    assert parsed.spread_bps is None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("symbol,ts,open,high,low,close,volume\n", 1, "header"),
        (
            "symbol,timestamp,open,high,low,close,volume\nA,60,1,1,1,1,1\nA,120,1,x,1,1,1\n",
            3,
            "high 'x' is not a number",
        ),
        (
            "symbol,timestamp,open,high,low,close,volume\nA,60,1,1,1,1\n",
            2,
            "expected 7 columns",
        ),
        (
            "symbol,timestamp,open,high,low,close,volume\nA,60,1,1,1,1,1\nA,bad,1,1,1,1,1\n",
            3,
            "bad",
        ),
        (
            "symbol,timestamp,open,high,low,close,volume\n\nA,60,2,1,1,1,1\n",
            3,
            "high/low",
        ),
        (
            "symbol,timestamp,open,high,low,close,volume\nA,60,1,1,1,1,1\nA,60,1,1,1,1,1\n",
            3,
            "duplicate timestamp",
        ),
        (
            "symbol,timestamp,open,high,low,close,volume,spread_bps\nA,60,1,1,1,1,1,nan\n",
            2,
            "not finite",
        ),
        (
            "symbol,timestamp,open,high,low,close,volume\nA,2026-01-02T14:30:00+01:00,1,1,1,1,1\n",
            2,
            "UTC",
        ),
    ],
)
def test_csv_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(BarsCsvError) as err:
        parse_bars_csv(text.splitlines(keepends=True))
    assert err.value.line == line
    assert str(err.value).startswith(f"line {line}: ")
    assert fragment in str(err.value)


# --------------------------------------------------------------------------- artifact


def _walk(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _walk(x)]
    if isinstance(obj, list):
        return [v for x in obj for v in _walk(x)]
    return [obj]


def test_artifact_satisfies_the_contract(
    artifact: dict[str, Any], tsmom_artifact: dict[str, Any]
) -> None:
    for art in (artifact, tsmom_artifact):
        assert validate_artifact(art) == []
        assert art["status"] == "passed"
        assert not any(isinstance(v, float) for v in _walk(art))
    assert artifact["strategy"] == {
        "name": "macd_rsi",
        "version": "3.0.1",
        "type": "plugin_v3",
    }
    assert artifact["dataset"]["symbols"] == sorted(SYMBOLS)
    assert artifact["dataset"]["from"].endswith("T14:30:00Z")
    assert artifact["dataset"]["to"].endswith("T21:00:00Z")


def test_decimal_fields_are_fixed_point_strings(artifact: dict[str, Any]) -> None:
    places = {
        "gross_pnl": 2,
        "net_pnl": 2,
        "max_drawdown": 2,
        "cost_bps": 2,
        "turnover_ratio": 4,
        "sharpe": 4,
    }
    for cand in artifact["candidates"]:
        for fold in cand["folds"]:
            for key, n in places.items():
                assert isinstance(fold[key], str)
                assert re.fullmatch(rf"-?\d+\.\d{{{n}}}", fold[key]), (key, fold[key])
            assert (
                isinstance(fold["decision_count"], int) and fold["decision_count"] >= 0
            )
            assert isinstance(fold["trade_count"], int) and fold["trade_count"] >= 0
        for row in cand["stress"]:
            for key in ("net_pnl", "max_drawdown", "pessimistic_pnl_delta"):
                assert re.fullmatch(r"-?\d+\.\d{2}", row[key])


def test_windows_train_before_test_and_tests_do_not_overlap(
    artifact: dict[str, Any],
) -> None:
    folds = artifact["candidates"][0]["folds"]
    assert [f["order"] for f in folds] == [1, 2, 3]  # 15 sessions: 6 + 3, stepping 3
    assert [f["name"] for f in folds] == ["fold_1", "fold_2", "fold_3"]
    for f in folds:
        assert f["train_start"] < f["train_end"] < f["test_start"] < f["test_end"]
    for a, b in itertools.pairwise(folds):
        assert a["test_end"] <= b["test_start"]
    assert make_folds(10, FoldSpec(4, 2)) == [
        engine_mod.Fold(1, (0, 4), (4, 6)),
        engine_mod.Fold(2, (2, 6), (6, 8)),
        engine_mod.Fold(3, (4, 8), (8, 10)),
    ]
    with pytest.raises(ValueError):
        FoldSpec(train_days=5, test_days=3, step_days=2)


def test_regime_labels_and_candidate_ids(artifact: dict[str, Any]) -> None:
    ids = [c["candidate_id"] for c in artifact["candidates"]]
    assert len(ids) == len(set(ids)) == 1 + len(get_strategy("macd_rsi").grid)
    assert ids[0] == f"cand-{artifact['run_id']}-a"
    for cand in artifact["candidates"]:
        for fold in cand["folds"]:
            assert re.fullmatch(
                r"vol=(low|mid|high)\|trend=(up|down|flat)\|liq=(liquid|illiquid)",
                fold["regime_label"],
            )


def test_walk_forward_candidate_uses_the_train_winner(artifact: dict[str, Any]) -> None:
    wf, *fixed = artifact["candidates"]
    chosen = wf["parameter_set"]["chosen"]
    assert wf["parameter_set"]["selection"] == "walk_forward"
    for i, fold in enumerate(wf["folds"]):
        match = next(c for c in fixed if c["parameter_set"] == chosen[fold["name"]])
        assert fold == match["folds"][i]
    assert wf["trade_count"] == sum(f["trade_count"] for f in wf["folds"])
    assert wf["decision_count"] == sum(f["decision_count"] for f in wf["folds"])


def test_run_is_deterministic(
    bars: dict[str, SymbolBars], artifact: dict[str, Any]
) -> None:
    again = _run(generate_bars(SYMBOLS, n_days=15, seed=11))
    assert canonical_json(again) == canonical_json(artifact)
    assert re.fullmatch(r"wf-macd_rsi-[0-9a-f]{12}", artifact["run_id"])
    other = _run(generate_bars(SYMBOLS, n_days=15, seed=12))
    assert other["dataset"]["fingerprint"] != artifact["dataset"]["fingerprint"]
    assert other["run_id"] != artifact["run_id"]
    named = _run(bars, run_id="wf-20260212-001")
    assert named["run_id"] == "wf-20260212-001"
    assert named["candidates"][0]["candidate_id"] == "cand-wf-20260212-001-a"
    with pytest.raises(ValueError):
        _run(bars, run_id="bad id!")


def test_stress_cases_are_real_re_runs(
    artifact: dict[str, Any], tsmom_artifact: dict[str, Any]
) -> None:
    for art in (artifact, tsmom_artifact):
        for cand in art["candidates"]:
            rows = {r["case"]: r for r in cand["stress"]}
            assert list(rows) == ["spread", "volatility", "liquidity", "halt"]
            base = sum(float(f["net_pnl"]) for f in cand["folds"])
            for row in rows.values():
                assert float(row["pessimistic_pnl_delta"]) == pytest.approx(
                    float(row["net_pnl"]) - base, abs=0.011
                )
            if cand["trade_count"] > 0:
                assert float(rows["spread"]["pessimistic_pnl_delta"]) < 0
                assert float(rows["liquidity"]["pessimistic_pnl_delta"]) < 0
                assert rows["volatility"]["net_pnl"] != f"{base:.2f}"
                assert rows["halt"]["net_pnl"] != f"{base:.2f}"


def test_volatility_shock_keeps_session_ends() -> None:
    sb = generate_bars(("AAPL",), n_days=2, seed=3)["AAPL"]
    shocked = shock_volatility(sb, 1.5)
    ends = np.r_[389, 779]
    np.testing.assert_allclose(shocked.close[ends], sb.close[ends])
    np.testing.assert_allclose(shocked.open[[0, 390]], sb.open[[0, 390]], rtol=1e-3)
    ret = np.diff(np.log(sb.close[:390])).std()
    assert np.diff(np.log(shocked.close[:390])).std() > 1.3 * ret
    shocked.validate()


def test_halt_freezes_prices_and_gaps_against_the_position() -> None:
    sb = generate_bars(("AAPL",), n_days=1, seed=3)["AAPL"]
    held = np.ones(len(sb))
    halted, frozen = apply_halt(sb, [(100, 130, 390)], held, 0.02)
    assert frozen.sum() == 30 and frozen[100:130].all()
    assert np.all(halted.close[100:130] == sb.close[99]) and np.all(
        halted.volume[100:130] == 0
    )
    np.testing.assert_allclose(halted.close[130:], sb.close[130:] * 0.98)
    short, _ = apply_halt(sb, [(100, 130, 390)], -held, 0.02)
    np.testing.assert_allclose(short.close[130:], sb.close[130:] * 1.02)
    halted.validate()


def test_too_little_data_is_skipped() -> None:
    art = _run(generate_bars(SYMBOLS, n_days=5, seed=1))
    assert art["status"] == "skipped"
    assert art["candidates"] == []
    assert validate_artifact(art) == []


def test_computation_error_gives_a_failed_artifact(
    bars: dict[str, SymbolBars], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(engine_mod, "_run_grid", boom)
    art = _run(bars, raise_errors=False)
    assert art["status"] == "failed"
    assert art["candidates"] == []
    assert validate_artifact(art) == []
    with pytest.raises(RuntimeError):
        _run(bars, raise_errors=True)


def test_registry_refuses_float_grid_values() -> None:
    with pytest.raises(TypeError, match="decimals as strings"):
        register(
            Strategy("float_grid", "0.1", ({"x": 0.5},), get_strategy("tsmom").signals)
        )


def test_unknown_strategy_is_refused(bars: dict[str, SymbolBars]) -> None:
    with pytest.raises(KeyError, match="unknown strategy"):
        _run(bars, "nope")
