"""Who may move a control which way: pure functions over plain data (the services call them before
writing; the API, the admin and the workers get the same answer).

Three kinds of actor: ``agent`` (a principal holding the agent role, whatever else it holds),
``system`` (``system:<worker>`` actors: sweeps, circuits, the budget kill switch) and ``person``
(operators, the admin, commands). Agents and the system may only make trading stricter; the system may
also lift what it set for a freshness reason (stale signals recover after clean cycles); only a person
lifts anything else.
"""
from __future__ import annotations

from decimal import Decimal

from access.roles import Role
from autonomy.choices import AUTO_RECOVERABLE_CAUSES, STATE_RANK, SymbolMode, TradingStateChoice

AGENT, SYSTEM, PERSON = "agent", "system", "person"
SYMBOL_RANK = {SymbolMode.ENABLED: 0, SymbolMode.CANARY: 1, SymbolMode.DISABLED: 2}


def actor_kind(actor: str, roles) -> str:
    if Role.AGENT in set(roles or ()):
        return AGENT
    if actor.startswith("system:"):
        return SYSTEM
    return PERSON


def state_change_refusal(*, kind: str, current: str, current_cause: str, new: str) -> str | None:
    """Why ``kind`` may not move a trading state from ``current`` to ``new`` (None: it may)."""
    if kind == PERSON:
        return None
    stricter_or_same = STATE_RANK[new] >= STATE_RANK[current]
    if stricter_or_same and not (kind == AGENT and new == TradingStateChoice.ACTIVE):
        return None
    if kind == SYSTEM and current_cause in AUTO_RECOVERABLE_CAUSES:
        return None
    if kind == AGENT:
        return (f"Agents may only move trading toward REDUCING or HALTED, never from {current} back to {new}: "
                "lifting a halt needs an operator.")
    return (f"The system lifts only what it set for a freshness reason; {current} was set for "
            f"{current_cause or 'another reason'}: an operator lifts it.")


def lean_change_refusal(*, kind: str, enabled: bool) -> str | None:
    if enabled and kind == AGENT:
        return "Agents may disable the LEAN lane, never enable it: that needs an operator."
    return None


def symbol_change_refusal(*, kind: str, current_mode: str, new_mode: str, current_caps: dict, new_caps: dict,
                          lean_allowed: bool | None) -> str | None:
    """Agents may only make a symbol stricter: a stricter mode, lower caps, LEAN never allowed."""
    if kind != AGENT:
        return None
    if SYMBOL_RANK[new_mode] < SYMBOL_RANK[current_mode]:
        return f"Agents may only make a symbol stricter, never move it from {current_mode} to {new_mode}."
    for name, value in new_caps.items():
        old = current_caps.get(name)
        if old is not None and (value is None or Decimal(value) > Decimal(old)):
            return f"Agents may only lower a symbol's caps, never raise or remove {name}."
    if lean_allowed:
        return "Agents may not put a symbol on the LEAN allowlist."
    return None


def budget_change_refusal(*, kind: str, current_limit: Decimal, new_limit: Decimal, current_on_breach: str,
                          new_on_breach: str) -> str | None:
    """Agents (and the system) may never raise a budget or soften what its breach does."""
    if kind == PERSON:
        return None
    if new_limit > current_limit:
        return f"Only an operator may raise a budget ({current_limit} -> {new_limit})."
    if STATE_RANK[new_on_breach] < STATE_RANK[current_on_breach]:
        return f"Only an operator may soften a budget's breach state ({current_on_breach} -> {new_on_breach})."
    return None


def source_retire_refusal(*, kind: str) -> str | None:
    """Retiring a signal source loosens the stale-signal rule: only a person does it."""
    if kind != PERSON:
        return "Only an operator may retire a signal source: the stale-signal rule stops judging it."
    return None
