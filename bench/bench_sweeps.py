"""Autonomy sweep benchmarks (issue target: a sweep over 5,000 symbols and 50 strategies in < 200 ms).

Stored first: 50 strategies, 5,000 symbols each with two filled orders in the playbook's window
(10,000 executions, decisions and fills), 10,000 positions (every symbol held by two strategies) and
5,000 heartbeat sources. Then each sweep, as its task runs it (a new period each time):

- stale signals: read every source, evaluate, store the evaluation;
- recovery playbook: slippage per symbol and route notional from the fills (SQL), the evaluation over
  5,000 symbols, the evaluation stored with its inputs;
- position drift: the broker's 5,000 positions (an in-memory stand-in for Alpaca) against the summed
  positions, LEAN-routed fills and orders in flight, every symbol's figures and drift upserted into the
  per-symbol table in one statement (no position row is written); the last line starts each run from an
  empty table, as the first reconciliation does.

``python -m bench.bench_sweeps --symbols N --strategies M`` changes the sizes.
"""
from __future__ import annotations

import sys
from datetime import timedelta
from decimal import Decimal

from bench.common import bench_database, timed, verdict

TARGET_MS = 200.0


def _arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def _seed(symbols: int, strategies: int) -> None:
    from django.utils import timezone

    from autonomy.models import Position, SignalSource
    from execution.models import Execution, Fill, TradeDecision
    from strategies.models import Strategy

    now = timezone.now()
    names = [f"S{i:04d}" for i in range(symbols)]
    Strategy.objects.bulk_create([Strategy(name=f"bench_{k:02d}", stage="paper") for k in range(strategies)])
    ids = list(Strategy.objects.order_by("id").values_list("id", flat=True))
    decisions, executions = [], []
    for n, symbol in enumerate(names):
        for leg in range(2):
            cid = f"bench-{n}-{leg}"
            decisions.append(TradeDecision(decision_hash=cid, strategy_id=ids[(n + leg) % len(ids)], symbol=symbol,
                                           side="buy", qty=Decimal(10), decision_price=Decimal("100.00"),
                                           created_at=now))
    TradeDecision.objects.bulk_create(decisions, batch_size=5000)
    for d in TradeDecision.objects.order_by("id"):
        adapter = "lean" if d.id % 3 else "alpaca"
        executions.append(Execution(
            trade_decision_id=d.id, strategy_id=d.strategy_id, client_order_id=d.decision_hash,
            broker_order_id=f"b-{d.decision_hash}", symbol=d.symbol, side="buy", submitted_qty=Decimal(10),
            filled_qty=Decimal(10), avg_fill_price=Decimal("100.10"), status="filled",
            execution_expected_adapter="lean", execution_actual_adapter=adapter,
            execution_fallback_count=0 if adapter == "lean" else 1,
            execution_fallback_reason="" if adapter == "lean" else "lean_submit_timeout", created_at=now,
            last_update_at=now))
    Execution.objects.bulk_create(executions, batch_size=5000)
    Fill.objects.bulk_create([Fill(execution_id=e.id, adapter=e.execution_actual_adapter, broker_fill_id=f"f-{e.id}",
                                   qty=Decimal(10), price=Decimal("100.10"), filled_at=now)
                              for e in Execution.objects.only("id", "execution_actual_adapter")], batch_size=5000)
    Position.objects.bulk_create([Position(strategy_id=ids[(n + leg) % len(ids)], symbol=symbol, qty=Decimal(10),
                                           avg_entry_price=Decimal("100.10"))
                                  for n, symbol in enumerate(names) for leg in range(2)], batch_size=5000)
    SignalSource.objects.bulk_create([SignalSource(source="loop", symbol=s, last_observed_at=now,
                                                   last_received_at=now) for s in names], batch_size=5000)


class BrokerStandIn:
    """Alpaca's positions, in memory: what ``AlpacaAdapter.positions()`` returns (its fills: in line)."""

    def __init__(self) -> None:
        from execution.selectors import fills_net_by_symbol

        self._positions = [{"symbol": s, "qty": str(q), "side": "long"}
                           for s, q in fills_net_by_symbol(adapter="alpaca").items()]

    def positions(self) -> list[dict]:
        return self._positions


def main() -> None:
    symbols, strategies = _arg("--symbols", 5000), _arg("--strategies", 50)
    with bench_database():
        from django.conf import settings
        from django.utils import timezone

        from autonomy import services
        from execution import selectors
        from execution.reconciliation import position_drift_check

        settings.AUTONOMY_MARKET_SESSION = "always"
        _seed(symbols, strategies)
        print(f"stored: {strategies} strategies, {symbols} symbols, {2 * symbols} filled orders, "
              f"{2 * symbols} positions, {symbols} heartbeat sources")
        clock = {"now": timezone.now()}

        def next_period():
            clock["now"] += timedelta(minutes=max(settings.AUTONOMY_SWEEP_MINUTES, settings.AUTONOMY_PLAYBOOK_MINUTES))
            return clock["now"]

        def staleness():
            assert services.staleness_sweep(now=next_period()) is not None

        def playbook():
            now = next_period()
            since = now - timedelta(hours=2)
            routes = [{"adapter": r["adapter"], "symbol": r["symbol"], "notional": r["notional"], "share": r["share"]}
                      for r in selectors.route_concentration(since=since)]
            assert services.playbook_run(slippage=selectors.slippage_by_symbol(since=since), routes=routes,
                                         now=now) is not None

        broker = BrokerStandIn()

        def drift():
            result = position_drift_check(broker)
            assert result["symbols"] == symbols and result["unexplained"] == []

        def drift_first_run() -> tuple[float, float]:
            """Each sample starts from no reconciliation figures stored (the reset is not timed)."""
            import gc
            import statistics
            import time

            from autonomy.models import SymbolDrift

            samples = []
            for _ in range(5):
                SymbolDrift.objects.all().delete()
                gc.collect()
                started = time.perf_counter()
                drift()
                samples.append((time.perf_counter() - started) * 1000)
            return statistics.median(samples), min(samples)

        services.playbook_ensure()
        results = [(name, timed(fn, repeat=5)) for name, fn in (
            ("stale-signal sweep", staleness), ("recovery playbook sweep", playbook),
            ("position drift (reconciliation)", drift))]
        results.append(("position drift, first run (no figures stored yet; reset not timed)", drift_first_run()))
        for name, (median, best) in results:
            print(f"{name}: median {median:.1f} ms, best {best:.1f} ms (target < {TARGET_MS:.0f} ms) "
                  f"{verdict(median, TARGET_MS)}")


if __name__ == "__main__":
    main()
