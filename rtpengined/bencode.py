"""Bencode codec with the quirks rtpengine's ng decoder shows on the wire.

Byte strings are decoded to ``str`` with ``surrogateescape`` so that every byte
round-trips exactly (SDP bodies, odd call-ids) while command code works with text.
Decoding follows rtpengine 10.5: the first of two equal dict keys wins, a dict or
list that runs to the end of the buffer without its ``e`` is accepted, and bytes
after the top-level value are ignored. Leading zeros (``i03e``, ``04:abcd``) are
rejected. Encoding keeps dict insertion order (rtpengine does not sort keys).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BencodeError", "decode", "decode_prefix", "encode", "scan_value"]

_DIGITS = b"0123456789"


class BencodeError(ValueError):
    """The bytes are not a bencode value rtpengine would accept."""


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_int(buf: bytes, start: int, end: int) -> int:
    digits = buf[start:end]
    if not digits:
        raise BencodeError("empty integer")
    body = digits[1:] if digits[:1] == b"-" else digits
    if not body or any(c not in _DIGITS for c in body):
        raise BencodeError("bad integer")
    if len(body) > 1 and body[:1] == b"0":
        raise BencodeError("leading zero")
    return int(digits)


def _decode_at(buf: bytes, pos: int, depth: int = 0) -> tuple[Any, int]:
    """Decode one value at ``pos``; return it and the position after it."""
    if depth > 100:
        raise BencodeError("nested too deeply")
    if pos >= len(buf):
        raise BencodeError("unexpected end of data")
    lead = buf[pos]
    if lead == 0x69:  # i
        end = buf.find(b"e", pos + 1)
        if end < 0:
            raise BencodeError("unterminated integer")
        return _parse_int(buf, pos + 1, end), end + 1
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
        return _text(buf[start:stop]), stop
    if lead == 0x6C:  # l
        items: list[Any] = []
        pos += 1
        while pos < len(buf) and buf[pos] != 0x65:
            value, pos = _decode_at(buf, pos, depth + 1)
            items.append(value)
        return items, pos + 1
    if lead == 0x64:  # d
        result: dict[str, Any] = {}
        pos += 1
        while pos < len(buf) and buf[pos] != 0x65:
            if buf[pos] not in _DIGITS:
                raise BencodeError("dictionary key is not a string")
            key, pos = _decode_at(buf, pos, depth + 1)
            value, pos = _decode_at(buf, pos, depth + 1)
            result.setdefault(key, value)
        return result, pos + 1
    raise BencodeError("unknown value type")


def decode_prefix(buf: bytes) -> tuple[Any, int]:
    """Decode the value at the start of ``buf``; return it and how many bytes it used."""
    value, end = _decode_at(buf, 0)
    return value, min(end, len(buf))


def decode(buf: bytes) -> Any:
    """Decode the value at the start of ``buf``, ignoring anything after it."""
    return _decode_at(buf, 0)[0]


def scan_value(buf: bytes | bytearray, pos: int = 0) -> int | None:
    """Return the end offset of the complete bencode value at ``pos``.

    ``None`` means more bytes are needed; ``BencodeError`` means the bytes can never
    become a value. Used by stream transports to find message boundaries without
    decoding (a message may arrive split or several may share a segment).
    """
    stack = 0
    n = len(buf)
    while True:
        if pos >= n:
            return None
        lead = buf[pos]
        if lead == 0x69:  # i
            end = buf.find(b"e", pos + 1)
            if end < 0:
                if n - pos > 32:
                    raise BencodeError("integer too long")
                return None
            pos = end + 1
        elif lead in _DIGITS:
            colon = buf.find(b":", pos, pos + 12)
            if colon < 0:
                if n - pos >= 12:
                    raise BencodeError("bad string length")
                return None
            length = bytes(buf[pos:colon])
            if not length.isdigit():
                raise BencodeError("bad string length")
            pos = colon + 1 + int(length)
            if pos > n:
                return None
        elif lead in (0x6C, 0x64):  # l, d
            stack += 1
            pos += 1
            continue
        elif lead == 0x65 and stack:  # e closing a container
            stack -= 1
            pos += 1
        else:
            raise BencodeError("unknown value type")
        if stack == 0:
            return pos


def _encode_into(value: Any, out: list[bytes]) -> None:
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        out.append(b"%d:" % len(raw))
        out.append(raw)
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
        out.append(b"d")
        for key, item in value.items():
            _encode_into(str(key), out)
            _encode_into(item, out)
        out.append(b"e")
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _encode_into(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def encode(value: Any) -> bytes:
    """Encode ``value``; dicts keep their insertion order, floats become ``%.6f`` strings."""
    out: list[bytes] = []
    _encode_into(value, out)
    return b"".join(out)
