"""The same ng conversations with rtpengine 10.5 and with rtpengined give the same replies.

Each scenario is a list of requests (the call-id is made unique per daemon). Replies are
compared after normalising ports (P1, P2… by first appearance), timestamps and ICE
credentials, so key order, types, SDP lines and error texts must all match.
"""

from __future__ import annotations

import itertools

import pytest
from differential import (
    Normaliser,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
)

CRLF = "\r\n"


def sdp(*lines: str) -> str:
    return CRLF.join(lines) + CRLF


ALICE = sdp("v=0", "o=alice 2890844526 2890844526 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
            "t=0 0", "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv")
BOB = sdp("v=0", "o=bob 2808844564 2808844564 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20",
          "t=0 0", "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
          "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv")
BARE = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0",
           "m=audio 2000 RTP/AVP 0")
MIXED = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "t=0 0", "a=sendonly",
            "m=audio 2004 RTP/AVP 0 8", "c=IN IP4 192.0.2.10", "b=AS:64", "a=ptime:20",
            "a=rtcp:2005", "a=foo:bar")
MUX = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0",
          "m=audio 2000 RTP/AVP 0", "a=rtcp-mux")
HOLD = sdp("v=0", "o=- 1 2 IN IP4 192.0.2.10", "s=call", "c=IN IP4 0.0.0.0", "t=0 0",
           "m=audio 2000 RTP/AVP 0")
ICE = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0",
          "m=audio 2000 RTP/AVP 0", "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
          "a=candidate:1 1 UDP 2130706431 192.0.2.10 2000 typ host",
          "a=candidate:1 2 UDP 2130706430 192.0.2.10 2001 typ host")
AV = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0",
         "m=audio 2000 RTP/AVP 0 8", "a=sendrecv", "m=video 2002 RTP/AVP 96",
         "a=rtpmap:96 H264/90000", "a=fmtp:96 profile-level-id=42e01f", "a=sendrecv")
AV_REJECT = sdp("v=0", "o=- 5 5 IN IP4 192.0.2.20", "s=call", "c=IN IP4 192.0.2.20", "t=0 0",
                "m=audio 3000 RTP/AVP 0", "a=sendrecv", "m=video 0 RTP/AVP 96")
ASTERISK = sdp("v=0", "o=- 1863396373 1863396373 IN IP4 10.0.0.5", "s=Asterisk", "c=IN IP4 10.0.0.5",
               "t=0 0", "m=audio 17054 RTP/AVP 9 0 8 101", "a=rtpmap:9 G722/8000",
               "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
               "a=fmtp:101 0-16", "a=ptime:20", "a=maxptime:150", "a=sendrecv")
FREESWITCH = sdp("v=0", "o=FreeSWITCH 1700000000 1700000001 IN IP4 10.0.0.6",
                 "s=FreeSWITCH", "c=IN IP4 10.0.0.6", "t=0 0", "m=audio 24580 RTP/AVP 0 8 101 13",
                 "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
                 "a=fmtp:101 0-16", "a=rtpmap:13 CN/8000", "a=ptime:20", "a=sendrecv", "a=rtcp:24581 IN IP4 10.0.0.6")
NO_MEDIA = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0")
NO_C = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "t=0 0", "m=audio 2000 RTP/AVP 0")


def offer(sdp_body: str, tag: str = "A", **extra) -> dict:
    return {"command": "offer", "from-tag": tag, "sdp": sdp_body, **extra}


def answer(sdp_body: str, from_tag: str = "A", to_tag: str = "B", **extra) -> dict:
    return {"command": "answer", "from-tag": from_tag, "to-tag": to_tag, "sdp": sdp_body, **extra}


QUERY = {"command": "query"}
DELETE = {"command": "delete", "delete-delay": 0}

SCENARIOS: dict[str, list[dict]] = {
    "basic offer answer query delete": [offer(ALICE), answer(BOB), QUERY,
                                         {"command": "delete", "from-tag": "A", "delete-delay": 0}],
    "offer query before answer": [offer(ALICE), QUERY, DELETE],
    "bare media section": [offer(BARE), answer(BOB), DELETE],
    "session direction and media attributes": [offer(MIXED), QUERY, DELETE],
    "rtcp-mux accepted": [offer(MUX), answer(MUX), DELETE],
    "rtcp-mux not accepted": [offer(MUX), answer(BOB), DELETE],
    "rtcp-mux require": [offer(BARE, **{"rtcp-mux": ["require"]}), DELETE],
    "rtcp-mux offer": [offer(BARE, **{"rtcp-mux": ["offer"]}), answer(BOB), DELETE],
    "rtcp-mux demux": [offer(MUX, **{"rtcp-mux": ["demux"]}), answer(MUX), DELETE],
    "rtcp-mux reject": [offer(MUX, **{"rtcp-mux": ["reject"]}), answer(MUX), DELETE],
    "no-rtcp-attribute": [offer(BARE, flags=["no-rtcp-attribute"]), DELETE],
    "full-rtcp-attribute": [offer(BARE, flags=["full-rtcp-attribute"]), DELETE],
    "zero address hold": [offer(HOLD), DELETE],
    "zero address replaced": [offer(HOLD, replace=["zero-address"]), DELETE],
    "ICE default": [offer(ICE), DELETE],
    "ICE remove": [offer(ICE, ICE="remove"), DELETE],
    "ICE force": [offer(BARE, ICE="force"), DELETE],
    "media address": [offer(ALICE, **{"media address": "203.0.113.5"}), DELETE],
    "replace origin and session connection": [
        offer(MIXED, replace=["origin", "session-connection"]), DELETE],
    "loop protect": [offer(ALICE, flags=["loop-protect"]), DELETE],
    "audio and video, video rejected": [offer(AV), answer(AV_REJECT), QUERY, DELETE],
    "re-offer keeps ports": [offer(ALICE), answer(BOB), offer(ALICE), answer(BOB), DELETE],
    "re-offer from the callee": [offer(ALICE), answer(BOB),
                                 {"command": "offer", "from-tag": "B", "to-tag": "A", "sdp": BOB},
                                 DELETE],
    "codec strip": [offer(ALICE, codec={"strip": ["PCMA"]}), DELETE],
    "codec strip all except": [offer(ALICE, flags=["codec-strip-all", "codec-except-PCMU"]), DELETE],
    "codec offer reorders": [offer(ALICE, codec={"offer": ["PCMA"]}), DELETE],
    "transport protocol": [offer(ALICE, **{"transport protocol": "RTP/AVPF"}), DELETE],
    "label shows in query": [offer(ALICE, label="caller"), answer(BOB, label="callee"), QUERY, DELETE],
    "SIP source address": [offer(ALICE, flags=["SIP-source-address"],
                                 **{"received from": ["IP4", "198.51.100.7"]}), QUERY, DELETE],
    "Asterisk offer": [offer(ASTERISK, replace=["origin", "session-connection"], ICE="remove"),
                       answer(BOB), DELETE],
    "FreeSWITCH offer": [offer(FREESWITCH, flags=["trust-address"]), answer(BOB), QUERY, DELETE],
    "unknown keys and flags ignored": [offer(ALICE, flags=["no-such-flag"], foo="bar"), DELETE],
    "errors": [
        {"command": "offer"}, {"command": "offer", "sdp": ALICE},
        {"command": "offer", "sdp": ALICE, "call-id": None},
        offer("garbage"), offer(NO_C), answer(BOB), {"command": "answer", "sdp": BOB, "from-tag": "A"},
        {"command": "query"}, {"command": "delete", "flags": ["fatal"]}, {"command": "delete"},
        {"command": "list", "limit": -1},
    ],
    "offer without media": [offer(NO_MEDIA), DELETE],
    "delete one party": [offer(ALICE), answer(BOB), {"command": "delete", "from-tag": "B", "delete-delay": 0},
                         QUERY],
    "block and silence": [offer(ALICE), answer(BOB), {"command": "block media", "from-tag": "A"},
                          {"command": "block media", "from-tag": "X"},
                          {"command": "unblock media", "flags": ["all"]},
                          {"command": "silence media"}, {"command": "play media", "from-tag": "A"},
                          {"command": "play DTMF", "from-tag": "A", "code": "5"},
                          {"command": "start recording"}, DELETE],
}

_ids = itertools.count()


@pytest.fixture
def daemons(default_pair):
    return default_pair.reference, default_pair.ours


def converse(daemon, steps: list[dict], call_id: str) -> list:
    normaliser = Normaliser(daemon.port_range)
    replies = []
    for step in steps:
        message = {k: v for k, v in step.items() if v is not None}
        if "call-id" not in step:
            message["call-id"] = call_id
        replies.append(normaliser.value(daemon.request(message)))
    return replies


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_replies_as_rtpengine(daemons, name):
    reference, ours = daemons
    n = next(_ids)
    expected = converse(reference, SCENARIOS[name], f"diff-{n}")
    got = converse(ours, SCENARIOS[name], f"diff-{n}")
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"step {index} ({SCENARIOS[name][index].get('command')})"
