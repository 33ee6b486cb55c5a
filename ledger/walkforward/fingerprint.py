"""Canonical hashing: the dataset fingerprint and JSON helpers shared by the engine.

Dataset fingerprint
    ``"sha256:" + sha256`` over canonical rows, one per bar, sorted by symbol then
    timestamp, each ``symbol,ts,open,high,low,close,volume,spread_bps\\n`` where ``ts`` is
    integer epoch seconds, prices have 6 decimals, volume and spread 4 decimals, and a
    missing spread column is an empty field. Only the values matter, never the array
    dtypes or the source format, so a CSV round trip keeps the fingerprint.

``canonical_json`` is the contract's canonical JSON (keys sorted, separators ``,`` ``:``,
UTF-8, no insignificant white space); ``sha256_prefixed`` gives ``"sha256:<64 hex>"``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from core.canonical import canonical_json, sha256_hex

from .bars import BarSet

__all__ = ["canonical_json", "canonical_rows", "dataset_fingerprint", "sha256_hex", "sha256_prefixed"]

PRICE_DECIMALS = 6
QTY_DECIMALS = 4


def sha256_prefixed(data: bytes) -> str:
    """Return ``"sha256:" + hexdigest(data)``."""
    return "sha256:" + sha256_hex(data)


def _fixed(values: np.ndarray, decimals: int) -> list[str]:
    """Format floats with fixed decimals; ``-0.000`` is normalised to ``0.000``."""
    zero = "0." + "0" * decimals
    return [
        zero if s == "-" + zero else s
        for s in (f"{x:.{decimals}f}" for x in values.tolist())
    ]


def canonical_rows(bars: BarSet) -> list[bytes]:
    """Canonical rows as UTF-8 bytes, one block per symbol in sorted symbol order."""
    blocks: list[bytes] = []
    for symbol in sorted(bars):
        sb = bars[symbol]
        order = np.argsort(sb.ts, kind="stable")
        ts = [str(t) for t in sb.ts[order].tolist()]
        cols = [
            _fixed(sb.open[order], PRICE_DECIMALS),
            _fixed(sb.high[order], PRICE_DECIMALS),
            _fixed(sb.low[order], PRICE_DECIMALS),
            _fixed(sb.close[order], PRICE_DECIMALS),
            _fixed(sb.volume[order], QTY_DECIMALS),
            _fixed(sb.spread_bps[order], QTY_DECIMALS)
            if sb.spread_bps is not None
            else [""] * len(ts),
        ]
        lines = [
            f"{symbol},{t},{o},{h},{lo},{c},{v},{s}\n"
            for t, o, h, lo, c, v, s in zip(ts, *cols, strict=True)
        ]
        blocks.append("".join(lines).encode("utf-8"))
    return blocks


def dataset_fingerprint(bars: BarSet) -> str:
    """``"sha256:<hex>"`` over the canonical rows of ``bars`` (see module docstring)."""
    h = hashlib.sha256()
    for block in canonical_rows(bars):
        h.update(block)
    return "sha256:" + h.hexdigest()
