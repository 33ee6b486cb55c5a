"""Latency histograms served on ``/metrics`` beside the counters computed from the database.

Unlike those counters, a histogram is kept by the process that measured it. Under gunicorn every worker
writes its histograms to files (prometheus_client's multiprocess mode, set up in ``core.gunicorn_conf``) and
``/metrics`` sums them (``execution.metrics.metrics_view``); a single process serves its own registry.

- ``torghut_api_request_duration_seconds{route, method, status}``: every request under ``/api/``,
  labelled with the URLconf route pattern (``/api/v1/research/runs/<str:run_id>``, never the raw
  path: one series per endpoint), ``unmatched`` for a path no route serves, and the status class.
- ``torghut_order_admission_duration_seconds{outcome}``: the admission transaction of an order
  (``admitted``, ``refused`` or ``error``).
- ``torghut_broker_call_duration_seconds{adapter, operation, outcome}``: each call to a broker
  (``submit``, ``get_order``, ``health``…), ``ok`` or the adapter error's kind.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

API_REQUEST_SECONDS = Histogram(
    "torghut_api_request_duration_seconds", "API request duration, by URLconf route, method and status class.",
    ["route", "method", "status"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ORDER_ADMISSION_SECONDS = Histogram(
    "torghut_order_admission_duration_seconds", "Order admission transaction duration, by outcome.",
    ["outcome"], registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
BROKER_CALL_SECONDS = Histogram(
    "torghut_broker_call_duration_seconds", "Broker call duration, by adapter, operation and outcome.",
    ["adapter", "operation", "outcome"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))


@contextmanager
def broker_call(adapter: str, operation: str) -> Iterator[None]:
    """Time one broker call; an exception's ``kind`` (an adapter error's) labels the outcome."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = str(getattr(exc, "kind", "") or "error")
        raise
    finally:
        BROKER_CALL_SECONDS.labels(adapter, operation, outcome).observe(time.perf_counter() - started)


def api_route_label(request) -> str:
    """The route pattern that served the request (trailing-slash aliases folded), or ``unmatched``."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name == "api-not-found" or not match.route:
        return "unmatched"
    route = "/" + match.route
    return route.rstrip("/") if route != "/api/v1/" else route


class ApiLatencyMiddleware:
    """Observes :data:`API_REQUEST_SECONDS` for every request under ``/api/`` (outermost: 503s included)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        started = time.perf_counter()
        status = "5xx"
        try:
            response = self.get_response(request)
            status = f"{response.status_code // 100}xx"
            return response
        finally:
            API_REQUEST_SECONDS.labels(api_route_label(request), request.method, status).observe(
                time.perf_counter() - started)
