"""``jsonio.loads`` gives what ``json.loads`` gives: the same values, the same exceptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hhs_platform import jsonio

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "api-samples"

# JSON values with the numbers orjson and the standard library could read apart: integers
# beyond 64 bits, floats at the edges of their precision.
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def same(text: bytes | str) -> None:
    """``jsonio.loads`` returns what ``json.loads`` returns, or raises the same exception."""
    try:
        want = json.loads(text)
    except ValueError as exc:
        with pytest.raises(type(exc)) as got:
            jsonio.loads(text)
        assert str(got.value) == str(exc)
        return
    got_value = jsonio.loads(text)
    assert got_value == want
    assert repr(got_value) == repr(want)  # 1 and 1.0, -0.0 and 0.0 told apart


@settings(max_examples=300, derandomize=True, deadline=None)
@given(values)
def test_values_as_the_standard_library_reads_them(value: object) -> None:
    text = json.dumps(value)
    same(text)
    same(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        b'{"id": 123456789012345678901234567890}',  # beyond 64 bits: not a float
        b'{"id": 18446744073709551615, "n": -9223372036854775808}',
        b'{"id": "12345678901234567890123"}',  # a long id as text
        b"[NaN, Infinity, -Infinity]",  # the standard library reads these
        b"1e400",
        b'\xef\xbb\xbf{"bom": true}',  # UTF-8 with a byte-order mark
        '{"utf16": "é"}'.encode("utf-16"),
        b'{"a": 1, "a": 2}',  # the last key wins
        b'"\\ud83d\\ude00 \\u00e9"',
        b"",
        b"{",
        b'{"truncated": [1, 2',
        b"\xff\xfe\xfd",
        b"not json",
        b'{"a": 1} trailing',
        "[1, 2.5, null]",
        "",
    ],
)
def test_edge_cases_as_the_standard_library_reads_them(text: bytes | str) -> None:
    same(text)


def test_memoryview_and_bytearray() -> None:
    body = b'{"feed": [{"likeCount": 3}]}'
    assert jsonio.loads(memoryview(body)) == jsonio.loads(bytearray(body)) == json.loads(body)


def test_recorded_platform_responses() -> None:
    """Every real recorded response decodes to the standard library's value."""
    if not SAMPLES.is_dir():
        pytest.skip("../shared/api-samples is not here")
    files = sorted(SAMPLES.rglob("*.json"))
    assert files, "no recorded JSON responses found"
    for path in files:
        body = path.read_bytes()
        same(body)
