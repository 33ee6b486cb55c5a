"""REST endpoints of the autonomy app, mounted under /api/v1/."""
from autonomy import api
from core.api import slashless

urlpatterns: list = [
    *slashless("readiness", api.Readiness.as_view(), name="readiness"),
]
