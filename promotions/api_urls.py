"""REST endpoints of the promotions app, mounted under /api/v1/."""
from core.api import slashless
from promotions import api

urlpatterns = [
    *slashless("strategies", api.StrategyList.as_view(), name="api-strategy-list"),
    *slashless("strategies/<str:name>", api.StrategyDetail.as_view(), name="api-strategy-detail"),
    *slashless("promotions", api.PromotionList.as_view(), name="api-promotion-list"),
    *slashless("promotions/keys", api.SigningKeyList.as_view(), name="api-promotion-keys"),
    *slashless("promotions/policies", api.GatePolicyList.as_view(), name="api-promotion-policies"),
    *slashless("promotions/evaluations", api.EvaluationCreate.as_view(), name="api-promotion-evaluations"),
    *slashless("promotions/<id:promotion_id>", api.PromotionDetail.as_view(), name="api-promotion-detail"),
    *slashless("promotions/<id:promotion_id>/approve", api.PromotionApprove.as_view(), name="api-promotion-approve"),
    *slashless("promotions/<id:promotion_id>/reject", api.PromotionReject.as_view(), name="api-promotion-reject"),
    *slashless("promotions/<id:promotion_id>/comments", api.PromotionComment.as_view(),
               name="api-promotion-comments"),
    *slashless("promotions/<id:promotion_id>/rollback", api.PromotionRollback.as_view(),
               name="api-promotion-rollback"),
    *slashless("promotions/<id:promotion_id>/replay", api.PromotionReplay.as_view(), name="api-promotion-replay"),
    *slashless("promotions/<id:promotion_id>/evidence", api.PromotionEvidence.as_view(),
               name="api-promotion-evidence"),
    *slashless("agent-runs", api.AgentRunCreate.as_view(), name="api-agent-runs"),
    *slashless("autonomy/drills", api.DrillCreate.as_view(), name="api-drills"),
]
