"""Feature computation (MACD, signal, Wilder RSI) and the feature block of the artifact.

All indicators are computed per symbol over the symbol's whole, continuous close series
(causal: a value at bar ``t`` only uses closes up to ``t``). Conventions:

* EMA with span ``s`` uses ``alpha = 2 / (s + 1)`` and is seeded with the first input
  (``y_0 = x_0``; pandas ``ewm(span=s, adjust=False)``).
* ``macd = EMA12(close) - EMA26(close)``, NaN for the first ``slow - 1`` bars (warm-up).
* ``macd_signal = EMA9(macd)`` over the valid MACD values, NaN for ``slow + signal - 2`` bars.
* ``rsi``: Wilder's RSI(14). The first average gain/loss (at bar 14) is the simple mean of
  the first 14 changes, then ``avg = avg + (x - avg) / 14``. ``RSI = 100 - 100/(1 + RS)``;
  100 when the average loss is 0, 50 when both averages are 0. NaN for the first 14 bars.

The recursive EMAs are vectorised: the series is cut into blocks short enough that
``(1 - alpha) ** -len`` stays small, each block is solved in closed form with a cumulative
sum, and only the block boundary states are carried in a short Python loop.

Artifact values: ``spec_hash`` is ``sha256`` of the spec's canonical JSON; ``null_rate``
is NaN count / bar count over all symbols per feature (3 decimals); ``staleness_ms_p95``
is the 95th percentile (``method="higher"``) of the gaps between consecutive bars of the
same session, in ms; ``snapshot_fingerprint`` hashes, per symbol in sorted order, the
symbol, its int64 timestamps and every feature (in name order) as little-endian int64
fixed-point values with 6 decimals (NaN encoded as the int64 minimum).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bars import BarSet, SymbolBars
from .fingerprint import canonical_json, sha256_prefixed

FEATURE_SCHEMA_VERSION = "3.0.0"
FEATURE_NAMES = ("macd", "macd_signal", "rsi")
SNAPSHOT_DECIMALS = 6
_NAN_SENTINEL = np.iinfo(np.int64).min

Features = dict[str, np.ndarray]
"""Feature name -> float64 array aligned with the symbol's bars."""


@dataclass(frozen=True)
class FeatureSpec:
    """Names and parameters of the computed features."""

    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    rsi_period: int = 14
    schema_version: str = FEATURE_SCHEMA_VERSION

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data (the input of ``spec_hash``)."""
        return {
            "schema_version": self.schema_version,
            "features": {
                "macd": {
                    "source": "close",
                    "fast_span": self.macd_fast,
                    "slow_span": self.macd_slow,
                    "ema": "span_adjust_false",
                },
                "macd_signal": {
                    "source": "macd",
                    "span": self.macd_signal,
                    "ema": "span_adjust_false",
                },
                "rsi": {
                    "source": "close",
                    "period": self.rsi_period,
                    "smoothing": "wilder",
                },
            },
        }

    def spec_hash(self) -> str:
        """``"sha256:<hex>"`` of the spec's canonical JSON."""
        return sha256_prefixed(canonical_json(self.as_dict()))


def ema_recursive(x: np.ndarray, alpha: float, y_prev: float) -> np.ndarray:
    """``y_t = alpha * x_t + (1 - alpha) * y_{t-1}`` with ``y_{-1} = y_prev``, vectorised."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        return x.copy()
    if not 0.0 < alpha <= 1.0:
        raise ValueError("alpha must be in (0, 1]")
    beta = 1.0 - alpha
    if beta == 0.0:
        return x.copy()
    block = max(
        1, min(n, int(30.0 / -math.log(beta)))
    )  # keeps beta ** -block <= e ** 30
    pad = (-n) % block
    xb = np.concatenate([x, np.zeros(pad)]).reshape(-1, block)
    k = np.arange(1, block + 1, dtype=np.float64)
    decay = beta**k
    local = decay * np.cumsum(
        alpha * xb / decay, axis=1
    )  # zero initial state per block
    ends = local[:, -1].tolist()
    carry_factor = beta**block
    carry = np.empty(len(ends))
    state = float(y_prev)
    for i, end in enumerate(ends):  # one step per block, not per bar
        carry[i] = state
        state = end + carry_factor * state
    return (local + decay * carry[:, None]).ravel()[:n]


def ema(x: np.ndarray, span: int) -> np.ndarray:
    """EMA with ``alpha = 2 / (span + 1)`` seeded with ``x[0]``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    return ema_recursive(x, 2.0 / (span + 1.0), float(x[0]))


def macd(
    close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray]:
    """MACD line and its signal line, with NaN warm-up (see module docstring)."""
    close = np.asarray(close, dtype=np.float64)
    n = close.size
    line = ema(close, fast) - ema(close, slow)
    line[: min(n, slow - 1)] = np.nan
    sig = np.full(n, np.nan)
    start = slow - 1
    if n > start:
        sig[start:] = ema(line[start:], signal)
        sig[start : min(n, start + signal - 1)] = np.nan
    return line, sig


def rsi_wilder(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI with NaN for the first ``period`` bars (see module docstring)."""
    close = np.asarray(close, dtype=np.float64)
    n = close.size
    out = np.full(n, np.nan)
    if n <= period:
        return out
    delta = np.diff(close)
    gain = np.clip(delta, 0.0, None)
    loss = np.clip(-delta, 0.0, None)
    alpha = 1.0 / period
    g0 = float(gain[:period].mean())
    l0 = float(loss[:period].mean())
    avg_gain = np.r_[g0, ema_recursive(gain[period:], alpha, g0)]
    avg_loss = np.r_[l0, ema_recursive(loss[period:], alpha, l0)]
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    rsi = np.where(avg_loss == 0.0, np.where(avg_gain == 0.0, 50.0, 100.0), rsi)
    out[period:] = rsi
    return out


def compute_symbol_features(close: np.ndarray, spec: FeatureSpec) -> Features:
    """All features of one close series."""
    line, sig = macd(close, spec.macd_fast, spec.macd_slow, spec.macd_signal)
    return {"macd": line, "macd_signal": sig, "rsi": rsi_wilder(close, spec.rsi_period)}


def compute_features(bars: BarSet, spec: FeatureSpec) -> dict[str, Features]:
    """Features for every symbol of ``bars``."""
    return {s: compute_symbol_features(sb.close, spec) for s, sb in bars.items()}


def null_rates(features: dict[str, Features]) -> dict[str, str]:
    """Per feature: NaN count / total bars over all symbols, as a 3-decimal string."""
    out: dict[str, str] = {}
    for name in FEATURE_NAMES:
        total = sum(f[name].size for f in features.values())
        nans = sum(int(np.isnan(f[name]).sum()) for f in features.values())
        out[name] = f"{(nans / total) if total else 0.0:.3f}"
    return out


def staleness_ms_p95(bars: BarSet) -> int:
    """95th percentile of within-session gaps between consecutive bars, in ms."""
    gaps = []
    for sb in bars.values():
        if len(sb) > 1:
            same = np.diff(sb.day) == 0
            gaps.append(np.diff(sb.ts)[same])
    all_gaps = np.concatenate(gaps) if gaps else np.empty(0, dtype=np.int64)
    if all_gaps.size == 0:
        return 0
    return int(np.percentile(all_gaps, 95, method="higher")) * 1000


def snapshot_fingerprint(bars: BarSet, features: dict[str, Features]) -> str:
    """``"sha256:<hex>"`` over the fixed-point feature values (see module docstring)."""
    h = hashlib.sha256()
    scale = 10.0**SNAPSHOT_DECIMALS
    for symbol in sorted(features):
        sb: SymbolBars = bars[symbol]
        h.update(symbol.encode("utf-8") + b"\0")
        h.update(sb.ts.astype("<i8").tobytes())
        for name in sorted(features[symbol]):
            values = features[symbol][name]
            fixed = np.where(np.isnan(values), 0.0, np.round(values * scale)).astype(
                "<i8"
            )
            fixed[np.isnan(values)] = _NAN_SENTINEL
            h.update(name.encode("utf-8") + b"\0")
            h.update(fixed.tobytes())
    return "sha256:" + h.hexdigest()


def feature_block(
    bars: BarSet, features: dict[str, Features], spec: FeatureSpec
) -> dict[str, Any]:
    """The artifact's ``features`` object."""
    return {
        "schema_version": spec.schema_version,
        "spec_hash": spec.spec_hash(),
        "snapshot_fingerprint": snapshot_fingerprint(bars, features),
        "null_rate": null_rates(features),
        "staleness_ms_p95": staleness_ms_p95(bars),
    }
