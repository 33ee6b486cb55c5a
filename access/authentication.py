"""API token authentication: knox tokens (stored hashed, optionally expiring), stamped with a
last-used time at most once a minute.

Two per-request queries of knox's are avoided on the order hot path: its sweep of the user's
*other* expired tokens (``purge_expired_tokens`` does that in bulk, from ``list_tokens`` and the
schedule) and the last-used stamp when this process stamped the token less than a minute ago.
"""
from __future__ import annotations

import threading
import time

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.signals import token_expired

from access.services import token_touch

TOUCH_INTERVAL_SECONDS = 60
_touched: dict[str, float] = {}
_touched_lock = threading.Lock()


def _touch_due(digest: str) -> bool:
    now = time.monotonic()
    with _touched_lock:
        last = _touched.get(digest)
        if last is not None and now - last < TOUCH_INTERVAL_SECONDS:
            return False
        if len(_touched) > 10_000:
            _touched.clear()
        _touched[digest] = now
        return True


class TokenAuthentication(KnoxTokenAuthentication):
    def _cleanup_token(self, auth_token) -> bool:
        """Refuse (and delete) this token when it has expired; other tokens are swept in bulk."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False

    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        if _touch_due(token.digest):
            token_touch(token=token, min_interval_seconds=TOUCH_INTERVAL_SECONDS)
        return user, token
