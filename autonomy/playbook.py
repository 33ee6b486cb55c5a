"""The recovery playbook: rules as data (a stored, versioned JSON document, ``autonomy/playbooks/``)
evaluated by a pure function over plain metrics.

Rule kinds (each rule names its ``action``):

* ``adverse_slippage``: a symbol whose fills over the window slipped against their decision prices by
  ``threshold_bps`` or more on average (weighted by quantity, at least ``min_fills`` fills) goes to
  ``symbol_canary`` (with the document's ``canary_caps``) or ``symbol_disabled``;
* ``signal_quality``: the share of autonomy heartbeats reporting ``ok`` over the window below
  ``min_ok_ratio`` (at least ``min_heartbeats``) moves trading to REDUCING (``trading_reducing``);
* ``route_concentration``: an (adapter, symbol) route holding more than ``max_share`` of the filled
  notional over the window (when the window's notional is at least ``min_notional``): the first
  evaluation opens an alert, a later one that finds the alert still open puts the symbol on canary
  (``alert_then_canary``).

Actions only ever make things stricter, and a symbol or state already as strict is left alone, so
running the playbook twice on the same figures changes nothing the second time. Recovery is for an
operator, who reviews each action (a control event with the rule, the figures and the document).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from autonomy.choices import STATE_RANK, SymbolMode, TradingStateChoice

SYMBOL_RANK = {SymbolMode.ENABLED: 0, SymbolMode.CANARY: 1, SymbolMode.DISABLED: 2}
KINDS = {"adverse_slippage": {"symbol_canary", "symbol_disabled"},
         "signal_quality": {"trading_reducing"},
         "route_concentration": {"alert_then_canary"}}
NUMBERS = {"adverse_slippage": {"min_fills": int, "threshold_bps": Decimal},
           "signal_quality": {"min_heartbeats": int, "min_ok_ratio": Decimal},
           "route_concentration": {"max_share": Decimal, "min_notional": Decimal}}


def _number(value: Any, kind) -> Any:
    if isinstance(value, bool):
        raise ValueError("not a number")
    if kind is int:
        if not isinstance(value, int) or value < 0:
            raise ValueError("a whole number >= 0")
        return value
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("a decimal string") from None
    if not number.is_finite() or number < 0:
        raise ValueError("a decimal >= 0")
    return number


def document_problems(document: Any) -> dict[str, list[str]]:
    """Field paths of an invalid playbook document and what is wrong ({} when valid)."""
    if not isinstance(document, dict):
        return {"": ["a JSON object"]}
    problems: dict[str, list[str]] = {}
    if not isinstance(document.get("version"), str) or not document["version"].strip():
        problems["version"] = ["a non-empty string"]
    try:
        if _number(document.get("window_minutes"), int) < 1:
            raise ValueError
    except ValueError:
        problems["window_minutes"] = ["a whole number of minutes >= 1"]
    caps = document.get("canary_caps", {})
    if not isinstance(caps, dict) or set(caps) - {"max_qty_per_order", "max_notional_per_order",
                                                  "max_notional_per_day"}:
        problems["canary_caps"] = ["an object of max_qty_per_order, max_notional_per_order, max_notional_per_day"]
    rules = document.get("rules")
    if not isinstance(rules, list) or not rules:
        problems["rules"] = ["a non-empty list"]
        return problems
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(rule, dict):
            problems[where] = ["an object"]
            continue
        if not isinstance(rule.get("id"), str) or not rule["id"] or rule["id"] in seen:
            problems[f"{where}.id"] = ["a unique non-empty string"]
        seen.add(str(rule.get("id")))
        kind = rule.get("kind")
        if kind not in KINDS:
            problems[f"{where}.kind"] = [f"one of {', '.join(sorted(KINDS))}"]
            continue
        if rule.get("action") not in KINDS[kind]:
            problems[f"{where}.action"] = [f"one of {', '.join(sorted(KINDS[kind]))}"]
        for name, number_kind in NUMBERS[kind].items():
            try:
                _number(rule.get(name), number_kind)
            except ValueError as exc:
                problems[f"{where}.{name}"] = [str(exc) or "a number"]
    return problems


@dataclass(frozen=True)
class PlaybookMetrics:
    """What the playbook reads, measured over the document's window."""

    slippage: dict[str, tuple[Decimal, int]] = field(default_factory=dict)  # symbol -> (avg adverse bps, fills)
    heartbeats_ok: int = 0
    heartbeats_total: int = 0
    routes: list[dict] = field(default_factory=list)  # {"adapter", "symbol", "notional": Decimal, "share": float}
    symbol_modes: dict[str, str] = field(default_factory=dict)  # symbols not listed are enabled
    trading_state: str = TradingStateChoice.ACTIVE
    open_alerts: frozenset[str] = frozenset()  # dedup keys of unresolved playbook alerts


@dataclass(frozen=True)
class PlaybookAction:
    rule: str
    kind: str  # "symbol_mode" | "trading_state" | "alert"
    target: str  # a symbol, "global", or an alert's dedup key
    value: str  # the new mode or state; "open" for an alert
    reason: str
    evidence: dict


def _mode(metrics: PlaybookMetrics, symbol: str) -> str:
    return metrics.symbol_modes.get(symbol, SymbolMode.ENABLED)


def alert_key(rule: str, target: str) -> str:
    return f"playbook:{rule}:{target}"


def evaluate(document: dict, metrics: PlaybookMetrics) -> list[PlaybookAction]:
    """The actions the playbook calls for (strictest first per symbol; none that would change nothing)."""
    actions: list[PlaybookAction] = []
    modes = dict(metrics.symbol_modes)
    state = metrics.trading_state

    def symbol_to(rule: dict, symbol: str, mode: str, reason: str, evidence: dict) -> None:
        if SYMBOL_RANK[mode] > SYMBOL_RANK[modes.get(symbol, SymbolMode.ENABLED)]:
            modes[symbol] = mode
            actions.append(PlaybookAction(rule["id"], "symbol_mode", symbol, mode, reason, evidence))

    rules = sorted(document["rules"], key=lambda r: -Decimal(str(r.get("threshold_bps", 0))))
    for rule in rules:
        kind = rule["kind"]
        if kind == "adverse_slippage":
            threshold, min_fills = Decimal(str(rule["threshold_bps"])), rule["min_fills"]
            mode = SymbolMode.DISABLED if rule["action"] == "symbol_disabled" else SymbolMode.CANARY
            for symbol, (bps, fills) in sorted(metrics.slippage.items()):
                if fills >= min_fills and bps >= threshold:
                    symbol_to(rule, symbol, mode, f"adverse slippage {bps} bps over {fills} fills >= {threshold} bps",
                              {"bps": str(bps), "fills": fills, "threshold_bps": str(threshold)})
        elif kind == "signal_quality":
            total, ok = metrics.heartbeats_total, metrics.heartbeats_ok
            floor = Decimal(str(rule["min_ok_ratio"]))
            if total >= rule["min_heartbeats"] and total and Decimal(ok) / Decimal(total) < floor \
                    and STATE_RANK[state] < STATE_RANK[TradingStateChoice.REDUCING]:
                ratio = (Decimal(ok) / Decimal(total)).quantize(Decimal("0.0001"))
                state = TradingStateChoice.REDUCING
                evidence = {"ok": ok, "total": total, "ratio": str(ratio), "min_ok_ratio": str(floor)}
                actions.append(PlaybookAction(rule["id"], "trading_state", "global", state,
                                              f"autonomy signal quality {ratio} < {floor} over {total} heartbeats",
                                              evidence))
        elif kind == "route_concentration":
            cap, floor = Decimal(str(rule["max_share"])), Decimal(str(rule["min_notional"]))
            total = sum((Decimal(str(r["notional"])) for r in metrics.routes), Decimal(0))
            if total < floor:
                continue
            for route in metrics.routes:
                share = Decimal(str(route["notional"])) / total
                if share <= cap:
                    continue
                symbol = route["symbol"]
                key = alert_key(rule["id"], symbol)
                evidence = {"adapter": route["adapter"], "symbol": symbol, "notional": str(route["notional"]),
                            "share": str(share.quantize(Decimal("0.0001"))), "max_share": str(cap),
                            "window_notional": str(total)}
                reason = (f"route {route['adapter']}/{symbol} holds {share:.1%} of the notional "
                          f"(> {cap:.0%})")
                if key not in metrics.open_alerts:
                    actions.append(PlaybookAction(rule["id"], "alert", key, "open", reason, evidence))
                else:
                    symbol_to(rule, symbol, SymbolMode.CANARY, reason + ", and its alert is still open", evidence)
    return actions


# --- Live evidence against the gate policy (the autonomous lane's rollback rule) -------------------
# A strategy at paper, canary or live runs on a promotion the active gate policy allowed. Once its orders
# at that stage hold at least ``min_fills`` fills, the lane judges them against the same policy's evidence
# limits (gate 3: slippage, fallback ratio, LLM error ratio; at canary and live, gate 5's canary slippage
# too). A breach rolls the strategy back one stage, as an agent may (a demotion only reduces risk).

@dataclass(frozen=True)
class LiveEvidenceLimits:
    min_fills: int
    max_slippage_bps: Decimal | None = None
    max_fallback_ratio: Decimal | None = None
    max_llm_error_ratio: Decimal | None = None


def live_evidence_limits(policy: dict, *, stage: str, min_fills: int) -> LiveEvidenceLimits:
    """The evidence limits of a gate policy document for a strategy at ``stage``."""
    gate3 = (policy.get("gates") or {}).get("gate3_shadow_paper_quality") or {}
    gate5 = (policy.get("gates") or {}).get("gate5_live_ramp_readiness") or {}

    def limit(params: dict, name: str) -> Decimal | None:
        return Decimal(str(params[name])) if params.get(name) is not None else None

    slippage = [v for v in (limit(gate3, "max_slippage_bps"),
                            limit(gate5, "max_canary_slippage_bps") if stage in ("canary", "live") else None)
                if v is not None]
    return LiveEvidenceLimits(min_fills=min_fills, max_slippage_bps=min(slippage) if slippage else None,
                              max_fallback_ratio=limit(gate3, "max_fallback_ratio"),
                              max_llm_error_ratio=limit(gate3, "max_llm_error_ratio"))


def live_evidence_breaches(*, orders: dict, llm: dict, limits: LiveEvidenceLimits) -> list[str]:
    """Why the live evidence breaks the policy (empty: it holds, or there is too little to judge).

    ``orders``: the stage's orders (``fills``, ``orders``, ``slippage_bps``, ``fallback_ratio``);
    ``llm``: the strategy's LLM reviews (``reviews``, ``errors``)."""
    reasons: list[str] = []
    fills = int(orders.get("fills") or 0)
    if fills >= limits.min_fills:
        slippage = orders.get("slippage_bps")
        if limits.max_slippage_bps is not None and slippage is not None \
                and Decimal(str(slippage)) > limits.max_slippage_bps:
            reasons.append(f"slippage {slippage} bps over {fills} fills > {limits.max_slippage_bps} bps")
        ratio = orders.get("fallback_ratio")
        if limits.max_fallback_ratio is not None and ratio is not None \
                and Decimal(str(ratio)) > limits.max_fallback_ratio:
            reasons.append(f"route fallback ratio {ratio} > {limits.max_fallback_ratio}")
    reviews, errors = int(llm.get("reviews") or 0), int(llm.get("errors") or 0)
    if limits.max_llm_error_ratio is not None and reviews >= limits.min_fills:
        ratio = (Decimal(errors) / Decimal(reviews)).quantize(Decimal("0.0001"))
        if ratio > limits.max_llm_error_ratio:
            reasons.append(f"LLM error ratio {ratio} over {reviews} reviews > {limits.max_llm_error_ratio}")
    return reasons
