"""Run every benchmark module (``bench_*.py``) in this package, or those named on the command line."""
import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [a for a in argv if not a.startswith("-")]
    if wanted:
        names = [n for n in names if n in wanted or n.removeprefix("bench_") in wanted]
    failures = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        saved = sys.argv
        sys.argv = [name]
        try:
            code = module.main() or 0
        finally:
            sys.argv = saved
        failures += bool(code)
        print(f"--- {name} finished in {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
