"""REST endpoints of the execution app (agent contract: ``/api/v1/trading/...``)."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from execution import selectors, services
from execution.filters import ExecutionFilter, LeanOutageFilter
from execution.serializers import (
    ExecutionSerializer,
    LeanOutageSerializer,
    OrderInputSerializer,
    RouteStatSerializer,
)
from torghut_site.api import InvalidInput


def _since(request, default: timedelta):
    raw = request.query_params.get("since")
    if not raw:
        return timezone.now() - default
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise InvalidInput("since must be an ISO 8601 timestamp with a UTC offset.",
                           details={"fields": {"since": ["Not an ISO 8601 timestamp with offset."]}})
    return value


class OrderCreate(APIView):
    """Submit one order; the same client_order_id again returns the stored row (200)."""

    permission_classes = [HasRole]
    required_roles = {"POST": {Role.AGENT, Role.OPERATOR}}

    @extend_schema(
        request=OrderInputSerializer,
        responses={201: ExecutionSerializer, 200: ExecutionSerializer,
                   400: OpenApiResponse(description="invalid input; details.fields names the fields"),
                   423: OpenApiResponse(description="trading_halted | symbol_disabled | strategy_not_live")},
        summary="Submit an order (idempotent on client_order_id; LEAN first, Alpaca fallback)",
    )
    def post(self, request):
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.order_submit(data=serializer.to_input(), actor=request.user.get_username())
        return Response(ExecutionSerializer(result.execution).data,
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ExecutionList(generics.ListAPIView):
    """Executions, newest first, filtered exactly like the executions page."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = ExecutionSerializer
    filterset_class = ExecutionFilter

    def get_queryset(self):
        return selectors.execution_list()


class RouteStats(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(
        parameters=[OpenApiParameter("bucket", str, enum=["hour", "day"], default="hour"),
                    OpenApiParameter("since", str, description="ISO 8601; default 7 days ago")],
        responses={200: RouteStatSerializer(many=True)},
        summary="Fallback rate per bucket, split by reason (a bare JSON array, not paginated)",
    )
    def get(self, request):
        bucket = request.query_params.get("bucket", "hour")
        if bucket not in selectors.BUCKETS:
            raise InvalidInput("bucket must be hour or day.", details={"fields": {"bucket": ["hour or day."]}})
        rows = selectors.route_stats(bucket=bucket, since=_since(request, timedelta(days=7)))
        return Response(RouteStatSerializer(rows, many=True).data)


class LeanOutageList(generics.ListAPIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    serializer_class = LeanOutageSerializer
    filterset_class = LeanOutageFilter

    def get_queryset(self):
        return selectors.lean_outage_list()
