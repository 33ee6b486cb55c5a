"""The kill-switch conditions as pure functions: no database, ``now`` passed in."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autonomy import conditions as c

# A Tuesday, 15:00 UTC = 11:00 in New York (in session); 02:00 UTC = 22:00 the day before (not).
IN_SESSION = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
OVERNIGHT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
POLICY = c.FreshnessPolicy()


def source(name="loop", *, now=IN_SESSION, lag=10.0, heard=None):
    """A source last observed ``lag`` seconds before ``now`` whose latest heartbeat arrived ``heard`` seconds
    before it (default: the lag)."""
    heard = lag if heard is None else heard
    return c.SourceFreshness(name, now - timedelta(seconds=lag), now - timedelta(seconds=heard))


def inputs(now=IN_SESSION, *, lag=10.0, cycles=(), clean=0, tripped=False, session=None, sources=None):
    """One expected source lagging ``lag`` seconds (none when None); ``cycles``: earlier sweeps, minutes ago."""
    if sources is None:
        sources = [] if lag is None else [source(now=now, lag=lag)]
    return c.FreshnessInputs(now=now, in_session=c.in_session(now, c.MarketSession()) if session is None else session,
                             sources=sources,
                             previous_cycles=[now - timedelta(minutes=m) for m in sorted(cycles, reverse=True)],
                             clean_streak=clean, tripped=tripped)


def test_market_session_is_new_york_regular_hours_on_weekdays():
    session = c.MarketSession()
    assert c.in_session(IN_SESSION, session)
    assert not c.in_session(OVERNIGHT, session)
    assert not c.in_session(SATURDAY, session)
    assert c.in_session(datetime(2026, 3, 10, 13, 30, tzinfo=UTC), session)  # 09:30 EDT opens
    assert not c.in_session(datetime(2026, 3, 10, 20, 0, tzinfo=UTC), session)  # 16:00 EDT closed
    assert c.in_session(SATURDAY, c.MarketSession.parse("always"))
    assert c.in_session(SATURDAY, c.MarketSession.parse("UTC 00:00-23:59 mon-sun"))
    assert not c.in_session(IN_SESSION, c.MarketSession.parse("Europe/London 08:00-09:00"))
    with pytest.raises(ValueError):
        c.MarketSession.parse("Mars/Olympus 09:30-16:00")


@pytest.mark.parametrize(("lag", "stale"), [(599.9, False), (600, True), (3600, True)])
def test_a_lag_of_600_seconds_or_more_in_session_is_stale_and_reduces(lag, stale):
    verdict = c.freshness_evaluate(inputs(lag=lag), POLICY)
    assert verdict.stale is stale
    assert verdict.action == (c.REDUCE if stale else None)


def test_lag_outside_the_session_is_not_stale_and_counts_as_clean():
    verdict = c.freshness_evaluate(inputs(OVERNIGHT, lag=7200, cycles=(5, 4, 3, 2, 1), clean=1), POLICY)
    assert not verdict.stale and verdict.action is None
    assert verdict.no_signal_streak == 0 and verdict.clean_streak == 2
    assert verdict.cycles == [OVERNIGHT]  # the streaks start again with the next session


def test_three_cycles_without_a_signal_are_stale_even_with_a_small_lag():
    loop = source(lag=30)
    previous, verdicts = [], []
    for minute in range(4):
        verdict = c.freshness_evaluate(c.FreshnessInputs(now=IN_SESSION + timedelta(minutes=minute), in_session=True,
                                                         sources=[loop], previous_cycles=previous, clean_streak=0,
                                                         tripped=False), POLICY)
        previous = verdict.cycles
        verdicts.append(verdict)
    assert [v.no_signal_streak for v in verdicts] == [0, 1, 2, 3]
    assert [v.stale for v in verdicts] == [False, False, False, True]
    assert verdicts[-1].lag_seconds == 210 and verdicts[-1].action == c.REDUCE
    assert "loop: no signal for 3 cycles" in verdicts[-1].reasons[0]


def test_a_stale_source_among_fresh_ones_trips_the_rule():
    fresh = [source(f"lane-{n}", lag=n) for n in range(1, 6)]
    stale = source("pairs/NVDA", lag=700, heard=5)  # it still beats, but its newest observation is 700 s old
    verdict = c.freshness_evaluate(inputs(sources=[*fresh, stale], cycles=(3, 2, 1)), POLICY)
    assert verdict.stale and verdict.action == c.REDUCE and verdict.lag_seconds == 700
    assert [b["source"] for b in verdict.breaching] == ["pairs/NVDA"]
    assert verdict.breaching[0]["reasons"] == ["heartbeat lag 700 s >= 600 s during the market session"]
    assert verdict.reasons == ["pairs/NVDA: heartbeat lag 700 s >= 600 s during the market session"]
    # without it, the same fresh sources are clean
    assert not c.freshness_evaluate(inputs(sources=fresh, cycles=(3, 2, 1)), POLICY).stale


def test_a_silent_source_among_chatty_ones_trips_on_its_own_no_signal_streak():
    chatty = [source(f"lane-{n}", lag=20, heard=20) for n in range(3)]
    silent = source("momentum", lag=200, heard=200)  # heard before the last three cycles, lag under 600 s
    verdict = c.freshness_evaluate(inputs(sources=[*chatty, silent], cycles=(3, 2, 1)), POLICY)
    assert verdict.stale and verdict.no_signal_streak == 3
    assert verdict.breaching == [{"source": "momentum", "lag_seconds": 200.0, "no_signal_streak": 3,
                                  "reasons": ["no signal for 3 cycles (>= 3)"]}]
    two_cycles = c.freshness_evaluate(inputs(sources=[*chatty, silent], cycles=(2, 1)), POLICY)
    assert not two_cycles.stale and two_cycles.no_signal_streak == 2


def test_the_cycles_remembered_are_this_session_runs_and_capped():
    verdict = c.freshness_evaluate(inputs(cycles=range(1, 40)), POLICY)
    assert len(verdict.cycles) == c.CYCLES_REMEMBERED and verdict.cycles[-1] == IN_SESSION


def test_recovery_needs_three_clean_cycles_and_a_state_this_rule_set():
    clean = 0
    actions = []
    for _ in range(3):
        verdict = c.freshness_evaluate(inputs(lag=5, clean=clean, tripped=True), POLICY)
        clean = verdict.clean_streak
        actions.append(verdict.action)
    assert actions == [None, None, c.RECOVER]
    # not tripped (an operator, a budget or another rule set the state): never recovers it
    assert c.freshness_evaluate(inputs(lag=5, clean=10, tripped=False), POLICY).action is None
    # already tripped and still stale: no second reduction
    assert c.freshness_evaluate(inputs(lag=900, tripped=True), POLICY).action is None


def test_a_stale_cycle_resets_the_clean_streak():
    verdict = c.freshness_evaluate(inputs(lag=700, clean=2, tripped=True), POLICY)
    assert verdict.clean_streak == 0 and verdict.action is None


def test_unarmed_while_no_source_is_expected():
    verdict = c.freshness_evaluate(inputs(lag=None, cycles=(3, 2, 1)), POLICY)
    assert not verdict.armed and not verdict.stale and verdict.action is None


@pytest.mark.parametrize(("streak", "tripped"), [(0, False), (2, False), (3, True), (9, True)])
def test_failure_streak_of_three_reduces(streak, tripped):
    verdict = c.failure_streak_evaluate(streak=streak, threshold=3)
    assert verdict.tripped is tripped and verdict.action == (c.REDUCE if tripped else None)


LEAN = c.LeanCircuitPolicy(fallback_ratio=0.25, min_requests=20)


@pytest.mark.parametrize(("requests", "fallbacks", "breached"),
                         [(20, 4, False), (20, 5, True), (100, 25, True), (19, 10, False), (0, 0, False)])
def test_lean_fallback_ratio_at_or_over_a_quarter_breaches(requests, fallbacks, breached):
    verdict = c.lean_circuit_evaluate(c.LeanCircuitInputs(True, False, requests, fallbacks), LEAN)
    assert verdict.breached is breached
    assert verdict.action == (c.DISABLE_LEAN if breached else None)


def test_an_open_outage_breaches_and_a_disabled_lane_is_not_disabled_twice():
    verdict = c.lean_circuit_evaluate(c.LeanCircuitInputs(True, True, 3, 3, "lean_submit_timeout"), LEAN)
    assert verdict.breached and verdict.action == c.DISABLE_LEAN and "lean_submit_timeout" in verdict.reasons[0]
    assert c.lean_circuit_evaluate(c.LeanCircuitInputs(False, True, 3, 3), LEAN).action is None


@pytest.mark.parametrize(("enabled", "alert_open", "outage_open", "action"), [
    (False, False, False, c.RAISE_LEAN_ALERT), (False, False, True, c.RAISE_LEAN_ALERT),
    (False, True, True, None), (True, False, False, None), (True, False, True, c.DISABLE_LEAN)])
def test_a_disabled_lane_without_an_unresolved_alert_raises_it_again(enabled, alert_open, outage_open, action):
    inputs = c.LeanCircuitInputs(enabled, outage_open, 3, 3, alert_open=alert_open)
    assert c.lean_circuit_evaluate(inputs, LEAN).action == action


def test_lean_recovery_only_by_operator_unless_the_policy_allows_probes():
    assert c.lean_recovery_evaluate(probe_ok=True, clean_probes=99, outage_open=False, policy=LEAN).action is None
    policy = c.LeanCircuitPolicy(recovery_probes=3)
    count, actions = 0, []
    for ok in (True, True, False, True, True, True):
        verdict = c.lean_recovery_evaluate(probe_ok=ok, clean_probes=count, outage_open=False, policy=policy)
        count = verdict.clean_probes
        actions.append(verdict.action)
    assert actions == [None, None, None, None, None, c.ENABLE_LEAN]
    assert c.lean_recovery_evaluate(probe_ok=True, clean_probes=5, outage_open=True, policy=policy).action is None


def test_backoff_doubles_and_is_capped():
    delays = [c.backoff_delay(n, base_seconds=10, max_seconds=60).total_seconds() for n in range(1, 6)]
    assert delays == [10, 20, 40, 60, 60]
