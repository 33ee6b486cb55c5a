"""REST endpoints of the promotions app (agent contract: strategies, promotions, agent-runs, drills)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from autonomy.selectors import strategy_states
from core.api import page_schema
from core.errors import NotFound, invalid_fields
from core.validation import validation_details
from promotions import selectors, services
from promotions.choices import PromotionStatus
from promotions.models import Promotion
from promotions.schemas import (
    AgentRunIn,
    AgentRunOut,
    CommentIn,
    DecisionIn,
    DrillIn,
    DrillOut,
    EvaluationIn,
    EvaluationOut,
    PromotionOut,
    ReplayOut,
    RollbackIn,
    StrategyOut,
)
from promotions.serializers import GatePolicySerializer, SigningKeySerializer
from strategies.models import Strategy

LIMIT = OpenApiParameter("limit", int, description="Page size, 1 to 500 (default 100)")


def parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields("Invalid input", validation_details(exc)) from None


def _promotion_or_404(promotion_id: int) -> Promotion:
    try:
        return selectors.promotion_get(promotion_id=promotion_id)
    except Promotion.DoesNotExist:
        raise NotFound(f"No promotion #{promotion_id}.") from None


def _promotion_body(promotion: Promotion) -> dict:
    return PromotionOut.model_validate(selectors.promotion_representation(promotion)).model_dump(mode="json")


class SigningKeyList(generics.ListAPIView):
    """Public keys that sign evaluations and decisions, by key_id (revoked ones included, marked)."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = SigningKeySerializer

    def get_queryset(self):
        return selectors.signing_key_list()

    @extend_schema(parameters=[LIMIT], operation_id="promotions_keys_list",
                   summary="Signing keys (Ed25519 public keys by key_id, with their status)")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class GatePolicyList(generics.ListAPIView):
    """Gate policy versions; ``active`` marks the one new evaluations use."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = GatePolicySerializer

    def get_queryset(self):
        return selectors.policy_list()

    def get_serializer_context(self):
        active = selectors.policy_active()
        return {**super().get_serializer_context(), "active_policy_id": active.pk if active else None}

    @extend_schema(parameters=[LIMIT], operation_id="promotions_policies_list",
                   summary="Gate policy versions, newest first, with their documents and sha256")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class EvaluationCreate(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.RESEARCHER, Role.AGENT}}

    @extend_schema(request=EvaluationIn, responses={
        201: EvaluationOut, 404: OpenApiResponse(description="unknown_candidate"),
        422: OpenApiResponse(description="no_active_policy"),
        503: OpenApiResponse(description="no_signing_key")},
        operation_id="promotions_evaluations_create",
        summary="Evaluate the active gate policy for a candidate and target; signed (Ed25519)")
    def post(self, request):
        body = parse(EvaluationIn, request.data)
        evaluation = services.evaluation_create(candidate_id=body.candidate_id, target=body.target,
                                                actor=request.user.get_username())
        artifact = evaluation.artifact
        payload = {"evaluation_id": str(evaluation.evaluation_id), "candidate_id": body.candidate_id,
                   "run_id": artifact["run_id"], "target": body.target, "policy_version": artifact["policy_version"],
                   "gates": artifact["gates"], "allowed": evaluation.allowed,
                   "recommended_mode": artifact["recommended_mode"], "artifact_sha256": evaluation.artifact_sha256,
                   "signature": evaluation.signature, "key_id": evaluation.key_id}
        return Response(EvaluationOut.model_validate(payload).model_dump(mode="json"), status=status.HTTP_201_CREATED)


class AgentRunCreate(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.AGENT}}

    @extend_schema(request=AgentRunIn, responses={
        201: AgentRunOut,
        409: OpenApiResponse(description="promotion_pending"),
        422: OpenApiResponse(description="gate_proof_missing | gate_proof_invalid | gate_proof_failed | "
                                         "gate_proof_stale | gate_proof_mismatch | transition_not_allowed"),
        423: OpenApiResponse(description="trading_halted")},
        operation_id="agent_runs_create", summary="AgentRun handoff: open a promotion on a signed gate proof")
    def post(self, request):
        body = parse(AgentRunIn, request.data)
        agent_run, promotion = services.agent_run_handoff(
            run_id=body.run_id, candidate_id=body.candidate_id, promotion_target=body.promotion_target,
            gate_proof=body.gate_proof, actor=request.user.get_username())
        return Response({"agent_run_id": str(agent_run.agent_run_id), "promotion_id": promotion.pk,
                         "status": promotion.status}, status=status.HTTP_201_CREATED)


class PromotionList(generics.GenericAPIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    queryset = Promotion.objects.none()

    @extend_schema(responses={200: page_schema("PromotionOut")}, operation_id="promotions_list",
                   parameters=[LIMIT, OpenApiParameter("strategy", str),
                               OpenApiParameter("status", str, enum=PromotionStatus.values)],
                   summary="Promotions, newest first")
    def get(self, request):
        qs = selectors.promotion_list()
        if request.query_params.get("strategy"):
            qs = qs.filter(strategy__name=request.query_params["strategy"])
        if request.query_params.get("status"):
            if request.query_params["status"] not in PromotionStatus.values:
                raise invalid_fields("Invalid query", {"status": [f"one of {', '.join(PromotionStatus.values)}"]})
            qs = qs.filter(status=request.query_params["status"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response([_promotion_body(p) for p in page])


class PromotionDetail(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: PromotionOut}, operation_id="promotions_retrieve", summary="One promotion")
    def get(self, request, promotion_id: int):
        return Response(_promotion_body(_promotion_or_404(promotion_id)))


class PromotionApprove(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.APPROVER}}
    decision = "approve"

    @extend_schema(request=DecisionIn, responses={
        200: PromotionOut, 403: OpenApiResponse(description="agent_forbidden | not_approver_for_strategy | "
                                                            "requester_cannot_decide"),
        409: OpenApiResponse(description="promotion_not_pending | already_approved | stage_changed"),
        422: OpenApiResponse(description="gate_proof_invalid | gate_proof_failed"),
        423: OpenApiResponse(description="trading_halted")},
        summary="Approve (the final approval applies it; live needs two people)")
    def post(self, request, promotion_id: int):
        body = parse(DecisionIn, request.data)
        action = services.promotion_approve if self.decision == "approve" else services.promotion_reject
        promotion = action(promotion_id=promotion_id, user=request.user, comment=body.comment)
        return Response(_promotion_body(_promotion_or_404(promotion.pk)))


class PromotionReject(PromotionApprove):
    decision = "reject"

    @extend_schema(request=DecisionIn, responses={
        200: PromotionOut, 403: OpenApiResponse(description="agent_forbidden | not_approver_for_strategy | "
                                                            "requester_cannot_decide"),
        409: OpenApiResponse(description="promotion_not_pending")}, summary="Reject a promotion")
    def post(self, request, promotion_id: int):
        return super().post(request, promotion_id)


class PromotionComment(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.APPROVER, Role.OPERATOR}}

    @extend_schema(request=CommentIn, responses={201: PromotionOut}, summary="Comment (signed, in the chain)")
    def post(self, request, promotion_id: int):
        body = parse(CommentIn, request.data)
        services.promotion_comment(promotion_id=promotion_id, user=request.user, comment=body.comment)
        return Response(_promotion_body(_promotion_or_404(promotion_id)), status=status.HTTP_201_CREATED)


class PromotionRollback(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR, Role.AGENT}}

    @extend_schema(request=RollbackIn, responses={
        201: PromotionOut, 403: OpenApiResponse(description="not_operator_for_strategy"),
        409: OpenApiResponse(description="promotion_not_applied"),
        422: OpenApiResponse(description="transition_not_allowed")},
        summary="Roll back: demote the strategy (default: the stage before) and restore the champion")
    def post(self, request, promotion_id: int):
        body = parse(RollbackIn, request.data)
        services.promotion_rollback(promotion_id=promotion_id, user=request.user, reason=body.reason,
                                    to_stage=body.to_stage)
        return Response(_promotion_body(_promotion_or_404(promotion_id)), status=status.HTTP_201_CREATED)


class PromotionReplay(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: ReplayOut}, summary="Recompute the decision from stored rows and verify it")
    def get(self, request, promotion_id: int):
        return Response(selectors.promotion_replay(promotion=_promotion_or_404(promotion_id)))


class PromotionEvidence(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: OpenApiResponse(description="torghut.evidence-bundle/v1 document")},
                   summary="The evidence bundle (verifies offline: manage.py verify_evidence FILE)")
    def get(self, request, promotion_id: int):
        return Response(selectors.evidence_bundle(promotion=_promotion_or_404(promotion_id)))


class DrillCreate(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR}}

    @extend_schema(request=DrillIn, responses={201: DrillOut, 400: OpenApiResponse(description="unknown_strategy")},
                   operation_id="autonomy_drills_create",
                   summary="Rehearse the kill switch or a rollback without trading; gate 4 reads the result")
    def post(self, request):
        body = parse(DrillIn, request.data)
        drill = services.drill_run(kind=body.kind, strategy_name=body.strategy, actor=request.user.get_username())
        out = {"id": drill.pk, "kind": drill.kind, "strategy": body.strategy, "passed": drill.passed,
               "evidence": drill.evidence, "at": drill.at}
        return Response(DrillOut.model_validate(out).model_dump(mode="json"), status=status.HTTP_201_CREATED)


def _strategy_rows(strategies: list[Strategy]) -> list[dict]:
    champions = selectors.champions(strategies=strategies)
    states = strategy_states(strategy_ids=[s.pk for s in strategies])  # the strictest of global and own
    return [StrategyOut.model_validate({
        "name": s.name, "stage": s.stage, "champion_candidate_id": champions.get(s.pk),
        "trading_state": states[s.pk], "stage_changed_at": s.stage_changed_at}).model_dump(mode="json")
        for s in strategies]


class StrategyList(generics.GenericAPIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    queryset = Strategy.objects.none()

    @extend_schema(responses={200: page_schema("StrategyOut")}, parameters=[LIMIT], operation_id="strategies_list",
                   summary="Strategies the plane knows, with their stage and champion")
    def get(self, request):
        page = self.paginate_queryset(Strategy.objects.order_by("-id"))
        return self.get_paginated_response(_strategy_rows(list(page)))


class StrategyDetail(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: StrategyOut}, operation_id="strategies_retrieve", summary="One strategy")
    def get(self, request, name: str):
        strategy = Strategy.objects.filter(name=name).first()
        if strategy is None:
            raise NotFound(f"No strategy {name!r}.")
        return Response(_strategy_rows([strategy])[0])
