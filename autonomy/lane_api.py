"""REST endpoints of the autonomous lane (``/api/v1/autonomy/lane…``): its health, its cycles with their
stages, and an operator's resume of a paused lane. Thin: parse, call one service or selector, render."""
from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from access.choices import Via
from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from access.selectors import user_roles
from autonomy import lane_selectors, lane_services
from autonomy.api import _parse
from autonomy.filters import LaneCycleFilter
from autonomy.schemas import LaneCycleOut, LaneHealthOut, LaneResumeIn
from core.openapi import error_response


def cycle_body(cycle) -> dict:
    stages = [{"stage": s.stage, "title": lane_services.STEP_TITLES.get(s.stage, s.stage), "status": s.status,
               "attempt": s.attempt, "summary": s.summary, "detail": s.detail, "error": s.error,
               "started_at": s.started_at, "finished_at": s.finished_at} for s in cycle.stages.all()]
    return LaneCycleOut.model_validate({
        **{f: getattr(cycle, f) for f in LaneCycleOut.model_fields if f not in {"dataset", "stages"}},
        "dataset": cycle.dataset.fingerprint if cycle.dataset_id else None, "stages": stages,
    }).model_dump(mode="json")


def health_body() -> dict:
    health = lane_selectors.lane_health(now=timezone.now())
    last = lane_selectors.lane_cycle_get(cycle_id=health["last"].pk) if health["last"] else None
    return LaneHealthOut.model_validate({
        **{k: health[k] for k in ("paused", "paused_reason", "paused_at", "paused_by", "resumed_at", "resumed_by",
                                  "signals_per_cycle", "no_signal_streak", "cycle_minutes")},
        "last_cycle": cycle_body(last) if last else None,
        "next_retry_at": health["retry"].next_retry_at if health["retry"] else None,
    }).model_dump(mode="json")


class LaneHealth(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: LaneHealthOut}, operation_id="autonomy_lane_retrieve",
                   summary="The autonomous lane: paused or not (and why), the last cycle, signals per cycle, "
                           "the no-signal streak")
    def get(self, request):
        return Response(health_body())


class LaneCycleList(generics.ListAPIView):
    """The lane's cycles, newest first, each with its stages; ``?status=`` filters like the lane page."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    filterset_class = LaneCycleFilter
    queryset = lane_selectors.lane_cycle_list().none()

    def get_queryset(self):
        return lane_selectors.lane_cycle_list().select_related("dataset")

    @extend_schema(responses={200: LaneCycleOut}, operation_id="autonomy_lane_cycles_list",
                   summary="Cycles of the autonomous lane with their stages, failure class and retries")
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([cycle_body(c) for c in page])


class LaneResume(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR}}

    @extend_schema(request=LaneResumeIn, responses={
        200: LaneHealthOut, 409: error_response("`lane_not_paused`: the lane is running")},
        operation_id="autonomy_lane_resume", summary="Resume a paused lane (operators; never agents)")
    def post(self, request):
        body = _parse(LaneResumeIn, request.data)
        lane_services.lane_resume(actor=request.user.get_username(), roles=user_roles(request.user),
                                  reason=body.reason, via=Via.API)
        return Response(health_body())
