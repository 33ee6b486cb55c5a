"""Benchmark: 2 strategies x 10 symbols x 252 sessions of 1-minute bars against a 60 s target.

Run from the repository root: ``python bench/bench_walkforward.py [--days N] [--seed S]``.
Timing covers synthetic data generation, fingerprints, features, folds, parameter
selection and stress re-runs for both strategies.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TARGET_SECONDS = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    # Importable from a checkout without installation: put the repository root first.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from ledger.walkforward.engine import FoldSpec, run_walkforward
    from ledger.walkforward.synthetic import DEFAULT_SYMBOLS, generate_bars

    started = time.perf_counter()
    bars = generate_bars(DEFAULT_SYMBOLS, n_days=args.days, seed=args.seed)
    generated = time.perf_counter()
    print(
        f"generated {len(bars)} symbols x {args.days} sessions "
        f"({sum(len(b) for b in bars.values())} bars) in {generated - started:.2f} s"
    )
    for name in ("macd_rsi", "tsmom"):
        t0 = time.perf_counter()
        artifact = run_walkforward(
            bars,
            strategy_name=name,
            dataset_version=f"synthetic-{args.seed}",
            snapshot_ref="synthetic://bench",
            code_commit="bench",
            fold_spec=FoldSpec(train_days=60, test_days=21),
            raise_errors=True,
        )
        folds = len(artifact["candidates"][0]["folds"]) if artifact["candidates"] else 0
        print(
            f"{name}: status={artifact['status']} candidates={len(artifact['candidates'])} "
            f"folds={folds} in {time.perf_counter() - t0:.2f} s"
        )
    total = time.perf_counter() - started
    print(
        f"total {total:.2f} s; target {TARGET_SECONDS:.0f} s; ratio {total / TARGET_SECONDS:.3f}"
    )
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
