"""Autonomy pages: the control flags as they stand."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from autonomy import selectors


@login_required
def index(request):
    return render(request, "autonomy/index.html", {
        "state": selectors.trading_state_get(),
        "symbols": selectors.symbol_control_list(),
        "strategies": selectors.strategy_state_list(),
        "budgets": selectors.budget_status(),
    })
