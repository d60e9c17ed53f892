"""Bencode codec with the quirks rtpengine's ng decoder shows on the wire.

Byte strings are decoded to ``str`` with ``surrogateescape`` so that every byte
round-trips exactly (SDP bodies, odd call-ids) while command code works with text.
Decoding follows rtpengine 10.5: the first of two equal dict keys wins, a dict or
list that runs to the end of the buffer without its ``e`` is accepted, and bytes
after the top-level value are ignored. Leading zeros (``i03e``, ``04:abcd``) are
rejected. Encoding keeps dict insertion order (rtpengine does not sort keys).

Every ng request and reply (and the reply cache) goes through ``decode`` and ``encode``,
so when the optional C helper ``_bencode`` (``rtpengined/protocol/_bencode.c``, built by
setup.py) is importable they run there. This module's Python code is the reference: the
helper gives the same values and raises the same exceptions with the same messages
(``tests/test_bencode_c.py`` checks that on random and corrupted input), and it is what
runs when the helper is not built or ``RTPENGINED_PURE_BENCODE=1`` is set.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ACCELERATED", "BencodeError", "ValueScanner", "decode", "decode_prefix", "encode",
           "scan_value"]

_DIGITS = b"0123456789"


class BencodeError(ValueError):
    """The bytes are not a bencode value rtpengine would accept."""


_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


def _parse_int(buf: bytes, start: int, end: int) -> int:
    digits = buf[start:end]
    if not digits:
        raise BencodeError("empty integer")
    body = digits[1:] if digits[:1] == b"-" else digits
    if not body.isdigit():
        raise BencodeError("bad integer")
    if len(body) > 1 and body[:1] == b"0":
        raise BencodeError("leading zero")
    # rtpengine reads integers with strtoll: any number of digits, clamped to 64 bits.
    if len(body) > 19:  # past 64 bits whatever the digits (and int() refuses > 4300 of them)
        return _INT64_MIN if digits[:1] == b"-" else _INT64_MAX
    return max(_INT64_MIN, min(_INT64_MAX, int(digits)))


def _string_end(buf: bytes, pos: int) -> tuple[int, int]:
    """Where the string whose length starts at ``pos`` begins and ends (after checks)."""
    colon = buf.find(b":", pos)
    if colon < 0:
        raise BencodeError("string without colon")
    if colon == pos + 1:  # one-digit length: the common case, no slice needed
        start = colon + 1
        stop = start + buf[pos] - 0x30
    else:
        length = buf[pos:colon]
        if not length.isdigit() or (len(length) > 1 and length[:1] == b"0"):
            raise BencodeError("bad string length")
        if len(length) > 18:  # no buffer is that long (and int() refuses > 4300 digits)
            raise BencodeError("string runs past the end")
        start = colon + 1
        stop = start + int(length)
    if stop > len(buf):
        raise BencodeError("string runs past the end")
    return start, stop


# The deepest a value may sit (the top-level one is at depth 0); deeper is refused ("nested
# too deeply"). 10.5's decoder recurses without a limit and takes any depth its stack holds
# (10,000 levels in a UDP request were a ping to it; 32,000 crashed it); this takes every
# depth one UDP datagram can hold (a container costs two bytes: 65,507 bytes hold fewer than
# 32,769 levels) and bounds what a stream transport's larger messages can make it build. The
# decoders keep their own stack, so no depth they take can exhaust Python's or C's.
MAX_DEPTH = 32_768


def _decode_at(buf: bytes, pos: int) -> tuple[Any, int]:
    """Decode one value at ``pos``; return it and the position after it.

    Containers are kept on a stack of our own (``open_``: each open container with the
    key its next value goes to), not decoded by recursive calls, so the depth is
    ``MAX_DEPTH``'s to limit. Strings inside containers (nearly every key and value of an
    ng message) are parsed inline, without a trip round the outer loop.
    """
    n = len(buf)
    open_: list[list] = []  # [container, the dict key awaiting its value]
    while True:
        # A value starts at ``pos``: at the top, as a list item or as a dict's value.
        depth = len(open_)
        if depth > MAX_DEPTH:
            raise BencodeError("nested too deeply")
        if pos >= n:
            raise BencodeError("unexpected end of data")
        lead = buf[pos]
        if 0x30 <= lead <= 0x39:
            start, pos = _string_end(buf, pos)
            value: Any = buf[start:pos].decode("utf-8", "surrogateescape")
        elif lead == 0x64 or lead == 0x6C:  # d, l
            value = {} if lead == 0x64 else []
            pos += 1
        elif lead == 0x69:  # i
            end = buf.find(b"e", pos + 1)
            if end < 0:
                raise BencodeError("unterminated integer")
            value, pos = _parse_int(buf, pos + 1, end), end + 1
        else:
            raise BencodeError("unknown value type")
        if not open_:
            root = value
        else:
            parent, key = open_[-1]
            if key is None:
                parent.append(value)
            elif key not in parent:  # the first of two equal keys wins
                parent[key] = value
        if lead == 0x64 or lead == 0x6C:
            open_.append([value, None])
        # Go on inside the innermost open container until a value needs the outer loop.
        while open_:
            frame = open_[-1]
            container = frame[0]
            inline = len(open_) <= MAX_DEPTH  # a string here is "too deep" otherwise
            if pos >= n or buf[pos] == 0x65:  # its e (or the end of the buffer)
                pos += 1
                open_.pop()
                continue
            lead = buf[pos]
            if container.__class__ is dict:
                if not 0x30 <= lead <= 0x39:
                    raise BencodeError("dictionary key is not a string")
                if not inline:
                    raise BencodeError("nested too deeply")
                # The key, inline (see _string_end): one-digit lengths need no slice.
                if buf[pos + 1 : pos + 2] == b":":
                    pos += 2
                    stop = pos + lead - 0x30
                    if stop > n:
                        raise BencodeError("string runs past the end")
                else:
                    start, stop = _string_end(buf, pos)
                    pos = start
                key = buf[pos:stop].decode("utf-8", "surrogateescape")
                pos = stop
                if pos >= n:
                    raise BencodeError("unexpected end of data")
                lead = buf[pos]
                if 0x30 <= lead <= 0x39 and inline:
                    if buf[pos + 1 : pos + 2] == b":":  # (one-digit length, as for keys)
                        start = pos + 2
                        pos = start + lead - 0x30
                        if pos > n:
                            raise BencodeError("string runs past the end")
                    else:
                        start, pos = _string_end(buf, pos)
                    if key not in container:
                        container[key] = buf[start:pos].decode("utf-8", "surrogateescape")
                    continue
                frame[1] = key
                break
            if 0x30 <= lead <= 0x39 and inline:
                start, pos = _string_end(buf, pos)
                container.append(buf[start:pos].decode("utf-8", "surrogateescape"))
                continue
            frame[1] = None
            break
        else:
            return root, pos


def pure_decode_prefix(buf: bytes) -> tuple[Any, int]:
    """Decode the value at the start of ``buf``; return it and how many bytes it used.

    (The Python code: the reference, and the fallback.)"""
    value, end = _decode_at(buf, 0)
    return value, min(end, len(buf))


def pure_decode(buf: bytes) -> Any:
    """Decode the value at the start of ``buf``, ignoring anything after it.

    (The Python code: the reference, and the fallback.)"""
    return _decode_at(buf, 0)[0]


class ValueScanner:
    """Finds where the bencode value starting at ``start`` ends, resumably.

    Stream transports feed a growing buffer: ``scan(buf)`` goes on from the token where
    the previous call stopped (an integer cut in two is searched for its end only in the
    new bytes, a string length cut in two, at most 12 bytes, is looked at again, and a
    string's body is skipped by its length), so finding
    a message boundary costs time linear in the bytes received, however the message is
    split. ``None`` means more bytes are needed; ``BencodeError`` means the bytes can
    never become a value.
    """

    __slots__ = ("start", "pos", "depth", "seek")

    def __init__(self, start: int = 0) -> None:
        self.start = start
        self.pos = start  # the next token starts here (past the buffer: inside a string body)
        self.depth = 0  # containers open at ``pos``
        self.seek = 0  # an integer at ``pos`` has no ``e`` before this offset

    def scan(self, buf: bytes | bytearray) -> int | None:
        n = len(buf)
        pos, depth = self.pos, self.depth
        if pos > n:  # still waiting for the rest of a string's body
            return None
        if depth == 0 and pos > self.start:  # a top-level string is now complete
            return pos
        while True:
            if pos >= n:
                self.pos, self.depth = pos, depth
                return None
            lead = buf[pos]
            if lead == 0x69:  # i
                end = buf.find(b"e", max(pos + 1, self.seek))
                if end < 0:
                    self.pos, self.depth, self.seek = pos, depth, n
                    return None
                pos = end + 1
            elif lead in _DIGITS:
                colon = buf.find(b":", pos, pos + 12)
                if colon < 0:
                    if n - pos >= 12:
                        raise BencodeError("bad string length")
                    self.pos, self.depth = pos, depth
                    return None
                length = bytes(buf[pos:colon])
                if not length.isdigit():
                    raise BencodeError("bad string length")
                pos = colon + 1 + int(length)
                if pos > n:
                    self.pos, self.depth = pos, depth
                    return None
            elif lead in (0x6C, 0x64):  # l, d
                depth += 1
                pos += 1
                continue
            elif lead == 0x65 and depth:  # e closing a container
                depth -= 1
                pos += 1
            else:
                raise BencodeError("unknown value type")
            if depth == 0:
                return pos


def scan_value(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Return the end offset of the complete bencode value at ``pos`` (one-shot
    ``ValueScanner``): ``None`` means more bytes are needed, ``BencodeError`` never."""
    return ValueScanner(pos).scan(buf)


_KEY_CACHE: dict[str, bytes] = {}  # encoded dict keys: ng replies reuse a few dozen


def _encode_key(key: Any) -> bytes:
    encoded = _KEY_CACHE.get(key) if type(key) is str else None
    if encoded is None:
        raw = str(key).encode("utf-8", "surrogateescape")
        encoded = b"%d:%b" % (len(raw), raw)
        if type(key) is str and len(_KEY_CACHE) < 4096:
            _KEY_CACHE[key] = encoded
    return encoded


def _encode_into(value: Any, out: list[bytes]) -> None:
    kind = type(value)
    if kind is str:
        raw = value.encode("utf-8", "surrogateescape")
        out.append(b"%d:%b" % (len(raw), raw))
    elif kind is dict:
        append = out.append
        append(b"d")
        for key, item in value.items():
            append(_encode_key(key))
            kind = type(item)
            if kind is str:
                raw = item.encode("utf-8", "surrogateescape")
                append(b"%d:%b" % (len(raw), raw))
            elif kind is int:
                append(b"i%de" % item)
            else:
                _encode_into(item, out)
        append(b"e")
    elif kind is list or kind is tuple:
        out.append(b"l")
        for item in value:
            _encode_into(item, out)
        out.append(b"e")
    elif kind is int:
        out.append(b"i%de" % value)
    else:
        _encode_general(value, out)


def _encode_general(value: Any, out: list[bytes]) -> None:
    """Subclasses and the rarer types (bytes, bool, float)."""
    if isinstance(value, str):
        raw = str.encode(value, "utf-8", "surrogateescape")
        out.append(b"%d:%b" % (len(raw), raw))
    elif isinstance(value, (bytes, bytearray)):
        out.append(b"%d:" % len(value))
        out.append(bytes(value))
    elif isinstance(value, bool):
        out.append(b"i1e" if value else b"i0e")
    elif isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, float):
        _encode_into("%.6f" % value, out)
    elif isinstance(value, dict):
        _encode_into(dict(value), out)
    elif isinstance(value, (list, tuple)):
        _encode_into(list(value), out)
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def pure_encode(value: Any) -> bytes:
    """Encode ``value``; dicts keep their insertion order, floats become ``%.6f`` strings.

    (The Python code: the reference, and the fallback.)"""
    out: list[bytes] = []
    _encode_into(value, out)
    return b"".join(out)


try:  # the C helper (setup.py builds it; optional)
    from . import _bencode as _accel
except ImportError:  # not built: the Python code above does the same
    _accel = None
if os.environ.get("RTPENGINED_PURE_BENCODE") or getattr(_accel, "API", None) != 1:
    _accel = None  # forced (tests run both; operators may too) or a stale build
else:
    # The helper hands back to Python what it leaves to the reference: a dict key that is
    # not exactly a str, and a value of any other type than exactly str, int (64 bits),
    # bool, float, bytes, bytearray, dict, list or tuple (subclasses, big ints, the rest).
    _accel.setup(BencodeError, pure_encode, _encode_key)
ACCELERATED = _accel is not None
"""Whether ``decode``, ``decode_prefix`` and ``encode`` run in the C helper."""

if _accel is not None:
    # The helper decodes exactly bytes (what every transport hands over); anything else
    # (bytearray, a subclass, the wrong type) takes the Python code, whatever it does with it.
    _c_decode, _c_decode_prefix, _c_encode = _accel.decode, _accel.decode_prefix, _accel.encode

    def decode_prefix(buf: bytes) -> tuple[Any, int]:
        """Decode the value at the start of ``buf``; return it and how many bytes it used."""
        if type(buf) is bytes:
            return _c_decode_prefix(buf)
        return pure_decode_prefix(buf)

    def decode(buf: bytes) -> Any:
        """Decode the value at the start of ``buf``, ignoring anything after it."""
        if type(buf) is bytes:
            return _c_decode(buf)
        return pure_decode(buf)

    def encode(value: Any) -> bytes:
        """Encode ``value``; dicts keep their insertion order, floats become ``%.6f`` strings."""
        return _c_encode(value)
else:
    decode_prefix, decode, encode = pure_decode_prefix, pure_decode, pure_encode
