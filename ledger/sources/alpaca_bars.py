"""Historical 1-minute bars from Alpaca's market-data API through alpaca-py's real client.

Used by ``manage.py fetch_bars`` when Alpaca keys are configured. ``url_override`` points the
client elsewhere (a loopback server in tests).
"""
from __future__ import annotations

import datetime as dt

import numpy as np

from ledger.walkforward.bars import BarSet, SymbolBars


class AlpacaBarsError(RuntimeError):
    pass


def fetch_alpaca_bars(symbols: list[str], start: dt.datetime, end: dt.datetime, *, api_key: str, secret_key: str,
                      url_override: str | None = None, feed: str | None = None) -> BarSet:
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
        raise AlpacaBarsError(f"Alpaca bars request failed: {exc.__class__.__name__}: {exc}") from exc
    out: BarSet = {}
    for symbol, rows in sorted(raw.items()):
        if not rows:
            continue
        ts = [int(dt.datetime.fromisoformat(r["t"].replace("Z", "+00:00")).timestamp()) for r in rows]
        out[symbol] = SymbolBars.from_arrays(
            symbol, ts, [r["o"] for r in rows], [r["h"] for r in rows], [r["l"] for r in rows],
            [r["c"] for r in rows], np.asarray([r["v"] for r in rows], dtype=float))
    if not out:
        raise AlpacaBarsError(f"Alpaca returned no bars for {', '.join(symbols)} between {start} and {end}.")
    return out
