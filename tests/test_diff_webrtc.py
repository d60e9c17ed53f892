"""Differential: browser (WebRTC) offers and extended ng commands on live calls.

Chrome and Firefox offers carry BUNDLE, mid, rtcp-fb, extmap, ssrc, ICE and a DTLS
fingerprint over UDP/TLS/RTP/SAVPF. Both daemons terminate DTLS with their own certificate,
so fingerprints (and SDES keys) differ: the passed-through offers mask those lines, the
bridge to a plain phone answered by us keeps them with only the fingerprint value masked
(and compares query). The media itself is tested with aiortc in ``test_webrtc_relay``.
"""

from __future__ import annotations

import re

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    mask_sdp_lines,
    offer,
    query,
    sdp,
)

CHROME = sdp(
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "a=extmap-allow-mixed", "a=msid-semantic: WMS stream0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126", "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=candidate:1467250027 1 udp 2122260223 192.0.2.50 46243 typ host generation 0",
    "a=ice-ufrag:9uB6", "a=ice-pwd:YkK3JESaRJmy+2ncZH0JiyGB", "a=ice-options:trickle",
    "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:"
    "F0:A1:58:D0:A1:2C:19:08", "a=setup:actpass", "a=mid:0",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "a=sendrecv",
    "a=msid:stream0 audio0", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2", "a=fmtp:63 111/111", "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000", "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000", "a=rtpmap:126 telephone-event/8000",
    "a=ssrc:3570614608 cname:4TOk42mSjXCkVIa6", "a=ssrc:3570614608 msid:stream0 audio0",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:9uB6", "a=ice-pwd:YkK3JESaRJmy+2ncZH0JiyGB", "a=ice-options:trickle",
    "a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:"
    "F0:A1:58:D0:A1:2C:19:08", "a=setup:actpass", "a=mid:1",
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset", "a=sendrecv", "a=msid:stream0 video0",
    "a=rtcp-mux", "a=rtcp-rsize", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 goog-remb",
    "a=rtcp-fb:96 transport-cc", "a=rtcp-fb:96 ccm fir", "a=rtcp-fb:96 nack",
    "a=rtcp-fb:96 nack pli", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=ssrc-group:FID 2231627014 632943048", "a=ssrc:2231627014 cname:4TOk42mSjXCkVIa6",
    "a=ssrc:632943048 cname:4TOk42mSjXCkVIa6")
FIREFOX = sdp(
    "v=0", "o=mozilla...THIS_IS_SDPARTA-99.0 6702946133347587393 0 IN IP4 0.0.0.0", "s=-",
    "t=0 0", "a=fingerprint:sha-256 0A:3B:16:5F:9A:2C:59:7E:6C:9B:4F:3E:8A:1C:2D:E7:55:10:9C:8B:"
    "4A:0E:D1:72:66:3F:51:AB:90:CD:12:34", "a=group:BUNDLE 0", "a=ice-options:trickle",
    "a=msid-semantic:WMS *", "m=audio 51234 UDP/TLS/RTP/SAVPF 109 9 0 8 101",
    "c=IN IP4 192.0.2.60", "a=candidate:0 1 UDP 2122252543 192.0.2.60 51234 typ host",
    "a=candidate:0 2 UDP 2122252542 192.0.2.60 51235 typ host", "a=sendrecv",
    "a=end-of-candidates", "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1", "a=fmtp:101 0-15",
    "a=ice-pwd:e3baa26dd2fa5030d881d385f1e36cce", "a=ice-ufrag:58b99ead", "a=mid:0",
    "a=msid:{5a2b4e1c} {8f3d2a11}", "a=rtcp:51235 IN IP4 192.0.2.60", "a=rtcp-mux",
    "a=rtpmap:109 opus/48000/2", "a=rtpmap:9 G722/8000/1", "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=setup:actpass",
    "a=ssrc:2655508255 cname:{6f3b8c1a}")
PHONE = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
            "m=audio 3000 RTP/AVP 0 8 126", "a=rtpmap:126 telephone-event/8000", "a=sendrecv")
PLAIN = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
            "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv")
PHONE_B = sdp("v=0", "o=- 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
              "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendrecv")

DTLS_MASK = mask_sdp_lines("a=fingerprint:", "a=setup:", "a=tls-id:", "a=crypto:")
BRIDGE = {"ICE": "remove", "transport protocol": "RTP/AVP", "rtcp-mux": ["demux"],
          "DTLS": "off", "SDES": ["off"]}

BROWSER_ANSWER = sdp(
    "v=0", "o=- 77 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "m=audio 47000 UDP/TLS/RTP/SAVPF 109 0", "c=IN IP4 192.0.2.70",
    "a=candidate:1 1 udp 2122260223 192.0.2.70 47000 typ host", "a=ice-ufrag:Zq7y",
    "a=ice-pwd:kS8cmQ1nRA0tJ0uW8aF4vXyz", "a=fingerprint:sha-256 11:22:33:44:55:66:77:88:99:"
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00", "a=setup:active",
    "a=mid:0", "a=sendrecv", "a=rtcp-mux", "a=rtpmap:109 opus/48000/2", "a=rtpmap:0 PCMU/8000")
WEBRTC_BRIDGE = {"ICE": "remove", "transport protocol": "RTP/AVP", "rtcp-mux": ["demux"]}
TO_BROWSER = {"transport protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"]}


def mask_fingerprint(reply):
    """Our certificate and SDES keys differ from 10.5's: keep the lines (hash name, suite,
    key shape), drop the values."""
    if not isinstance(reply, list):
        return reply
    return [(key, re.sub(r"inline:[A-Za-z0-9+/=]+", lambda m: f"inline:<{len(m.group(0))}>",
                         re.sub(r"(a=fingerprint:\S+) [0-9A-F:]+", r"\1 <fingerprint>", value))
             if key == "sdp" and isinstance(value, str) else value) for key, value in reply]


WEBRTC_SCENARIOS: dict[str, list[dict]] = {
    # DTLS terminated by the daemon: the answer to the browser carries a=setup:active and
    # our fingerprint, query shows the settled role (no media: nothing verified yet).
    "Firefox to phone, DTLS answered by us": [
        offer(FIREFOX, **WEBRTC_BRIDGE), answer(PHONE, _mask=mask_fingerprint), query(),
        delete()],
    "Firefox to a browser, each leg's DTLS ours": [
        offer(FIREFOX, _mask=mask_fingerprint), answer(BROWSER_ANSWER, _mask=mask_fingerprint),
        query(), delete()],
    # Chrome's placeholders (m= port 9, c=0.0.0.0, a=rtcp:9 IN IP4 0.0.0.0): query shows
    # them as the RTCP endpoints too (10.5), though rtcp-mux is in use.
    "Chrome to Chrome, each leg's DTLS ours": [
        offer(CHROME, _mask=mask_fingerprint),
        answer(CHROME.replace("a=setup:actpass", "a=setup:active"), _mask=mask_fingerprint),
        query(), delete()],
    "phone to a browser, its DTLS answer ours": [
        offer(PLAIN, **TO_BROWSER, _mask=mask_fingerprint),
        answer(BROWSER_ANSWER), query(), delete()],
    "DTLS off: SDES only": [
        offer(PLAIN, **{"transport protocol": "RTP/SAVP", "DTLS": "off"}, _mask=mask_fingerprint),
        offer(FIREFOX, tag="C", DTLS="off", _mask=mask_fingerprint), delete()],
    "Firefox to phone, DTLS-reverse passive": [
        offer(FIREFOX, **WEBRTC_BRIDGE, **{"DTLS-reverse": "passive"}),
        answer(PHONE, _mask=mask_fingerprint), query(), delete()],
    # Sent on to another WebRTC party: our SDES keys, actpass and fingerprint (10.5).
    "Chrome offer passed through": [offer(CHROME, _mask=mask_fingerprint), delete()],
    "Firefox offer passed through": [offer(FIREFOX, _mask=mask_fingerprint), delete()],
    "Chrome offer with ICE force": [offer(CHROME, ICE="force", _mask=mask_fingerprint),
                                    delete()],
    "Chrome to phone, SDP shape of the bridge": [offer(CHROME, _mask=DTLS_MASK, **BRIDGE),
                                                 delete()],
    "Firefox to phone, SDP shape of the bridge": [offer(FIREFOX, _mask=DTLS_MASK, **BRIDGE),
                                                  delete()],
}

# Re-INVITEs on a browser's call (10.5's media IDs and DTLS state kept per leg).
PLAIN_MID = PLAIN.replace("a=sendrecv", "a=mid:a1\r\na=sendrecv")
PHONE_MID = PHONE.replace("a=sendrecv", "a=mid:ph\r\na=sendrecv")
FIREFOX_ANSWER = FIREFOX.replace("a=setup:actpass", "a=setup:active")
BROWSER_REOFFER = BROWSER_ANSWER.replace("a=setup:active", "a=setup:actpass")
BACK = {"from-tag": "B", "to-tag": "A"}

REINVITE_SCENARIOS: dict[str, list[dict]] = {
    # A party's media keeps one a=mid: its own offer's, else the first one offered to it
    # (or `generate mid`'s), whatever later SDPs of the other side say.
    "generate mid, then kept both ways": [
        offer(PLAIN, flags=["generate-mid"]), answer(PHONE), offer(PLAIN), answer(PHONE_MID),
        offer(PHONE, **BACK), answer(PLAIN, **BACK), query(), delete()],
    "a re-offer changes its own mid only": [
        offer(PLAIN_MID), answer(PHONE), offer(PLAIN_MID.replace("a=mid:a1", "a=mid:zz")),
        answer(PHONE_MID), offer(PHONE_MID, **BACK), answer(PLAIN, **BACK), offer(PLAIN),
        answer(PHONE), delete()],
    # The phone re-INVITEs the browser that called it: the browser's mid, DTLS alone (its
    # DTLS offer was answered: no a=crypto any more).
    "phone re-offers to Firefox": [
        offer(FIREFOX, **WEBRTC_BRIDGE), answer(PHONE, _mask=mask_fingerprint),
        offer(PHONE, **BACK, _mask=mask_fingerprint),
        answer(FIREFOX_ANSWER, **BACK, _mask=mask_fingerprint), query(_mask=mask_fingerprint),
        offer(PHONE, **BACK, **TO_BROWSER, _mask=mask_fingerprint), delete()],
    # A hold towards the browser: sendonly, then the old c=0.0.0.0 kind, which a leg we
    # speak ICE with gets as our address (10.5 keeps 0.0.0.0 only towards legs without ICE).
    "phone holds the browser": [
        offer(FIREFOX, **WEBRTC_BRIDGE), answer(PHONE, _mask=mask_fingerprint),
        offer(PHONE.replace("a=sendrecv", "a=sendonly"), **BACK, _mask=mask_fingerprint),
        answer(FIREFOX_ANSWER.replace("a=sendrecv", "a=recvonly"), **BACK,
               _mask=mask_fingerprint), query(_mask=mask_fingerprint),
        offer(PHONE.replace("c=IN IP4 192.0.2.20", "c=IN IP4 0.0.0.0"), **BACK,
              _mask=mask_fingerprint),
        answer(FIREFOX_ANSWER, **BACK, _mask=mask_fingerprint), delete()],
    # The browser answered (active: we are passive) and re-offers actpass: we stay passive.
    "browser answers, then re-offers": [
        offer(PLAIN, **TO_BROWSER, _mask=mask_fingerprint),
        answer(BROWSER_ANSWER, _mask=mask_fingerprint),
        offer(BROWSER_REOFFER, **BACK, **WEBRTC_BRIDGE, _mask=mask_fingerprint),
        answer(PLAIN, **BACK, _mask=mask_fingerprint), query(_mask=mask_fingerprint),
        offer(PLAIN, **TO_BROWSER, _mask=mask_fingerprint),
        answer(BROWSER_ANSWER, _mask=mask_fingerprint), query(_mask=mask_fingerprint),
        delete()],
}

EXTENDED_SCENARIOS: dict[str, list[dict]] = {
    "block media by from-tag, label, address, all": [
        offer(PLAIN, label="caller"), answer(PHONE_B, label="callee"),
        {"command": "block media", "from-tag": "A"}, {"command": "block media", "label": "callee"},
        {"command": "block media", "address": "192.0.2.10"},
        {"command": "block media", "address": "198.51.100.1"},
        {"command": "block media", "label": "nobody"},
        {"command": "unblock media", "from-tag": "A"}, {"command": "unblock media",
                                                        "flags": ["all"]},
        {"command": "block media"}, {"command": "unblock media"}, query(), delete()],
    "silence and unsilence": [
        offer(PLAIN), answer(PHONE_B), {"command": "silence media", "from-tag": "B"},
        {"command": "unsilence media", "from-tag": "B"}, {"command": "silence media"},
        {"command": "unsilence media", "flags": ["all"]}, delete()],
    "DTMF blocking": [offer(PLAIN), answer(PHONE_B), {"command": "block DTMF", "from-tag": "A"},
                      {"command": "unblock DTMF", "from-tag": "A"}, {"command": "block DTMF"},
                      {"command": "unblock DTMF"}, delete()],
    "recording commands": [offer(PLAIN), answer(PHONE_B), {"command": "start recording"},
                           {"command": "pause recording"}, {"command": "stop recording"},
                           {"command": "start recording", "from-tag": "A"}, query(), delete()],
    "forwarding commands": [offer(PLAIN), answer(PHONE_B), {"command": "start forwarding"},
                            {"command": "start forwarding", "from-tag": "A"},
                            {"command": "stop forwarding"}, delete()],
    "play media and DTMF errors": [
        offer(PLAIN), answer(PHONE_B), {"command": "play media", "from-tag": "A"},
        {"command": "play media", "from-tag": "A", "file": "/nonexistent.wav"},
        {"command": "play media", "from-tag": "X", "file": "/x.wav"},
        {"command": "stop media", "from-tag": "A"},
        {"command": "play DTMF", "from-tag": "A", "code": "5"},
        {"command": "play DTMF", "from-tag": "A"}, {"command": "play DTMF", "code": "1"},
        {"command": "play DTMF"}, {"command": "play media"},
        {"command": "play media", "file": "/x.wav"},
        {"command": "play DTMF", "from-tag": "A", "code": "X"},
        {"command": "play DTMF", "from-tag": "A", "code": 5},
        {"command": "play DTMF", "from-tag": "A", "code": "A", "duration": 100},
        {"command": "play DTMF", "label": "nobody", "code": "1"},
        delete()],
    "extended commands after delete": [offer(PLAIN), delete(), {"command": "block media"},
                                       {"command": "start recording"}],
    "record call in offer then query": [offer(PLAIN, **{"record call": "yes"}),
                                        answer(PHONE_B, **{"record call": "no"}), query(),
                                        delete()],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(WEBRTC_SCENARIOS))
def test_webrtc(pair, name):
    pair.compare(WEBRTC_SCENARIOS[name], name)


@pytest.mark.parametrize("name", list(EXTENDED_SCENARIOS))
def test_extended_commands(pair, name):
    pair.compare(EXTENDED_SCENARIOS[name], name)


@pytest.mark.parametrize("name", list(REINVITE_SCENARIOS))
def test_reinvites(pair, name):
    pair.compare(REINVITE_SCENARIOS[name], name)
