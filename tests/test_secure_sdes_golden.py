"""rtpengine 10.5's captured SDES offers and answers (``secure/captures.json``) replayed
through a ``Core``: our SDP must be 10.5's, line for line, once keys, the certificate
fingerprint and port numbers are masked (all random or allocated)."""

from __future__ import annotations

import json
import os
import re

import pytest

from rtpengined.config import Config
from rtpengined.core import Core
from rtpengined.media import NullMediaPlane
from rtpengined.protocol import bencode
from tests.conftest import FIXTURES_ROOT

with open(os.path.join(FIXTURES_ROOT, "rtpengine-10.5", "secure", "captures.json")) as f:
    CAPTURES = json.load(f)

SDES_CASES = ["plain-to-savp-offer", "plain-to-savp-offer-sdes-params",
              "plain-to-savp-offer-no-32", "plain-to-savp-offer-only-gcm",
              "plain-to-savp-answered-savp", "sdes-offer-to-plain", "plain-to-dtls-offer",
              "plain-to-savpf-ice-offer", "plain-to-dtls-answered-active",
              "plain-to-dtls-answered-passive", "sdes-offer-passthrough"]


def masked(sdp: str) -> str:
    sdp = re.sub(r"inline:[A-Za-z0-9+/]+", "inline:KEY", sdp)
    sdp = re.sub(r"(a=fingerprint:\S+) [0-9A-F:]+", r"\1 FP", sdp)
    sdp = re.sub(r"^(m=\S+) \d+", r"\1 PORT", sdp, flags=re.M)
    sdp = re.sub(r"^a=(ice-ufrag|ice-pwd):\S+", r"a=\1:ICE", sdp, flags=re.M)
    sdp = re.sub(r"^a=candidate:\S+ (\d) (\S+ \S+ \S+) \d+", r"a=candidate:F \1 \2 PORT",
                 sdp, flags=re.M)
    return re.sub(r"^a=rtcp:\d+", "a=rtcp:PORT", sdp, flags=re.M)


@pytest.mark.parametrize("name", SDES_CASES)
def test_sdes_capture(name):
    core = Core(Config(port_min=47500, port_max=47999), media=NullMediaPlane())
    case = CAPTURES[name]
    try:
        for step in ("offer", "answer"):
            if step not in case:
                continue
            cookie = f"{step} ".encode()  # one per request: replies are cached by cookie
            raw = core.handle_ng(cookie + bencode.encode(case[step]), ("127.0.0.1", 5060))
            reply = bencode.decode(raw[len(cookie):])
            assert reply["result"] == "ok", reply
            assert masked(reply["sdp"]) == masked(case[f"{step}_reply"]["sdp"])
    finally:
        for call_id in list(core.calls.calls):
            core.handle_ng(b"d1 " + bencode.encode({"command": "delete", "call-id": call_id,
                                                     "delete-delay": 0}), ("127.0.0.1", 5060))


def test_certificate_made_only_when_dtls_needs_it():
    """The daemon's DTLS certificate comes with the first offer or answer that needs it: a
    plain call's offer and answer make none (no key generated, ~2.3 MB of X.509 and key
    code left untouched), and a plain offer sent on with DTLS makes it and offers its
    fingerprint."""
    core = Core(Config(port_min=47500, port_max=47999), media=NullMediaPlane())
    source = ("127.0.0.1", 5060)

    def plain(port: int) -> str:
        return ("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                f"m=audio {port} RTP/AVP 0\r\na=sendrecv\r\n")

    offer = {"command": "offer", "call-id": "plain", "from-tag": "a", "sdp": plain(4000)}
    answer = {"command": "answer", "call-id": "plain", "from-tag": "a", "to-tag": "b",
              "sdp": plain(5000)}
    for cookie, message in ((b"o1 ", offer), (b"a1 ", answer)):
        reply = bencode.decode(core.handle_ng(cookie + bencode.encode(message), source)[3:])
        assert reply["result"] == "ok", reply
    assert core.calls._certificate is None

    case = CAPTURES["plain-to-dtls-offer"]
    reply = bencode.decode(core.handle_ng(b"o2 " + bencode.encode(case["offer"]), source)[3:])
    assert reply["result"] == "ok", reply
    assert core.calls._certificate is not None
    assert core.calls.certificate().fingerprint() in reply["sdp"]
    for call_id in list(core.calls.calls):
        core.handle_ng(b"d1 " + bencode.encode({"command": "delete", "call-id": call_id,
                                                 "delete-delay": 0}), source)
