"""Prometheus gauges of the autonomy controls, computed from the database at scrape time (like the
execution counters: every process reports the same figures). Registered by ``/metrics``
(:func:`execution.metrics.metrics_view`)."""
from __future__ import annotations

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from autonomy import selectors
from autonomy.choices import TradingStateChoice


class AutonomyCollector:
    def collect(self):
        yield from self.trading_state()
        yield from self.budgets()
        yield from self.alerts()
        yield from self.heartbeats()

    @staticmethod
    def trading_state():
        state = selectors.trading_state_get()
        gauge = GaugeMetricFamily("torghut_autonomy_trading_state",
                                  "1 for the trading state in force (per scope), 0 for the others.",
                                  labels=["scope", "state"])
        for value in TradingStateChoice.values:
            gauge.add_metric(["global", value], 1 if state.trading_state == value else 0)
        for row in selectors.strategy_state_list():
            for value in TradingStateChoice.values:
                gauge.add_metric([f"strategy:{row.strategy.name}", value], 1 if row.state == value else 0)
        yield gauge
        lean = GaugeMetricFamily("torghut_autonomy_lean_lane_enabled", "1 while the LEAN lane is enabled.")
        lean.add_metric([], 1 if state.lean_enabled else 0)
        yield lean

    @staticmethod
    def budgets():
        used = GaugeMetricFamily("torghut_autonomy_budget_used", "Today's use of each daily budget (UTC day).",
                                 labels=["budget"])
        limit = GaugeMetricFamily("torghut_autonomy_budget_limit", "Each daily budget's limit.", labels=["budget"])
        ratio = GaugeMetricFamily("torghut_autonomy_budget_used_ratio", "Use / limit of each budget (1: at the limit).",
                                  labels=["budget"])
        breached = GaugeMetricFamily("torghut_autonomy_budget_breached", "1 once a budget was breached today.",
                                     labels=["budget"])
        for b in selectors.budget_status():
            used.add_metric([b["name"]], float(b["used"]))
            limit.add_metric([b["name"]], float(b["limit"]))
            ratio.add_metric([b["name"]], float(b["used"] / b["limit"]) if b["limit"] else float(b["used"] > 0))
            breached.add_metric([b["name"]], 1 if b["breached"] else 0)
        yield used
        yield limit
        yield ratio
        yield breached

    @staticmethod
    def alerts():
        gauge = GaugeMetricFamily("torghut_autonomy_alerts_open", "Unresolved alerts (open or acknowledged).",
                                  labels=["severity"])
        for severity, n in selectors.alerts_open_by_severity().items():
            gauge.add_metric([severity], n)
        yield gauge

    @staticmethod
    def heartbeats():
        now = timezone.now()
        sources = selectors.signal_sources()
        lag = GaugeMetricFamily("torghut_autonomy_heartbeat_lag_seconds",
                                "Seconds since each autonomy source's latest observed signal.",
                                labels=["source", "symbol"])
        streak = GaugeMetricFamily("torghut_autonomy_failure_streak", "Failed cycles in a row per source.",
                                   labels=["source", "symbol"])
        for s in sources:
            lag.add_metric([s.source, s.symbol], max(0.0, (now - s.last_observed_at).total_seconds()))
            streak.add_metric([s.source, s.symbol], s.failure_streak)
        newest = GaugeMetricFamily("torghut_autonomy_signal_lag_seconds",
                                   "Seconds since the latest signal of the stalest expected source (the stale-signal "
                                   "rule judges each source); absent while no source is expected.")
        expected = [s.last_observed_at for s in sources if s.expected]
        if expected:
            newest.add_metric([], max(0.0, (now - min(expected)).total_seconds()))
        yield lag
        yield streak
        yield newest
