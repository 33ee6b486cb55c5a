"""DRF throttling keyed by API token: each token has its own budget (``API_TOKEN_RATE``);
browser sessions are keyed by user, anonymous callers by address (``API_ANON_RATE``)."""
from __future__ import annotations

from django.conf import settings
from knox.models import AuthToken
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_rate(self):
        # Read on every request so the rates follow settings (and tests can lower them).
        return None

    def allow_request(self, request, view):
        if request.user and request.user.is_authenticated:
            self.rate = settings.API_TOKEN_RATE
        else:
            self.rate = settings.API_ANON_RATE
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        if isinstance(request.auth, AuthToken):
            ident = f"token:{request.auth.token_key}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
