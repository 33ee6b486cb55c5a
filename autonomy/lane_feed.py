"""Where the lane's bars come from, as plain functions over bar sets (no database).

* The **synthetic feed** (no Alpaca keys): seeded sessions of 1-minute bars from the walk-forward's own
  generator (:mod:`ledger.walkforward.synthetic`), one trading day per session, each opening at the
  previous session's close, so the series reads as one market. Session ``n`` always holds the same bars
  for a given seed (it is generated from ``seed`` and ``n`` alone, then scaled to the previous close).
* **Alpaca** (keys set): the bars printed since the last one the lane holds, through alpaca-py's data
  client (:func:`ledger.sources.alpaca_bars.fetch_alpaca_bars`, the function ``fetch_bars`` uses).

Either way the lane keeps a rolling window of the last ``LANE_WINDOW_SESSIONS`` sessions
(:func:`window_append`): each cycle's dataset is that window.
"""
from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from ledger.walkforward.bars import SECONDS_PER_DAY, BarSet, SymbolBars
from ledger.walkforward.synthetic import generate_symbol, weekdays

COLUMNS = ("ts", "open", "high", "low", "close", "volume", "spread_bps")


def session_seed(seed: int, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"lane:{seed}:{index}".encode()).digest()[:8], "little")


def synthetic_sessions(symbols: list[str], *, start: dt.date, first: int, count: int, seed: int,
                       last_close: dict[str, float]) -> BarSet:
    """Sessions ``first`` … ``first + count - 1`` of the synthetic feed (the n-th weekday from ``start``),
    each symbol's first session opening where ``last_close`` says (its own level when absent)."""
    if not symbols:
        raise ValueError("the lane has no symbols (LANE_SYMBOLS)")
    days = weekdays(start, first + count)[first:]
    out: BarSet = {}
    for symbol in symbols:
        parts, close = [], last_close.get(symbol)
        for offset, day in enumerate(days):
            bars = generate_symbol(symbol, [day], session_seed(seed, first + offset))
            factor = 1.0 if close is None else close / float(bars.open[0])
            o, h, lo, c = (np.round(getattr(bars, name) * factor, 4) for name in ("open", "high", "low", "close"))
            h, lo = np.maximum(h, np.maximum(o, c)), np.minimum(lo, np.minimum(o, c))
            parts.append((bars.ts, o, h, lo, c, bars.volume, bars.spread_bps))
            close = float(c[-1])
        out[symbol] = SymbolBars.from_arrays(symbol, *(np.concatenate(col) for col in zip(*parts, strict=True)))
    return out


def last_closes(bars: BarSet | None) -> dict[str, float]:
    return {s: float(b.close[-1]) for s, b in (bars or {}).items() if len(b)}


def last_ts(bars: BarSet | None) -> int | None:
    """The newest bar start time (epoch seconds) of any symbol."""
    times = [int(b.ts[-1]) for b in (bars or {}).values() if len(b)]
    return max(times) if times else None


def window_append(previous: BarSet | None, new: BarSet, *, sessions: int) -> tuple[BarSet, int]:
    """``previous`` plus the bars of ``new`` that come after each symbol's last one, cut to the last
    ``sessions`` sessions (UTC days). Returns the window and how many bars were new."""
    previous = previous or {}
    window: BarSet = {}
    added = 0
    for symbol in sorted(set(previous) | set(new)):
        old, fresh = previous.get(symbol), new.get(symbol)
        cols = {name: [] for name in COLUMNS}
        after = int(old.ts[-1]) if old is not None and len(old) else None
        keep_spread = all(b is None or b.spread_bps is not None for b in (old, fresh))
        for bars, mask in ((old, None), (fresh, None if after is None or fresh is None else fresh.ts > after)):
            if bars is None:
                continue
            for name in COLUMNS:
                column = getattr(bars, name)
                if name == "spread_bps" and not keep_spread:
                    continue
                cols[name].append(column if mask is None else column[mask])
            if bars is fresh:
                added += int(len(bars) if mask is None else mask.sum())
        ts = np.concatenate(cols["ts"])
        if not len(ts):
            continue
        days = np.unique(ts // SECONDS_PER_DAY)
        keep = ts // SECONDS_PER_DAY >= days[-sessions:][0]
        window[symbol] = SymbolBars.from_arrays(
            symbol, ts[keep], *(np.concatenate(cols[n])[keep] for n in COLUMNS[1:6]),
            np.concatenate(cols["spread_bps"])[keep] if keep_spread else None)
    return window, added
