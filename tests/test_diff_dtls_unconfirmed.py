"""A DTLS-SRTP leg without ICE is not confirmed until its peer sends something.

Found by a differential run of random offer/answer flows: a plain offerer bridged to a
DTLS answerer (``transport-protocol: UDP/TLS/RTP/SAVP``) that answers without ICE and then
sends nothing. rtpengine 10.5 keeps that leg's streams unconfirmed (``query`` shows
``filled`` only); rtpengined marked them ``confirmed`` (and ``kernelized``) within about
a second, taking the SDP's address, where its own handshake goes, for a peer the network
had named. A stream confirmed that way no longer learns where its party really sends
from (a phone behind NAT). Checked with both DTLS roles: the answerer's ``a=setup:active``
(the relay waits for its ClientHello) and ``passive`` (the relay sends ClientHellos to
a socket that never answers).
"""

from __future__ import annotations

import socket
import time

import pytest
from differential import audio_port, running, start_ours, start_reference

DAEMONS = {
    "rtpengine": lambda: start_reference(27600, 27699),
    "rtpengined": lambda: start_ours(27700, 27799),
}
FINGERPRINT = ("a=fingerprint:sha-256 F8:31:36:7B:ED:6D:12:CC:E8:A8:BF:C3:07:6F:FB:C4:EC:02:BE:"
               "70:12:B6:87:B6:C3:F8:47:11:49:30:E0:22\r\n")


@pytest.fixture(params=list(DAEMONS))
def daemon(request):
    with running(DAEMONS[request.param]) as process:
        yield process


def body(port: int, protocol: str, extra: str = "") -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} {protocol} 0\r\n{extra}")


@pytest.mark.parametrize("setup", ["active", "passive"])
def test_a_silent_dtls_answerer_stays_unconfirmed(daemon, setup):
    parties = []
    try:
        for _ in range(4):  # caller RTP/RTCP, callee RTP/RTCP: whatever we send lands here
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            parties.append(sock)
        caller, callee = parties[0].getsockname()[1], parties[2].getsockname()[1]
        call = f"dtls-silent-{setup}"
        reply = daemon.request({"command": "offer", "call-id": call, "from-tag": "a",
                                "transport-protocol": "UDP/TLS/RTP/SAVP",
                                "sdp": body(caller, "RTP/AVP")})
        assert reply["result"] == "ok", reply
        assert audio_port(reply)
        reply = daemon.request({
            "command": "answer", "call-id": call, "from-tag": "a", "to-tag": "b",
            "sdp": body(callee, "UDP/TLS/RTP/SAVP", FINGERPRINT + f"a=setup:{setup}\r\n")})
        assert reply["result"] == "ok", reply
        time.sleep(1.5)  # rtpengined confirmed within about a second
        reply = daemon.request({"command": "query", "call-id": call})
        medias = {tag: party["medias"][0] for tag, party in reply["tags"].items()}
        assert "DTLS-SRTP" in medias["b"]["flags"]
        for tag in ("a", "b"):
            for stream in medias[tag]["streams"]:
                assert "confirmed" not in stream["flags"], (tag, stream)
                assert "kernelized" not in stream["flags"], (tag, stream)
                assert stream["endpoint"]["port"] in (caller, caller + 1, callee, callee + 1)
    finally:
        for sock in parties:
            sock.close()
