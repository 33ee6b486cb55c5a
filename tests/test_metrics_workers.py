"""/metrics under gunicorn with several workers: the latency histograms are those of every worker, summed, so
each scrape (answered by whichever worker) shows the same figures."""
from __future__ import annotations

import re

import pytest
import requests
from django.db import connection

from tests.dbfaults import DatabaseProxy, Gunicorn, server_address

pytestmark = pytest.mark.django_db(transaction=True)
ROUTE = "/api/v1/access/me"


def _count(metrics: str) -> int:
    pattern = re.compile(r'^torghut_api_request_duration_seconds_count\{([^}]*)\} (\S+)$', re.M)
    return sum(int(float(value)) for labels, value in pattern.findall(metrics) if f'route="{ROUTE}"' in labels)


def test_every_scrape_sums_the_histograms_of_all_workers(tmp_path):
    settings_dict = connection.settings_dict
    with DatabaseProxy(*server_address(settings_dict)) as proxy:
        server = Gunicorn({"DATABASE_URL": proxy.url(settings_dict), "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
                           "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING",
                           "SECRET_KEY": "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"},
                          log=tmp_path / "gunicorn.log", workers=3, threads=2).start()
        try:
            start = _count(requests.get(f"{server.url}/metrics", timeout=10).text)
            for _ in range(60):  # a new connection each: the workers share them
                response = requests.get(f"{server.url}{ROUTE}", timeout=10, headers={"Connection": "close"})
                assert response.status_code in (200, 401, 403)
            counts = []
            for _ in range(12):
                response = requests.get(f"{server.url}/metrics", timeout=10, headers={"Connection": "close"})
                assert response.status_code == 200, response.text[:200]
                counts.append(_count(response.text))
            assert counts == [start + 60] * 12, (counts, server.log_tail())
        finally:
            server.stop()
