"""Differential: requests with values nested deep in their bencode or JSON, beside
rtpengine 10.5.

10.5's decoders take any depth their stack holds, so a request carrying a list nested 150
or 10,000 levels deep (under a key nobody reads, or where a string or a list of strings is
expected) is still executed. rtpengined refused bencode past 100 levels ("Could not decode
bencode dictionary") and JSON past ~990 ("Failed to parse JSON document"); it now takes
every bencode depth a UDP datagram can hold and JSON to 10,000 levels, and must answer
these requests as 10.5 does, without a traceback. Deeper JSON (10.5 crashed on 30,000
levels) is an error reply, and the daemon goes on.
"""

from __future__ import annotations

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    sdp,
)

from rtpengined.protocol import bencode

BODY = sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
           "m=audio 2000 RTP/AVP 0", "a=sendrecv")


def _nested(depth: int, inner: bytes = b"3:abc") -> bytes:
    return b"l" * depth + inner + b"e" * depth


def _offer(call_id: str, key: bytes, depth: int) -> bytes:
    body = BODY.encode()
    return (b"d7:command5:offer7:call-id" + b"%d:%s" % (len(call_id), call_id.encode())
            + b"8:from-tag1:A3:sdp" + b"%d:" % len(body) + body
            + b"%d:%s" % (len(key), key) + _nested(depth) + b"e")


@pytest.mark.parametrize("depth", [101, 150, 1000, 10_000])
def test_deep_ping_answered_as_rtpengine(default_pair, depth):
    payload = b"d7:command4:ping3:foo" + _nested(depth) + b"e"
    want = default_pair.reference.raw(payload)
    assert want == default_pair.ours.raw(payload) == b"d6:result4:ponge"


@pytest.mark.parametrize("key", [b"foo", b"flags", b"replace", b"rtcp-mux", b"codec", b"ICE"])
def test_deep_value_in_an_offer_answered_as_rtpengine(default_pair, key):
    replies = []
    for daemon in (default_pair.reference, default_pair.ours):
        call_id = f"deep-{key.decode()}"
        reply = bencode.decode(daemon.raw(_offer(call_id, key, 2000)))
        daemon.request({"command": "delete", "call-id": call_id})
        replies.append({k: v for k, v in reply.items() if k != "sdp"})
    assert replies[1] == replies[0]


def _json_ping(depth: int) -> bytes:
    return b'{"command":"ping","foo":' + b"[" * depth + b"1" + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [150, 2000, 10_000])
def test_deep_json_ping_answered_as_rtpengine(default_pair, depth):
    want = default_pair.reference.raw(_json_ping(depth))
    assert want == default_pair.ours.raw(_json_ping(depth)) == b'{"result":"pong"}'


def test_json_deeper_than_taken_is_an_error_reply(default_pair):
    assert default_pair.ours.raw(_json_ping(30_000)) == (
        b'{"result":"error","error-reason":"Failed to parse JSON document"}')
    assert default_pair.ours.raw(_json_ping(1)) == b'{"result":"pong"}'
