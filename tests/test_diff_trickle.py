"""Differential: trickle ICE candidates after the SDP (an ng ``offer``/``answer`` with the
``fragment`` flag), beside rtpengine 10.5.

A fragment is answered with a bare ``ok`` whether it is applied at once or kept for its
call or party (unknown call, a party without trickling ICE yet, an unknown mid); its
errors are 10.5's. The SDP of the offers and answers around the fragments must stay what
10.5 produces (fragments never change what is sent on). The media side is tested in
``test_webrtc_trickle``.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    sdp,
)
from test_diff_webrtc import CHROME, FIREFOX, PHONE, WEBRTC_BRIDGE, mask_fingerprint

FRAGMENT = sdp("a=ice-ufrag:9uB6", "a=ice-pwd:YkK3JESaRJmy+2ncZH0JiyGB",
               "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0",
               "a=candidate:2 1 udp 2122260222 192.0.2.51 46244 typ host",
               "a=candidate:3 1 udp 1686052607 203.0.113.9 46244 typ srflx raddr 192.0.2.51 "
               "rport 46244", "a=end-of-candidates")
VIDEO_FRAGMENT = sdp("m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1",
                     "a=candidate:2 1 udp 2122260222 192.0.2.51 46246 typ host")
UNKNOWN_MID = sdp("m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:7",
                  "a=candidate:2 1 udp 2122260222 192.0.2.51 46248 typ host")
BY_POSITION = sdp("v=0", "m=audio 9 RTP/AVP 0",
                  "a=candidate:4 1 udp 2122260221 192.0.2.52 40000 typ host")
FRAG = {"flags": ["fragment"]}

TRICKLE_SCENARIOS: dict[str, list[dict]] = {
    "fragments around a Chrome offer to a phone": [
        offer(FRAGMENT, **FRAG),  # before the call exists: kept
        offer(CHROME, **WEBRTC_BRIDGE, _mask=mask_fingerprint),
        offer(FRAGMENT, **FRAG), offer(VIDEO_FRAGMENT, **FRAG), offer(UNKNOWN_MID, **FRAG),
        offer(BY_POSITION, **FRAG),
        answer(PHONE, _mask=mask_fingerprint),
        offer(FRAGMENT, **FRAG),
        offer(FRAGMENT, tag="B", **FRAG),  # the plain party: no ICE to trickle to
        answer(FRAGMENT, **FRAG),
        offer(FRAGMENT, tag="A", **{"to-tag": "B"}, **FRAG),
        offer(CHROME, **WEBRTC_BRIDGE, _mask=mask_fingerprint),  # re-offer after fragments
        delete()],
    "fragments of a Firefox offer to another browser": [
        offer(FIREFOX, _mask=mask_fingerprint),
        offer(sdp("m=audio 9 UDP/TLS/RTP/SAVPF 109", "a=mid:0", "a=ice-ufrag:58b99ead",
                  "a=candidate:1 1 UDP 1686052863 203.0.113.60 51234 typ srflx raddr "
                  "192.0.2.60 rport 51234", "a=end-of-candidates"), **FRAG),
        delete()],
    "fragment errors": [
        offer("garbage", **FRAG),
        offer("v=0\r\nm=audio\r\n", **FRAG),
        offer("", **FRAG),
        offer("a=ice-ufrag:x\r\n", **FRAG),
        {"command": "offer", "sdp": FRAGMENT, **FRAG},
        {"command": "offer", "from-tag": "A", **FRAG},
        answer(FRAGMENT, **FRAG),  # an answer fragment needs the call
        {"command": "answer", "from-tag": "A", "sdp": FRAGMENT, **FRAG},
        offer(FRAGMENT, flags=["fragment", "trickle-ICE"])],
}


@pytest.mark.parametrize("name", list(TRICKLE_SCENARIOS))
def test_trickle_fragments(default_pair, name):
    default_pair.compare(TRICKLE_SCENARIOS[name], name)


PLAIN_OFFER = sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=x", "c=IN IP4 198.51.100.1",
                  "t=0 0", "m=audio 2000 RTP/AVP 0")
PLAIN_ANSWER = PLAIN_OFFER.replace("198.51.100.1", "198.51.100.2").replace("2000", "3000")


@pytest.mark.parametrize("options", [{}, {"ICE": "force"}, {"ICE": "remove"}], ids=str)
@pytest.mark.parametrize("answer_trickles", [False, True])
def test_the_trickle_ice_flag_in_query(default_pair, options, answer_trickles):
    """``trickle ICE`` in an offer shows as the receiving party's "trickle ICE" media flag
    until that party's own SDP says whether it trickles, with or without ICE on its leg
    (10.5); rtpengined showed it only from a party's own SDP, and only beside "ICE"."""
    answered = (PLAIN_ANSWER + "a=ice-options:trickle\r\n"
                if answer_trickles else PLAIN_ANSWER)
    default_pair.compare([
        {**offer(PLAIN_OFFER), "flags": ["trickle-ICE"], **options},
        {"command": "query"},
        answer(answered),
        {"command": "query"},
        delete(),
    ], f"trickle-flag-{answer_trickles}")
