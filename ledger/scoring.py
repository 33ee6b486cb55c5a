"""What the research pages show from the promotion policy, without the ledger importing promotions.

The ledger sits below promotions (imports flow one way), yet its pages show the deflated Sharpe
ratio and PBO as the active policy computes them, and the gates a candidate would pass. The
promotions app registers both readers here in its ``AppConfig.ready``; without them (or without
an active policy) the pages say so and leave the figures blank.

* ``selection(fold_pnl)``: ``fold_pnl`` maps each candidate id of one run to ``{fold_order: net
  P&L}``; returns :class:`Selection`.
* ``gates(candidate_id)``: the gates of the active policy for the candidate, or ``None`` when no
  policy is active; returns :class:`GatePreview`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Selection:
    policy: str = ""                                   # the policy version that computed it ("" none)
    note: str = ""                                     # why a figure is blank
    deflated_sharpe: dict[str, float | None] = field(default_factory=dict)
    pbo: float | None = None


@dataclass(frozen=True)
class GateResult:
    gate_id: str
    status: str            # pass, fail, inconclusive
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GatePreview:
    policy: str
    gates: tuple[GateResult, ...]
    reaches: str           # the highest stage whose gates all pass ("shadow" when none)


_selection: Callable[[dict[str, dict[int, float]]], Selection] | None = None
_gates: Callable[[str], GatePreview | None] | None = None


def register(*, selection: Callable | None = None, gates: Callable | None = None) -> None:
    global _selection, _gates
    if selection is not None:
        _selection = selection
    if gates is not None:
        _gates = gates


def selection(fold_pnl: dict[str, dict[int, float]]) -> Selection:
    if _selection is None:
        return Selection(note="no promotion policy is installed")
    return _selection(fold_pnl)


def gates(candidate_id: str) -> GatePreview | None:
    return None if _gates is None else _gates(candidate_id)
