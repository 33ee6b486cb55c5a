"""Pages that refresh their figures without a full reload (htmx, served from ``static/vendor/htmx``).

A live page marks one region (``<div {% live_region %}>{% block live %}…{% endblock %}</div>``) and extends
``live_base`` (the context variable this module sets) instead of ``base.html``. Every
``CONSOLE_REFRESH_SECONDS`` htmx asks for the same address with ``HX-Request`` and ``HX-Target: live``;
``render_live`` then renders the same template over ``live/partial.html``, which holds nothing but the
``live`` block, the time of the render (``data-live-at``) and the critical-alert banner (swapped out of
band), so a refresh costs the region's queries only. ``static/js/live.js`` shows when the region last
updated, and says so when the refresh stalls (the server unreachable, answering an error, or too slow).
"""
from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

REGION_ID = "live"
PAGE_BASE = "base.html"
PARTIAL_BASE = "live/partial.html"


def is_refresh(request) -> bool:
    """A refresh of the page's live region (not a first load, nor another htmx request)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and htmx.target == REGION_ID


def context(request) -> dict:
    """Template context of every page: how often live regions refresh, the base a live page extends, and the
    time of this render (what "updated at" shows)."""
    return {"live_seconds": settings.CONSOLE_REFRESH_SECONDS, "live_at": timezone.now(),
            "live_chart_seconds": settings.CONSOLE_CHART_REFRESH_SECONDS,
            "live_base": PARTIAL_BASE if is_refresh(request) else PAGE_BASE}


def render_live(request, template: str, context: dict, *, status: int = 200):
    """Render a live page, or only its live region when htmx refreshes it. Never cached: the answer depends
    on ``HX-Request`` and is the state of now."""
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    patch_cache_control(response, no_store=True)
    return response
