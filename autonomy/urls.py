"""Pages of the autonomy app (mounted at /autonomy/)."""
from django.urls import path

from autonomy import views

app_name = "autonomy"
urlpatterns = [
    path("", views.index, name="index"),
    # --- LLM governance ---
    path("llm/", views.llm_governance, name="llm"),
    path("llm/stage/", views.llm_stage_change, name="llm-stage"),
]
