"""Run the agent-contract checker and fail on any missing operation not listed as pending.

Usage: python .ci/contract_gate.py SCHEMA.json   (from the project root; the checker lives in
../shared/tools/check_contract.py). A pending line that is no longer missing fails too, so the
list only ever shrinks.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"
PENDING = ROOT / ".ci" / "contract-pending.txt"


def main(schema: str) -> int:
    if not CHECKER.exists():
        print("contract checker not found beside the project; skipped")
        return 0
    out = subprocess.run([sys.executable, str(CHECKER), schema], capture_output=True, text=True).stdout
    print(out, end="")
    missing = {line.removeprefix("missing: ").strip() for line in out.splitlines() if line.startswith("missing: ")}
    pending = {line.strip() for line in PENDING.read_text().splitlines() if line.strip() and not line.startswith("#")}
    unexpected, landed = sorted(missing - pending), sorted(pending - missing)
    for op in unexpected:
        print(f"contract: {op} is missing and not pending")
    for op in landed:
        print(f"contract: {op} exists now: remove it from {PENDING.relative_to(ROOT)}")
    return 1 if unexpected or landed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
