"""Helpers for the call tests: replay rtpengine 10.5 captures and compare with ports masked.

Ports of the daemons' media ranges become tokens by first appearance (``P1``, ``P1+1`` for
the port above a known one), so "same port again", "RTCP = RTP + 1" and "new port" are
compared exactly while the random values are not. Times, ICE credentials and the
loop-protect instance id are masked.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from rtpengined.protocol import bencode

NG_CAPTURES = os.path.join(os.path.dirname(__file__), "fixtures", "ng-captures.jsonl")
CAPTURED_RANGE = (31000, 31999)
OUR_RANGE = (18000, 18999)  # below the ephemeral ports (32768+): no client socket takes one
TIME_KEYS = {"created", "created_us", "last signal", "last packet"}
_FIVE_DIGITS = re.compile(r"(?<![\d.])(\d{5})(?![\d.])")
_MASKS = [
    (re.compile(r"a=ice-ufrag:\S+"), "a=ice-ufrag:UFRAG"),
    (re.compile(r"a=ice-pwd:\S+"), "a=ice-pwd:PWD"),
    (re.compile(r"a=candidate:\S+"), "a=candidate:FOUNDATION"),
    (re.compile(r"a=rtpengine:\S+"), "a=rtpengine:ID"),
]


def load_captures() -> list[dict[str, Any]]:
    with open(NG_CAPTURES, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def payload(raw: str | None) -> Any:
    """Decode the payload of a captured envelope (bencode or JSON)."""
    if raw is None:
        return None
    data = raw.encode("utf-8", "surrogateescape")
    body = data[data.find(b" ") + 1:]
    if body[:1] == b"{":
        return json.loads(body)
    return bencode.decode(body)


class PortTokens:
    """Maps one daemon's media ports to tokens by order of first appearance."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.tokens: dict[int, str] = {}
        self.count = 0

    def token(self, port: int) -> str:
        if port in self.tokens:
            return self.tokens[port]
        if port - 1 in self.tokens and "+" not in self.tokens[port - 1]:
            self.tokens[port] = self.tokens[port - 1] + "+1"
        else:
            self.count += 1
            self.tokens[port] = f"P{self.count}"
        return self.tokens[port]

    def port_of(self, token: str) -> int | None:
        return next((p for p, t in self.tokens.items() if t == token), None)

    def in_range(self, port: int) -> bool:
        return self.low <= port <= self.high

    def text(self, value: str) -> str:
        def sub(match: re.Match) -> str:
            port = int(match.group(1))
            return self.token(port) if self.in_range(port) else match.group(1)

        value = _FIVE_DIGITS.sub(sub, value)
        for pattern, replacement in _MASKS:
            value = pattern.sub(replacement, value)
        return value

    def normalise(self, value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.normalise(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.normalise(v) for v in value]
        if key in TIME_KEYS and isinstance(value, int):
            return 0
        if key == "local port" and isinstance(value, int) and self.in_range(value):
            return self.token(value)
        if isinstance(value, str) and key in ("sdp", "SDP"):
            return self.text(value)
        return value


def translate_request(message: Any, captured: PortTokens, ours: PortTokens,
                      instance_id: str) -> Any:
    """Rewrite captured-daemon ports/ids inside a request SDP to our daemon's equivalents."""
    if not isinstance(message, dict):
        return message
    out = dict(message)
    for key in ("sdp", "SDP"):
        if isinstance(out.get(key), str):
            def sub(match: re.Match) -> str:
                port = int(match.group(1))
                if captured.in_range(port) and port in captured.tokens:
                    mine = ours.port_of(captured.tokens[port])
                    if mine is not None:
                        return str(mine)
                return match.group(1)

            text = _FIVE_DIGITS.sub(sub, out[key])
            out[key] = re.sub(r"a=rtpengine:[0-9a-f]+", f"a=rtpengine:{instance_id}", text)
    return out
