"""DRF throttling keyed by API token: each token has its own budget (``API_TOKEN_RATE``);
browser sessions are keyed by user, anonymous callers by address (``API_ANON_RATE``).

A counter per window, not DRF's sliding log: the log keeps one timestamp per request and is
re-serialised on every call (thousands of entries at agent rates), where a counter costs the
same at any rate. The window opens at a key's first request, so a budget of N allows at most N
requests in any window that starts with one, and at most 2N across a window boundary.
The counts live in Django's cache: per process with the default local-memory cache, shared
across processes and machines when ``REDIS_URL`` is set.
"""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self):
        # Read on every request so the rates follow settings (and tests can lower them).
        return None

    def allow_request(self, request, view):
        rate = settings.API_TOKEN_RATE if request.user and request.user.is_authenticated else settings.API_ANON_RATE
        if not rate:
            return True
        self.num_requests, self.duration = self.parse_rate(rate)
        key = self.get_cache_key(request, view)
        now = time.time()
        opened = cache.get_or_set(f"{key}:opened", now, timeout=self.duration)
        if now - opened >= self.duration:  # an expired window the cache has not dropped yet
            cache.set(f"{key}:opened", now, timeout=self.duration)
            opened = now
        counter = f"{key}:{opened}"
        cache.add(counter, 0, timeout=self.duration)
        try:
            count = cache.incr(counter)
        except ValueError:  # evicted between add and incr: start counting again
            cache.set(counter, 1, timeout=self.duration)
            count = 1
        self._retry_after = max(0.0, opened + self.duration - now)
        return count <= self.num_requests

    def wait(self):
        return getattr(self, "_retry_after", None)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, AuthToken):
            ident = f"token:{request.auth.token_key}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
