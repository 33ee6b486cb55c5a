"""CSV reading and writing of bars.

Format: a header line, then one bar per line with the columns
``symbol,timestamp,open,high,low,close,volume[,spread_bps]`` (header names must match,
in this order). ``timestamp`` is either integer epoch seconds or ISO 8601 UTC
(``2026-01-02T14:30:00Z`` or with a ``+00:00`` offset). Rows of different symbols may be
interleaved; within a symbol timestamps must be strictly increasing once sorted and unique.
Every problem raises :class:`BarsCsvError` naming the 1-based line number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .bars import BarSet, SymbolBars
from .fingerprint import PRICE_DECIMALS, QTY_DECIMALS

REQUIRED_COLUMNS = ("symbol", "timestamp", "open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS = ("spread_bps",)


class BarsCsvError(ValueError):
    """A CSV of bars could not be parsed; ``line`` is the 1-based line number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def _parse_ts(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    stamp = dt.datetime.fromisoformat(text)
    if stamp.tzinfo is None or stamp.utcoffset() != dt.timedelta(0):
        raise ValueError(f"timestamp {text!r} must be UTC (Z or +00:00)")
    if stamp.microsecond:
        raise ValueError(f"timestamp {text!r} must fall on a whole second")
    return int(stamp.timestamp())


def _parse_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text!r} is not finite")
    return value


def parse_bars_csv(lines: Iterable[str]) -> BarSet:
    """Parse CSV text lines into a validated :data:`BarSet` (see module docstring)."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise BarsCsvError(1, "empty file, expected a header line")
    header = [h.strip() for h in header]
    has_spread = header == [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
    if header != list(REQUIRED_COLUMNS) and not has_spread:
        raise BarsCsvError(
            1,
            f"header must be {','.join(REQUIRED_COLUMNS)}[,spread_bps], got {','.join(header)}",
        )
    width = len(header)
    rows: dict[str, list[tuple[int, int, tuple[float, ...]]]] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != width:
            raise BarsCsvError(line, f"expected {width} columns, got {len(row)}")
        symbol = row[0].strip()
        if not symbol:
            raise BarsCsvError(line, "empty symbol")
        try:
            ts = _parse_ts(row[1])
            values = tuple(
                _parse_float(n, c) for n, c in zip(header[2:], row[2:], strict=True)
            )
        except ValueError as exc:
            raise BarsCsvError(line, str(exc)) from None
        o, h, lo, c, v = values[:5]
        if min(o, h, lo, c) <= 0:
            raise BarsCsvError(line, "prices must be positive")
        if h < max(o, c) or lo > min(o, c):
            raise BarsCsvError(line, "high/low do not bracket open/close")
        if v < 0 or (has_spread and values[5] < 0):
            raise BarsCsvError(line, "volume and spread_bps must not be negative")
        rows.setdefault(symbol, []).append((ts, line, values))

    if not rows:
        raise BarsCsvError(reader.line_num or 1, "no bar rows")
    out: BarSet = {}
    for symbol in sorted(rows):
        items = sorted(rows[symbol], key=lambda r: r[0])
        for prev, cur in itertools.pairwise(items):
            if prev[0] == cur[0]:
                raise BarsCsvError(
                    cur[1],
                    f"duplicate timestamp {cur[0]} for {symbol} (also line {prev[1]})",
                )
        ts_arr = np.array([r[0] for r in items], dtype=np.int64)
        vals = np.array([r[2] for r in items], dtype=np.float64)
        out[symbol] = SymbolBars.from_arrays(
            symbol,
            ts_arr,
            vals[:, 0],
            vals[:, 1],
            vals[:, 2],
            vals[:, 3],
            vals[:, 4],
            vals[:, 5] if has_spread else None,
        )
    return out


def read_bars_csv(path: str | Path) -> BarSet:
    """Read a CSV file of bars (see :func:`parse_bars_csv`)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return parse_bars_csv(fh)


def format_bars_csv(bars: BarSet) -> str:
    """Serialise ``bars`` as CSV text (epoch-second timestamps, fingerprint precision)."""
    has_spread = all(sb.spread_bps is not None for sb in bars.values())
    buf = io.StringIO()
    header = [*REQUIRED_COLUMNS, *(OPTIONAL_COLUMNS if has_spread else ())]
    buf.write(",".join(header) + "\n")
    p, q = PRICE_DECIMALS, QTY_DECIMALS
    for symbol in sorted(bars):
        sb = bars[symbol]
        cols = [
            sb.ts.tolist(),
            sb.open.tolist(),
            sb.high.tolist(),
            sb.low.tolist(),
            sb.close.tolist(),
            sb.volume.tolist(),
        ]
        if has_spread:
            assert sb.spread_bps is not None
            cols.append(sb.spread_bps.tolist())
            for t, o, h, lo, c, v, s in zip(*cols, strict=True):
                buf.write(
                    f"{symbol},{t},{o:.{p}f},{h:.{p}f},{lo:.{p}f},{c:.{p}f},{v:.{q}f},{s:.{q}f}\n"
                )
        else:
            for t, o, h, lo, c, v in zip(*cols, strict=True):
                buf.write(
                    f"{symbol},{t},{o:.{p}f},{h:.{p}f},{lo:.{p}f},{c:.{p}f},{v:.{q}f}\n"
                )
    return buf.getvalue()


def write_bars_csv(bars: BarSet, path: str | Path) -> None:
    """Write ``bars`` to ``path`` as CSV (see :func:`format_bars_csv`)."""
    Path(path).write_text(format_bars_csv(bars), encoding="utf-8")
