"""The readiness scorecard (Phase D): the plan's exit criteria, measured from the database.

The apps that own the facts register a provider here (autonomy may not import execution, and the
promotions and execution apps own fills, promotions and replays): a function of
``(window_start, now)`` returning plain JSON data under its name. :func:`scorecard` is a pure
function of those facts and the thresholds; the service stores each evaluation with its facts,
so a scorecard can always be explained from what was stored.

The criteria (ids are stable; agents read them from ``GET /api/v1/readiness``):

- ``new_fills_route_recorded``: fills of the window whose expected or actual adapter is missing or
  ``unknown`` (the plan: zero ``execution_expected_adapter`` nulls on new fills);
- ``activations_signed_chain``: strategies at paper, canary or live whose activation lacks a
  complete, verifying signed gate chain (evaluation → decisions → applied);
- ``promotion_replay_time``: the slowest promotion replay recorded in the window (the plan: under
  5 minutes; ours: under 1 s), and every replay of the window reproducible;
- ``critical_flags_alerting``: critical control flags (trading halted, LEAN disabled, a budget
  breached) with no open critical alert;
- ``lean_auto_disable_armed``: the LEAN circuit can disable the lane by itself: thresholds set and its
  backstop sweep scheduled and recently run;
- ``audit_chain_verified``: the hash chains of the audit and control events (``core.chain``) were verified
  recently and the newest verification found no break.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.timefmt import duration_text

PASS, FAIL = "pass", "fail"

Provider = Callable[..., dict]
_PROVIDERS: dict[str, Provider] = {}


def register(name: str, provider: Provider) -> None:
    """Make ``provider(window_start=..., now=...)`` supply ``facts[name]``."""
    _PROVIDERS[name] = provider


def collect(*, window_start: datetime, now: datetime) -> dict[str, dict]:
    return {name: provider(window_start=window_start, now=now) for name, provider in sorted(_PROVIDERS.items())}


@dataclass(frozen=True)
class Thresholds:
    max_replay_ms: int = 1000
    sweep_max_age_minutes: int = 15
    audit_chain_max_age_minutes: int = 120


def _criterion(cid: str, title: str, ok: bool | None, observed: Any, threshold: Any, detail: str) -> dict:
    return {"id": cid, "title": title, "status": PASS if ok else FAIL, "observed": observed,
            "threshold": threshold, "detail": detail}


def _unsupplied(cid: str, title: str, threshold: Any, what: str) -> dict:
    return _criterion(cid, title, False, None, threshold, f"no {what} facts were supplied")


def scorecard(facts: dict[str, dict], thresholds: Thresholds = Thresholds()) -> list[dict]:
    """The criteria, each ``{"id", "title", "status", "observed", "threshold", "detail"}``. A fact
    nobody supplied fails its criterion (readiness is never assumed)."""
    out = []

    fills = facts.get("fills")
    if fills is None:
        out.append(_unsupplied("new_fills_route_recorded", "Every new fill records its expected and actual route",
                               0, "fill"))
    else:
        missing = fills["without_route"]
        out.append(_criterion(
            "new_fills_route_recorded", "Every new fill records its expected and actual route", missing == 0,
            missing, 0, f"{missing} of {fills['fills']} fill(s) since {fills['since']} lack a recorded route"
            + (f" (e.g. {', '.join(fills['examples'])})" if fills.get("examples") else "")))

    chains = facts.get("activations")
    if chains is None:
        out.append(_unsupplied("activations_signed_chain", "Every activation rests on a complete signed gate chain",
                               0, "activation"))
    else:
        broken = chains["without_chain"]
        names = ", ".join(f"{b['strategy']} ({b['why']})" for b in broken)
        out.append(_criterion(
            "activations_signed_chain", "Every activation rests on a complete signed gate chain", not broken,
            len(broken), 0, f"{chains['activations']} strategy(ies) above shadow; "
            + (f"without a verifying chain: {names}" if broken else "every one verifies")))

    replays = facts.get("replays")
    if replays is None or not replays["count"]:
        out.append(_criterion("promotion_replay_time", "Promotion decisions replay from stored artifacts in time",
                              False, None, thresholds.max_replay_ms,
                              "no promotion replay recorded in the window" if replays is not None
                              else "no replay facts were supplied"))
    else:
        slowest, failed = replays["slowest_ms"], replays["not_reproducible"]
        ok = slowest <= thresholds.max_replay_ms and not failed
        out.append(_criterion(
            "promotion_replay_time", "Promotion decisions replay from stored artifacts in time", ok, slowest,
            thresholds.max_replay_ms, f"{replays['count']} replay(s) in the window, the slowest {slowest} ms"
            + (f"; {failed} not reproducible" if failed else "; all reproducible")))

    control = facts.get("control")
    if control is None:
        out.append(_unsupplied("critical_flags_alerting", "Every critical control flag raises an alert", 0, "control"))
        out.append(_unsupplied("lean_auto_disable_armed", "LEAN is disabled automatically when its circuit breaches",
                               True, "control"))
    else:
        silent = control["flags_without_alert"]
        out.append(_criterion(
            "critical_flags_alerting", "Every critical control flag raises an alert", not silent, len(silent), 0,
            f"{control['critical_flags']} critical flag(s) set; "
            + (f"without an open critical alert: {', '.join(silent)}" if silent else "each has its alert")))
        armed = control["lean_circuit"]
        age = armed.get("sweep_age_minutes")
        swept = age is not None and age <= thresholds.sweep_max_age_minutes
        ok = bool(armed.get("in_order_path")) and armed.get("fallback_ratio") is not None and swept
        out.append(_criterion(
            "lean_auto_disable_armed", "LEAN is disabled automatically when its circuit breaches", ok, ok, True,
            f"order-path trip {'on' if armed.get('in_order_path') else 'off'}, fallback ratio threshold "
            f"{armed.get('fallback_ratio')}, backstop sweep "
            + ("never run" if age is None else
               f"last run {duration_text(armed.get('sweep_age_seconds', age * 60))} ago "
               f"(at most {duration_text(thresholds.sweep_max_age_minutes * 60)})")))

    out.append(_audit_chain_criterion(facts.get("audit_chain"), thresholds))
    return out


def _audit_chain_criterion(chain: dict | None, thresholds: Thresholds) -> dict:
    cid, title = "audit_chain_verified", "The audit and control-event hash chains verify"
    max_age = duration_text(thresholds.audit_chain_max_age_minutes * 60)
    threshold = f"unbroken, verified within {max_age}"
    if chain is None:
        return _unsupplied(cid, title, threshold, "audit-chain")
    if chain["checked_at"] is None:
        return _criterion(cid, title, False, None, threshold, "never verified (manage.py verify_audit, or the "
                          "autonomy.verify_audit_chain schedule)")
    age = chain["age_seconds"]
    fresh = age <= thresholds.audit_chain_max_age_minutes * 60
    at = chain["checked_at"][:19].replace("T", " ") + " UTC"  # the time of the check, to the second
    when = f"{at} ({duration_text(age)} ago{'' if fresh else f', older than {max_age}'})"
    broken = chain.get("first_break")
    if broken:
        where = f"{broken['table']} position {broken['position']}" + (
            f" (id {broken['id']})" if broken.get("id") is not None else "")
        return _criterion(cid, title, False, f"broken at {at}", threshold,
                          f"the verification of {when} found a break: {where}: {broken['problem']}: "
                          f"{broken['detail']}")
    return _criterion(cid, title, fresh, f"verified at {at}", threshold,
                      f"{chain['rows_checked']} row(s) in {chain['chains']} chain(s) unbroken, checked {when}")


def green(criteria: list[dict]) -> bool:
    return bool(criteria) and all(c["status"] == PASS for c in criteria)
