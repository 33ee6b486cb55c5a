"""REST endpoints of the autonomy app (agent contract: ``/api/v1/autonomy/...``, the positions list, alerts).

Thin: parse, call one service or selector, render. Who may move which control which way is decided in
the services (:mod:`autonomy.rules`), so the admin and the workers get the same answers."""
from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel, ValidationError
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import HasRole
from access.roles import ALL_ROLES, Role
from access.selectors import user_roles
from autonomy import selectors, services
from autonomy.choices import BudgetName, strictest
from autonomy.filters import AlertFilter, PositionFilter
from autonomy.models import StrategyTradingState
from autonomy.schemas import (
    SYMBOL_PATTERN,
    AlertActionIn,
    AlertOut,
    BudgetIn,
    BudgetOut,
    HeartbeatIn,
    HeartbeatOut,
    PositionOut,
    ReadinessOut,
    StatusOut,
    SymbolIn,
    SymbolOut,
    TradingStateIn,
    TradingStateOut,
)
from core.errors import InvalidInput, invalid_fields
from core.openapi import error_response
from core.validation import validation_details

CAPS = ("max_qty_per_order", "max_notional_per_order", "max_notional_per_day")


def _parse(model: type[BaseModel], data: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields("Invalid input", validation_details(exc)) from None


def _actor(request) -> tuple[str, frozenset[str]]:
    return request.user.get_username(), user_roles(request.user)


class Status(APIView):
    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: StatusOut}, operation_id="autonomy_status_retrieve",
                   summary="Trading state, LEAN lane, LLM stage, symbol modes, budgets and open alerts")
    def get(self, request):
        return Response(StatusOut.model_validate(selectors.autonomy_status()).model_dump(mode="json"))


def _state_body(row) -> dict:
    strategy = row.strategy.name if isinstance(row, StrategyTradingState) else None
    effective = row.state
    if strategy is not None:
        effective = strictest(selectors.trading_state_get().trading_state, row.state)
    return TradingStateOut.model_validate({
        "scope": f"strategy:{strategy}" if strategy else "global", "strategy": strategy, "state": row.state,
        "effective_state": effective, "reason": row.reason, "cause": row.cause, "updated_by": row.updated_by,
        "updated_at": row.updated_at}).model_dump(mode="json")


class TradingStateSet(APIView):
    permission_classes = [HasRole]
    required_roles = {"POST": {Role.OPERATOR, Role.AGENT}}

    @extend_schema(
        request=TradingStateIn, responses={
            200: TradingStateOut,
            403: error_response("`permission_denied`: the caller's roles do not allow this operation; "
                                "`agent_forbidden`: agents may only move toward REDUCING or HALTED (never back to "
                                "ACTIVE, never lift a halt); `strategy_out_of_scope`: an operator without "
                                "operate_strategy on the strategy")},
        operation_id="autonomy_trading_state_create",
        summary="Set the global trading state, or a strategy's (the strictest of both applies to its orders)")
    def post(self, request):
        body = _parse(TradingStateIn, request.data)
        actor, roles = _actor(request)
        row = services.trading_state_set(state=body.state, reason=body.reason, actor=actor, roles=roles,
                                         strategy=body.strategy, user=request.user)
        return Response(_state_body(row))


def _symbol_or_400(symbol: str) -> str:
    if not re.fullmatch(SYMBOL_PATTERN, symbol):
        raise InvalidInput("symbol must be 1 to 32 letters, digits, '.' or '-', starting with a letter.",
                           details={"fields": {"symbol": ["Not a symbol."]}})
    return symbol.upper()


def _symbol_body(row) -> dict:
    return SymbolOut.model_validate(row, from_attributes=True).model_dump(mode="json")


class SymbolSet(APIView):
    permission_classes = [HasRole]
    required_roles = {"PUT": {Role.OPERATOR}}

    @extend_schema(
        request=SymbolIn, responses={200: SymbolOut},
        parameters=[OpenApiParameter("symbol", str, OpenApiParameter.PATH, pattern=SYMBOL_PATTERN)],
        operation_id="autonomy_symbols_update",
        summary="Set a symbol's mode (enabled | canary | disabled), health reason, canary caps and LEAN entry")
    def put(self, request, symbol: str):
        symbol = _symbol_or_400(symbol)
        body = _parse(SymbolIn, request.data)
        actor, roles = _actor(request)
        caps = {name: getattr(body, name) for name in CAPS if name in body.model_fields_set}
        row = services.symbol_mode_set(symbol=symbol, mode=body.mode, reason=body.reason, actor=actor, roles=roles,
                                       caps=caps, lean_allowed=body.lean_allowed, health_reason=body.health_reason)
        return Response(_symbol_body(row))


class BudgetSet(APIView):
    permission_classes = [HasRole]
    required_roles = {"PUT": {Role.OPERATOR, Role.AGENT}}

    @extend_schema(
        request=BudgetIn, responses={
            200: BudgetOut,
            403: error_response("`permission_denied`: the caller's roles do not allow this operation; "
                                "`agent_forbidden`: agents may lower a budget, never raise it or soften its "
                                "breach state")},
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, enum=BudgetName.values)],
        operation_id="autonomy_budgets_update",
        summary="Set a daily budget's limit and what its breach does (REDUCING or HALTED)")
    def put(self, request, name: str):
        if name not in BudgetName.values:
            raise InvalidInput(f"Unknown budget {name!r}; known: {', '.join(BudgetName.values)}.",
                               code="unknown_budget", details={"fields": {"name": ["Unknown budget."]}})
        body = _parse(BudgetIn, request.data)
        actor, roles = _actor(request)
        services.budget_policy_set(name=name, limit=body.limit, on_breach=body.on_breach, reason=body.reason,
                                   actor=actor, roles=roles)
        status = next(b for b in selectors.budget_status() if b["name"] == name)
        return Response(BudgetOut.model_validate(status).model_dump(mode="json"))


class PositionList(generics.ListAPIView):
    """Positions per strategy and symbol, kept from stored fills."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}
    filterset_class = PositionFilter
    queryset = selectors.position_list().none()

    def get_queryset(self):
        return selectors.position_list()

    @extend_schema(responses={200: PositionOut}, operation_id="trading_positions_list",
                   summary="Positions from stored fills, per strategy and symbol, with the broker's figure and drift")
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([PositionOut.model_validate(_position_row(p)).model_dump(mode="json")
                                            for p in page])


def _position_row(p) -> dict:
    return {"strategy": p.strategy.name, "symbol": p.symbol, "qty": p.qty, "avg_entry_price": p.avg_entry_price,
            "broker_qty": p.broker_qty, "drift": p.drift, "realized_pnl": p.realized_pnl,
            "reconciled_at": p.reconciled_at, "updated_at": p.updated_at}


class Readiness(APIView):
    """The plan's exit criteria measured live from the database, and since when they have all held."""

    permission_classes = [HasRole]
    required_roles = {"GET": ALL_ROLES}

    @extend_schema(responses={200: ReadinessOut}, operation_id="readiness_retrieve",
                   summary="The readiness scorecard (Phase D): each exit criterion with observed value and threshold")
    def get(self, request):
        return Response(ReadinessOut.model_validate(selectors.readiness_get()).model_dump(mode="json"))
# === alerts worker: alerts and heartbeats ========================================================

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
        200: AlertOut, 409: error_response(
            "`alert_already_resolved`: the alert is resolved already; `alert_condition_holds`: the critical control "
            "flag the alert stands for is still set (the LEAN lane disabled, trading HALTED globally or for a "
            "strategy, a budget breached today), so the alert stays unresolved — acknowledge it instead; it resolves "
            "by itself when the flag is lifted (`details.condition`, `details.resolves`). The refusal is audited.")},
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
