"""The kill-switch drill's rehearsal of the autonomy conditions: each condition is evaluated, with the
live policies, on figures of a plain breach of torghut's emergency-stop rules (one loop among fresh
ones with a 900 s heartbeat lag and 3 cycles without a signal in session, 3 failed cycles, a 30 %
fallback ratio, a budget one unit past its limit), by the same pure functions the sweeps and the
order path run; a sample order (an opening buy) is judged by the admission function under the state
the condition would set. A policy loosened so far that such a breach no longer trips fails the drill.
Nothing is stored or changed here; ``promotions.services.drill_run`` records the result.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from autonomy import conditions
from autonomy.admission import AdmissionFacts, admission_block
from autonomy.choices import TradingStateChoice
from autonomy.conditions import BudgetFacts

# A Tuesday 11:00 in New York: in any weekday session that includes late morning.
SESSION_MOMENT = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
# The breach rehearsed (torghut: lag >= 600 s, streaks >= 3, fallback ratio >= 0.25)
DRILL_LAG_SECONDS = 900
DRILL_NO_SIGNAL_CYCLES = 3
DRILL_FAILED_CYCLES = 3
DRILL_FALLBACK_RATIO = Decimal("0.3")


def _judge(sample: AdmissionFacts, *, state: str, reason: str, budgets: tuple[BudgetFacts, ...] = ()) -> dict:
    block = admission_block(replace(sample, trading_state=state, trading_reason=reason, budgets=budgets))
    return {"simulated_state": state, "refused_with": block[0] if block else None,
            "message": block[1] if block else "admitted"}


def rehearse(*, sample: AdmissionFacts, freshness: conditions.FreshnessPolicy, session: conditions.MarketSession,
             lean: conditions.LeanCircuitPolicy, failure_threshold: int, budgets: list[tuple[str, Decimal, str]]
             ) -> list[dict]:
    """One check per condition: did the condition trip on breaching figures, and would the sample order
    (an opening buy) have been refused under the state it sets? ``budgets`` are (name, limit, on_breach)."""
    checks = []
    now = SESSION_MOMENT if not session.always else datetime.now(UTC)
    silent_since = now - timedelta(seconds=DRILL_LAG_SECONDS)  # one loop silent among fresh ones
    stale = conditions.FreshnessInputs(
        now=now, in_session=True,
        sources=[conditions.SourceFreshness("drill-fresh", now - timedelta(seconds=5), now - timedelta(seconds=5)),
                 conditions.SourceFreshness("drill-silent", silent_since, silent_since)],
        previous_cycles=[now - timedelta(minutes=m) for m in range(DRILL_NO_SIGNAL_CYCLES, 0, -1)],
        clean_streak=0, tripped=False)
    verdict = conditions.freshness_evaluate(stale, freshness)
    judged = _judge(sample, state=TradingStateChoice.REDUCING, reason="stale signals (drill)")
    checks.append({"condition": "stale_signals", "inputs": conditions.as_data(stale),
                   "verdict": conditions.as_data(verdict), **judged,
                   "passed": verdict.action == conditions.REDUCE and judged["refused_with"] == "trading_reducing"})
    streak = conditions.failure_streak_evaluate(streak=DRILL_FAILED_CYCLES, threshold=failure_threshold)
    judged = _judge(sample, state=TradingStateChoice.REDUCING, reason="autonomy failure streak (drill)")
    checks.append({"condition": "failure_streak", "verdict": conditions.as_data(streak), **judged,
                   "passed": streak.action == conditions.REDUCE and judged["refused_with"] == "trading_reducing"})
    for name, limit, on_breach in budgets:
        facts = BudgetFacts(name=name, limit=limit, used=limit + 1, on_breach=on_breach)
        judged = _judge(sample, state=TradingStateChoice.ACTIVE, reason="", budgets=(facts,))
        checks.append({"condition": f"budget:{name}", "inputs": facts.as_json(), **judged,
                       "simulated_state": on_breach, "passed": judged["refused_with"] is not None})
    requests = max(lean.min_requests, 20)
    inputs = conditions.LeanCircuitInputs(lean_enabled=True, outage_open=False, requests=requests,
                                          fallbacks=int(requests * DRILL_FALLBACK_RATIO))
    lean_verdict = conditions.lean_circuit_evaluate(inputs, lean)
    checks.append({"condition": "lean_circuit", "inputs": conditions.as_data(inputs),
                   "verdict": conditions.as_data(lean_verdict), "refused_with": None,
                   "message": "the LEAN lane would be disabled: orders are routed to the fallback adapter, "
                              "not refused", "passed": lean_verdict.action == conditions.DISABLE_LEAN})
    return checks
