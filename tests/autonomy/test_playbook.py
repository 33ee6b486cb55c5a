"""The recovery playbook: rules as a stored, versioned document, evaluated by a pure function; each
action recorded as a control event with its evidence."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from autonomy import playbook, selectors, services
from autonomy.models import Alert, ConditionEvaluation, ControlEvent, PlaybookVersion, SymbolControl

SHIPPED = json.loads(services.SHIPPED_PLAYBOOK.read_text())


def metrics(**kw):
    return playbook.PlaybookMetrics(**kw)


# --- the pure function ------------------------------------------------------------------------

def test_the_shipped_document_is_valid_and_bad_ones_name_their_paths():
    assert playbook.document_problems(SHIPPED) == {}
    bad = {**SHIPPED, "window_minutes": 0, "rules": [{"id": "a", "kind": "adverse_slippage", "action": "explode",
                                                      "min_fills": -1, "threshold_bps": "x"}, {"id": "a"}]}
    problems = playbook.document_problems(bad)
    assert set(problems) == {"window_minutes", "rules[0].action", "rules[0].min_fills", "rules[0].threshold_bps",
                             "rules[1].id", "rules[1].kind"}


@pytest.mark.parametrize(("bps", "fills", "expected"), [
    ("24.99", 10, []), ("25", 10, [("AAPL", "canary")]), ("80", 10, [("AAPL", "disabled")]),
    ("80", 4, [])])
def test_adverse_slippage_puts_a_symbol_on_canary_or_disables_it(bps, fills, expected):
    actions = playbook.evaluate(SHIPPED, metrics(slippage={"AAPL": (Decimal(bps), fills)}))
    assert [(a.target, a.value) for a in actions] == expected
    assert all(a.kind == "symbol_mode" and a.evidence["fills"] == fills for a in actions)


def test_a_symbol_already_as_strict_is_left_alone():
    slipping = {"AAPL": (Decimal(30), 10)}
    assert playbook.evaluate(SHIPPED, metrics(slippage=slipping, symbol_modes={"AAPL": "canary"})) == []
    assert playbook.evaluate(SHIPPED, metrics(slippage={"AAPL": (Decimal(30), 10)},
                                              symbol_modes={"AAPL": "disabled"})) == []


@pytest.mark.parametrize(("ok", "total", "state", "reduces"), [
    (7, 10, "ACTIVE", True), (8, 10, "ACTIVE", False), (0, 9, "ACTIVE", False), (0, 10, "HALTED", False)])
def test_a_drop_in_signal_quality_reduces(ok, total, state, reduces):
    actions = playbook.evaluate(SHIPPED, metrics(heartbeats_ok=ok, heartbeats_total=total, trading_state=state))
    assert [(a.kind, a.value) for a in actions] == ([("trading_state", "REDUCING")] if reduces else [])


def test_route_concentration_alerts_first_then_canaries():
    routes = [{"adapter": "alpaca", "symbol": "NVDA", "notional": Decimal(160000), "share": 0.8},
              {"adapter": "lean", "symbol": "AAPL", "notional": Decimal(40000), "share": 0.2}]
    first = playbook.evaluate(SHIPPED, metrics(routes=routes))
    assert [(a.kind, a.target) for a in first] == [("alert", "playbook:route_concentration:NVDA")]
    assert first[0].evidence["share"] == "0.8000"
    later = playbook.evaluate(SHIPPED, metrics(routes=routes, open_alerts=frozenset({first[0].target})))
    assert [(a.kind, a.target, a.value) for a in later] == [("symbol_mode", "NVDA", "canary")]
    small = [{**r, "notional": r["notional"] / 100} for r in routes]  # under min_notional: no judgement
    assert playbook.evaluate(SHIPPED, metrics(routes=small)) == []


# --- the service ------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_the_first_run_activates_the_shipped_playbook_and_records_each_action(settings):
    settings.AUTONOMY_PLAYBOOK_MINUTES = 5
    outcome = services.playbook_run(slippage={"AAPL": (Decimal(30), 12), "MSFT": (Decimal(2), 40)}, routes=[],
                                     now=NOW)
    assert [a["target"] for a in outcome["actions"]] == ["AAPL"]
    assert selectors.playbook_active().version == "playbook-v1"
    control = SymbolControl.objects.get(symbol="AAPL")
    assert control.mode == "canary" and control.updated_by == "system:playbook"
    assert control.max_notional_per_order == Decimal(5000) and control.max_notional_per_day == Decimal(50000)
    assert "slippage_canary" in control.health_reason
    event = ControlEvent.objects.get(kind="playbook", scope="playbook:slippage_canary")
    assert event.before == {"target": "AAPL", "mode": "enabled"} and event.after["value"] == "canary"
    assert event.evidence["bps"] == "30" and event.evidence["playbook"] == "playbook-v1" and event.evidence["sha256"]
    evaluation = ConditionEvaluation.objects.get(condition="playbook")
    assert evaluation.inputs["slippage"]["MSFT"] == ["2", 40] and evaluation.action == "symbol_mode"
    assert Alert.objects.get(dedup_key="playbook:slippage_canary:AAPL").severity == "warning"
    # the same period again does nothing; the next one finds AAPL already on canary
    assert services.playbook_run(slippage={"AAPL": (Decimal(30), 12)}, routes=[], now=NOW) is None
    again = services.playbook_run(slippage={"AAPL": (Decimal(30), 12)}, routes=[], now=NOW + timedelta(minutes=5))
    assert again == {"actions": []}
    assert ControlEvent.objects.filter(kind="playbook", scope__startswith="playbook:slippage").count() == 1


@pytest.mark.django_db
def test_signal_quality_from_stored_heartbeats_moves_trading_to_reducing():
    for n in range(10):
        services.heartbeat_record(source="loop", observed_at=NOW, status="ok" if n < 6 else "failed", actor="lane",
                                  now=NOW + timedelta(seconds=n))
    services.trading_state_set(state="ACTIVE", reason="reset after the streak", actor="olga")
    services.playbook_run(slippage={}, routes=[], now=NOW + timedelta(minutes=1))
    state = selectors.trading_state_get()
    assert state.trading_state == "REDUCING" and state.trading_reason.startswith("playbook signal_quality")
    from autonomy.models import TradingState

    assert TradingState.objects.get().cause == "playbook"


@pytest.mark.django_db
def test_playbook_versions_are_loaded_and_activated_by_command_and_never_change():
    out = StringIO()
    call_command("playbook", "load", "--shipped", stdout=out)
    assert "stored playbook-v1" in out.getvalue()
    call_command("playbook", "load", "--shipped", stdout=out)
    assert "already stored playbook-v1" in out.getvalue()
    call_command("playbook", "activate", "playbook-v1", "--reason", "first rules", stdout=out)
    event = ControlEvent.objects.get(kind="playbook", scope="playbook")
    assert event.before == {"version": None, "sha256": None} and event.after["version"] == "playbook-v1"
    from core.errors import Conflict

    with pytest.raises(Conflict):
        services.playbook_load(document={**SHIPPED, "window_minutes": 30}, actor="olga")
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        PlaybookVersion.objects.update(document={})
