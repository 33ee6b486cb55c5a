"""Columnar bar data: the engine's only market-data input.

A dataset is a :data:`BarSet`, a plain ``dict`` mapping symbol -> :class:`SymbolBars`.
Each :class:`SymbolBars` holds equal-length numpy arrays:

* ``ts``: bar *start* times as int64 epoch **seconds**, UTC, strictly increasing
  (use :meth:`SymbolBars.from_arrays` with ``ts_unit="ns"`` to pass nanoseconds);
* ``open``, ``high``, ``low``, ``close``, ``volume``: float64;
* ``spread_bps``: float64 quoted spread in basis points, or ``None`` when the source has
  none (the cost model then uses ``CostAssumptions.default_spread_bps``).

A *session* (trading day) is the UTC calendar date of a bar: US equity hours
(14:30-21:00 UTC) never cross midnight UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SECONDS_PER_DAY = 86_400
DEFAULT_BAR_SECONDS = 60


@dataclass(frozen=True, eq=False)
class SymbolBars:
    """Bars of one symbol as parallel numpy arrays (see the module docstring)."""

    symbol: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    spread_bps: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        ts: np.ndarray | list[int],
        open: np.ndarray | list[float],
        high: np.ndarray | list[float],
        low: np.ndarray | list[float],
        close: np.ndarray | list[float],
        volume: np.ndarray | list[float],
        spread_bps: np.ndarray | list[float] | None = None,
        *,
        ts_unit: Literal["s", "ns"] = "s",
    ) -> SymbolBars:
        """Build validated bars from array-likes, converting ``ts`` to epoch seconds."""
        ts_arr = np.asarray(ts, dtype=np.int64)
        if ts_unit == "ns":
            if np.any(ts_arr % 1_000_000_000):
                raise ValueError(
                    f"{symbol}: nanosecond timestamps must fall on whole seconds"
                )
            ts_arr = ts_arr // 1_000_000_000
        elif ts_unit != "s":
            raise ValueError(f"unknown ts_unit {ts_unit!r}")
        bars = cls(
            symbol=symbol,
            ts=ts_arr,
            open=np.asarray(open, dtype=np.float64),
            high=np.asarray(high, dtype=np.float64),
            low=np.asarray(low, dtype=np.float64),
            close=np.asarray(close, dtype=np.float64),
            volume=np.asarray(volume, dtype=np.float64),
            spread_bps=None
            if spread_bps is None
            else np.asarray(spread_bps, dtype=np.float64),
        )
        bars.validate()
        return bars

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def validate(self) -> None:
        """Raise ``ValueError`` unless the arrays are consistent, finite and ordered."""
        if not self.symbol:
            raise ValueError("empty symbol")
        n = len(self)
        columns = {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
        }
        if self.spread_bps is not None:
            columns["spread_bps"] = self.spread_bps
        for name, arr in columns.items():
            if arr.shape != (n,):
                raise ValueError(
                    f"{self.symbol}: column {name} has shape {arr.shape}, expected ({n},)"
                )
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{self.symbol}: column {name} has non-finite values")
        if self.ts.dtype != np.int64 or self.ts.ndim != 1:
            raise ValueError(f"{self.symbol}: ts must be a 1-d int64 array")
        if n > 1 and not np.all(np.diff(self.ts) > 0):
            raise ValueError(f"{self.symbol}: timestamps must be strictly increasing")
        if np.any(self.close <= 0) or np.any(self.open <= 0) or np.any(self.low <= 0):
            raise ValueError(f"{self.symbol}: prices must be positive")
        if np.any(self.high < np.maximum(self.open, self.close)) or np.any(
            self.low > np.minimum(self.open, self.close)
        ):
            raise ValueError(f"{self.symbol}: high/low do not bracket open/close")
        if np.any(self.volume < 0):
            raise ValueError(f"{self.symbol}: negative volume")
        if self.spread_bps is not None and np.any(self.spread_bps < 0):
            raise ValueError(f"{self.symbol}: negative spread_bps")

    @property
    def day(self) -> np.ndarray:
        """Session index of each bar: days since the epoch (UTC date)."""
        return self.ts // SECONDS_PER_DAY


BarSet = dict[str, SymbolBars]


def validate_barset(bars: BarSet) -> None:
    """Validate every symbol and the mapping keys; raise ``ValueError`` on problems."""
    if not bars:
        raise ValueError("no symbols in the bar set")
    for key, sb in bars.items():
        if key != sb.symbol:
            raise ValueError(f"bar set key {key!r} does not match symbol {sb.symbol!r}")
        sb.validate()
    if all(len(sb) == 0 for sb in bars.values()):
        raise ValueError("the bar set holds no bars")


def bar_seconds(bars: BarSet) -> int:
    """The bar interval: smallest positive gap between bars of one session (default 60 s)."""
    best = 0
    for sb in bars.values():
        if len(sb) < 2:
            continue
        gaps = np.diff(sb.ts)[np.diff(sb.day) == 0]
        if gaps.size:
            g = int(gaps.min())
            best = g if best == 0 else min(best, g)
    return best or DEFAULT_BAR_SECONDS


def trading_days(bars: BarSet) -> np.ndarray:
    """Sorted unique session indices (days since epoch) present in any symbol."""
    days = [np.unique(sb.day) for sb in bars.values() if len(sb)]
    return np.unique(np.concatenate(days)) if days else np.empty(0, dtype=np.int64)
