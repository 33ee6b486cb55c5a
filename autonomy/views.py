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


@login_required
def readiness(request):
    state = selectors.readiness_get()
    history = [{"at": snap.at, "green": snap.green,
                "failing": ", ".join(c["id"] for c in snap.criteria if c.get("status") != "pass")}
               for snap in selectors.readiness_history(limit=96)]
    return render(request, "autonomy/readiness.html", {
        "state": state, "history": list(reversed(history)), "refusal": selectors.readiness_block(),
    })
