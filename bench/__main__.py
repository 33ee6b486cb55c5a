"""Run every benchmark module (``bench_*.py``) in this package, or those named on the command line.

Each module runs in its own process (its own Django set-up and throw-away database), one after
the other, with its default sizes; options after the names go to every module run
(``python -m bench load --rate 200 --seconds 60``, ``python -m bench executions --rows 100000``).
"""
import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    split = next((i for i, arg in enumerate(argv) if arg.startswith("--")), len(argv))
    wanted, options = list(argv[:split]), list(argv[split:])
    if wanted:
        names = [n for n in names if n in wanted or n.removeprefix("bench_") in wanted]
    failures = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", f"bench.{name}", *options], cwd=here.parent).returncode
        if code:
            failures.append(name)
        print(f"--- {name} finished in {time.perf_counter() - started:.1f} s (exit {code})", flush=True)
    if failures:
        print(f"failed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
