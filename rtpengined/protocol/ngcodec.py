"""The ng envelope, sans-I/O: cookie framing, payload encodings and the reply cache.

A request is ``COOKIE SP PAYLOAD``. The payload is bencode when it starts with ``d``
and JSON when it starts with ``{``; the reply uses the same encoding. The cache maps a
cookie to the reply bytes it got, so a retransmitted request (on any transport) gets
the identical answer without running the command again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import bencode
from .errors import JsonTextError, NgError

BENCODE = "bencode"
JSON = "json"


@dataclass(frozen=True, init=False)
class Envelope:
    cookie: bytes
    payload: bytes

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, cookie: bytes, payload: bytes) -> None:
        object.__setattr__(self, "cookie", cookie)
        object.__setattr__(self, "payload", payload)


def split_envelope(raw: bytes) -> Envelope | None:
    """Split ``COOKIE SP PAYLOAD``; ``None`` when there is no space or the cookie is empty.

    rtpengine drops such messages without a reply.
    """
    space = raw.find(b" ")
    if space <= 0:
        return None
    return Envelope(raw[:space], raw[space + 1 :])


def detect_encoding(payload: bytes) -> str | None:
    """Return the payload encoding chosen by its first byte, or ``None`` if neither."""
    if payload[:1] == b"d":
        return BENCODE
    if payload[:1] == b"{":
        return JSON
    return None


def from_json(value: Any) -> Any:
    """Map a JSON value onto ng's data model as rtpengine converts it (true -> 1).

    ``ValueError`` for what ng cannot carry (null, floats). Shared by the daemon (JSON
    requests) and rtpctl (JSON given on its command line). Without recursion: whatever
    nesting ``json.loads`` took (~1,000 levels) is converted, as 10.5 takes it; recursing,
    a few hundred levels raised RecursionError past the request's error handling."""
    root = _json_scalar(value)
    if root is not None:
        return root
    root = [] if isinstance(value, list) else {}
    pending = [(value, root)]
    while pending:
        source, target = pending.pop()
        items: Iterable[tuple[Any, Any]] = (enumerate(source) if isinstance(source, list)
                                            else source.items())
        for key, item in items:
            converted = _json_scalar(item)
            if converted is None:
                converted = [] if isinstance(item, list) else {}
                pending.append((item, converted))
            if isinstance(target, list):
                target.append(converted)
            else:
                target[_json_text(key)] = converted
    return root


def _json_text(value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonTextError(value) from None
    return value


def _json_scalar(value: Any) -> Any:
    """A JSON scalar as ng has it; None for a list or an object (``ValueError`` else)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return _json_text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (list, dict)):
        return None
    raise ValueError(f"ng has no value like {value!r}")


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        result.setdefault(key, value)
    return result


# JSON nested this deep is taken: 10.5's parser takes 10,000 levels in a UDP request (and
# crashed at 30,000). Python's recurses in C, bounded by the interpreter's recursion limit
# (about 990 levels left by default); a document past that is parsed again with room for
# this many levels, ~1.5 MB of C stack, well inside any thread's.
JSON_MAX_DEPTH = 10_000


def _json_loads(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_first_key_wins)
    except RecursionError:
        pass
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + JSON_MAX_DEPTH)
    try:
        return json.loads(text, object_pairs_hook=_first_key_wins)
    finally:
        sys.setrecursionlimit(limit)


def decode_payload(payload: bytes, encoding: str) -> dict[str, Any]:
    """Decode a payload into a request dict, raising ``NgError`` with rtpengine's text."""
    if encoding == BENCODE:
        try:
            value = bencode.decode(payload)
        except (bencode.BencodeError, RecursionError):
            raise NgError("Could not decode bencode dictionary") from None
    else:
        try:
            value = _json_loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise NgError("Failed to parse JSON document") from None
        try:
            value = from_json(value)
        except JsonTextError:
            raise NgError("Failed to parse JSON document") from None
        except ValueError:  # null or a float somewhere
            raise NgError("Could not decode bencode dictionary") from None
    if not isinstance(value, dict):
        raise NgError("Could not decode bencode dictionary")
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, float):
        return "%.6f" % value
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    return value


def encode_payload(reply: dict[str, Any], encoding: str) -> bytes:
    """Encode a reply dict in the request's encoding (compact JSON, ordered bencode)."""
    if encoding == JSON:
        text = json.dumps(_to_json(reply), separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8", "surrogateescape")
    return bencode.encode(reply)


def error_reply(reason: str) -> dict[str, Any]:
    """The shape of every ng error: ``result`` first, then ``error-reason``."""
    return {"result": "error", "error-reason": reason}


class ReplyCache:
    """Replies by cookie, kept for 30 to 60 seconds in two generations.

    Like rtpengine, the generations rotate on lookup once 30 s have passed since the
    last rotation, so an entry survives exactly one rotation. ``max_bytes`` bounds the
    memory of one generation: past it the oldest generation is dropped early, which
    only shortens how long old cookies stay answerable.
    """

    def __init__(
        self,
        lifetime: float = 30.0,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.max_bytes = max_bytes
        self._clock = clock
        self._current: dict[bytes, bytes] = {}
        self._previous: dict[bytes, bytes] = {}
        self._current_bytes = 0
        self._rotated_at = clock()
        # How many generations were dropped: the daemon returns freed memory after each.
        self.dropped_generations = 0

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def _rotate(self) -> None:
        if self._previous:
            self.dropped_generations += 1
        self._previous = self._current
        self._current = {}
        self._current_bytes = 0

    def _maybe_rotate(self) -> None:
        now = self._clock()
        if now - self._rotated_at >= self.lifetime:
            self._rotate()
            if now - self._rotated_at >= 2 * self.lifetime and self._previous:
                self._previous = {}
                self.dropped_generations += 1
            self._rotated_at = now

    def expire(self) -> None:
        """Drop what is past its lifetime now, without waiting for the next request."""
        self._maybe_rotate()

    def get(self, cookie: bytes) -> bytes | None:
        self._maybe_rotate()
        hit = self._current.get(cookie)
        if hit is None:
            hit = self._previous.get(cookie)
        return hit

    def put(self, cookie: bytes, reply: bytes) -> None:
        self._maybe_rotate()
        if self._current_bytes + len(reply) > self.max_bytes:
            self._rotate()
            self._rotated_at = self._clock()
        self._current[cookie] = reply
        self._current_bytes += len(cookie) + len(reply)

    def clear(self) -> None:
        self._current.clear()
        self._previous.clear()
        self._current_bytes = 0
