"""New ports for a party on rtcp-mux, as rtpengine 10.5 binds them.

When a party's leg already uses rtcp-mux and its peer moves (a re-offer or an answer from a
new address), 10.5 gives it one new port, not a pair: a re-offer to it requires rtcp-mux
(no fallback port), an answer that leaves it on rtcp-mux needs one port. Its RTCP stream
keeps the socket it had (10.5 swaps only the sockets the new set has), so ``query`` shows
the old RTCP port beside the new RTP one. rtpengined bound a fresh pair and kept both open,
a port per re-INVITE more than 10.5 (found by differential random flows).
"""

from __future__ import annotations

import struct

import pytest
from differential import (
    answer,
    audio_port,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    loopback_party,
    offer,
    query,
    sdp,
)


def body(host: str, port: int, mux: bool) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {port} RTP/AVP 0 8", *(["a=rtcp-mux"] if mux else []))


@pytest.mark.parametrize("again_mux", [False, True])
@pytest.mark.parametrize("options", [{}, {"rtcp-mux": ["offer"]}, {"rtcp-mux": ["demux"]}],
                         ids=str)
def test_a_moved_offerer_reoffers_to_a_muxed_callee(default_pair, options, again_mux):
    default_pair.compare([
        offer(body("198.51.100.1", 2000, True)),
        answer(body("198.51.100.2", 3000, True)),
        {**offer(body("198.51.100.3", 4000, again_mux)), "to-tag": "B", **options},
        query(),
        answer(body("198.51.100.2", 3000, True)),
        query(),
    ], "mux-rebind-reoffer")


@pytest.mark.parametrize("answer_mux", [False, True])
@pytest.mark.parametrize("options", [{}, {"rtcp-mux": ["offer"]}, {"rtcp-mux": ["accept"]}],
                         ids=str)
def test_an_answer_from_a_new_address_to_a_muxed_offerer(default_pair, options, answer_mux):
    default_pair.compare([
        offer(body("198.51.100.1", 2000, False)),
        answer(body("198.51.100.2", 3000, False)),
        {**offer(body("198.51.100.4", 5000, True)), "from-tag": "B", "to-tag": "A",
         **options},
        {**answer(body("198.51.100.9", 6000, answer_mux)), "from-tag": "B", "to-tag": "A"},
        query(),
    ], "mux-rebind-answer")


@pytest.mark.parametrize("which", ["reference", "ours"])
def test_media_after_the_muxed_party_got_one_new_port(default_pair, which):
    """Over real sockets: A and B on rtcp-mux, B re-INVITEs from a new socket; A's one new
    port carries its RTP and RTCP (muxed), and media flows both ways."""
    daemon = getattr(default_pair, which)
    ids = {"call-id": f"mux-rebind-media-{which}"}
    a, b, b2 = loopback_party(), loopback_party(), loopback_party()
    try:
        def local(sock, mux=True):
            return body("127.0.0.1", sock.getsockname()[1], mux)
        offered = daemon.request({**ids, **offer(local(a))})
        daemon.request({**ids, **answer(local(b))})
        reoffer = daemon.request({**ids, **offer(local(b2)), "from-tag": "B", "to-tag": "A"})
        reanswer = daemon.request({**ids, **answer(local(a)), "from-tag": "B", "to-tag": "A"})
        assert offered["result"] == reoffer["result"] == reanswer["result"] == "ok"
        to_b, to_a = audio_port(reoffer), audio_port(reanswer)  # (where A, B send)
        rtp = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + b"\xff" * 160
        rtcp = struct.pack("!BBHI", 0x80, 201, 1, 0x5678)  # an empty receiver report
        a.sendto(rtp, ("127.0.0.1", to_b))
        assert [p[12:] for p in burst(b2)] == [b"\xff" * 160]
        b2.sendto(rtp, ("127.0.0.1", to_a))
        assert [p[12:] for p in burst(a)] == [b"\xff" * 160]
        b2.sendto(rtcp, ("127.0.0.1", to_a))
        assert burst(a) == [rtcp]
        a.sendto(rtcp, ("127.0.0.1", to_b))  # (A's one new port, muxed)
        assert burst(b2) == [rtcp]
        daemon.request({**ids, "command": "delete"})
    finally:
        for sock in (a, b, b2):
            sock.close()
