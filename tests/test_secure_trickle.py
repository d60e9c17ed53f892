"""Trickle ICE fragments without I/O: parsing (RFC 8840 fragments as rtpengine 10.5 takes
them), merging candidates into a party's, and the queue of fragments waiting for their call."""

from __future__ import annotations

import pytest

from rtpengined.sdp import SdpError
from rtpengined.secure import trickle

FRAGMENT = ("a=ice-ufrag:9uB6\r\na=ice-pwd:YkK3JESaRJmy+2ncZH0JiyGB\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
            "a=candidate:2 1 udp 2122260222 192.0.2.51 46244 typ host\r\n"
            "a=candidate:2 2 udp 2122260221 192.0.2.51 46245 typ host\r\n"
            "a=candidate:5 1 tcp 1518280447 192.0.2.51 9 typ host tcptype active\r\n"
            "a=end-of-candidates\r\n"
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ice-ufrag:other\r\n"
            "a=candidate:3 1 UDP 1686052607 203.0.113.9 50000 typ srflx raddr 192.0.2.51 "
            "rport 46246\r\n")


def test_fragment_medias_candidates_and_credentials():
    audio, video = trickle.parse_fragment(FRAGMENT)
    assert audio == trickle.FragmentMedia(
        0, "0", "9uB6", "YkK3JESaRJmy+2ncZH0JiyGB", (("192.0.2.51", 46244, 2122260222),),
        (("192.0.2.51", 46245, 2122260221),), True)  # TCP candidates skipped
    assert (video.index, video.mid, video.ufrag, video.pwd) == (
        1, "1", "other", "YkK3JESaRJmy+2ncZH0JiyGB")  # media level first, else session
    assert video.candidates == (("203.0.113.9", 50000, 1686052607),) and not video.end


def test_fragment_with_v_line_without_mid_and_empty():
    (media,) = trickle.parse_fragment("v=0\r\nm=audio 9 RTP/AVP 0\r\n"
                                      "a=candidate:1 1 udp 7 192.0.2.1 4000 typ host\n")
    assert media.mid is None and media.candidates == (("192.0.2.1", 4000, 7),)
    assert trickle.parse_fragment("") == []
    assert trickle.parse_fragment("a=ice-ufrag:x\r\n") == []  # no media: nothing to add


@pytest.mark.parametrize("body", ["garbage", "v=0\r\nm=audio\r\n", "a=x\r\nbad line\r\n"])
def test_fragment_that_is_not_sdp(body):
    with pytest.raises(SdpError, match="Failed to parse SDP"):
        trickle.parse_fragment(body)


def test_malformed_candidates_are_skipped():
    rtp, rtcp = trickle.candidates(["1 1 udp x 192.0.2.1 4000 typ host", "1 3 udp 1 a 1 typ host",
                                    "short", "1 2 UDP 5 192.0.2.1 4001 typ host"])
    assert rtp == () and rtcp == (("192.0.2.1", 4001, 5),)
    # (ports out of range, a name, a priority beyond 32 bits: none is a candidate)
    rtp, _ = trickle.candidates(["1 1 udp 5 192.0.2.1 99999 typ host",
                                 "1 1 udp 5 192.0.2.1 0 typ host",
                                 "1 1 udp 5 192.0.2.1 -1 typ host",
                                 "1 1 udp 5 example.com 4000 typ host",
                                 "1 1 udp 4294967296 192.0.2.1 4000 typ host",
                                 "1 1 udp 4294967295 2001:db8::1 4000 typ host"])
    assert rtp == (("2001:db8::1", 4000, 4294967295),)


def test_merge_keeps_known_adds_new_and_takes_higher_priority():
    known = (("192.0.2.1", 4000, 10), ("192.0.2.2", 4000, 20))
    merged = trickle.merge(known, (("192.0.2.1", 4000, 5), ("192.0.2.2", 4000, 30),
                                   ("192.0.2.3", 4000, 1), ("192.0.2.3", 4000, 1)))
    assert merged == (("192.0.2.1", 4000, 10), ("192.0.2.2", 4000, 30), ("192.0.2.3", 4000, 1))
    many = tuple(("192.0.2.9", port, 1) for port in range(1000, 1200))
    assert len(trickle.merge((), many)) == trickle.MAX_CANDIDATES


def test_pending_fragments_expire_and_are_bounded():
    pending = trickle.PendingFragments(max_keys=2)
    first, second = trickle.parse_fragment(FRAGMENT)
    pending.put("call", "A", [first], now=0.0)
    pending.put("call", "A", [second], now=2.0)
    assert pending.take("call", "A", now=3.5) == [[second]]  # the first is older than 3 s
    assert pending.take("call", "A", now=3.5) == []  # taken once
    for n in range(3):
        pending.put(f"call{n}", "A", [first], now=10.0)
    assert len(pending) == 2 and pending.take("call0", "A", now=10.0) == []  # oldest dropped
    assert pending.take("call2", "A", now=10.0) == [[first]]
