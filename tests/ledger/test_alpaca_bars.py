"""alpaca-py's real StockHistoricalDataClient against a loopback market-data server."""
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import CommandError, call_command

from ledger.models import Dataset

ROWS = {
    "AAPL": [{"t": f"2025-01-02T14:{30 + i:02d}:00Z", "o": 190 + i, "h": 191 + i, "l": 189 + i, "c": 190.5 + i,
              "v": 1000 + i, "n": 10, "vw": 190.2} for i in range(6)],
    "MSFT": [{"t": f"2025-01-02T14:{30 + i:02d}:00Z", "o": 410, "h": 411, "l": 409, "c": 410.5, "v": 500,
              "n": 5, "vw": 410.1} for i in range(6)],
}


class Handler(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        query = parse_qs(url.query)
        Handler.seen.append((url.path, query, self.headers.get("APCA-API-KEY-ID")))
        page = int(query.get("page_token", ["0"])[0])
        symbols = query["symbols"][0].split(",")
        chunk = {s: ROWS[s][page * 3:(page + 1) * 3] for s in symbols}
        body = {"bars": chunk, "next_page_token": "1" if page == 0 else None}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def data_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ALPACA_DATA_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("ALPACA_API_KEY_ID", "key-id")
    monkeypatch.setenv("ALPACA_API_SECRET_KEY", "secret")
    Handler.seen = []
    yield server
    server.shutdown()


@pytest.mark.django_db
def test_fetch_bars_pages_through_the_real_client_and_stores_a_dataset(data_server):
    out = io.StringIO()
    call_command("fetch_bars", "--dataset-version", "alpaca-1", "--symbols", "AAPL,MSFT",
                 "--start", "2025-01-02", "--end", "2025-01-03", stdout=out)
    dataset = Dataset.objects.get(version="alpaca-1")
    assert dataset.source == "alpaca" and dataset.bar_count == 12
    assert len(Handler.seen) == 2  # two pages
    assert Handler.seen[0][0] == "/v2/stocks/bars" and Handler.seen[0][2] == "key-id"
    assert Handler.seen[0][1]["timeframe"] == ["1Min"]


@pytest.mark.django_db
def test_fetch_bars_without_keys_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ALPACA_API_KEY_ID", raising=False)
    monkeypatch.delenv("ALPACA_API_SECRET_KEY", raising=False)
    with pytest.raises(CommandError, match="ALPACA_API_KEY_ID"):
        call_command("fetch_bars", "--dataset-version", "x", "--symbols", "AAPL", "--start", "2025-01-02",
                     "--end", "2025-01-03")
