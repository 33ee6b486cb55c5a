"""REST endpoints of the autonomy app (agent contract: ``/api/v1/autonomy/...``, ``/api/v1/alerts``)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from access.selectors import user_roles
from autonomy import selectors, services
from autonomy.filters import AlertFilter
from autonomy.schemas import AlertActionIn, AlertOut, HeartbeatIn, HeartbeatOut
from core.errors import invalid_fields
from core.openapi import error_response
from core.validation import validation_details

# =============================================================================================
# Alerts and heartbeats (alerts worker)
# =============================================================================================


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields("Invalid input", validation_details(exc)) from None


def _alert_body(alert) -> dict:
    return AlertOut.model_validate(alert).model_dump(mode="json")


class AlertList(generics.ListAPIView):
    """Alerts, newest first, filtered like the alerts page."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    filterset_class = AlertFilter
    queryset = selectors.alert_list().none()

    def get_queryset(self):
        return selectors.alert_list()

    @extend_schema(responses={200: AlertOut}, operation_id="alerts_list",
                   summary="Alerts (open, acknowledged, resolved), newest first")
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([_alert_body(a) for a in page])


class AlertAcknowledge(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR}}
    action = "acknowledge"

    @extend_schema(request=AlertActionIn, responses={
        200: AlertOut, 409: error_response("`alert_not_open`: only an open alert is acknowledged")},
        operation_id="alerts_acknowledge", summary="Acknowledge an open alert (someone is on it)")
    def post(self, request, alert_id: int):
        body = _parse(AlertActionIn, request.data)
        service = services.alert_acknowledge if self.action == "acknowledge" else services.alert_resolve
        alert = service(alert_id=alert_id, actor=request.user.get_username(), comment=body.comment,
                        roles=sorted(user_roles(request.user)))
        return Response(_alert_body(alert))


class AlertResolve(AlertAcknowledge):
    action = "resolve"

    @extend_schema(request=AlertActionIn, responses={
        200: AlertOut, 409: error_response("`alert_already_resolved`: the alert is resolved already")},
        operation_id="alerts_resolve", summary="Resolve an open or acknowledged alert (final)")
    def post(self, request, alert_id: int):
        return super().post(request, alert_id)


class HeartbeatCreate(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.AGENT}}

    @extend_schema(request=HeartbeatIn, responses={201: HeartbeatOut}, operation_id="autonomy_heartbeats_create",
                   summary="Report one cycle of an autonomy loop (stale signals and failure streaks read them)")
    def post(self, request):
        body = _parse(HeartbeatIn, request.data)
        source = services.heartbeat_record(source=body.source, symbol=body.symbol or "", observed_at=body.observed_at,
                                           status=body.status, detail=body.detail,
                                           actor=request.user.get_username())
        out = {"source": source.source, "symbol": source.symbol or None, "observed_at": body.observed_at,
               "received_at": source.last_received_at, "status": body.status,
               "lag_seconds": round((source.last_received_at - body.observed_at).total_seconds(), 3),
               "failure_streak": source.failure_streak}
        return Response(HeartbeatOut.model_validate(out).model_dump(mode="json"), status=status.HTTP_201_CREATED)
