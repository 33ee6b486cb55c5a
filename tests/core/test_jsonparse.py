"""The strict JSON parser on its own: what it refuses, how it says where, and what it still reads."""
import json

import pytest

from core.jsonparse import MAX_DEPTH, JSONRefused, strict_loads


def refused(data) -> JSONRefused:
    with pytest.raises(JSONRefused) as info:
        strict_loads(data)
    return info.value


def test_reads_ordinary_json_exactly_as_json_does():
    text = json.dumps({"a": [1, 2.5, "x", None, True, {"b": "é😀"}], "c": -0.0, "d": 10**30, "e": "\\u0000"})
    assert strict_loads(text) == json.loads(text)
    assert strict_loads(text.encode()) == json.loads(text)
    # an escaped surrogate *pair* is one character, and a backslash before u0000 is just text
    assert strict_loads('{"k": "\\ud83d\\ude00", "t": "\\\\u0000"}') == {"k": "😀", "t": "\\u0000"}


@pytest.mark.parametrize("text,path,key", [
    ('{"qty": "1", "qty": "1000"}', "qty", "qty"),
    ('{"order": {"side": "buy", "side": "sell"}}', "order.side", "side"),
    ('{"candidates": [{"a": 1}, {"parameter_set": {"x": 1, "y": 2, "x": 3}}]}', "candidates[1].parameter_set.x", "x"),
    ('[[{"k": 1, "k": 1}]]', "[0][0].k", "k"),
])
def test_duplicate_keys_at_any_depth_name_their_path(text, path, key):
    error = refused(text)
    assert error.code == "duplicate_key"
    assert error.details["path"] == path and error.details["key"] == key
    assert error.details["fields"] == {path: ["duplicate key"]}
    assert path in error.message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_name_the_token_and_where(token):
    error = refused('{"a": "NaN in a string is fine",\n "b": ' + token + "}")
    assert error.code == "invalid_json"
    assert error.details["token"] == token and error.details["line"] == 2 and error.details["column"] == 7


def test_numbers_that_overflow_to_infinity_are_refused():
    error = refused('{"parameter_set": {"x": 1e400}}')
    assert error.details["token"] == "1e400" and "out of range" in error.message
    assert strict_loads('{"x": 1e308}') == {"x": 1e308}


def test_invalid_utf8_names_the_byte_offset():
    error = refused(b'{"a": "ok", "b": "\xff"}')
    assert error.code == "invalid_json" and error.details["byte_offset"] == 18
    assert "byte offset 18" in error.message


def test_syntax_errors_name_line_and_column():
    error = refused('{\n  "a": 1,\n  "b": }')
    assert (error.details["line"], error.details["column"]) == (3, 8)


@pytest.mark.parametrize("text", ["[" * 100_000, "[" * 100_000 + "]" * 100_000,
                                  '{"p": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001])
def test_deep_nesting_is_refused_without_recursing(text):
    error = refused(text)
    assert error.code == "invalid_json" and error.details["max_depth"] == MAX_DEPTH
    assert "deeper than 64 levels" in error.message


def test_depth_limit_is_exact_and_names_the_path():
    assert strict_loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    error = refused('{"a": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}")
    assert error.details["path"] == "a" + "[0]" * (MAX_DEPTH - 1)


@pytest.mark.parametrize("text,path", [
    ('{"strategy": {"version": "1\\u0000"}}', "strategy.version"),
    ('{"parameter_set": {"k\\u0000": 1}}', "parameter_set.k\\u0000"),
    ('{"parameter_set": {"v": ["ok", "\\u0000"]}}', "parameter_set.v[1]"),
])
def test_nul_characters_are_refused_in_keys_and_values(text, path):
    error = refused(text)
    assert error.code == "invalid_json" and list(error.details["fields"]) == [path]
    assert "NUL" in error.message


@pytest.mark.parametrize("text,path", [
    ('{"parameter_set": {"\\ud800": 1}}', "parameter_set.\\ud800"),
    ('{"parameter_set": {"k": "a\\udc00"}}', "parameter_set.k"),
    ('{"correlation_id": "\\uD83D"}', "correlation_id"),
])
def test_lone_surrogates_are_refused_and_the_report_is_encodable(text, path):
    error = refused(text)
    assert list(error.details["fields"]) == [path] and "surrogate" in error.message
    json.dumps(error.details, ensure_ascii=False).encode("utf-8")  # renders without UnicodeEncodeError
    error.message.encode("utf-8")


def test_integers_too_long_to_read_are_refused():
    assert refused('{"x": ' + "9" * 5000 + "}").code == "invalid_json"
