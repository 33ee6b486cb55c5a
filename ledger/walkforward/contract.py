"""A self-check of ``torghut.research-run/v1`` artifacts.

:func:`validate_artifact` returns a list of problems (``"<field path>: <message>"``), empty
when the artifact satisfies the contract as this engine understands it: exact key sets,
id and hash formats, ISO 8601 UTC ``Z`` timestamps, decimal strings (never floats),
non-negative counts, train before test, non-overlapping test windows, unique candidate
ids, the regime label grammar and exactly one row per stress case. The ingest service
remains the authority; this keeps the engine honest in tests and before upload.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

SCHEMA_VERSION = "torghut.research-run/v1"
STATUSES = ("passed", "failed", "skipped")
STRESS_CASES = ("spread", "volatility", "liquidity", "halt")

_RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SHA = re.compile(r"^sha256:[0-9a-f]{64}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_REGIME = re.compile(
    r"^vol=(low|mid|high)\|trend=(up|down|flat)\|liq=(liquid|illiquid)$"
)

_TOP = {
    "schema_version",
    "run_id",
    "status",
    "strategy",
    "code_commit",
    "runner_version",
    "dataset",
    "features",
    "candidates",
}
_STRATEGY = {"name", "version", "type"}
_DATASET = {"version", "fingerprint", "from", "to", "snapshot_ref", "symbols"}
_FEATURES = {
    "schema_version",
    "spec_hash",
    "snapshot_fingerprint",
    "null_rate",
    "staleness_ms_p95",
}
_CANDIDATE = {
    "candidate_id",
    "parameter_set",
    "decision_count",
    "trade_count",
    "symbols",
    "folds",
    "stress",
}
_FOLD = {
    "name",
    "order",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "decision_count",
    "trade_count",
    "gross_pnl",
    "net_pnl",
    "max_drawdown",
    "turnover_ratio",
    "cost_bps",
    "sharpe",
    "regime_label",
}
_STRESS = {"case", "net_pnl", "max_drawdown", "pessimistic_pnl_delta"}
_NON_NEGATIVE = ("max_drawdown", "turnover_ratio", "cost_bps")


def _keys(obj: Any, expected: set[str], path: str, errors: list[str]) -> bool:
    if not isinstance(obj, dict):
        errors.append(f"{path}: expected an object")
        return False
    missing, extra = expected - obj.keys(), obj.keys() - expected
    if missing:
        errors.append(f"{path}: missing {sorted(missing)}")
    if extra:
        errors.append(f"{path}: unexpected {sorted(extra)}")
    return not missing


def _text(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str) or not value:
        errors.append(f"{path}: expected a non-empty string")


def _count(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        errors.append(f"{path}: expected a non-negative integer")


def _decimal(
    value: Any, path: str, errors: list[str], non_negative: bool = False
) -> None:
    if not isinstance(value, str) or not _DECIMAL.match(value):
        errors.append(f"{path}: expected a decimal string, got {value!r}")
    elif non_negative and value.startswith("-"):
        errors.append(f"{path}: must not be negative")


def _time(value: Any, path: str, errors: list[str]) -> dt.datetime | None:
    if not isinstance(value, str) or not _TS.match(value):
        errors.append(f"{path}: expected an ISO 8601 UTC timestamp ending in Z")
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")


def _symbols(value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        errors.append(f"{path}: expected a list of symbols")


def _fold(
    fold: Any, path: str, errors: list[str]
) -> tuple[dt.datetime, dt.datetime] | None:
    if not _keys(fold, _FOLD, path, errors):
        return None
    _text(fold["name"], f"{path}.name", errors)
    if (
        not isinstance(fold["order"], int)
        or isinstance(fold["order"], bool)
        or fold["order"] < 1
    ):
        errors.append(f"{path}.order: expected a positive integer")
    times = {
        k: _time(fold[k], f"{path}.{k}", errors)
        for k in ("train_start", "train_end", "test_start", "test_end")
    }
    for k in ("decision_count", "trade_count"):
        _count(fold[k], f"{path}.{k}", errors)
    for k in ("gross_pnl", "net_pnl", "sharpe", *_NON_NEGATIVE):
        _decimal(fold[k], f"{path}.{k}", errors, non_negative=k in _NON_NEGATIVE)
    if not isinstance(fold["regime_label"], str) or not _REGIME.match(
        fold["regime_label"]
    ):
        errors.append(f"{path}.regime_label: bad format {fold['regime_label']!r}")
    ts, te, xs, xe = (
        times[k] for k in ("train_start", "train_end", "test_start", "test_end")
    )
    if None in (ts, te, xs, xe):
        return None
    assert ts and te and xs and xe
    if not ts <= te < xs <= xe:
        errors.append(
            f"{path}: windows must satisfy train_start <= train_end < test_start <= test_end"
        )
    return xs, xe


def _candidate(cand: Any, path: str, errors: list[str]) -> None:
    if not _keys(cand, _CANDIDATE, path, errors):
        return
    _text(cand["candidate_id"], f"{path}.candidate_id", errors)
    if not isinstance(cand["parameter_set"], dict):
        errors.append(f"{path}.parameter_set: expected an object")
    _count(cand["decision_count"], f"{path}.decision_count", errors)
    _count(cand["trade_count"], f"{path}.trade_count", errors)
    _symbols(cand["symbols"], f"{path}.symbols", errors)
    if not isinstance(cand["folds"], list):
        errors.append(f"{path}.folds: expected a list")
    else:
        windows = []
        for i, fold in enumerate(cand["folds"]):
            w = _fold(fold, f"{path}.folds[{i}]", errors)
            if w:
                windows.append(w)
        windows.sort()
        for (_, end), (start, _) in itertools.pairwise(windows):
            if start < end:
                errors.append(f"{path}.folds: test windows overlap")
        orders = [f.get("order") for f in cand["folds"] if isinstance(f, dict)]
        if len(set(orders)) != len(orders):
            errors.append(f"{path}.folds: duplicate order")
    if not isinstance(cand["stress"], list):
        errors.append(f"{path}.stress: expected a list")
        return
    cases = []
    for i, row in enumerate(cand["stress"]):
        p = f"{path}.stress[{i}]"
        if _keys(row, _STRESS, p, errors):
            cases.append(row["case"])
            _decimal(row["net_pnl"], f"{p}.net_pnl", errors)
            _decimal(
                row["max_drawdown"], f"{p}.max_drawdown", errors, non_negative=True
            )
            _decimal(row["pessimistic_pnl_delta"], f"{p}.pessimistic_pnl_delta", errors)
    if sorted(cases) != sorted(STRESS_CASES):
        errors.append(
            f"{path}.stress: cases must be exactly {list(STRESS_CASES)}, got {cases}"
        )


def validate_artifact(artifact: Any) -> list[str]:
    """Problems found in ``artifact`` (empty list when it is valid)."""
    errors: list[str] = []
    if not _keys(artifact, _TOP, "$", errors):
        return errors
    if artifact["schema_version"] != SCHEMA_VERSION:
        errors.append(f"$.schema_version: expected {SCHEMA_VERSION!r}")
    if not isinstance(artifact["run_id"], str) or not _RUN_ID.match(artifact["run_id"]):
        errors.append("$.run_id: expected 1-64 characters of [A-Za-z0-9._-]")
    if artifact["status"] not in STATUSES:
        errors.append(f"$.status: expected one of {STATUSES}")
    for k in ("code_commit", "runner_version"):
        _text(artifact[k], f"$.{k}", errors)
    if _keys(artifact["strategy"], _STRATEGY, "$.strategy", errors):
        for k in _STRATEGY:
            _text(artifact["strategy"][k], f"$.strategy.{k}", errors)
    ds = artifact["dataset"]
    if _keys(ds, _DATASET, "$.dataset", errors):
        _text(ds["version"], "$.dataset.version", errors)
        _text(ds["snapshot_ref"], "$.dataset.snapshot_ref", errors)
        if not isinstance(ds["fingerprint"], str) or not _SHA.match(ds["fingerprint"]):
            errors.append("$.dataset.fingerprint: expected sha256:<64 hex>")
        start, end = (
            _time(ds["from"], "$.dataset.from", errors),
            _time(ds["to"], "$.dataset.to", errors),
        )
        if start and end and start > end:
            errors.append("$.dataset: from is after to")
        _symbols(ds["symbols"], "$.dataset.symbols", errors)
    ft = artifact["features"]
    if _keys(ft, _FEATURES, "$.features", errors):
        _text(ft["schema_version"], "$.features.schema_version", errors)
        for k in ("spec_hash", "snapshot_fingerprint"):
            if not isinstance(ft[k], str) or not _SHA.match(ft[k]):
                errors.append(f"$.features.{k}: expected sha256:<64 hex>")
        if not isinstance(ft["null_rate"], dict):
            errors.append("$.features.null_rate: expected an object")
        else:
            for name, rate in ft["null_rate"].items():
                _decimal(
                    rate, f"$.features.null_rate.{name}", errors, non_negative=True
                )
        _count(ft["staleness_ms_p95"], "$.features.staleness_ms_p95", errors)
    cands = artifact["candidates"]
    if not isinstance(cands, list):
        errors.append("$.candidates: expected a list")
        return errors
    ids = [c.get("candidate_id") for c in cands if isinstance(c, dict)]
    if len(set(ids)) != len(ids):
        errors.append("$.candidates: candidate ids are not unique")
    for i, cand in enumerate(cands):
        _candidate(cand, f"$.candidates[{i}]", errors)
    return errors
