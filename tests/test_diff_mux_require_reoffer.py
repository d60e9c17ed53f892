"""A re-offer requiring rtcp-mux towards a party that has a port pair, as rtpengine 10.5.

10.5 keeps a party's ports when they are enough: a set with more ports than needed serves
too, so a re-offer with ``rtcp-mux: require`` (or its offerer leaving ICE or port
latching in place) goes out on the party's first port, the second staying bound beside
it. Only a far address that moved (no ICE, no latching) or a need for more ports binds
anew. Either way an offer requiring rtcp-mux names the RTP port in its ``a=rtcp``.

rtpengined bound a fresh port and wrote ``a=rtcp`` with the RTCP port the party still had
from the pair: a phone following it sent its RTCP where the offer did not say it muxed
(found by differential random flows, an ICE-forced call re-offered after a refusal).
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


def body(host: str, port: int, *extra: str, version: int = 1) -> str:
    return sdp("v=0", f"o=- 1 {version} IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {port} RTP/AVP 0 8", *extra)


SCENARIOS = {
    "same address": ({}, "198.51.100.1"),
    "moved": ({}, "198.51.100.3"),
    "ICE, same address": ({"ICE": "force"}, "198.51.100.1"),
    "ICE, moved": ({"ICE": "force"}, "198.51.100.3"),
    "port latching, moved": ({"flags": ["port-latching"]}, "198.51.100.3"),
    "offered mux first": ({"rtcp-mux": ["offer"]}, "198.51.100.1"),
}


@pytest.mark.parametrize("callee_mux", [False, True], ids=["callee-pair", "callee-mux"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_reoffer_requiring_mux(default_pair, scenario, callee_mux):
    first, host = SCENARIOS[scenario]
    again = {"rtcp-mux": ["require"]}
    if "port-latching" in first.get("flags", ()):
        again["flags"] = ["port-latching"]
    callee = ("a=rtcp-mux",) if callee_mux else ()
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000)), **first},
        answer(body("198.51.100.2", 3000, *callee)),
        {**offer(body(host, 2000, version=2)), "to-tag": "B", **again},
        query(),
        answer(body("198.51.100.2", 3000, "a=rtcp-mux")),
        query(),
    ], "mux-require-reoffer")


def test_reoffer_requiring_mux_in_every_request(default_pair):
    """The WebRTC set-up of a proxy: every offer with ``rtcp-mux: require``, the callee
    without rtcp-mux, then a re-INVITE."""
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000)), "rtcp-mux": ["require"]},
        answer(body("198.51.100.2", 3000)),
        {**offer(body("198.51.100.1", 2000, version=2)), "to-tag": "B",
         "rtcp-mux": ["require"]},
        answer(body("198.51.100.2", 3000, "a=rtcp-mux")),
        query(),
    ], "mux-require-every-offer")


@pytest.mark.parametrize("which", ["reference", "ours"])
def test_media_on_the_kept_port_muxed(default_pair, which):
    """Over real sockets: B had a pair, the re-offer requiring rtcp-mux keeps its first
    port; B's RTP and RTCP both go there (muxed) and reach A, and A's reach B."""
    daemon = getattr(default_pair, which)
    ids = {"call-id": f"mux-require-media-{which}"}
    a, b = loopback_party(), loopback_party()
    try:
        def local(sock, *extra, version=1):
            return body("127.0.0.1", sock.getsockname()[1], *extra, version=version)
        a_rtcp = f"a=rtcp:{a.getsockname()[1]}"  # (A's RTCP to its one socket as well)
        offered = daemon.request({**ids, **offer(local(a, a_rtcp))})
        answered = daemon.request({**ids, **answer(local(b))})
        reoffer = daemon.request({**ids, **offer(local(a, a_rtcp, version=2)), "to-tag": "B",
                                  "rtcp-mux": ["require"]})
        reanswer = daemon.request({**ids, **answer(local(b, "a=rtcp-mux"))})
        assert {offered["result"], answered["result"], reoffer["result"],
                reanswer["result"]} == {"ok"}
        to_b, to_a = audio_port(reoffer), audio_port(reanswer)  # (where B, A send)
        assert to_b == audio_port(offered)  # (B's first port, kept)
        assert f"a=rtcp:{to_b}\r\na=rtcp-mux" in reoffer["sdp"]
        rtp = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + b"\xff" * 160
        rtcp = struct.pack("!BBHI", 0x80, 201, 1, 0x5678)  # an empty receiver report
        b.sendto(rtp, ("127.0.0.1", to_b))
        assert [p[12:] for p in burst(a)] == [b"\xff" * 160]
        b.sendto(rtcp, ("127.0.0.1", to_b))  # (muxed on B's one port)
        assert burst(a) == [rtcp]
        a.sendto(rtp, ("127.0.0.1", to_a))
        assert [p[12:] for p in burst(b)] == [b"\xff" * 160]
        daemon.request({**ids, "command": "delete"})
    finally:
        for sock in (a, b):
            sock.close()
