"""Top-level routes: pages, the admin, and the versioned REST API."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from access import views as access_views
from console import views
from core.api import api_not_found, slashless
from core.api_views import ApiDocs, ApiRoot
from execution.metrics import metrics_view

api_v1 = [
    path("", ApiRoot.as_view(), name="api-root"),
    *slashless("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocs.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("ledger.api_urls")),
    path("", include("promotions.api_urls")),
    path("", include("execution.api_urls")),
    path("", include("autonomy.api_urls")),
    path("", include("access.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", access_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/v1", ApiRoot.as_view()),  # the root with and without its slash, as every API path
    path("research/", include("ledger.urls")),
    path("promotions/", include("promotions.urls")),
    path("executions/", include("execution.urls")),
    path("autonomy/", include("autonomy.urls")),
    path("audit/", include("access.urls")),
    path("metrics", metrics_view, name="metrics"),
    # Anything else under /api/: the JSON error envelope (404 not_found), not an HTML page. [\s\S],
    # not ".": a decoded %0A in the path is part of "anything" (and "(?s)" would break reverse()).
    re_path(r"^api(?:/[\s\S]*)?$", api_not_found, name="api-not-found"),
]
