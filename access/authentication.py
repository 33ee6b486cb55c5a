"""API token authentication: knox tokens (stored hashed, optionally expiring), stamped with a
last-used time at most once a minute.

Authentication sits on every agent request, so it is one query: the token, its user and the
user's roles together. Knox's per-request sweep of the user's *other* expired tokens is left to
``tokens_purge_expired`` (run by ``list_tokens``), and the last-used stamp is skipped when this
process stamped the token less than a minute ago.
"""
from __future__ import annotations

import binascii
import threading
import time
from hmac import compare_digest

from django.contrib.auth.models import Group
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework import exceptions

from access.roles import Role
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


def _roles_of_token_user():
    return Subquery(
        Group.objects.filter(user=OuterRef("user_id"), name__in=Role.values)
        .values("user").annotate(names=ArrayAgg("name")).values("names")[:1])


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token):
        token = token.decode("utf-8")
        candidates = (AuthToken.objects.filter(token_key=token[:CONSTANTS.TOKEN_KEY_LENGTH])
                      .select_related("user").annotate(role_names=_roles_of_token_user()))
        for auth_token in candidates:
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                # the roles came with the token: selectors.user_roles reads this cache
                auth_token.user._torghut_roles = frozenset(auth_token.role_names or ())
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))

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
