"""Trickle ICE through the daemon: a WebRTC party answers with no candidates
(``a=ice-options:trickle``, ``c=IN IP4 0.0.0.0``, port 9) and gives its candidate only later,
in an SDP fragment (an ng ``offer`` with the ``fragment`` flag, as rtpengine 10.5 takes
it); the daemon's relay worker then checks it and DTLS-SRTP media flows.

The party is built from the project's own sans-I/O pieces on a real UDP socket and is an
ICE-lite agent here (it only answers checks): the daemon can reach it only through the
candidate the fragment gave, so media proves the fragment reached the worker's ICE agent.
The fragment comes after the answer, or before it (kept by the daemon, applied once the
party's answer is processed).
"""

from __future__ import annotations

import re
import time

import pytest

from rtpengined.secure.webrtc import DtlsSpec, IceSpec, WebrtcLeg
from tests.conftest import DaemonProcess
from tests.secure_helpers import SocketParty
from tests.test_webrtc_relay import ng, plain_sdp, port_of, rtp
from tests.test_webrtc_rtcp_port import udp_socket

DEADLINE = 20.0
UFRAG, PWD = "Tr1c", "kLe9QpTzW3nB7vYx2cHs5dFg"


@pytest.fixture
def daemon(relay_loop):
    process = DaemonProcess(["--interface=127.0.0.1", "--port-min=24800", "--port-max=24899",
                             "--relay-workers=1"])
    try:
        yield process
    finally:
        process.stop()


class TricklingParty(SocketParty):
    """A browser-like answerer that sends its SDP before it has any candidate."""

    def __init__(self) -> None:
        super().__init__(udp_socket())

    def answer_sdp(self) -> str:
        lines = ["v=0", "o=- 5 5 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=ice-lite",
                 "m=audio 9 UDP/TLS/RTP/SAVPF 0", "c=IN IP4 0.0.0.0", "a=mid:0",
                 "a=rtpmap:0 PCMU/8000", "a=sendrecv", "a=rtcp-mux",
                 f"a=ice-ufrag:{UFRAG}", f"a=ice-pwd:{PWD}", "a=ice-options:trickle",
                 f"a=fingerprint:{self.certificate.fingerprint()}", "a=setup:active"]
        return "\r\n".join(lines) + "\r\n"

    def fragment(self) -> str:
        lines = [f"a=ice-ufrag:{UFRAG}", f"a=ice-pwd:{PWD}", "m=audio 9 UDP/TLS/RTP/SAVPF 0",
                 "a=mid:0", f"a=candidate:1 1 udp 2122260223 127.0.0.1 {self.port} typ host",
                 "a=end-of-candidates"]
        return "\r\n".join(lines) + "\r\n"

    def start(self, offer: str) -> None:
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", offer, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", offer, re.M).group(1)
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r?$", offer, re.M).group(1)
        self.leg = WebrtcLeg(self.certificate, DtlsSpec(True, fingerprint, "party"),
                             IceSpec(UFRAG, PWD, ufrag, pwd, False, (), lite=True))



@pytest.mark.parametrize("when", ["after answer", "before answer"])
def test_candidates_trickled_after_the_sdp(daemon, when):
    party = TricklingParty()
    plain = udp_socket()
    call = f"trickle-{when.split()[0]}"
    fragment = {"command": "offer", "call-id": call, "from-tag": "party",
                "sdp": party.fragment(), "flags": ["fragment"]}
    try:
        offer = ng(daemon, command="offer", **{
            "call-id": call, "from-tag": "phone", "sdp": plain_sdp(plain.getsockname()[1]),
            "transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"]})
        sent = offer["sdp"]
        party.start(sent)
        if when == "before answer":
            assert ng(daemon, **fragment) == {"result": "ok"}  # no SDP: nothing to send on
        answer = ng(daemon, command="answer", **{
            "call-id": call, "from-tag": "phone", "to-tag": "party", "sdp": party.answer_sdp()})
        to_plain = port_of(answer["sdp"])
        if when == "after answer":
            party.pump(0.5)
            assert party.seen["stun"] == 0, "the daemon knew no candidate of the party yet"
            assert ng(daemon, **fragment) == {"result": "ok"}
        deadline = time.monotonic() + DEADLINE
        while party.leg.inbound is None:
            assert time.monotonic() < deadline, "ICE/DTLS did not finish with the trickled candidate"
            party.pump(0.05)
        assert party.leg.peer[1] == port_of(sent)
        got = None
        while got is None:
            assert time.monotonic() < deadline, "no media relayed from the trickling party"
            party.sock.sendto(party.leg.outbound.protect(rtp(1, 0xAB)), party.leg.peer)
            party.pump(0.1)
            try:
                got = plain.recv(65536)
            except BlockingIOError:
                pass
        assert got == rtp(1, 0xAB)
        plain.sendto(rtp(1, 0xCD), ("127.0.0.1", to_plain))
        for _ in range(200):
            party.pump(0.02)
            if party.media:
                break
        assert party.media, "no SRTP at the trickling party"
        assert party.leg.inbound.unprotect(party.media[0]) == rtp(1, 0xCD)
        reply = ng(daemon, command="query", **{"call-id": call})
        flags = reply["tags"]["party"]["medias"][0]["streams"][0]["flags"]
        assert "DTLS fingerprint verified" in flags
    finally:
        party.sock.close()
        plain.close()
