"""The API's own pages: the root of ``/api/v1/`` (what is there) and the interactive docs.

A browser that is not logged in is sent to the login page and back (``?next=``); an agent
(no ``text/html`` in its ``Accept``) gets the 401 envelope, as from every other endpoint.
"""
from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

API_PREFIX = "api/v1/"
_HIDDEN_METHODS = {"options", "head"}


def wants_html(request) -> bool:
    """A browser asks for HTML; agents and ``curl`` ask for JSON or anything."""
    return "text/html" in request.META.get("HTTP_ACCEPT", "")


class BrowserLoginMixin:
    """Anonymous browsers go to the login page and come back here; everyone else gets the 401."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed) \
                and not self.request.user.is_authenticated and wants_html(self.request) \
                and "HTTP_AUTHORIZATION" not in self.request.META:
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


def api_endpoints() -> list[dict]:
    """Every route under /api/v1/ as written in the URLconf (trailing-slash aliases folded), with
    the methods its view answers, in URLconf order."""
    found: dict[str, dict] = {}

    def walk(patterns, prefix: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
                if not route.startswith(API_PREFIX) or view is None:
                    continue
                route = route[len(API_PREFIX):]
                if route.endswith("/") and route[:-1] in found:
                    continue
                methods = [m.upper() for m in getattr(view, "http_method_names", ())
                           if m not in _HIDDEN_METHODS and hasattr(view, m)]
                found[route] = {"path": "/" + API_PREFIX + route, "methods": methods, "name": pattern.name or ""}

    walk(get_resolver().url_patterns)
    return list(found.values())


class _EndpointSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The route as written in the URLconf: `<kind:name>` is a path parameter.")
    methods = serializers.ListField(child=serializers.CharField())
    name = serializers.CharField()


class ApiRootSerializer(serializers.Serializer):
    version = serializers.CharField()
    docs = serializers.URLField(help_text="Interactive documentation (Swagger UI).")
    schema = serializers.URLField(help_text="The OpenAPI 3.0 schema.")
    endpoints = _EndpointSerializer(many=True)


class ApiRoot(BrowserLoginMixin, APIView):
    """The endpoints of version 1, with the links to the interactive docs and the OpenAPI schema.

    Agents send `Authorization: Token <key>`; browsers use their session."""

    @extend_schema(responses=ApiRootSerializer, operation_id="api_root",
                   summary="What the API holds: its endpoints, the docs and the schema")
    def get(self, request):
        endpoints = [e for e in api_endpoints() if e["path"] != "/" + API_PREFIX]
        return Response(ApiRootSerializer({
            "version": "v1",
            "docs": request.build_absolute_uri(reverse("api-docs")),
            "schema": request.build_absolute_uri(reverse("api-schema")),
            "endpoints": endpoints,
        }).data)

    def get_view_name(self):
        return "Torghut operator plane API v1"


class ApiDocs(BrowserLoginMixin, SpectacularSwaggerView):
    """Swagger UI, from local assets."""
