"""The fast bencode codec behaves exactly like the straightforward reference codec.

``REFERENCE`` below is the original recursive implementation (one call per value):
the optimised decoder/encoder must give the same values, the same end offsets and
reject the same inputs for arbitrary bytes and values. Both implementations are checked
(``codec``: bencode.py's Python code and the C helper).
"""

from __future__ import annotations

from typing import Any

import pytest
from bencode_helpers import IMPLEMENTATIONS
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpengined.protocol.bencode import MAX_DEPTH, BencodeError

each_codec = pytest.mark.parametrize("codec", IMPLEMENTATIONS)

_DIGITS = b"0123456789"


def _ref_int(buf: bytes, start: int, end: int) -> int:
    digits = buf[start:end]
    if not digits:
        raise BencodeError("empty integer")
    body = digits[1:] if digits[:1] == b"-" else digits
    if not body or any(c not in _DIGITS for c in body):
        raise BencodeError("bad integer")
    if len(body) > 1 and body[:1] == b"0":
        raise BencodeError("leading zero")
    return int(digits)


def _ref_decode(buf: bytes, pos: int, depth: int = 0) -> tuple[Any, int]:
    if depth > MAX_DEPTH:  # (random input never nears what Python's recursion takes)
        raise BencodeError("nested too deeply")
    if pos >= len(buf):
        raise BencodeError("unexpected end of data")
    lead = buf[pos]
    if lead == 0x69:
        end = buf.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError("unterminated integer")
        return _ref_int(buf, pos + 1, end), end + 1
    if lead in _DIGITS:
        colon = buf.find(b":", pos)
        if colon < 0:
            raise BencodeError("string without colon")
        length = buf[pos:colon]
        if not length.isdigit() or (len(length) > 1 and length[:1] == b"0"):
            raise BencodeError("bad string length")
        start = colon + 1
        stop = start + int(length)
        if stop > len(buf):
            raise BencodeError("string runs past the end")
        return buf[start:stop].decode("utf-8", "surrogateescape"), stop
    if lead == 0x6C:
        items: list[Any] = []
        pos += 1
        while pos < len(buf) and buf[pos] != 0x65:
            value, pos = _ref_decode(buf, pos, depth + 1)
            items.append(value)
        return items, pos + 1
    if lead == 0x64:
        result: dict[str, Any] = {}
        pos += 1
        while pos < len(buf) and buf[pos] != 0x65:
            if buf[pos] not in _DIGITS:
                raise BencodeError("dictionary key is not a string")
            key, pos = _ref_decode(buf, pos, depth + 1)
            value, pos = _ref_decode(buf, pos, depth + 1)
            result.setdefault(key, value)
        return result, pos + 1
    raise BencodeError("unknown value type")


def _ref_encode(value: Any, out: list[bytes]) -> None:
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        out += [b"%d:" % len(raw), raw]
    elif isinstance(value, (bytes, bytearray)):
        out += [b"%d:" % len(value), bytes(value)]
    elif isinstance(value, bool):
        out.append(b"i1e" if value else b"i0e")
    elif isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, float):
        _ref_encode("%.6f" % value, out)
    elif isinstance(value, dict):
        out.append(b"d")
        for key, item in value.items():
            _ref_encode(str(key), out)
            _ref_encode(item, out)
        out.append(b"e")
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _ref_encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(type(value).__name__)


def _outcome(func, raw: bytes):
    try:
        return func(raw)
    except BencodeError:
        return "error"
    except RecursionError:
        return "error"


def _both_decode(raw: bytes, codec) -> None:
    theirs = _outcome(lambda b: _ref_decode(b, 0), raw)
    if theirs != "error":  # decode_prefix counts no more bytes than there are
        theirs = (theirs[0], min(theirs[1], len(raw)))
    ours = _outcome(codec.decode_prefix, raw)
    assert ours == theirs


# Bytes built from bencode's own alphabet, so most inputs get deep into the parser.
tokens = st.sampled_from(
    [b"d", b"l", b"e", b"i", b"-", b"0", b"1", b"2", b"5", b"9", b"10", b":", b"x", b"\xff",
     b"1:a", b"3:abc", b"0:", b"i0e", b"i-1e", b"i01e", b"01:a", b"4:sdp", b"2:ok"]
)


@each_codec
@settings(max_examples=800)
@given(st.lists(tokens, max_size=30).map(b"".join))
def test_decode_matches_reference_on_token_soup(codec, raw):
    _both_decode(raw, codec)


@each_codec
@settings(max_examples=500)
@given(st.binary(max_size=64))
def test_decode_matches_reference_on_random_bytes(codec, raw):
    _both_decode(raw, codec)


@each_codec
def test_decode_matches_reference_at_the_nesting_limit(codec):
    for depth in (99, 100, 101, 102):
        for inner in (b"", b"1:a", b"i1e", b"le", b"1:a1:b"):
            for kind in (b"l", b"d"):
                raw = kind * depth + b"d" + inner + b"e" * (depth + 1)
                _both_decode(raw, codec)
                raw = b"l" * depth + inner + b"e" * depth
                _both_decode(raw, codec)


values = st.recursive(
    st.integers() | st.text() | st.booleans() | st.binary(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda children: st.lists(children) | st.tuples(children, children)
    | st.dictionaries(st.text() | st.integers(), children),
    max_leaves=25,
)


@each_codec
@settings(max_examples=300)
@given(values)
def test_encode_matches_reference(codec, value):
    out: list[bytes] = []
    _ref_encode(value, out)
    assert codec.encode(value) == b"".join(out)


@each_codec
def test_encode_str_subclass_uses_its_value(codec):
    class Tag(str):
        def __str__(self) -> str:
            return "other"

    assert codec.encode({"a": Tag("xy")}) == b"d1:a2:xye"
    assert codec.encode(Tag("xy")) == b"2:xy"
