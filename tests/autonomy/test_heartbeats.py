"""Heartbeats (POST /api/v1/autonomy/heartbeats), the stale-signal sweep and the failure streak."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autonomy import selectors, services
from autonomy.models import Alert, ConditionEvaluation, ControlEvent, Heartbeat, SignalSource
from core.errors import PermissionRefused

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday, 11:00 in New York: in session


@pytest.fixture
def agent(make_client):
    return make_client("agent", name="lane-7")


def beat(source="signals", *, at, symbol="", status="ok", detail=""):
    """A heartbeat observed at ``at`` and received a second later."""
    return services.heartbeat_record(source=source, symbol=symbol, observed_at=at, status=status, detail=detail,
                                     actor="lane-7", now=at + timedelta(seconds=1))


def state():
    return selectors.trading_state_get()


def sweep(at):
    return services.staleness_sweep(now=at)


def test_heartbeat_api_stores_the_beat_and_answers_its_lag(agent):
    observed = datetime.now(UTC) - timedelta(seconds=2)
    answer = agent.post("/api/v1/autonomy/heartbeats",
                        {"source": "momentum-loop", "symbol": "aapl", "observed_at": observed.isoformat()},
                        format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["source"] == "momentum-loop" and body["symbol"] == "AAPL" and body["status"] == "ok"
    assert 1.5 < body["lag_seconds"] < 30 and body["failure_streak"] == 0
    no_symbol = agent.post("/api/v1/autonomy/heartbeats", {"source": "momentum-loop",
                                                           "observed_at": observed.isoformat()}, format="json")
    assert no_symbol.status_code == 201 and no_symbol.json()["symbol"] is None
    assert Heartbeat.objects.count() == 2 and SignalSource.objects.count() == 2
    heartbeat = Heartbeat.objects.order_by("id").first()
    assert heartbeat.actor == "lane-7" and heartbeat.observed_at == observed


@pytest.mark.parametrize(("body", "field"), [
    ({"source": "x"}, "observed_at"),
    ({"source": "x", "observed_at": "2026-03-10T15:00:00"}, "observed_at"),  # no offset
    ({"source": "", "observed_at": "2026-03-10T15:00:00Z"}, "source"),
    ({"source": "x", "observed_at": "2026-03-10T15:00:00Z", "status": "meh"}, "status"),
    ({"source": "x", "observed_at": "2026-03-10T15:00:00Z", "extra": 1}, "extra"),
    ({"source": "x", "observed_at": "2999-01-01T00:00:00Z"}, "observed_at"),
])
def test_bad_heartbeats_are_400_naming_the_field_and_write_nothing(agent, body, field):
    answer = agent.post("/api/v1/autonomy/heartbeats", body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()["error"]["details"]["fields"]
    assert not Heartbeat.objects.exists()


def test_only_agents_send_heartbeats(make_client):
    body = {"source": "x", "observed_at": datetime.now(UTC).isoformat()}
    assert make_client("operator").post("/api/v1/autonomy/heartbeats", body, format="json").status_code == 403


def test_a_heartbeat_from_the_future_is_refused():
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        services.heartbeat_record(source="x", observed_at=datetime.now(UTC) + timedelta(minutes=10), actor="a")
    services.heartbeat_record(source="x", observed_at=datetime.now(UTC) + timedelta(minutes=4), actor="a")


def test_stale_signals_move_trading_to_reducing_and_recover_after_three_clean_cycles(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    beat(at=T0)
    assert sweep(T0 + timedelta(minutes=1)).breached is False
    evaluation = sweep(T0 + timedelta(minutes=10))  # lag 600 s in session
    assert evaluation.breached and evaluation.action == "reduce"
    assert evaluation.inputs["sources"] == [{"name": "signals", "last_observed_at": T0.isoformat(),
                                             "last_received_at": (T0 + timedelta(seconds=1)).isoformat()}]
    assert (evaluation.inputs["expected_sources"], evaluation.inputs["breaching_sources"]) == (1, 1)
    assert evaluation.outcome["lag_seconds"] == 600.0
    assert state().trading_state == "REDUCING" and state().trading_reason.startswith("stale_signals")
    alert = Alert.objects.get(dedup_key="stale_signals")
    assert alert.status == "open" and alert.severity == "warning"
    assert sweep(T0 + timedelta(minutes=11)).action == ""  # still stale: no second move
    # the loop is back: three clean cycles later trading is ACTIVE again, and the alert resolves
    for minute in (12, 13, 14):
        beat(at=T0 + timedelta(minutes=minute))
        evaluation = sweep(T0 + timedelta(minutes=minute, seconds=30))
        if minute < 14:
            assert evaluation.action == "" and state().trading_state == "REDUCING"
    assert evaluation.action == "recover" and state().trading_state == "ACTIVE"
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == "system:staleness"


def test_no_signal_for_three_cycles_reduces_even_with_a_short_lag(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    settings.AUTONOMY_STALE_LAG_SECONDS = 3600
    beat(at=T0)
    sweep(T0 + timedelta(seconds=30))  # the beat arrived before this cycle
    streaks = [sweep(T0 + timedelta(minutes=m, seconds=30)).outcome["no_signal_streak"] for m in (1, 2, 3)]
    assert streaks == [1, 2, 3]
    assert state().trading_state == "REDUCING"


def test_recovery_is_for_freshness_only_a_state_set_by_someone_else_stays(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    beat(at=T0)
    sweep(T0 + timedelta(minutes=10))
    assert state().trading_state == "REDUCING"
    services.trading_state_set(state="HALTED", reason="operator: drawdown", actor="olga")
    for minute in (11, 12, 13, 14):
        beat(at=T0 + timedelta(minutes=minute))
        sweep(T0 + timedelta(minutes=minute, seconds=30))
    assert state().trading_state == "HALTED"


def test_staleness_never_loosens_a_stricter_state(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    services.trading_state_set(state="HALTED", reason="budget", actor="system:budgets")
    beat(at=T0)
    evaluation = sweep(T0 + timedelta(minutes=20))
    assert evaluation.breached and evaluation.action == "" and state().trading_state == "HALTED"


def test_outside_the_session_nothing_is_stale(settings):
    beat(at=T0)
    evening = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 19:00 in New York
    evaluation = sweep(evening)
    assert not evaluation.breached and not evaluation.inputs["in_session"]
    assert state().trading_state == "ACTIVE"


def test_a_sweep_cycle_is_evaluated_once_and_unarmed_without_sources(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 5
    first = sweep(T0)
    assert first is not None and first.outcome["armed"] is False
    assert sweep(T0 + timedelta(minutes=1)) is None  # the same 5-minute cycle: already evaluated
    assert sweep(T0 + timedelta(minutes=5)) is not None
    assert ConditionEvaluation.objects.filter(condition="stale_signals").count() == 2


def test_one_stale_source_among_fresh_ones_reduces_then_recovers_when_an_operator_retires_it(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    for name in ("momentum", "pairs", "breakout"):
        beat(name, at=T0)
    sweep(T0 + timedelta(seconds=30))
    for minute in range(1, 4):  # momentum and pairs keep beating; breakout went silent after T0
        for name in ("momentum", "pairs"):
            beat(name, at=T0 + timedelta(minutes=minute))
        evaluation = sweep(T0 + timedelta(minutes=minute, seconds=30))
    assert evaluation.breached and evaluation.action == "reduce"
    assert evaluation.outcome["breaching"] == [{"source": "breakout", "lag_seconds": 210.0, "no_signal_streak": 3,
                                                "reasons": ["no signal for 3 cycles (>= 3)"]}]
    assert (evaluation.inputs["expected_sources"], evaluation.inputs["breaching_sources"]) == (3, 1)
    assert state().trading_state == "REDUCING" and "breakout" in state().trading_reason
    alert = Alert.objects.get(dedup_key="stale_signals")
    assert "1 of 3 sources" in alert.title and alert.evidence["breaching"][0]["source"] == "breakout"
    freshness = selectors.heartbeat_freshness(now=T0 + timedelta(minutes=3, seconds=31))
    assert (freshness["total"], freshness["stale"]) == (3, 1)
    assert [(s.source, s.no_signal_streak, s.stale) for s in freshness["stalest"]][0] == ("breakout", 3, True)

    breakout = SignalSource.objects.get(source="breakout")
    with pytest.raises(PermissionRefused):
        services.signal_source_retire(source_id=breakout.pk, reason="gone", actor="lane-7", roles={"agent"})
    services.signal_source_retire(source_id=breakout.pk, reason="breakout loop decommissioned", actor="olga",
                                  roles={"operator"})
    event = ControlEvent.objects.get(kind="signal_source")
    assert (event.scope, event.before, event.after) == ("source:breakout", {"expected": True}, {"expected": False})
    actions = []
    for minute in range(4, 7):
        for name in ("momentum", "pairs"):
            beat(name, at=T0 + timedelta(minutes=minute))
        actions.append(sweep(T0 + timedelta(minutes=minute, seconds=30)).action)
    assert actions == ["", "", "recover"] and state().trading_state == "ACTIVE"
    assert selectors.heartbeat_freshness(now=T0 + timedelta(minutes=6, seconds=31))["retired"] == 1
    beat("breakout", at=T0 + timedelta(minutes=7))  # it reports again: judged again
    assert SignalSource.objects.get(source="breakout").expected is True


def test_a_source_whose_observations_are_old_is_stale_though_it_still_beats(settings):
    settings.AUTONOMY_SWEEP_MINUTES = 1
    now = T0 + timedelta(minutes=20)
    beat("momentum", at=now - timedelta(seconds=5))
    services.heartbeat_record(source="pairs", observed_at=now - timedelta(seconds=900), actor="lane-7",
                              now=now - timedelta(seconds=2))  # alive, but its data are 15 minutes old
    evaluation = sweep(now)
    assert evaluation.breached and [b["source"] for b in evaluation.outcome["breaching"]] == ["pairs"]
    assert state().trading_state == "REDUCING"


def test_three_failed_cycles_in_a_row_reduce_at_once_and_need_an_operator():
    now = datetime.now(UTC)
    beat("exec-loop", at=now, status="failed", detail="broker 500")
    beat("exec-loop", at=now, status="ok")  # a success resets the streak
    for _ in range(2):
        beat("exec-loop", at=now, status="failed")
    assert state().trading_state == "ACTIVE"
    source = beat("exec-loop", at=now, status="failed", detail="timeout")
    assert source.failure_streak == 3
    assert state().trading_state == "REDUCING" and "autonomy_failure_streak" in state().trading_reason
    alert = Alert.objects.get(dedup_key="autonomy_failure_streak:exec-loop")
    assert alert.evidence["streak"] == 3 and alert.evidence["last_detail"] == "timeout"
    evaluations = ConditionEvaluation.objects.filter(condition="failure_streak").order_by("id")
    assert [e.breached for e in evaluations] == [False, False, False, False, True]
    assert evaluations.last().action == "reduce" and evaluations.last().inputs["streak"] == 3
    beat("exec-loop", at=now, status="ok")
    assert state().trading_state == "REDUCING"  # not a freshness reason: an operator lifts it
