"""REST endpoints of LLM governance (``/api/v1/llm/...``): reviews, the stage, the allowlists."""
from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from access.selectors import user_roles
from autonomy import llm_guardrails, selectors, services
from autonomy.choices import LlmAllowlistKind
from autonomy.llm_filters import LlmReviewFilter
from autonomy.llm_schemas import (
    LlmAllowlistIn,
    LlmGovernanceOut,
    LlmReviewIn,
    LlmReviewOut,
    LlmStageDecisionOut,
    LlmStageIn,
    review_out,
)
from autonomy.models import LlmDecisionReview, LlmStageDecision
from core.errors import invalid_fields
from core.openapi import error_response
from core.validation import validation_details


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields("Invalid input", validation_details(exc)) from None


class LlmReviews(generics.ListAPIView):
    """LLM reviews: agents post one per order; every role reads them."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES, "POST": {Role.AGENT}}
    filterset_class = LlmReviewFilter
    queryset = LlmDecisionReview.objects.none()

    def get_queryset(self):
        return selectors.llm_review_list()

    @extend_schema(responses={200: LlmReviewOut}, operation_id="llm_reviews_list",
                   summary="LLM reviews, newest first, with what the plane applied")
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([review_out(review) for review in page])

    @extend_schema(
        request=LlmReviewIn,
        responses={201: LlmReviewOut, 200: LlmReviewOut,
                   404: error_response("`order_not_found`: no stored order has the client_order_id and the review "
                                       "describes none in `order`"),
                   409: error_response("`llm_review_exists`: the order already has another review; "
                                       "`llm_review_order_mismatch`: the described order differs from the stored one")},
        operation_id="llm_reviews_create",
        summary="Record an LLM review of one order: the advice as the stage and the guardrails let it stand",
    )
    def post(self, request):
        review = _parse(LlmReviewIn, request.data)
        row, created = services.llm_review_record(review=review, actor=request.user.get_username())
        return Response(review_out(row), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _governance_body() -> dict:
    now = timezone.now()
    state = selectors.llm_governance_get()
    circuit = selectors.llm_circuit_get(now=now)
    evidence = selectors.llm_stage_evidence(evaluation_report="", effective_challenge_id="",
                                            shadow_since=state.shadow_since, now=now)
    ratio = llm_guardrails.error_ratio(evidence.reviews, evidence.errors)
    return LlmGovernanceOut.model_validate({
        "stage": state.stage, "effective_mode": selectors.llm_status_get(now=now)["effective_mode"],
        "shadow_since": state.shadow_since, "reason": state.reason, "updated_by": state.updated_by,
        "circuit": {"open": circuit.open, "open_until": circuit.open_until,
                    "errors_in_window": circuit.errors_in_window},
        "allowlists": selectors.llm_allowlists(), "error_fallback": selectors.llm_error_fallback(),
        "window": {"start": evidence.window_start, "reviews": evidence.reviews, "errors": evidence.errors,
                   "error_ratio": None if ratio is None else str(ratio), "min_reviews": evidence.min_reviews},
    }).model_dump(mode="json")


class LlmGovernance(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: LlmGovernanceOut}, operation_id="llm_governance_retrieve",
                   summary="The LLM stage, effective mode, circuit, allowlists and shadow window")
    def get(self, request):
        return Response(_governance_body())


def decision_out(decision: LlmStageDecision) -> dict:
    return LlmStageDecisionOut.model_validate({
        "id": decision.pk, "stage_before": decision.stage_before, "stage_after": decision.stage_after,
        "actor": decision.actor, "reason": decision.reason, "evidence": decision.evidence,
        "decision_sha256": decision.decision_sha256, "signature": decision.signature, "key_id": decision.key_id,
        "verified": selectors.llm_stage_decision_verify(decision) is None, "at": decision.at,
    }).model_dump(mode="json")


class LlmStage(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR}}

    @extend_schema(
        request=LlmStageIn,
        responses={201: LlmStageDecisionOut,
                   403: error_response("`agent_forbidden`: agents never change the LLM stage; `permission_denied`, "
                                       "`operator_required`: operators only"),
                   409: error_response("`llm_stage_unchanged`: the stage is already the one asked for"),
                   422: error_response("`llm_stage_skip`: stages advance one at a time; "
                                       "`llm_stage_evidence_missing`: above stage1 an evaluation report, an "
                                       "effective-challenge id, a completed shadow window with an error ratio of at "
                                       "most 0.10 and allowlisted models and prompt versions are required "
                                       "(`details.reasons`); `readiness_not_met`: the readiness scorecard is not "
                                       "green"),
                   503: error_response("`database_unavailable`; `no_signing_key`: no active signing key to sign the "
                                       "decision")},
        operation_id="llm_stage_create",
        summary="Change the LLM rollout stage (operators; signed, with its evidence)",
    )
    def post(self, request):
        body = _parse(LlmStageIn, request.data)
        decision = services.llm_stage_set(
            stage=body.stage, reason=body.reason, actor=request.user.get_username(), roles=user_roles(request.user),
            evaluation_report=body.evaluation_report, effective_challenge_id=body.effective_challenge_id)
        return Response(decision_out(decision), status=status.HTTP_201_CREATED)


class LlmStageDecisions(generics.ListAPIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    queryset = LlmStageDecision.objects.none()

    def get_queryset(self):
        return selectors.llm_stage_decision_list()

    @extend_schema(responses={200: LlmStageDecisionOut}, operation_id="llm_stage_decisions_list",
                   summary="Signed LLM stage decisions, newest first (`verified`: hash and signature hold)")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([decision_out(d) for d in page])


class LlmAllowlist(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR}}

    @extend_schema(
        request=LlmAllowlistIn,
        responses={200: {"type": "object", "description": "The allowlists after the change",
                         "properties": {kind: {"type": "array", "items": {"type": "string"}}
                                        for kind in LlmAllowlistKind.values},
                         "required": list(LlmAllowlistKind.values)},
                   403: error_response("`agent_forbidden`: agents never change the allowlists; `permission_denied`, "
                                       "`operator_required`: operators only")},
        operation_id="llm_allowlist_create",
        summary="Add a model or prompt version to its allowlist, or remove it (operators)",
    )
    def post(self, request):
        body = _parse(LlmAllowlistIn, request.data)
        lists = services.llm_allowlist_set(kind=body.kind, value=body.value, allowed=body.allowed, reason=body.reason,
                                           actor=request.user.get_username(), roles=user_roles(request.user))
        return Response(lists)
