"""Strict JSON: the one way a request body (or an ``ingest_run`` file) becomes Python data
(transport-neutral; :class:`core.parsers.StrictJSONParser` is the DRF side).

The standard library's ``json`` is lenient where the ledger cannot be: it keeps the last of two
equal keys (``{"qty": "1", "qty": "1000"}`` is 1000 shares), reads ``NaN``, ``Infinity`` and
``1e400`` (infinity), and accepts NUL characters and lone surrogates, which PostgreSQL cannot
store and UTF-8 cannot encode. :func:`strict_loads` refuses all of those with a
:class:`JSONRefused` naming what is wrong and where (line and column, byte offset, or the path of
the key or string), and refuses nesting deeper than :data:`MAX_DEPTH` levels without ever
recursing into it.

Cost on a well-formed body: the C decoder plus one hook call per object (duplicate keys), one
pass over the containers (depth), and a substring test; strings are only walked when the text
holds a ``\\u`` escape that could encode NUL or a surrogate.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 64

# An escape that could decode to NUL or to half of a surrogate pair (pairs are fine, and checked
# after decoding); only then are strings walked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_STRING = r'"(?:[^"\\]|\\.)*"'


class JSONRefused(ValueError):
    """A body that is not strict JSON. ``code`` is ``invalid_json`` or ``duplicate_key``."""

    def __init__(self, message: str, *, code: str = "invalid_json", details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}


class _DuplicateKeys(dict):
    """An object that held a key twice (the decoder keeps going; the walk reports its path)."""

    duplicates: list[str]


class _BadToken(Exception):
    def __init__(self, token: str, why: str):
        self.token = token
        self.why = why


def _reject_constant(token: str):
    raise _BadToken(token, "is not a JSON number (NaN and Infinity are not JSON)")


def _finite_float(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _BadToken(token, "is out of range for a floating-point number")
    return value


def _text_position(text: str, offset: int) -> dict[str, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"line": line, "column": column, "offset": offset}


def _token_offset(text: str, token: str) -> int | None:
    """Where ``token`` first stands as a bare value (outside strings), or None."""
    bare = re.compile(_STRING + r"|(?<![\w.+-])" + re.escape(token) + r"(?![\w.])")
    for match in bare.finditer(text):
        if not match.group().startswith('"'):
            return match.start()
    return None


def _depth_offset(text: str, max_depth: int) -> int | None:
    """Offset of the first bracket that opens level ``max_depth + 1`` (strings skipped)."""
    depth = 0
    for match in re.finditer(_STRING + r"|[\[\]{}]", text):
        char = match.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        elif char in "]}":
            depth -= 1
    return None


def printable(text: str) -> str:
    """``text`` with NUL and lone surrogates spelled as escapes, so it can be shown and stored."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def _bad_string(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone UTF-16 surrogate, which is not a Unicode character"
    return None


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = printable(key)
    return f"{path}.{key}" if path else key


def _locate(value: Any, max_depth: int, check_strings: bool) -> JSONRefused | None:
    """Walk the document in order, with paths, and describe its first problem (slow path)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            why = _bad_string(node) if check_strings else None
            if why:
                where = path or "(root)"
                return JSONRefused(f"Invalid JSON: the string at {where} {why}.",
                                   details={"fields": {where: [f"the string {why}"]}})
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            return JSONRefused(f"Invalid JSON: nesting deeper than {max_depth} levels at {path or '(root)'}.",
                               details={"max_depth": max_depth, "path": path or "(root)"})
        if isinstance(node, _DuplicateKeys):
            key = node.duplicates[0]
            where = _child_path(path, key)
            return JSONRefused(f"Duplicate key {printable(key)!r} at {where}: each key may appear once per object.",
                               code="duplicate_key",
                               details={"path": where, "key": printable(key),
                                        "fields": {where: ["duplicate key"]}})
        if isinstance(node, dict):
            children = []
            for key, child in node.items():
                child_path = _child_path(path, key)
                why = _bad_string(key) if check_strings else None
                if why:
                    return JSONRefused(f"Invalid JSON: the key at {child_path} {why}.",
                                       details={"fields": {child_path: [f"the key {why}"]}})
                children.append((child, child_path, depth + 1))
        else:
            children = [(child, _child_path(path, i), depth + 1) for i, child in enumerate(node)]
        stack.extend(reversed(children))
    return None


_CONTAINERS = frozenset({dict, list, _DuplicateKeys})


def _too_deep(value: Any, max_depth: int) -> bool:
    """Whether containers nest deeper than ``max_depth`` (iterative; leaves cost one C call)."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        below = []
        for node in level:
            values = node.values() if type(node) is not list else node
            if not _CONTAINERS.isdisjoint(map(type, values)):
                below.extend(v for v in values if type(v) in _CONTAINERS)
        level = below
    return False


def strict_loads(data: bytes | bytearray | memoryview | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one strict JSON document (UTF-8 bytes or text), or raise :class:`JSONRefused`."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start:exc.start + 1].hex()
            raise JSONRefused(f"Invalid JSON: the body is not UTF-8 (byte 0x{bad} at byte offset {exc.start}: "
                              f"{exc.reason}).", details={"byte_offset": exc.start, "reason": exc.reason}) from None
    else:
        text = data
    duplicates: list[bool] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            obj = _DuplicateKeys(pairs)
            obj.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]
            duplicates.append(True)
        return obj

    decoder = json.JSONDecoder(object_pairs_hook=pairs_hook, parse_float=_finite_float,
                               parse_constant=_reject_constant)
    try:
        value = decoder.decode(text)
    except json.JSONDecodeError as exc:
        where = _text_position(text, exc.pos)
        raise JSONRefused(f"Invalid JSON: {exc.msg} at line {where['line']} column {where['column']}.",
                          details=where) from None
    except _BadToken as exc:
        offset = _token_offset(text, exc.token)
        where = _text_position(text, offset) if offset is not None else {}
        at = f" at line {where['line']} column {where['column']}" if where else ""
        raise JSONRefused(f"Invalid JSON: {exc.token} {exc.why}{at}.",
                          details={"token": exc.token, **where}) from None
    except RecursionError:
        offset = _depth_offset(text, max_depth)
        where = _text_position(text, offset) if offset is not None else {}
        at = f" at line {where['line']} column {where['column']}" if where else ""
        raise JSONRefused(f"Invalid JSON: nesting deeper than {max_depth} levels{at}.",
                          details={"max_depth": max_depth, **where}) from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise JSONRefused(f"Invalid JSON: {exc}.") from None
    suspect = "\\u" in text and _SUSPECT_ESCAPE.search(text) is not None
    if duplicates or suspect or _too_deep(value, max_depth):
        problem = _locate(value, max_depth, check_strings=suspect)
        if problem is not None:
            raise problem
    return value
