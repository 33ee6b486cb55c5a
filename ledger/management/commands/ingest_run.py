"""Store run artifacts from files, a folder of them, or standard input, through the one writer."""
import json
import sys
from pathlib import Path

from django.core.management.base import CommandError

from access.commands import AuditedCommand
from core.errors import ApplicationError
from ledger.services import run_ingest


class Command(AuditedCommand):
    help = """Ingest torghut.research-run/v1 artifacts: PATH may be a JSON file, a folder (every *.json in it,
sorted), or - for standard input. Each file is stored atomically; identical re-ingests are no-ops.

Examples:
  manage.py ingest_run var/runs/run-0042.json
  manage.py ingest_run var/runs/ --fail-fast
  cat run.json | manage.py ingest_run -"""

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="JSON files, folders, or - for stdin")
        parser.add_argument("--actor", default="command:ingest_run")
        parser.add_argument("--fail-fast", action="store_true", help="Stop at the first refused artifact.")

    def _sources(self, paths):
        for raw in paths:
            if raw == "-":
                yield "<stdin>", sys.stdin.read()
                continue
            path = Path(raw)
            if path.is_dir():
                files = sorted(path.glob("*.json"))
                if not files:
                    self.stderr.write(f"{path}: no *.json files")
                for f in files:
                    yield str(f), f.read_bytes()
            elif path.is_file():
                yield str(path), path.read_bytes()
            else:
                raise CommandError(f"{path}: no such file or folder")

    def handle(self, *args, paths, actor, fail_fast, **options):
        created = unchanged = refused = 0
        sources = list(self._sources(paths))
        total = len(sources)
        for index, (name, payload) in enumerate(sources, start=1):
            prefix = f"[{index}/{total}] {name}:"
            try:
                result = run_ingest(body=payload, actor=actor)
            except ApplicationError as exc:
                refused += 1
                fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
                self.stderr.write(f"{prefix} refused ({exc.code}) {exc.message}")
                if fields:
                    for path, messages in fields.items():
                        self.stderr.write(f"    {path}: {'; '.join(messages)}")
                if fail_fast:
                    break
                continue
            if result.created:
                created += 1
                self.stdout.write(f"{prefix} stored {result.run.run_id} "
                                  f"({len(result.candidate_ids)} candidates) sha256={result.artifact_sha256}")
            else:
                unchanged += 1
                self.stdout.write(f"{prefix} already stored {result.run.run_id} (identical), nothing written")
        self.stdout.write(json.dumps({"files": total, "stored": created, "unchanged": unchanged, "refused": refused}))
        if refused:
            raise CommandError(f"{refused} of {total} artifact(s) refused")
