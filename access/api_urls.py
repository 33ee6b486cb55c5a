"""REST endpoints of the access app, mounted under /api/v1/."""
from access import api
from core.api import slashless

urlpatterns = [
    *slashless("access/me", api.Me.as_view(), name="api-access-me"),
    *slashless("access/strategies/<str:name>", api.StrategyInScope.as_view(), name="api-access-strategy"),
]
