"""What the first screen shows: every figure read through the owning app's selectors, and whether it is
all right. The console sits above every app (nothing imports it) and owns no table."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from autonomy import lane_selectors
from autonomy import selectors as autonomy
from autonomy.choices import AlertSeverity, AlertStatus, TradingStateChoice
from execution import selectors as execution
from promotions import selectors as promotions


def iso(moment: datetime) -> str:
    """A UTC instant as the executions filters read it (``2026-12-02T00:00:00Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def executions_url(**params) -> str:
    return reverse("execution-list") + "?" + urlencode(params)


@dataclass(frozen=True)
class Problem:
    """One thing that is not all right, with the page that explains it."""

    severity: str  # "critical" or "warning"
    text: str
    url: str


def home_overview(*, now: datetime) -> dict:
    """The first screen: trading state, alerts, LEAN, the pipeline, readiness, reconciliation and heartbeats,
    each with the address of the page that lists what it counts, and the problems among them."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    glob = autonomy.trading_state_row()
    strategies = autonomy.strategies_not_active()
    alerts = autonomy.alert_status_counts()
    circuit = execution.lean_circuit_status()
    fb_today, fb_yesterday = execution.fallback_day_pair(today=today)
    pipeline = promotions.pipeline_summary()
    readiness = autonomy.readiness_get(now=now)
    recon = execution.reconciliation_latest()
    heartbeats = autonomy.heartbeat_freshness(now=now, stalest=0)
    lane = lane_selectors.lane_health(now=now)

    lean_down = not glob.lean_enabled or circuit["open"]
    ratio = settings.AUTONOMY_LEAN_FALLBACK_RATIO
    lean = {
        "enabled": glob.lean_enabled, "disabled_reason": glob.lean_disabled_reason, "circuit": circuit,
        "down": lean_down,
        "today": {**fb_today, "fallbacks_url": executions_url(fallback="true", since=iso(today)),
                  "orders_url": executions_url(since=iso(today))},
        "yesterday": {**fb_yesterday,
                      "fallbacks_url": executions_url(fallback="true", since=iso(yesterday), until=iso(today)),
                      "orders_url": executions_url(since=iso(yesterday), until=iso(today))},
        "ratio_threshold": ratio, "over_threshold": fb_today["requests"] > 0 and fb_today["fallback_rate"] >= ratio,
    }
    lean["trend"] = ("up" if fb_today["fallback_rate"] > fb_yesterday["fallback_rate"]
                     else "down" if fb_today["fallback_rate"] < fb_yesterday["fallback_rate"] else "flat")

    failing = [c for c in readiness["criteria"] if c["status"] != "pass"]
    critical_open = alerts[AlertSeverity.CRITICAL][AlertStatus.OPEN]
    critical_acked = alerts[AlertSeverity.CRITICAL][AlertStatus.ACKNOWLEDGED]
    alerts_url = reverse("autonomy:alerts")
    control_url = reverse("autonomy:index")

    problems: list[Problem] = []
    if glob.state != TradingStateChoice.ACTIVE:
        problems.append(Problem("critical" if glob.state == TradingStateChoice.HALTED else "warning",
                                f"Trading is {glob.state} globally" + (f": {glob.reason}" if glob.reason else ""),
                                control_url + "#global-state"))
    if strategies:
        problems.append(Problem(
            "critical" if any(s.state == TradingStateChoice.HALTED for s in strategies) else "warning",
            f"{len(strategies)} strateg{'y is' if len(strategies) == 1 else 'ies are'} not ACTIVE: "
            + ", ".join(f"{s.strategy.name} {s.state}" for s in strategies), control_url + "#st_page"))
    if critical_open:
        problems.append(Problem("critical", f"{critical_open} critical alert{'s' if critical_open != 1 else ''} open "
                                "(not acknowledged)", f"{alerts_url}?status=open&severity=critical"))
    if lean_down:
        why = (["lane disabled"] if not glob.lean_enabled else []) + (
            [f"circuit open since {circuit['outage'].started_at:%Y-%m-%d %H:%M} UTC"] if circuit["open"] else [])
        problems.append(Problem("critical", f"LEAN is down ({', '.join(why)}): orders go to Alpaca",
                                reverse("execution-outages")))
    elif lean["over_threshold"]:
        problems.append(Problem("warning", f"Fallback rate today {fb_today['fallback_rate']:.1%} is at or over the "
                                f"circuit's {ratio:g}", lean["today"]["fallbacks_url"]))
    if failing:
        problems.append(Problem("warning", "Readiness scorecard not green: " + ", ".join(c["id"] for c in failing),
                                reverse("autonomy:readiness")))
    if recon is not None and (recon.discrepancy_count or recon.errors):
        problems.append(Problem("warning", f"Last reconciliation found {recon.discrepancy_count} "
                                f"discrepanc{'y' if recon.discrepancy_count == 1 else 'ies'}"
                                + (f" and {len(recon.errors)} error(s)" if recon.errors else ""),
                                reverse("execution-reconciliation-run", args=[recon.pk])))
    if heartbeats["stale"] or heartbeats["failing"]:
        problems.append(Problem("warning", f"{heartbeats['stale']} stale and {heartbeats['failing']} failing "
                                f"signal source(s) of {heartbeats['total']}", control_url + "#heartbeats"))

    if lane["paused"]:
        problems.append(Problem("warning", f"The autonomous lane is paused: {lane['paused_reason']}",
                                reverse("autonomy:lane")))

    worst = ("critical" if any(p.severity == "critical" for p in problems) else "warning" if problems else "")
    return {
        "now": now, "today": today, "problems": problems, "worst": worst,
        "trading": {"row": glob, "strategies": strategies, "url": control_url + "#global-state",
                    "strategies_url": control_url + "#st_page"},
        "alerts": {"critical_open": critical_open, "critical_acknowledged": critical_acked,
                   "warning": sum(alerts[AlertSeverity.WARNING].values()),
                   "critical_url": f"{alerts_url}?status=open&severity=critical",
                   "acknowledged_url": f"{alerts_url}?status=acknowledged&severity=critical",
                   "warning_url": f"{alerts_url}?severity=warning"},
        "lean": lean,
        "pipeline": {"stages": [{"stage": stage, "count": n, "url": reverse("promotions:index") + f"?stage={stage}"}
                                for stage, n in pipeline["stages"]],
                     "pending": pipeline["pending"], "pending_url": reverse("promotions:index") + "?pending=true"},
        "readiness": {**readiness, "failing": failing, "url": reverse("autonomy:readiness")},
        "reconciliation": {"run": recon,
                           "url": reverse("execution-reconciliation-run", args=[recon.pk]) if recon else None,
                           "list_url": reverse("execution-reconciliation-runs")},
        "heartbeats": {**heartbeats, "url": control_url + "#heartbeats", "sources_url": alerts_url + "#sources"},
        "lane": {**lane, "url": reverse("autonomy:lane"),
                 "last_url": reverse("autonomy:lane-cycle", args=[lane["last"].pk]) if lane["last"] else None},
    }
