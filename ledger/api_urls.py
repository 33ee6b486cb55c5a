"""REST endpoints of the ledger app, mounted under /api/v1/."""
from core.api import slashless
from ledger import api

urlpatterns = [
    *slashless("research/runs", api.RunListCreate.as_view(), name="api-run-list"),
    *slashless("research/runs/<str:run_id>", api.RunDetail.as_view(), name="api-run-detail"),
]
