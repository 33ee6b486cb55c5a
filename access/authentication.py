"""API token authentication: knox tokens (stored hashed, optionally expiring), stamped with a
last-used time at most once a minute.

Authentication sits on every agent request, so it is one fixed SQL statement (composed once
from the models' metadata, no ORM compilation per request): the token, its user and the user's
roles together. Knox's per-request sweep of the user's *other* expired tokens is left to
``tokens_purge_expired`` (run by ``list_tokens``), and the last-used stamp is skipped when this
process stamped the token less than a minute ago.
"""
from __future__ import annotations

import binascii
import threading
import time
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connection
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


_query: tuple[str, list[str], list[str]] | None = None


def _token_query() -> tuple[str, list[str], list[str]]:
    """(sql, token attnames, user attnames): token row + user row + role names, by token key."""
    global _query
    if _query is None:
        user_model = get_user_model()
        token_fields = AuthToken._meta.concrete_fields
        user_fields = user_model._meta.concrete_fields
        groups_field = user_model._meta.get_field("groups")
        through, group = groups_field.remote_field.through._meta, groups_field.related_model._meta
        sql = (
            "SELECT " + ", ".join([f't."{f.column}"' for f in token_fields] + [f'u."{f.column}"' for f in user_fields])
            + f', ARRAY(SELECT g.name FROM "{through.db_table}" ug JOIN "{group.db_table}" g ON g.id = ug.group_id'
              # the role names are fixed identifiers: a constant of the statement, not a parameter to bind
              f" WHERE ug.user_id = u.id AND g.name = ANY('{{{','.join(sorted(Role.values))}}}'::text[])"
              " ORDER BY g.name)"
            + f' FROM "{AuthToken._meta.db_table}" t JOIN "{user_model._meta.db_table}" u ON u.id = t.user_id'
            + " WHERE t.token_key = %s")
        _query = (sql, [f.attname for f in token_fields], [f.attname for f in user_fields])
    return _query


def _candidates(token_key: str):
    """Yield AuthToken instances (user attached, roles cached on the user) for one token key."""
    sql, token_names, user_names = _token_query()
    with connection.bound_cursor() as cursor:
        cursor.execute(sql, [token_key])
        rows = cursor.fetchall()
    n = len(token_names)
    user_model = get_user_model()
    for row in rows:
        auth_token = AuthToken.from_db("default", token_names, row[:n])
        user = user_model.from_db("default", user_names, row[n:-1])
        # the roles came with the token: selectors.user_roles reads this cache
        user._torghut_roles = frozenset(row[-1] or ())
        auth_token.user = user
        yield auth_token


_MAX_TOKEN_LENGTH = 512


def _token_text(raw: bytes) -> str:
    """The token as text, or AuthenticationFailed: keys are printable ASCII (knox writes hex), so
    any other byte (non-UTF-8, latin-1, NUL, control characters) is a bad token, not a 500."""
    try:
        token = raw.decode("ascii")
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
    if not token.isprintable() or len(token) > _MAX_TOKEN_LENGTH:
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    return token


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except UnicodeError:  # a header that is not ISO-8859-1 text (possible outside WSGI)
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from None

    def authenticate_credentials(self, token):
        token = _token_text(token)
        for auth_token in _candidates(token[:CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(token)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
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
