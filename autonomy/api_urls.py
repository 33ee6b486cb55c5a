"""REST endpoints of the autonomy app, mounted under /api/v1/."""
from autonomy import llm_api
from core.api import slashless

urlpatterns: list = [
    # --- LLM governance ---
    *slashless("llm/reviews", llm_api.LlmReviews.as_view(), name="api-llm-reviews"),
    *slashless("llm/governance", llm_api.LlmGovernance.as_view(), name="api-llm-governance"),
    *slashless("llm/stage", llm_api.LlmStage.as_view(), name="api-llm-stage"),
    *slashless("llm/stage-decisions", llm_api.LlmStageDecisions.as_view(), name="api-llm-stage-decisions"),
    *slashless("llm/allowlist", llm_api.LlmAllowlist.as_view(), name="api-llm-allowlist"),
]
