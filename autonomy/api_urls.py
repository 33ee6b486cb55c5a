"""REST endpoints of the autonomy app, mounted under /api/v1/."""
from autonomy import api, lane_api, llm_api
from core.api import slashless

urlpatterns = [
    # === core: control state, budgets, positions (issue 10) ===
    *slashless("autonomy/status", api.Status.as_view(), name="api-autonomy-status"),
    *slashless("autonomy/trading-state", api.TradingStateSet.as_view(), name="api-autonomy-trading-state"),
    *slashless("autonomy/symbols/<str:symbol>", api.SymbolSet.as_view(), name="api-autonomy-symbol"),
    *slashless("autonomy/budgets/<str:name>", api.BudgetSet.as_view(), name="api-autonomy-budget"),
    *slashless("trading/positions", api.PositionList.as_view(), name="api-positions"),
    # === readiness (Phase D) ===
    *slashless("readiness", api.Readiness.as_view(), name="readiness"),
    # === alerts worker: alerts and heartbeats ===
    *slashless("alerts", api.AlertList.as_view(), name="api-alert-list"),
    *slashless("alerts/<id:alert_id>/acknowledge", api.AlertAcknowledge.as_view(), name="api-alert-acknowledge"),
    *slashless("alerts/<id:alert_id>/resolve", api.AlertResolve.as_view(), name="api-alert-resolve"),
    *slashless("autonomy/heartbeats", api.HeartbeatCreate.as_view(), name="api-heartbeats"),
    # --- the autonomous lane ---
    *slashless("autonomy/lane", lane_api.LaneHealth.as_view(), name="api-autonomy-lane"),
    *slashless("autonomy/lane/cycles", lane_api.LaneCycleList.as_view(), name="api-autonomy-lane-cycles"),
    *slashless("autonomy/lane/resume", lane_api.LaneResume.as_view(), name="api-autonomy-lane-resume"),
    # --- LLM governance ---
    *slashless("llm/reviews", llm_api.LlmReviews.as_view(), name="api-llm-reviews"),
    *slashless("llm/governance", llm_api.LlmGovernance.as_view(), name="api-llm-governance"),
    *slashless("llm/stage", llm_api.LlmStage.as_view(), name="api-llm-stage"),
    *slashless("llm/stage-decisions", llm_api.LlmStageDecisions.as_view(), name="api-llm-stage-decisions"),
    *slashless("llm/allowlist", llm_api.LlmAllowlist.as_view(), name="api-llm-allowlist"),
]
