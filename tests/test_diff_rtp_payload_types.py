"""Differential: RTP of a payload type the stream does not know, beside rtpengine 10.5 over
loopback sockets.

10.5 counts such a packet as an error of the stream it came on, and counts and relays it
all the same (``media.rtcp_feedback.unknown_type``): on an RTP port with or without
rtcp-mux, plain or SDES-SRTP (its clear header is read before decryption), while the
streams learn and once they are settled. A packet whose header does not parse (not version
2, CSRCs or extension beyond the packet, fewer than 12 bytes) is no error. On a muxed port
a second byte of 194-223 is RTCP, not RTP (192 and 193 are RTP there); without rtcp-mux it
is RTP like any other. The types a stream knows are those of its media's offers (what the
strip left), gathered over re-offers; an answer adds none. What the other party receives
(decrypted) and the query's counters of the sender's streams must be 10.5's.
"""

from __future__ import annotations

import struct
import time

import pytest
from differential import (
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    rtp_rtcp_sockets,
    sdp,
)
from test_diff_quality import _plain
from test_diff_rtcp_feedback import _crypto, _ports, _text
from test_diff_rtcp_validate import SRTP, _opened, _protected

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext


def _rtp(second: int, seq: int, first: int = 0x80, size: int = 40) -> bytes:
    return struct.pack("!BBHII", first, second, seq, 160 * seq, 0xAAAA) + bytes(size)


# name: what A sends to its RTP port (on an SRTP call protected as SRTP, where libsrtp can)
PACKETS = {
    "PCMU": _rtp(0, 10),
    "PCMA": _rtp(8, 11),
    "type 9": _rtp(9, 12),
    "type 96": _rtp(96, 13),
    "type 72": _rtp(72, 14),
    "PCMU, marker": _rtp(128, 15),
    "type 64, marker (192)": _rtp(192, 16),
    "type 65, marker (193)": _rtp(193, 17),
    "type 66, marker (194)": _rtp(194, 18),
    "type 72, marker (200)": _rtp(200, 19),
    "type 72, marker, 12 bytes": _rtp(200, 20, size=0),
    "type 9, version 1": _rtp(9, 21, first=0x40),
    "type 9, 15 CSRCs announced": _rtp(9, 22, first=0x8F),
    "type 9, 8 bytes": _rtp(9, 23)[:8],
    "PCMU again": _rtp(0, 24),
}


def _body(port: int, protocol: str, crypto, mux: bool, formats: str,
          attributes: tuple[str, ...] = (), version: int = 1) -> str:
    return sdp("v=0", f"o=- {port} {version} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
               "t=0 0", f"m=audio {port} {protocol} {formats}", *attributes,
               *([f"a={crypto.format()}"] if crypto else []),
               *(["a=rtcp-mux"] if mux else []), "a=sendrecv")


def _counters(daemon, call_id: str, tag: str = "A") -> list[tuple]:
    reply = _plain(daemon.request({"command": "query", "call-id": call_id}))
    return [(s["stats"]["packets"], s["stats"]["bytes"], s["stats"]["errors"])
            for media in reply["tags"][tag].get("medias", []) for s in media.get("streams", [])]


def _exchange(daemon, call_id: str, protocol: str, mux: bool, settle: float) -> list:
    a_rtp, a_rtcp = rtp_rtcp_sockets()
    b_rtp, b_rtcp = rtp_rtcp_sockets()
    ids = {"call-id": call_id, "from-tag": "A"}
    seen = []
    try:
        a_key = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80") if "SAVP" in protocol else None
        to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove", "sdp": _body(
            a_rtp.getsockname()[1], protocol, a_key, mux, "0 8")}))
        b_in = _crypto(to_b)
        b_key = sdes.generate(b_in.tag, b_in.suite.name) if b_in else None
        to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                     "sdp": _body(b_rtp.getsockname()[1], protocol, b_key, mux,
                                                  "0 8")}))
        protect = a_key and SrtpContext.from_sdes(a_key, True)
        unprotect = b_in and SrtpContext.from_sdes(b_in, False)
        b_protect = b_key and SrtpContext.from_sdes(b_key, True)
        rtp_port = _ports(to_a)[0]
        for seq in range(3):  # RTP both ways: every port learns its party
            for sock, port, context in ((a_rtp, rtp_port, protect),
                                        (b_rtp, _ports(to_b)[0], b_protect)):
                sock.sendto(_protected(context, _rtp(0, seq), SRTP), ("127.0.0.1", port))
            time.sleep(0.02)
        burst(a_rtp, 0.2)
        burst(b_rtp, 0.2)
        if settle:
            time.sleep(settle)
        for name, packet in PACKETS.items():
            a_rtp.sendto(_protected(protect, packet, SRTP), ("127.0.0.1", rtp_port))
            got = [_opened(unprotect, g) for g in burst(b_rtp, 0.3) + burst(b_rtcp, 0.05)]
            seen.append((name, got, _counters(daemon, call_id)))
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
            sock.close()
    return seen


@pytest.mark.parametrize("protocol", ["RTP/AVP", "RTP/SAVP"])
@pytest.mark.parametrize("mux", [False, True], ids=["rtcp-port", "rtcp-mux"])
@pytest.mark.parametrize("settle", [0.0, 3.3], ids=["learning", "settled-streams"])
def test_an_unknown_payload_type_is_an_error_relayed_as_rtpengine(default_pair, protocol,
                                                                   mux, settle):
    call_id = f"payload-types-{protocol}-{mux}-{settle}".replace("/", "_")
    want = _exchange(default_pair.reference, call_id, protocol, mux, settle)
    have = _exchange(default_pair.ours, call_id, protocol, mux, settle)
    assert have == want
    errors = [counters[0][2] for _, _, counters in want]
    assert errors[1] == 0 and errors[2] == 1  # (PCMA known, type 9 not: the case is tested)
    assert all(got for _, got, _ in want[:6])  # (relayed all the same)


# name: (A's formats, B's, offer options, A's formats re-offered and B's answer, or None)
CODEC_LISTS = {
    "the same": ("0 8", "0 8", {}, None),
    "answered fewer": ("0 8 101", "0 101", {}, None),
    "answered more": ("0", "0 8 18", {}, None),
    "dynamic": ("0 96", "0 96", {}, None),
    "stripped": ("0 8 9", "0", {"codec": {"strip": ["PCMA"]}}, None),
    "re-offered fewer": ("0 8 9", "0 8 9", {}, ("0", "0")),
}
RTPMAPS = ("a=rtpmap:96 opus/48000/2", "a=rtpmap:101 telephone-event/8000")


def _codec_exchange(daemon, call_id: str, scenario: tuple) -> dict:
    a_formats, b_formats, options, again = scenario
    a_rtp, a_rtcp = rtp_rtcp_sockets()
    b_rtp, b_rtcp = rtp_rtcp_sockets()
    ids = {"call-id": call_id, "from-tag": "A"}
    a_port, b_port = a_rtp.getsockname()[1], b_rtp.getsockname()[1]
    try:
        def attributes(formats: str) -> tuple[str, ...]:
            return tuple(line for line in RTPMAPS if line.split()[0][9:] in formats.split())

        def negotiate(a: str, b: str, version: int, extra: dict) -> tuple[str, str]:
            to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove", **extra,
                                         "sdp": _body(a_port, "RTP/AVP", None, False, a,
                                                      attributes(a), version)}))
            to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                         "ICE": "remove", "sdp": _body(
                                             b_port, "RTP/AVP", None, False, b,
                                             attributes(b), version)}))
            return to_a, to_b

        to_a, to_b = negotiate(a_formats, b_formats, 1, options)
        if again is not None:
            to_a, to_b = negotiate(*again, 2, {})
        seen = {"A": [], "B": []}
        for seq, pt in enumerate((0, 8, 9, 18, 96, 101, 102, 13)):
            for tag, sock, port, other in (("A", a_rtp, _ports(to_a)[0], b_rtp),
                                           ("B", b_rtp, _ports(to_b)[0], a_rtp)):
                sock.sendto(_rtp(pt, seq), ("127.0.0.1", port))
                got = burst(other, 0.3)
                seen[tag].append((pt, len(got), _counters(daemon, call_id, tag)[0]))
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
            sock.close()
    return seen


@pytest.mark.parametrize("scenario", CODEC_LISTS.values(), ids=CODEC_LISTS.keys())
def test_the_payload_types_a_stream_knows_are_its_offers_as_rtpengine(default_pair, scenario):
    call_id = f"codec-lists-{list(CODEC_LISTS.values()).index(scenario)}"
    want = _codec_exchange(default_pair.reference, call_id, scenario)
    have = _codec_exchange(default_pair.ours, call_id, scenario)
    assert have == want
    assert any(errors for _, _, (_, _, errors) in want["A"])  # (the case is tested)


# name: (B's formats in its subscribe answer, subscribe request options); A and B talk
# PCMU and PCMA, C subscribes to A
SUBSCRIBERS = {
    "answered the same": ("0 8", {}),
    "answered fewer": ("8", {}),
    "answered another": ("0 9", {}),
    "stripped": ("0", {"codec": {"strip": ["PCMA"]}}),
}


def _pubsub_exchange(daemon, call_id: str, c_formats: str, options: dict) -> list:
    """A subscriber C, and a publisher P (PCMA, PCMU, telephone-event) on a call of its
    own, each sending RTP of known and unknown types to its port: its streams' counters
    (a subscriber knows the codecs offered to it, its answer adds none; a publisher the
    one codec it is answered with; 10.5)."""
    socks = [rtp_rtcp_sockets() for _ in "ABCP"]
    (a, _), (b, _), (c, _), (p, _) = socks
    ids = {"call-id": call_id, "from-tag": "A"}
    try:
        def body(sock, formats: str, direction: str) -> str:
            attributes = ("a=rtpmap:101 telephone-event/8000",) if "101" in formats else ()
            return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                       "t=0 0", f"m=audio {sock.getsockname()[1]} RTP/AVP {formats}",
                       *attributes, f"a={direction}")

        daemon.request({"command": "offer", **ids, "sdp": body(a, "0 8", "sendrecv")})
        daemon.request({"command": "answer", **ids, "to-tag": "B",
                        "sdp": body(b, "0 8", "sendrecv")})
        request = daemon.request({"command": "subscribe request", **ids, "to-tag": "C",
                                  **options})
        daemon.request({"command": "subscribe answer", "call-id": call_id, "to-tag": "C",
                        "sdp": body(c, c_formats, "recvonly")})
        published = daemon.request({"command": "publish", "call-id": call_id + "-pub",
                                    "from-tag": "P", "sdp": body(p, "8 0 101", "sendonly")})
        seen = []
        for tag, sock, reply, which in (("C", c, request, call_id),
                                        ("P", p, published, call_id + "-pub")):
            port = _ports(_text(reply))[0]
            for seq, pt in enumerate((0, 8, 9, 96, 101, 18), start=1):
                sock.sendto(_rtp(pt, seq), ("127.0.0.1", port))
                time.sleep(0.05)
            time.sleep(0.2)
            seen.append((tag, _counters(daemon, which, tag)))
        for which in (call_id, call_id + "-pub"):
            daemon.request({"command": "delete", "call-id": which})
    finally:
        for pair in socks:
            for sock in pair:
                sock.close()
    return seen


@pytest.mark.parametrize("scenario", SUBSCRIBERS.values(), ids=SUBSCRIBERS.keys())
def test_subscribers_and_publishers_count_unknown_payload_types_as_rtpengine(
        default_pair, scenario):
    call_id = f"pubsub-types-{list(SUBSCRIBERS.values()).index(scenario)}"
    want = _pubsub_exchange(default_pair.reference, call_id, *scenario)
    have = _pubsub_exchange(default_pair.ours, call_id, *scenario)
    assert have == want
    assert all(counters[0][2] for _, counters in want)  # (the case is tested)
