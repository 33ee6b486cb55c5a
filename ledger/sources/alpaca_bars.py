"""Historical 1-minute bars from Alpaca's market-data API through alpaca-py's real client.

Used by ``manage.py fetch_bars`` when Alpaca keys are configured. ``url_override`` points the
client elsewhere (a loopback server in tests).
"""
from __future__ import annotations

import datetime as dt
import os

import numpy as np

from ledger.walkforward.bars import BarSet, SymbolBars


class AlpacaBarsError(RuntimeError):
    """Alpaca refused the request or could not be reached; ``transient`` when trying again may help
    (the network, a timeout), not when Alpaca refused it (keys, symbols)."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def alpaca_credentials() -> dict[str, str | None]:
    """The data API's keys and host override, read from the environment as every caller reads them."""
    return {"api_key": os.environ.get("ALPACA_API_KEY_ID", ""),
            "secret_key": os.environ.get("ALPACA_API_SECRET_KEY", ""),
            "url_override": os.environ.get("ALPACA_DATA_URL") or None}


def alpaca_configured() -> bool:
    keys = alpaca_credentials()
    return bool(keys["api_key"] and keys["secret_key"])


def fetch_alpaca_bars(symbols: list[str], start: dt.datetime, end: dt.datetime, *, api_key: str, secret_key: str,
                      url_override: str | None = None, feed: str | None = None, empty_ok: bool = False) -> BarSet:
    """1-minute bars of ``symbols`` from ``start`` to ``end``. No bar at all is an error, or, with
    ``empty_ok``, an empty BarSet (a window in which the market printed nothing new)."""
    from alpaca.common.exceptions import APIError
    from alpaca.data.enums import DataFeed
    from alpaca.data.historical.stock import StockHistoricalDataClient
    from alpaca.data.requests import StockBarsRequest
    from alpaca.data.timeframe import TimeFrame

    if not api_key or not secret_key:
        raise AlpacaBarsError("Alpaca keys are not configured: set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY.")
    client = StockHistoricalDataClient(api_key, secret_key, url_override=url_override, raw_data=True)
    request = StockBarsRequest(symbol_or_symbols=symbols, timeframe=TimeFrame.Minute, start=start, end=end,
                               feed=DataFeed(feed) if feed else None)
    try:
        raw = client.get_stock_bars(request)
    except APIError as exc:
        raise AlpacaBarsError(f"Alpaca refused the bars request: {exc}") from exc
    except Exception as exc:  # network errors from requests
        raise AlpacaBarsError(f"Alpaca bars request failed: {exc.__class__.__name__}: {exc}",
                              transient=True) from exc
    out: BarSet = {}
    for symbol, rows in sorted(raw.items()):
        if not rows:
            continue
        ts = [int(dt.datetime.fromisoformat(r["t"].replace("Z", "+00:00")).timestamp()) for r in rows]
        out[symbol] = SymbolBars.from_arrays(
            symbol, ts, [r["o"] for r in rows], [r["h"] for r in rows], [r["l"] for r in rows],
            [r["c"] for r in rows], np.asarray([r["v"] for r in rows], dtype=float))
    if not out and not empty_ok:
        raise AlpacaBarsError(f"Alpaca returned no bars for {', '.join(symbols)} between {start} and {end}.")
    return out
