"""Shared benchmark plumbing: Django set up against a fresh, throw-away database."""
from __future__ import annotations

import contextlib
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def bench_database() -> Iterator[None]:
    """Django configured with a fresh ``test_*`` database (created and migrated, dropped afterwards)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torghut_site.settings")
    os.environ.setdefault("TEST_DATABASE_NAME", "torghut_bench")
    import django

    django.setup()
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    print("creating and migrating the benchmark database…", flush=True)
    config = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        teardown_databases(config, verbosity=0)


def timed(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> tuple[float, float]:
    """(median, best) wall time in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        gc.collect()  # the previous sample's garbage is not this one's cost
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), min(samples)


def verdict(value: float, target: float) -> str:
    return "OK" if value <= target else "OVER TARGET"


def machine_times() -> list[int]:
    """The machine's CPU time counters (Linux /proc/stat, in ticks: user, nice, system, idle, iowait, irq,
    softirq, steal); empty elsewhere."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def machine_share(before: list[int], after: list[int]) -> str:
    """How the machine's CPU time went between two :func:`machine_times` readings. On a virtual machine
    ``steal`` is time the host gave to others while this one wanted to run: a run with much of it had
    fewer than its cores, and its rates are low by about that share (compare CPU per operation instead)."""
    if len(before) < 8 or len(after) < 8:
        return "machine CPU: unknown (no /proc/stat)"
    d = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(d) or 1
    busy = d[0] + d[1] + d[2] + d[5] + d[6]
    return (f"machine CPU during the run: busy {100 * busy / total:.0f}%, idle {100 * (d[3] + d[4]) / total:.0f}%, "
            f"stolen by the host {100 * d[7] / total:.0f}%")
