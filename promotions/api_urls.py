"""REST endpoints of the promotions app, mounted under /api/v1/."""
from core.api import slashless
from promotions import api

urlpatterns = [
    *slashless("promotions/keys", api.SigningKeyList.as_view(), name="api-promotion-keys"),
    *slashless("promotions/policies", api.GatePolicyList.as_view(), name="api-promotion-policies"),
]
