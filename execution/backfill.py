"""Route backfill of legacy executions: set-based, batched by id range, resumable, idempotent.

Mapping (torghut's recovery rules), applied in SQL:

* actual   <- ``_execution_route_actual`` | ``execution_actual_adapter`` | ``_execution_adapter``
* expected <- ``_execution_route_expected`` | ``execution_expected_adapter``
* values are compared trimmed and case-insensitively; the value ``alpaca_fallback`` means actual
  ``alpaca`` and, unless stated, expected ``lean``;
* a route that ended at LEAN was expected at LEAN (nothing ever falls back *to* LEAN); an order
  that ended at Alpaca with no word on what was expected stays expected ``unknown`` (it may have
  been routed there by policy or have fallen back: not guessed);
* with no word on the actual route, it is the expected one (torghut's rule);
* values other than lean/alpaca/alpaca_fallback are ignored; what stays unrecoverable becomes ``unknown``;
* a column that already holds a value is kept (and counts as the word on its side);
* when both are known and differ, the fallback count becomes at least 1 and an empty reason
  becomes ``raw_order._execution_fallback_reason``, else the older ``_fallback_reason`` (trimmed),
  else ``fallback_from_<expected>_to_<actual>``.

Only legacy rows with a NULL adapter column are touched, so running it again changes nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from execution.models import BackfillCheckpoint

CHECKPOINT = "routes"


def _norm(key: str) -> str:
    return (f"CASE lower(btrim(raw_order->>'{key}')) WHEN 'lean' THEN 'lean' WHEN 'alpaca' THEN 'alpaca' "
            f"WHEN 'alpaca_fallback' THEN 'alpaca' END")


def _is_fallback_marker(key: str) -> str:
    return f"lower(btrim(raw_order->>'{key}')) = 'alpaca_fallback'"


# What the row says about each side (NULL: nothing usable).
STATED_ACTUAL = (f"COALESCE(execution_actual_adapter, {_norm('_execution_route_actual')}, "
                 f"{_norm('execution_actual_adapter')}, {_norm('_execution_adapter')})")
STATED_EXPECTED = (f"COALESCE(execution_expected_adapter, {_norm('_execution_route_expected')}, "
                   f"{_norm('execution_expected_adapter')}, "
                   f"CASE WHEN {_is_fallback_marker('_execution_route_actual')} "
                   f"OR {_is_fallback_marker('_execution_adapter')}"
                   f" OR {_is_fallback_marker('execution_actual_adapter')} THEN 'lean' END)")
TODO = "legacy AND (execution_expected_adapter IS NULL OR execution_actual_adapter IS NULL)"

MAPPED = f"""SELECT id,
  COALESCE(s.expected, CASE WHEN s.actual = 'lean' THEN 'lean' END, 'unknown') AS expected,
  COALESCE(s.actual, s.expected, 'unknown') AS actual
FROM executions, LATERAL (SELECT {STATED_EXPECTED} AS expected, {STATED_ACTUAL} AS actual) s
WHERE {TODO}"""

_UPDATE = f"""
WITH m AS ({MAPPED} {{range}}),
upd AS (
  UPDATE executions e SET
    execution_expected_adapter = m.expected,
    execution_actual_adapter = m.actual,
    execution_fallback_count = CASE
      WHEN m.expected <> m.actual AND 'unknown' NOT IN (m.expected, m.actual)
      THEN GREATEST(e.execution_fallback_count, 1) ELSE e.execution_fallback_count END,
    execution_fallback_reason = CASE
      WHEN m.expected <> m.actual AND 'unknown' NOT IN (m.expected, m.actual) AND e.execution_fallback_reason = ''
      THEN COALESCE(NULLIF(btrim(e.raw_order->>'_execution_fallback_reason'), ''),
                    NULLIF(btrim(e.raw_order->>'_fallback_reason'), ''),
                    'fallback_from_' || m.expected || '_to_' || m.actual)
      ELSE e.execution_fallback_reason END,
    last_update_at = now()
  FROM m WHERE e.id = m.id
  RETURNING (m.expected = 'unknown' OR m.actual = 'unknown') AS unknown
)
SELECT count(*), count(*) FILTER (WHERE unknown) FROM upd
"""

BATCH_UPDATE_SQL = _UPDATE.replace("{range}", "AND id > %s AND id <= %s")
ONE_SHOT_UPDATE_SQL = _UPDATE.replace("{range}", "")


@dataclass
class BackfillResult:
    updated: int = 0
    unknown: int = 0
    batches: int = 0
    resumed_from: int = 0
    upper_id: int = 0


def backfill_plan() -> list[tuple[str, str, int]]:
    """Dry run: (expected, actual, rows) the backfill would write, nothing changed."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT expected, actual, count(*) FROM ({MAPPED}) m GROUP BY 1, 2 ORDER BY 3 DESC")
        return cursor.fetchall()


def backfill_routes(*, batch_size: int = 50_000, restart: bool = False,
                    progress: Callable[[BackfillResult, int], None] | None = None,
                    max_batches: int | None = None) -> BackfillResult:
    """Fill the route columns of legacy rows, one committed id range at a time.

    The checkpoint (``execution_backfill_checkpoints``, name ``routes``) is written in the same
    transaction as each batch, so an interrupted run resumes after the last committed range.
    A finished checkpoint (or ``restart``) starts a new pass over the current id range.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM executions WHERE {TODO}")
        upper_now = cursor.fetchone()[0]
    checkpoint, _ = BackfillCheckpoint.objects.get_or_create(name=CHECKPOINT)
    if restart or checkpoint.finished_at is not None or checkpoint.upper_id == 0:
        checkpoint.last_id, checkpoint.upper_id = 0, upper_now
        checkpoint.updated = checkpoint.unknown = 0
        checkpoint.finished_at = None
        checkpoint.save()
    else:
        checkpoint.upper_id = max(checkpoint.upper_id, upper_now)
        checkpoint.save(update_fields=["upper_id", "updated_at"])
    result = BackfillResult(resumed_from=checkpoint.last_id, upper_id=checkpoint.upper_id,
                            updated=checkpoint.updated, unknown=checkpoint.unknown)
    low = checkpoint.last_id
    while low < checkpoint.upper_id:
        if max_batches is not None and result.batches >= max_batches:
            return result
        high = min(low + batch_size, checkpoint.upper_id)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(BATCH_UPDATE_SQL, [low, high])
                updated, unknown = cursor.fetchone()
            result.updated += updated
            result.unknown += unknown
            BackfillCheckpoint.objects.filter(pk=checkpoint.pk).update(
                last_id=high, updated=result.updated, unknown=result.unknown, updated_at=timezone.now())
        result.batches += 1
        low = high
        if progress:
            progress(result, high)
    BackfillCheckpoint.objects.filter(pk=checkpoint.pk).update(finished_at=timezone.now())
    return result
