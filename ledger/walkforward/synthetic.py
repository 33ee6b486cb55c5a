"""Seeded, deterministic synthetic 1-minute bars with regime switches.

Every weekday from ``start`` gets one session of 390 one-minute bars, 14:30-21:00 UTC
(bar start times 14:30 ... 20:59; no holiday calendar). Each symbol has its own generator,
seeded from ``sha256(f"{seed}:{symbol}")``, so a symbol's bars do not depend on which
other symbols are generated, and the same seed always gives byte-identical arrays.

Each session is in one of three regimes, switching as a sticky Markov chain over days:

* ``trending``: random walk with a drift of about one daily sigma per session, the
  direction persisting for the spell;
* ``mean_reverting``: an AR(1) deviation (phi 0.97) around the session's anchor, so
  intraday moves revert;
* ``volatile``: a fat-tailed (Student t, 4 d.o.f.) random walk at 2.5x the base sigma,
  with more volume and wider spreads.

Sessions are joined by a small overnight gap. Volume follows an intraday U shape;
the quoted spread (bps) rises with volatility. Prices are rounded to 4 decimals,
volume to whole shares and spreads to 2 decimals.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np

from .bars import SECONDS_PER_DAY, BarSet, SymbolBars

BARS_PER_SESSION = 390
SESSION_OPEN_SECONDS = 14 * 3600 + 30 * 60
REGIMES = ("trending", "mean_reverting", "volatile")
DEFAULT_SYMBOLS = (
    "AAPL",
    "AMZN",
    "GOOG",
    "JPM",
    "META",
    "MSFT",
    "NVDA",
    "TSLA",
    "V",
    "XOM",
)


def symbol_seed(seed: int, symbol: str) -> int:
    """Per-symbol seed derived from the master seed and the symbol name."""
    return int.from_bytes(
        hashlib.sha256(f"{seed}:{symbol}".encode()).digest()[:8], "little"
    )


def weekdays(start: dt.date, n_days: int) -> list[dt.date]:
    """The first ``n_days`` weekdays on or after ``start``."""
    days: list[dt.date] = []
    d = start
    while len(days) < n_days:
        if d.weekday() < 5:
            days.append(d)
        d += dt.timedelta(days=1)
    return days


def _regime_path(rng: np.random.Generator, n_days: int, stay: float) -> np.ndarray:
    """Sticky Markov chain of regime codes (0, 1, 2), one per session."""
    draws = rng.random(n_days)
    picks = rng.integers(0, len(REGIMES), n_days)
    out = np.empty(n_days, dtype=np.int64)
    current = int(picks[0])
    for i in range(n_days):  # one step per day, not per bar
        if i and draws[i] > stay:
            current = int(picks[i])
        out[i] = current
    return out


def generate_symbol(
    symbol: str, days: list[dt.date], seed: int, *, regime_stay: float = 0.8
) -> SymbolBars:
    """Generate the bars of one symbol over the given sessions."""
    rng = np.random.default_rng(symbol_seed(seed, symbol))
    n_days, m = len(days), BARS_PER_SESSION
    sigma_day = rng.uniform(0.010, 0.025)
    sigma_bar = sigma_day / np.sqrt(m)
    start_price = float(rng.uniform(20.0, 400.0))
    illiquid = rng.random() < 0.2
    base_volume = (
        rng.uniform(2_000, 8_000) if illiquid else rng.uniform(20_000, 150_000)
    )
    base_spread = rng.uniform(8.0, 20.0) if illiquid else rng.uniform(0.8, 4.0)

    regime = _regime_path(rng, n_days, regime_stay)
    eps = rng.standard_normal((n_days, m))
    t_eps = rng.standard_t(4, (n_days, m)) / np.sqrt(2.0)  # unit variance
    direction = np.where(rng.random(n_days) < 0.5, -1.0, 1.0)
    # Trend direction persists within a spell of consecutive trending days.
    spell_start = np.r_[True, regime[1:] != regime[:-1]]
    direction = direction[
        np.maximum.accumulate(np.where(spell_start, np.arange(n_days), 0))
    ]
    drift = direction * rng.uniform(0.3, 1.0, n_days) * sigma_day / m

    trend = np.cumsum(drift[:, None] + sigma_bar * eps, axis=1)
    phi = 0.97
    k = np.arange(m)
    innov = 0.5 * sigma_day * np.sqrt(1 - phi**2) * eps
    ar = phi ** (k + 1) * np.cumsum(innov * phi ** (-(k + 1)), axis=1)  # AR(1) from 0
    mean_rev = ar + np.cumsum(0.3 * sigma_bar * t_eps, axis=1)
    volatile = np.cumsum(2.5 * sigma_bar * t_eps, axis=1)
    path = np.select(
        [regime[:, None] == 0, regime[:, None] == 1], [trend, mean_rev], volatile
    )

    gap = rng.normal(0.0, 0.3 * sigma_day, n_days)
    gap[0] = 0.0
    day_move = gap + path[:, -1]
    level = np.log(start_price) + np.r_[0.0, np.cumsum(day_move)[:-1]] + gap
    log_close = level[:, None] + path
    close = np.round(np.exp(log_close).ravel(), 4)
    open_ = np.r_[start_price, close[:-1]]
    first = np.arange(n_days) * m
    open_[first] = np.round(np.exp(level), 4)
    open_ = np.round(open_, 4)

    vol_scale = np.where(regime == 2, 2.5, 1.0)[:, None] * sigma_bar
    wick = np.abs(rng.standard_normal((2, n_days, m))) * 0.6 * vol_scale
    high = np.round(np.maximum(open_, close) * np.exp(wick[0].ravel()), 4)
    low = np.round(np.minimum(open_, close) * np.exp(-wick[1].ravel()), 4)
    high = np.maximum(high, np.maximum(open_, close))
    low = np.minimum(low, np.minimum(open_, close))

    u_shape = 1.0 + 1.5 * ((k - (m - 1) / 2) / ((m - 1) / 2)) ** 2
    regime_vol = np.where(regime == 2, 1.8, np.where(regime == 0, 1.2, 1.0))[:, None]
    noise = rng.lognormal(0.0, 0.4, (n_days, m))
    volume = np.round(base_volume * u_shape * regime_vol * noise).ravel()
    spread = (
        base_spread
        * np.where(regime == 2, 1.6, 1.0)[:, None]
        * rng.lognormal(0, 0.2, (n_days, m))
    )
    spread = np.round(spread, 2).ravel()

    day_epoch = np.array(
        [(d - dt.date(1970, 1, 1)).days * SECONDS_PER_DAY for d in days], dtype=np.int64
    )
    ts = (
        (day_epoch[:, None] + SESSION_OPEN_SECONDS + 60 * k[None, :])
        .ravel()
        .astype(np.int64)
    )
    return SymbolBars.from_arrays(symbol, ts, open_, high, low, close, volume, spread)


def generate_bars(
    symbols: tuple[str, ...] | list[str] = DEFAULT_SYMBOLS,
    *,
    start: dt.date = dt.date(2025, 1, 2),
    n_days: int = 60,
    seed: int = 0,
    regime_stay: float = 0.8,
) -> BarSet:
    """Generate a deterministic :data:`BarSet` of 1-minute bars for ``symbols``."""
    if n_days < 1:
        raise ValueError("n_days must be at least 1")
    if len(set(symbols)) != len(symbols):
        raise ValueError("duplicate symbols")
    days = weekdays(start, n_days)
    return {s: generate_symbol(s, days, seed, regime_stay=regime_stay) for s in symbols}
