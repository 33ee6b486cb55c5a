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
