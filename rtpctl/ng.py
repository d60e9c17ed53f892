"""ng messages as rtpctl builds and reads them. Sans-I/O.

A request is ``COOKIE SP PAYLOAD``; the cookie is ``<pid>_<counter>`` so two rtpctl
processes never collide and a retransmission reuses its cookie. Payloads are bencode
by default (what every SIP proxy sends) or JSON on request.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from rtpengined.protocol import bencode, ngcodec

_counter = itertools.count(1)


class MessageError(ValueError):
    """The user's words do not make an ng message (a usage error)."""


class ReplyError(ValueError):
    """The daemon's bytes are not an ng reply to our request."""


def next_cookie() -> bytes:
    return f"{os.getpid()}_{next(_counter)}".encode()


def encode_request(message: dict[str, Any], encoding: str = ngcodec.BENCODE,
                   cookie: bytes | None = None) -> tuple[bytes, bytes]:
    """Return ``(cookie, envelope bytes)`` for ``message``."""
    cookie = cookie or next_cookie()
    return cookie, cookie + b" " + ngcodec.encode_payload(message, encoding)


def decode_payload(payload: bytes) -> dict[str, Any]:
    """Decode a reply payload (bencode or JSON, told apart by its first byte)."""
    encoding = ngcodec.detect_encoding(payload)
    if encoding is None:
        raise ReplyError(f"reply is neither bencode nor JSON: {payload[:40]!r}")
    try:
        if encoding == ngcodec.JSON:
            value = json.loads(payload.decode("utf-8", "surrogateescape"))
        else:
            value = bencode.decode(payload)
    except (ValueError, RecursionError) as exc:
        raise ReplyError(f"undecodable reply: {exc}") from None
    if not isinstance(value, dict):
        raise ReplyError("reply is not a dictionary")
    return value


def decode_reply(raw: bytes, cookie: bytes) -> dict[str, Any]:
    """Check the cookie of an envelope and decode its payload."""
    envelope = ngcodec.split_envelope(raw)
    if envelope is None or envelope.cookie != cookie:
        raise ReplyError(f"reply does not carry our cookie {cookie.decode()!r}")
    return decode_payload(envelope.payload)


def is_error(reply: dict[str, Any]) -> bool:
    return reply.get("result") == "error"


def error_text(reply: dict[str, Any]) -> str:
    return str(reply.get("error-reason") or reply.get("result") or "error")


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value``: JSON lists/dicts/numbers stay typed, anything else is a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise MessageError(f"--option wants key=value, got {text!r}")
    if value[:1] in ("[", "{") or value.lstrip("-").isdigit():
        try:
            return key, ngcodec.from_json(json.loads(value))
        except ValueError:
            raise MessageError(f"--option {key}: value is not valid JSON: {value!r}") from None
    return key, value


def build_message(command: str, *, call_id: str | None = None, from_tag: str | None = None,
                  to_tag: str | None = None, via_branch: str | None = None, sdp: str | None = None,
                  flags: tuple[str, ...] = (), replace: tuple[str, ...] = (),
                  direction: tuple[str, ...] = (), options: tuple[str, ...] = (),
                  t38: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request dict in the key order rtpengine's own clients use."""
    message: dict[str, Any] = {"command": command}
    for key, value in (("call-id", call_id), ("from-tag", from_tag), ("to-tag", to_tag),
                       ("via-branch", via_branch), ("sdp", sdp)):
        if value is not None:
            message[key] = value
    if flags:
        message["flags"] = list(flags)
    if replace:
        message["replace"] = list(replace)
    if direction:
        message["direction"] = list(direction)
    if t38:
        message["T.38"] = list(t38)
    for text in options:
        key, value = parse_option(text)
        message[key] = value
    return message


def parse_raw(text: str) -> tuple[dict[str, Any] | None, bytes | None]:
    """A hand-written message: JSON (``{...}``) → dict; bencode (``d...e``) → bytes as typed."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise MessageError(f"message is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise MessageError("message must be a JSON object")
        try:
            return ngcodec.from_json(value), None
        except ValueError as exc:
            raise MessageError(str(exc)) from None
    if stripped.startswith("d"):
        raw = stripped.encode("utf-8", "surrogateescape")
        try:
            bencode.decode(raw)
        except bencode.BencodeError as exc:
            raise MessageError(f"message is not valid bencode: {exc}") from None
        return None, raw
    raise MessageError("message must be a JSON object ({...}) or a bencode dictionary (d...e)")
