"""REST endpoints of the execution app (agent contract: ``/api/v1/trading/...``)."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import TypeAdapter, ValidationError
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access import selectors as access_selectors
from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from core.errors import InvalidInput, NotFound, PermissionRefused
from core.filters import in_utc
from core.openapi import error_response
from core.validation import validation_details
from execution import selectors, services
from execution.filters import ExecutionFilter, LeanOutageFilter
from execution.schemas import CancelOut, ExecutionOut, OrderIn
from execution.serializers import LeanOutageSerializer, RouteStatSerializer

EXECUTION_OUT_COLUMNS = tuple(ExecutionOut.model_fields)
EXECUTION_OUT_LIST = TypeAdapter(list[ExecutionOut])


def _since(request, default: timedelta):
    raw = request.query_params.get("since")
    if not raw:
        return timezone.now() - default
    try:
        value = parse_datetime(raw)
        if value is None or value.tzinfo is None:
            raise ValueError("no UTC offset")
        return in_utc(value)
    except ValueError:
        raise InvalidInput("since must be an ISO 8601 timestamp with a UTC offset, in the years 1 to 9999.",
                           details={"fields": {"since": ["Not an ISO 8601 timestamp with offset."]}}) from None


class OrderCreate(APIView):
    """Submit one order; the same client_order_id again returns the stored row (200)."""

    permission_classes = [HasRole]
    required_roles = {"POST": {Role.AGENT, Role.OPERATOR}}

    @extend_schema(
        request=OrderIn,
        responses={201: ExecutionOut, 200: ExecutionOut,
                   403: error_response("`permission_denied`: the caller's roles do not allow this operation; "
                                       "`strategy_out_of_scope`: an operator without operate_strategy on the "
                                       "order's strategy"),
                   423: error_response("`trading_halted`: trading is HALTED (globally or for the strategy; "
                                       "the strictest applies); `trading_reducing`: trading is REDUCING and the "
                                       "order would not reduce the strategy's position in the symbol (or would "
                                       "flip it); `symbol_disabled`: the symbol is disabled; `strategy_not_live`: "
                                       "the plane does not know the strategy, or it is at shadow; "
                                       "`canary_cap_exceeded`: a canary symbol's caps, or a canary strategy's "
                                       "caps under the active gate policy; `budget_exceeded`: a daily budget "
                                       "(order count, gross notional) would pass its limit, or one is breached; "
                                       "`llm_veto`: the order's LLM review vetoed it"),
                   422: error_response("`llm_adjustment_mismatch`: the order's LLM review adjusted it, and the "
                                       "order does not carry the adjusted quantity and type (and limit price)"),
                   503: error_response("`database_unavailable` (with `Retry-After`): the database went away. Retry "
                                       "with the same client_order_id: a stored order is returned as it is, never "
                                       "placed twice; an order a broker took while its outcome could not be stored "
                                       "(`details.outcome_recorded` false) is settled by reconciliation")},
        summary="Submit an order (idempotent on client_order_id; LEAN first, Alpaca fallback)",
    )
    def post(self, request):
        try:
            order = OrderIn.model_validate(request.data)
        except ValidationError as exc:
            fields = validation_details(exc)
            raise InvalidInput("Invalid order: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()),
                               details={"fields": fields}) from None
        if not access_selectors.may_place_orders(request.user, order.strategy):
            raise PermissionRefused(f"You may not place orders for strategy {order.strategy!r}: operators trade only "
                                    "the strategies they are granted (operate_strategy).",
                                    code="strategy_out_of_scope", details={"strategy": order.strategy})
        data = services.OrderInput(
            client_order_id=order.client_order_id, strategy=order.strategy, symbol=order.symbol, side=order.side,
            qty=order.qty, order_type=order.type, time_in_force=order.time_in_force, limit_price=order.limit_price,
            decision_price=order.decision_price, correlation_id=order.correlation_id)
        result = services.order_submit(data=data, actor=request.user.get_username())
        body = ExecutionOut.model_validate(result.execution).model_dump(mode="json")
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class OrderCancel(APIView):
    """Cancel one order at the broker that holds it, in every trading state (HALTED included)."""

    permission_classes = [HasRole]
    required_roles = {"POST": {Role.AGENT, Role.OPERATOR}}

    @extend_schema(
        request=None,
        responses={200: CancelOut, 202: CancelOut,
                   404: error_response("`order_not_found`: no order has this client_order_id, or it belongs to a "
                                       "strategy the operator does not operate"),
                   409: error_response("`order_final`: the order is already filled, canceled, rejected or expired "
                                       "(or the broker says so: the row takes the broker's state); "
                                       "`order_not_at_broker`: the broker that should hold it does not know it "
                                       "(reconciliation settles it)"),
                   502: error_response("`broker_unavailable`: the broker could not be reached (the request never "
                                       "left); nothing changed, retry")},
        operation_id="trading_orders_cancel",
        summary="Cancel an order (allowed in every trading state); 202 when the broker has not confirmed it",
    )
    def post(self, request, client_order_id: str):
        strategy = selectors.order_strategy_name(client_order_id)
        if strategy is None or not access_selectors.may_place_orders(request.user, strategy or ""):
            raise NotFound(f"No order has client_order_id {client_order_id!r}.", code="order_not_found",
                           details={"client_order_id": client_order_id})
        result = services.order_cancel(client_order_id=client_order_id, actor=request.user.get_username(),
                                       roles=access_selectors.user_roles(request.user))
        body = CancelOut.model_validate({
            **ExecutionOut.model_validate(result.execution).model_dump(),
            "cancel": {"outcome": result.outcome, "adapter": result.adapter,
                       "broker_order_id": result.broker_order_id, "reason": result.reason}}).model_dump(mode="json")
        return Response(body, status=status.HTTP_200_OK if result.outcome == "canceled" else status.HTTP_202_ACCEPTED)


class ExecutionList(generics.ListAPIView):
    """Executions, newest first, filtered exactly like the executions page."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    filterset_class = ExecutionFilter
    queryset = selectors.execution_list().none()

    def get_queryset(self):
        return selectors.execution_list()

    @extend_schema(responses={200: ExecutionOut}, operation_id="trading_executions_list",
                   summary="Executions with their expected and actual routes, newest first")
    def get(self, request):
        # plain rows of the answer's columns: no model instances, and never the raw broker payload
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()).values(*EXECUTION_OUT_COLUMNS))
        return self.get_paginated_response(EXECUTION_OUT_LIST.dump_python(EXECUTION_OUT_LIST.validate_python(rows),
                                                                          mode="json"))


class RouteStats(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(
        parameters=[OpenApiParameter("bucket", str, enum=sorted(selectors.BUCKETS), default="hour"),
                    OpenApiParameter("since", OpenApiTypes.DATETIME,
                                     description="ISO 8601 with a UTC offset; default 7 days ago")],
        responses={200: RouteStatSerializer(many=True)},
        summary="Fallback rate per bucket, split by reason (a bare JSON array, not paginated)",
    )
    def get(self, request):
        bucket = request.query_params.get("bucket") or "hour"
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
