"""Strategy plugins: a registry of vectorised target-position rules.

A strategy maps one symbol's bars and features to a :class:`Signals` pair:

* ``target``: the desired position per bar in units of the per-symbol notional
  (``1`` long, ``0`` flat, ``-1`` short), decided at the bar's close and held over the
  next bar (the engine enforces no look-ahead);
* ``decision``: a bool mask of *decision events*: bars on which one of the strategy's
  rules newly fires (the entry or the exit condition turning true for ``macd_rsi``; the
  momentum state changing for ``tsmom``). ``decision_count`` in the artifact counts these.

Bars whose inputs are still warming up (NaN features, too little history) are flat and
never decisions. Register new strategies with :func:`register`; each has a name matching
``[A-Za-z0-9._-]+``, a version, the type ``plugin_v3`` and a small, ordered parameter grid
(the grid order is the deterministic tie-break of parameter selection). Grid values are
``str``, ``int`` or ``bool`` only, decimals written as strings (``"0.002"``), because
parameter sets go verbatim into the artifact, which never carries floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bars import SymbolBars
from .features import Features

Params = Mapping[str, Any]
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Signals:
    """Target positions and decision events of one symbol (see module docstring)."""

    target: np.ndarray
    decision: np.ndarray


SignalFn = Callable[[SymbolBars, Features, Params], Signals]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy plugin."""

    name: str
    version: str
    grid: tuple[dict[str, Any], ...]
    signals: SignalFn
    type: str = "plugin_v3"

    def describe(self) -> dict[str, str]:
        """The artifact's ``strategy`` object."""
        return {"name": self.name, "version": self.version, "type": self.type}


_REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` to the registry (names are unique)."""
    if not _NAME_RE.match(strategy.name):
        raise ValueError(f"invalid strategy name {strategy.name!r}")
    if strategy.name in _REGISTRY:
        raise ValueError(f"strategy {strategy.name!r} is already registered")
    if not strategy.grid:
        raise ValueError("a strategy needs a non-empty parameter grid")
    for params in strategy.grid:
        for key, value in params.items():
            if not isinstance(value, str | int | bool):
                raise TypeError(
                    f"grid value {key}={value!r}: use str, int or bool (decimals as strings)"
                )
    _REGISTRY[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> Strategy:
    """Look up a registered strategy by name; ``KeyError`` names the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown strategy {name!r}; known: {sorted(_REGISTRY)}"
        ) from None


def strategy_names() -> list[str]:
    """Names of the registered strategies, sorted."""
    return sorted(_REGISTRY)


def hold_state(enter: np.ndarray, leave: np.ndarray) -> np.ndarray:
    """Stateful long/flat position: 1 from an ``enter`` bar until the next ``leave`` bar.

    The state after bar ``t`` reflects the rules evaluated at ``t``; ``leave`` wins a tie;
    flat before the first event. Vectorised as a forward fill of the last event.
    """
    n = enter.size
    event = enter | leave
    value = np.where(leave, 0.0, 1.0)
    last = np.maximum.accumulate(np.where(event, np.arange(n), -1))
    return np.where(last >= 0, value[np.maximum(last, 0)], 0.0)


def rising(mask: np.ndarray) -> np.ndarray:
    """Bars where ``mask`` becomes true (true at bar 0 counts as rising)."""
    prev = np.r_[False, mask[:-1]]
    return mask & ~prev


def macd_rsi_signals(bars: SymbolBars, features: Features, params: Params) -> Signals:
    """Long when MACD > signal and RSI < ``rsi_buy``; exit when MACD < signal or RSI > ``rsi_sell``."""
    line, sig, rsi = features["macd"], features["macd_signal"], features["rsi"]
    valid = ~(np.isnan(line) | np.isnan(sig) | np.isnan(rsi))
    enter = valid & (line > sig) & (rsi < params["rsi_buy"])
    leave = valid & ((line < sig) | (rsi > params["rsi_sell"]))
    return Signals(
        target=hold_state(enter, leave), decision=rising(enter) | rising(leave)
    )


def tsmom_signals(bars: SymbolBars, features: Features, params: Params) -> Signals:
    """Long when the trailing ``lookback``-bar return exceeds ``threshold``.

    Short below ``-threshold`` when ``allow_short``; flat otherwise. A decision is a bar
    where that state changes.
    """
    lookback = int(params["lookback"])
    threshold = float(params["threshold"])
    close = bars.close
    n = close.size
    ret = np.full(n, np.nan)
    if n > lookback:
        ret[lookback:] = close[lookback:] / close[:-lookback] - 1.0
    valid = ~np.isnan(ret)
    state = np.where(valid & (ret > threshold), 1.0, 0.0)
    if params.get("allow_short", False):
        state = np.where(valid & (ret < -threshold), -1.0, state)
    changed = state != np.r_[0.0, state[:-1]]
    return Signals(target=state, decision=valid & changed)


MACD_RSI = register(
    Strategy(
        name="macd_rsi",
        version="3.0.1",
        grid=tuple(
            {"rsi_buy": b, "rsi_sell": s} for b in (30, 35, 40) for s in (60, 70)
        ),
        signals=macd_rsi_signals,
    )
)

TSMOM = register(
    Strategy(
        name="tsmom",
        version="1.0.0",
        grid=tuple(
            {"lookback": lb, "threshold": "0.002", "allow_short": False}
            for lb in (60, 240, 390)
        ),
        signals=tsmom_signals,
    )
)
