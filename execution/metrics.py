"""Prometheus ``/metrics`` with torghut's counter names, computed from the executions table, plus the
autonomy gauges (:mod:`autonomy.metrics`: trading state, LEAN lane, open alerts, heartbeat lag).

Choice: the counters are derived in SQL from the stored rows at scrape time (one GROUP BY),
not kept in a per-process registry. Every web and worker process therefore reports the
same numbers, restarts do not reset them, and they can never disagree with the API. They
stay monotonic because executions are never deleted and an order is counted only once routed
(its row leaves ``pending_submit`` with its final route). The one exception: reconciliation
finding an order at another broker than recorded moves it between ``adapter`` labels (a
``route_changed`` discrepancy). Legacy (imported) rows are excluded.

Access: the endpoint is outside ``/api/v1`` and answers only clients in
``METRICS_ALLOWED_IPS`` (loopback by default, i.e. a scraper on the host or a sidecar) or a
request carrying ``Authorization: Bearer <METRICS_TOKEN>``. Anyone else gets 403.
"""
from __future__ import annotations

import hmac
import os
from collections import Counter

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from autonomy.metrics import AutonomyCollector
from core import latency
from execution import selectors
from execution.models import LeanOutage


class ExecutionCollector:
    def collect(self):
        requests = CounterMetricFamily("torghut_trading_execution_requests",
                                       "Orders routed, by the adapter that took them.", labels=["adapter"])
        fallbacks = CounterMetricFamily("torghut_trading_execution_fallback",
                                        "Orders that fell back from the expected adapter.", labels=["from", "to"])
        reasons = CounterMetricFamily("torghut_trading_execution_fallback_reason",
                                      "Fallbacks by reason.", labels=["reason"])
        by_adapter: Counter = Counter()
        by_route: Counter = Counter()
        by_reason: Counter = Counter()
        for expected, actual, reason, n, n_fallback in selectors.route_counters():
            by_adapter[actual] += n
            if n_fallback:
                by_route[(expected, actual)] += n_fallback
                by_reason[reason] += n_fallback
        for adapter, n in sorted(by_adapter.items()):
            requests.add_metric([adapter], n)
        for (src, dst), n in sorted(by_route.items()):
            fallbacks.add_metric([src, dst], n)
        for reason, n in sorted(by_reason.items()):
            reasons.add_metric([reason], n)
        yield requests
        yield fallbacks
        yield reasons
        outage = GaugeMetricFamily("torghut_trading_lean_outage_open", "1 while a LEAN outage is open.")
        outage.add_metric([], 1 if LeanOutage.objects.filter(ended_at__isnull=True).exists() else 0)
        yield outage


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    auth = request.headers.get("Authorization", "")
    if token and auth.startswith("Bearer ") and hmac.compare_digest(auth[7:].strip(), token):
        return True
    return request.META.get("REMOTE_ADDR", "") in settings.METRICS_ALLOWED_IPS


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ExecutionCollector())
    registry.register(AutonomyCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # under gunicorn: the histograms of every worker, summed
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (runserver, tests): its own histograms
        registry.register(latency.REGISTRY)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
