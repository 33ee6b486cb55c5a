"""API token authentication: knox tokens (stored hashed, optionally expiring), stamped with a
last-used time at most once a minute."""
from __future__ import annotations

from knox.auth import TokenAuthentication as KnoxTokenAuthentication

from access.services import token_touch


class TokenAuthentication(KnoxTokenAuthentication):
    def validate_user(self, auth_token):
        user, token = super().validate_user(auth_token)
        token_touch(token=token)
        return user, token
