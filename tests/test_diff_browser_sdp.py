"""Differential: SDP as a real browser writes it once ICE gathering is done, against 10.5.

A browser's SDP captured before gathering (``test_diff_webrtc``) has ``c=IN IP4 0.0.0.0``
and port 9 everywhere; once it has candidates (what Chromium hands over in
``test_diff_browser_webrtc``), ``c=`` and ``m=`` name its default candidate while
``a=rtcp:9 IN IP4 0.0.0.0`` stays, and ``a=ice-options:trickle`` is on the media. Two
differences with 10.5 showed there, in ``query``: the unspecified ``a=rtcp`` address (10.5
takes the media's address and the a=rtcp port, also for the fallback RTCP entry of a
one-port leg) and the ``trickle ICE`` media flag (10.5: the media's own ice-options, on a
leg that speaks ICE; not the session level, not the 0.0.0.0/9 address).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)
from test_diff_webrtc import mask_fingerprint

# Chromium 156's offer after gathering (one audio track; candidates on loopback only).
CHROMIUM_OFFER = sdp(
    "v=0", "o=- 1250380611352654425 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "a=extmap-allow-mixed", "a=msid-semantic: WMS 40903b79-495c-4bf2-8ed9-26dbef69209a",
    "m=audio 59783 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "c=IN IP4 127.0.0.1",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1682339755 1 udp 2122194687 127.0.0.1 59783 typ host generation 0 network-id 3"
    " network-cost 50",
    "a=candidate:1969906979 1 udp 2122267903 ::1 43551 typ host generation 0 network-id 4"
    " network-cost 50",
    "a=candidate:2599199551 1 tcp 1518214911 127.0.0.1 9 typ host tcptype active generation 0"
    " network-id 3 network-cost 50",
    "a=ice-ufrag:T6Bg", "a=ice-pwd:oiUNRVt1+VEwGhRdxtpBFm1S", "a=ice-options:trickle",
    "a=fingerprint:sha-256 81:72:E5:45:C9:C3:90:B9:C8:EF:24:1C:31:2F:2E:E0:65:27:84:86:96:49:BA:"
    "DA:15:03:33:A7:F1:E9:2C:9A", "a=setup:actpass", "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid", "a=sendrecv",
    "a=msid:40903b79-495c-4bf2-8ed9-26dbef69209a 7887608b-d324-4303-9732-0bde1f2ae377",
    "a=rtcp-mux", "a=rtcp-rsize", "a=rtcp-xr:rcvr-rtt=all", "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2", "a=fmtp:63 111/111", "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000", "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:1594755685 cname:zcA2B/T52QviyGhG",
    "a=ssrc:1594755685 msid:40903b79-495c-4bf2-8ed9-26dbef69209a "
    "7887608b-d324-4303-9732-0bde1f2ae377")
# Its answer to a plain phone's offer sent on as UDP/TLS/RTP/SAVPF (PCMU only).
CHROMIUM_ANSWER = sdp(
    "v=0", "o=- 3704522823482378402 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=msid-semantic: WMS 48c855cf-1c2b-4a3e-8b74-dc658e739dcc",
    "m=audio 45537 UDP/TLS/RTP/SAVPF 0", "c=IN IP4 127.0.0.1", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:853666913 1 udp 2122194687 127.0.0.1 45537 typ host generation 0 network-id 3"
    " network-cost 50",
    "a=ice-ufrag:4icW", "a=ice-pwd:ZfBz6y4Np8ac7lheoLJ+2bl0", "a=ice-options:trickle",
    "a=fingerprint:sha-256 6E:E6:25:B4:55:7C:41:37:FF:55:10:55:76:7C:6C:3A:2A:01:1D:2C:AF:4B:77:"
    "9A:A1:C0:23:0D:C7:86:71:52", "a=setup:active", "a=mid:0", "a=sendrecv",
    "a=msid:48c855cf-1c2b-4a3e-8b74-dc658e739dcc 32b26526-4b4b-4033-be3a-4810eb680365",
    "a=rtcp-mux", "a=rtpmap:0 PCMU/8000", "a=ssrc:4245359556 cname:5FNwAE/Ce+Y/6I1g")


def party(port: int, rtcp: str | None = None, mux: bool = False, ice: bool = True,
          media_trickle: bool = False, session_trickle: bool = False,
          address: str = "127.0.0.1") -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", f"c=IN IP4 {address}", "t=0 0"]
    if session_trickle:
        lines.append("a=ice-options:trickle")
    lines += [f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]
    if rtcp:
        lines.append(rtcp)
    if mux:
        lines.append("a=rtcp-mux")
    if ice:
        lines += ["a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx"]
        if address != "0.0.0.0":
            lines.append(f"a=candidate:1 1 udp 2122194687 {address} {port} typ host")
    if media_trickle:
        lines.append("a=ice-options:trickle")
    return sdp(*lines)


PHONE = party(42000, ice=False)
TO_BROWSER = {"transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"]}
BRIDGE = {"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]}

SCENARIOS: dict[str, list[dict]] = {
    "Chromium offer to a phone": [
        offer(CHROMIUM_OFFER, **BRIDGE, _mask=mask_fingerprint),
        answer(PHONE, _mask=mask_fingerprint), query(), delete()],
    "phone to a Chromium answer": [
        offer(PHONE, **TO_BROWSER, _mask=mask_fingerprint),
        answer(CHROMIUM_ANSWER, _mask=mask_fingerprint), query(), delete()],
    "Chromium offer passed through to another browser": [
        offer(CHROMIUM_OFFER, _mask=mask_fingerprint),
        answer(CHROMIUM_ANSWER, _mask=mask_fingerprint), query(), delete()],
    "trickle on the media, then a re-offer without": [
        offer(party(40000, media_trickle=True)), answer(party(42000)), query(),
        offer(party(40000)), answer(party(42000)), query(), delete()],
    "trickle on the media, ICE removed towards the answerer": [
        offer(party(40000, media_trickle=True), ICE="remove"), answer(PHONE), query(),
        delete()],
    "trickle on the media without ICE": [
        offer(party(40000, media_trickle=True, ice=False), ICE="force"),
        answer(party(42000, media_trickle=True)), query(), delete()],
    "trickle at the session level": [
        offer(party(40000, session_trickle=True)), answer(party(42000)), query(), delete()],
    "trickle address 0.0.0.0 port 9": [
        offer(party(9, address="0.0.0.0")), answer(party(42000)), query(), delete()],
}
for _rtcp in ("a=rtcp:9 IN IP4 0.0.0.0", "a=rtcp:40005 IN IP4 0.0.0.0", "a=rtcp:9",
              "a=rtcp:9 IN IP4 127.0.0.5"):
    for _mux in (False, True):
        SCENARIOS[f"{_rtcp}{' with rtcp-mux' if _mux else ''}"] = [
            offer(party(40000, _rtcp, _mux)), answer(party(42000, _rtcp, _mux)), query(),
            delete()]


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_browser_sdp(pair, name):
    pair.compare(SCENARIOS[name], name)
