"""Hash-chained append-only tables: tamper evidence beyond the append-only trigger.

A table declares ``hash_chain(columns=(...))`` among its triggers (next to ``append_only()``). A
BEFORE INSERT trigger then fills three columns of every new row, whatever the writer sent, so no
writer can skip them (only a role that can switch triggers off can, and the chain shows it):

``chain_position``
    1, 2, 3… in the order the rows joined the chain. The trigger takes a transaction-scoped advisory
    lock (``hashtextextended('chain:<table>', 0)``, the key space of :mod:`core.locks`), reads the
    head (the row with the highest position) and appends after it; the lock is held until the
    inserting transaction ends, so "the row before" is the previously chained row, never a row a
    concurrent writer has not committed yet. The row's ``id`` is raised above the head's when a
    concurrent writer drew a lower one before waiting for the lock: ids increase along the chain.
    A transaction that writes a chained row keeps the chain waiting until it ends: write the row last,
    in short transactions. (The project's transactions are READ COMMITTED, where the trigger's read sees
    the latest head; one in REPEATABLE READ would read an older head and be refused by the unique
    position, never leave a broken chain.)
``prev_sha256``
    the ``row_sha256`` of the row at ``chain_position - 1`` (64 zeros for the first row).
``row_sha256``
    the hex SHA-256 of the row's canonical content (UTF-8), defined next.

Canonical content (version 1): the text PostgreSQL's ``jsonb`` writes for the JSON array

    [table, chain_position, id, prev_sha256, <the declared columns, in declared order>]

that is ``[`` and ``]`` around the elements separated by ``", "``, each element being:

- text (``varchar``, ``text``): a JSON string, escaped as ``jsonb`` and Python's ``json`` both do
  (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other characters below U+0020 as ``\\u00XX``, nothing
  else escaped);
- an integer: its decimal digits; a boolean: ``true``/``false``; NULL: ``null``;
- ``timestamp with time zone``: the string ``"YYYY-MM-DDTHH:MM:SS.ffffffZ"`` in UTC (six fraction
  digits, whatever the session's time zone);
- ``inet``: the string ``host(address)`` (the address without its mask, as PostgreSQL writes it);
- ``varchar[]``: a JSON array of its strings, elements separated by ``", "`` (``[]`` when empty);
- ``jsonb``: the value's own ``jsonb`` text (keys ordered by length, then bytes; ``", "`` and ``": "``).

The columns are listed in the model, never derived from it: a field added later does not change the
content of rows already chained. :func:`row_content` is the offline definition in Python (it reads
``jsonb`` and ``inet`` values as their text, see :func:`select_list`); the trigger computes the same
bytes in SQL. :func:`walk` checks a run of rows against the chain and names the first break.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

import pgtrigger
from django.db import models

GENESIS = "0" * 64
CHAIN_FIELDS = ("chain_position", "prev_sha256", "row_sha256")

TEXT, INTEGER, BOOLEAN, TIMESTAMP, INET, TEXT_ARRAY, JSONB = (
    "text", "integer", "boolean", "timestamp", "inet", "text[]", "jsonb")


class HashChained(models.Model):
    """The three chain columns, filled by the :func:`hash_chain` trigger (whatever a writer sends)."""

    chain_position = models.BigIntegerField(
        unique=True, editable=False, blank=True,
        help_text="1, 2, 3… in the order rows joined the hash chain (set by the database).")
    prev_sha256 = models.CharField(max_length=64, editable=False, blank=True,
                                   help_text="row_sha256 of the row at the previous position (set by the database).")
    row_sha256 = models.CharField(max_length=64, editable=False, blank=True,
                                  help_text="SHA-256 of this row's canonical content, which includes prev_sha256 "
                                            "(set by the database).")

    class Meta:
        abstract = True


def column_kind(model_field) -> str:
    """How a column is written in the canonical content (see the module's docstring)."""
    from django.contrib.postgres.fields import ArrayField

    if isinstance(model_field, ArrayField):
        if isinstance(model_field.base_field, models.CharField | models.TextField):
            return TEXT_ARRAY
    elif isinstance(model_field, models.JSONField):
        return JSONB
    elif isinstance(model_field, models.GenericIPAddressField):
        return INET
    elif isinstance(model_field, models.DateTimeField):
        return TIMESTAMP
    elif isinstance(model_field, models.BooleanField):
        return BOOLEAN
    elif isinstance(model_field, models.IntegerField | models.SmallIntegerField | models.BigIntegerField):
        return INTEGER
    elif isinstance(model_field, models.CharField | models.TextField):
        return TEXT
    raise TypeError(f"{model_field!r}: no canonical form is defined for {model_field.__class__.__name__}")


_SQL_ELEMENT = {
    TIMESTAMP: "to_char({v} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    INET: "host({v})",
}


def content_sql(table: str, columns: Sequence[tuple[str, str]], row: str) -> str:
    """The SQL expression of a row's ``row_sha256`` (``row``: ``NEW`` in the trigger, a record in a
    back-fill), over ``(column, kind)`` pairs."""
    elements = [f"'{table}'", f"{row}.chain_position", f"{row}.id", f"{row}.prev_sha256"]
    elements += [_SQL_ELEMENT.get(kind, "{v}").format(v=f"{row}.{name}") for name, kind in columns]
    return (f"encode(sha256(convert_to(jsonb_build_array({', '.join(elements)})::text, 'UTF8')), 'hex')")


TRIGGER_DECLARE = [("_head_position", "BIGINT"), ("_head_id", "BIGINT"), ("_head_sha256", "TEXT")]


def trigger_sql(table: str, columns: Sequence[tuple[str, str]]) -> str:
    """The body of the BEFORE INSERT row trigger (see the module's docstring; variables:
    ``TRIGGER_DECLARE``)."""
    return (f"PERFORM pg_advisory_xact_lock(hashtextextended('chain:{table}', 0)); "
            f"SELECT chain_position, id, row_sha256 INTO _head_position, _head_id, _head_sha256 "
            f"FROM {table} ORDER BY chain_position DESC LIMIT 1; "
            f"IF _head_id IS NOT NULL AND (NEW.id IS NULL OR NEW.id <= _head_id) THEN "
            f"NEW.id := GREATEST(nextval(pg_get_serial_sequence('{table}', 'id')), _head_id + 1); END IF; "
            f"NEW.chain_position := COALESCE(_head_position, 0) + 1; "
            f"NEW.prev_sha256 := COALESCE(_head_sha256, '{GENESIS}'); "
            f"NEW.row_sha256 := {content_sql(table, columns, 'NEW')}; "
            f"RETURN NEW;")


class HashChain(pgtrigger.Trigger):
    """BEFORE INSERT: position, link and hash of each new row (:func:`hash_chain`)."""

    columns: tuple[str, ...] = ()

    def __init__(self, *, columns: Sequence[str], name: str = "hash_chain"):
        self.columns = tuple(columns)
        super().__init__(name=name, when=pgtrigger.Before, operation=pgtrigger.Insert, declare=TRIGGER_DECLARE)

    def get_func(self, model):
        return trigger_sql(model._meta.db_table, chained_columns(model, self.columns))


def hash_chain(*, columns: Sequence[str], name: str = "hash_chain") -> HashChain:
    """The chain trigger of an append-only table; ``columns`` are its content, in this order (never
    reorder or drop one: rows already chained were hashed with them)."""
    return HashChain(columns=columns, name=name)


def chain_trigger(model) -> HashChain:
    (trigger,) = [t for t in model._meta.triggers if isinstance(t, HashChain)]
    return trigger


def chained_columns(model, columns: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """``(column, kind)`` of a chained model's content columns."""
    names = chain_trigger(model).columns if columns is None else columns
    return [(model._meta.get_field(name).column, column_kind(model._meta.get_field(name))) for name in names]


def select_list(columns: Sequence[tuple[str, str]]) -> list[str]:
    """What the verifier reads of each content column: jsonb and inet as their text."""
    return [f"{name}::text" if kind == JSONB else f"host({name})" if kind == INET else name
            for name, kind in columns]


# --- The offline definition -------------------------------------------------------------------

# A JSON string as jsonb writes it: json's own escaping without ensure_ascii (the C function).
_string = encode_basestring


def _timestamp(value: datetime) -> str:
    return _string(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


_WRITERS: dict[str, Callable[[Any], str]] = {
    TEXT: _string,
    INTEGER: lambda value: str(int(value)),
    BOOLEAN: lambda value: "true" if value else "false",
    TIMESTAMP: _timestamp,
    INET: _string,  # read as host(address)
    TEXT_ARRAY: lambda value: "[" + ", ".join("null" if v is None else _string(v) for v in value) + "]",
    JSONB: str,  # read as its jsonb text
}


def row_content(table: str, columns: Sequence[tuple[str, str]], *, position: int, row_id: int, prev_sha256: str,
                values: Sequence[Any]) -> bytes:
    """The canonical content of one row (UTF-8), ``values`` in the order of ``columns``."""
    elements = [_string(table), str(position), str(row_id), _string(prev_sha256)]
    elements += ["null" if value is None else _WRITERS[kind](value)
                 for (_name, kind), value in zip(columns, values, strict=True)]
    return ("[" + ", ".join(elements) + "]").encode("utf-8")


def row_sha256(table: str, columns: Sequence[tuple[str, str]], *, position: int, row_id: int, prev_sha256: str,
               values: Sequence[Any]) -> str:
    return hashlib.sha256(row_content(table, columns, position=position, row_id=row_id, prev_sha256=prev_sha256,
                                      values=values)).hexdigest()


# --- Walking a chain --------------------------------------------------------------------------

CHANGED, REMOVED, OUT_OF_ORDER, UNLINKED, REWRITTEN = "changed", "removed", "out_of_order", "unlinked", "rewritten"


@dataclass(frozen=True)
class ChainBreak:
    """The first place a chain does not hold: which table, which row (position and id) and what."""

    table: str
    position: int | None
    row_id: int | None
    problem: str
    detail: str

    def as_dict(self) -> dict:
        return {"table": self.table, "position": self.position, "id": self.row_id, "problem": self.problem,
                "detail": self.detail}

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "the end of the chain"
        return f"{self.table}: {where}" + (f" (id {self.row_id})" if self.row_id is not None else "") \
            + f": {self.problem}: {self.detail}"


@dataclass
class Checkpoint:
    """The head a past verification found intact: the chain must still hold that row, unchanged."""

    position: int
    sha256: str
    at: str


@dataclass
class ChainState:
    """Where a walk is: the last row checked (the next row must link to it)."""

    table: str
    columns: Sequence[tuple[str, str]]
    checkpoint: Checkpoint | None = None
    rows: int = 0
    position: int = 0
    row_id: int | None = None
    sha256: str = GENESIS
    broken: ChainBreak | None = field(default=None)


def walk(state: ChainState, rows: Iterable[Sequence[Any]]) -> ChainBreak | None:
    """Check ``rows`` (``chain_position, id, prev_sha256, row_sha256, *values``, by position, following the
    rows already walked) and advance ``state``; the first break found (and ``state.broken``), or None."""
    table = state.table
    for position, row_id, prev, stored, *values in rows:
        broken = None
        if position != state.position + 1:
            missing = f"{state.position + 1}" if position == state.position + 2 else \
                f"{state.position + 1} to {position - 1}"
            broken = ChainBreak(table, position, row_id, REMOVED,
                                f"position(s) {missing} missing before it: row(s) removed"
                                + (f" after id {state.row_id}" if state.row_id is not None else ""))
        elif state.row_id is not None and row_id <= state.row_id:
            broken = ChainBreak(table, position, row_id, OUT_OF_ORDER,
                                f"its id is not above the previous row's (id {state.row_id} at position "
                                f"{state.position}): inserted out of order")
        elif row_sha256(table, state.columns, position=position, row_id=row_id, prev_sha256=prev,
                        values=values) != stored:
            broken = ChainBreak(table, position, row_id, CHANGED,
                                "its content does not match its row_sha256: the row was changed after it was written")
        elif prev != state.sha256:
            broken = ChainBreak(table, position, row_id, UNLINKED,
                                f"its prev_sha256 is not the row_sha256 of position {state.position}"
                                + (f" (id {state.row_id})" if state.row_id is not None else "")
                                + ": that row was rewritten with a new hash, or this one was inserted")
        elif state.checkpoint is not None and position == state.checkpoint.position \
                and stored != state.checkpoint.sha256:
            broken = ChainBreak(table, position, row_id, REWRITTEN,
                                f"its row_sha256 differs from the one verified at {state.checkpoint.at}: "
                                "the chain was rewritten up to here")
        if broken is not None:
            state.broken = broken
            return broken
        state.rows += 1
        state.position, state.row_id, state.sha256 = position, row_id, stored
    return None


def finish(state: ChainState) -> ChainBreak | None:
    """After the last row: the chain must still reach the head a past verification found."""
    if state.broken is None and state.checkpoint is not None and state.position < state.checkpoint.position:
        state.broken = ChainBreak(
            state.table, state.position + 1, None, REMOVED,
            f"the chain ends at position {state.position} but position {state.checkpoint.position} was verified "
            f"at {state.checkpoint.at}: rows removed from the end")
    return state.broken


def verify_table(model, *, checkpoint: Checkpoint | None = None, batch_size: int = 10_000,
                 progress=None, using: str = "default") -> ChainState:
    """Walk a chained model's table in position order, ``batch_size`` rows per query (keyset: memory stays
    flat on millions of rows); ``progress(state)`` after each batch. Stops at the first break."""
    from django.db import connections

    table = model._meta.db_table
    columns = chained_columns(model)
    state = ChainState(table=table, columns=columns, checkpoint=checkpoint)
    sql = (f"SELECT chain_position, id, prev_sha256, row_sha256, {', '.join(select_list(columns))} "
           f"FROM {table} WHERE chain_position > %s ORDER BY chain_position LIMIT %s")
    with connections[using].cursor() as cursor:
        while True:
            cursor.execute(sql, [state.position, batch_size])
            rows = cursor.fetchall()
            if not rows or walk(state, rows) is not None:
                break
            if progress is not None:
                progress(state)
            if len(rows) < batch_size:
                break
    finish(state)
    return state
