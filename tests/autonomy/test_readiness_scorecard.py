"""The readiness scorecard is a pure function of the facts the apps supply: each criterion's
outcome, observed value and threshold; a missing fact fails its criterion."""
from __future__ import annotations

import pytest

from autonomy.readiness import Thresholds, green, scorecard

GOOD = {
    "fills": {"since": "2026-12-01T00:00:00Z", "fills": 12, "without_route": 0, "examples": []},
    "activations": {"activations": 2, "without_chain": []},
    "replays": {"count": 2, "slowest_ms": 31.5, "not_reproducible": 0},
    "control": {"critical_flags": 1, "flags_without_alert": [],
                "lean_circuit": {"in_order_path": True, "fallback_ratio": "0.25", "sweep_age_minutes": 3}},
    "audit_chain": {"checked_at": "2026-12-01T23:00:00Z", "check": 7, "ok": True, "age_seconds": 1800,
                    "rows_checked": 5000, "chains": 2, "first_break": None},
}


def by_id(criteria):
    return {c["id"]: c for c in criteria}


def test_all_facts_good_is_green_with_observed_values_and_thresholds():
    criteria = scorecard(GOOD)
    assert green(criteria)
    assert [c["id"] for c in criteria] == ["new_fills_route_recorded", "activations_signed_chain",
                                           "promotion_replay_time", "critical_flags_alerting",
                                           "lean_auto_disable_armed", "audit_chain_verified"]
    got = by_id(criteria)
    assert got["promotion_replay_time"]["observed"] == 31.5 and got["promotion_replay_time"]["threshold"] == 1000
    assert got["new_fills_route_recorded"]["observed"] == 0 and got["new_fills_route_recorded"]["threshold"] == 0
    assert got["audit_chain_verified"]["observed"] == "verified at 2026-12-01 23:00:00 UTC"
    assert got["audit_chain_verified"]["threshold"] == "unbroken, verified within 2 h 00 min"


@pytest.mark.parametrize("change, failing, words", [
    ({"fills": {"since": "x", "fills": 5, "without_route": 2, "examples": ["o-1", "o-2"]}},
     "new_fills_route_recorded", "2 of 5 fill(s)"),
    ({"activations": {"activations": 1, "without_chain": [{"strategy": "breakout", "why": "no applied promotion"}]}},
     "activations_signed_chain", "breakout (no applied promotion)"),
    ({"replays": {"count": 3, "slowest_ms": 1500.0, "not_reproducible": 0}}, "promotion_replay_time", "1500.0 ms"),
    ({"replays": {"count": 3, "slowest_ms": 20.0, "not_reproducible": 1}}, "promotion_replay_time",
     "1 not reproducible"),
    ({"replays": {"count": 0, "slowest_ms": None, "not_reproducible": 0}}, "promotion_replay_time",
     "no promotion replay recorded"),
    ({"control": {**GOOD["control"], "flags_without_alert": ["trading HALTED"]}}, "critical_flags_alerting",
     "trading HALTED"),
    ({"control": {**GOOD["control"], "lean_circuit": {"in_order_path": True, "fallback_ratio": "0.25",
                                                        "sweep_age_minutes": 90, "sweep_age_seconds": 5431}}},
     "lean_auto_disable_armed", "last run 1 h 30 min ago (at most 15 min)"),
    ({"control": {**GOOD["control"], "lean_circuit": {"in_order_path": False, "fallback_ratio": "0.25",
                                                        "sweep_age_minutes": 1}}},
     "lean_auto_disable_armed", "order-path trip off"),
    ({"audit_chain": {"checked_at": None}}, "audit_chain_verified", "never verified"),
    ({"audit_chain": {**GOOD["audit_chain"], "age_seconds": 3 * 3600}}, "audit_chain_verified",
     "older than 2 h 00 min"),
    ({"audit_chain": {**GOOD["audit_chain"], "ok": False, "first_break": {
        "table": "audit_events", "position": 17, "id": 40, "problem": "changed",
        "detail": "its content does not match"}}},
     "audit_chain_verified", "audit_events position 17 (id 40): changed"),
])
def test_one_bad_fact_fails_its_criterion_and_says_why(change, failing, words):
    criteria = by_id(scorecard({**GOOD, **change}))
    assert criteria[failing]["status"] == "fail" and words in criteria[failing]["detail"]
    assert [cid for cid, c in criteria.items() if c["status"] == "fail"] == [failing]
    assert not green(list(criteria.values()))


@pytest.mark.parametrize("missing", sorted(GOOD))
def test_a_fact_nobody_supplied_fails_never_assumed(missing):
    facts = {k: v for k, v in GOOD.items() if k != missing}
    criteria = scorecard(facts)
    assert not green(criteria)
    assert all("no " in c["detail"] for c in criteria if c["status"] == "fail")


def test_thresholds_are_data():
    slow = {**GOOD, "replays": {"count": 1, "slowest_ms": 1500.0, "not_reproducible": 0}}
    assert by_id(scorecard(slow, Thresholds(max_replay_ms=2000)))["promotion_replay_time"]["status"] == "pass"
