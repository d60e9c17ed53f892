"""An ICE restart keeps the DTLS association: a WebRTC party re-offers with new ICE
credentials and the same certificate and setup (what a browser's ``restartIce()`` sends).

The browser keeps its DTLS transport across the restart and answers no new handshake; 10.5
keeps its own association too, and media goes on with the same keys (seen with Chromium in
``test_diff_browser_webrtc``). rtpengined used to start a new leg, handshake included, for
any new credentials: its new ClientHello went unanswered and media stopped.

The party is built from the project's own sans-I/O pieces on a real UDP socket (a full ICE
agent, controlling as a browser offerer is) and restarts its agent the same way: a new
agent, the DTLS endpoint and SRTP contexts kept.
"""

from __future__ import annotations

import re
import secrets
import time

import pytest

from rtpengined.secure.webrtc import DtlsSpec, IceSpec, WebrtcLeg
from tests.conftest import DaemonProcess
from tests.secure_helpers import SocketParty
from tests.test_webrtc_relay import ng, plain_sdp, port_of, rtp
from tests.test_webrtc_rtcp_port import udp_socket

DEADLINE = 20.0
BRIDGE = {"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]}


@pytest.fixture
def daemon(relay_loop):
    process = DaemonProcess(["--interface=127.0.0.1", "--port-min=24900", "--port-max=24949",
                             "--relay-workers=1"])
    try:
        yield process
    finally:
        process.stop()


class Party(SocketParty):
    """A browser-like offerer on one socket: controlling ICE, DTLS server (it offers
    actpass, the daemon answers active)."""

    def __init__(self) -> None:
        super().__init__(udp_socket())
        self.credentials()

    def credentials(self) -> None:
        self.ufrag, self.pwd = secrets.token_hex(2), secrets.token_hex(12)

    def offer_sdp(self, version: int) -> str:
        lines = ["v=0", f"o=- 7 {version} IN IP4 127.0.0.1", "s=-", "t=0 0",
                 f"m=audio {self.port} UDP/TLS/RTP/SAVPF 0", "c=IN IP4 127.0.0.1", "a=mid:0",
                 "a=rtpmap:0 PCMU/8000", "a=sendrecv", "a=rtcp-mux",
                 f"a=ice-ufrag:{self.ufrag}", f"a=ice-pwd:{self.pwd}",
                 f"a=candidate:1 1 udp 2122260223 127.0.0.1 {self.port} typ host",
                 f"a=fingerprint:{self.certificate.fingerprint()}", "a=setup:actpass"]
        return "\r\n".join(lines) + "\r\n"

    def ice_spec(self, answer: str) -> IceSpec:
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", answer, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", answer, re.M).group(1)
        candidates = tuple(((host, int(port)), int(priority)) for priority, host, port in
                           re.findall(r"^a=candidate:\S+ 1 UDP (\d+) (\S+) (\d+) typ host",
                                      answer, re.M | re.I))
        return IceSpec(self.ufrag, self.pwd, ufrag, pwd, True, candidates)

    def start(self, answer: str) -> None:
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r?$", answer, re.M).group(1)
        assert "a=setup:active" in answer  # we are the DTLS server
        self.leg = WebrtcLeg(self.certificate, DtlsSpec(False, fingerprint, "party"),
                             self.ice_spec(answer))


    def exchange(self, plain, to_plain: int, seq: int) -> None:
        """One packet each way through the daemon, decrypted at both ends."""
        deadline = time.monotonic() + DEADLINE
        got = None
        while got is None:
            assert time.monotonic() < deadline, "no media from the party reached the phone"
            self.sock.sendto(self.leg.outbound.protect(rtp(seq, 0xAB)), self.leg.peer)
            self.pump(0.1)
            try:
                got = plain.recv(65536)
            except BlockingIOError:
                pass
        assert got == rtp(seq, 0xAB)
        self.media.clear()
        while not self.media:
            assert time.monotonic() < deadline, "no media from the phone reached the party"
            plain.sendto(rtp(seq, 0xCD), ("127.0.0.1", to_plain))
            self.pump(0.1)
        assert self.leg.inbound.unprotect(self.media[0]) == rtp(seq, 0xCD)


def test_ice_restart_keeps_the_dtls_association(daemon):
    party = Party()
    plain = udp_socket()
    ids = {"call-id": "ice-restart", "from-tag": "party"}
    try:
        offer = ng(daemon, command="offer", **ids, sdp=party.offer_sdp(1), **BRIDGE)
        to_plain = port_of(offer["sdp"])
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                    sdp=plain_sdp(plain.getsockname()[1]))["sdp"]
        party.start(answer)
        deadline = time.monotonic() + DEADLINE
        while party.leg.inbound is None:
            assert time.monotonic() < deadline, "ICE/DTLS did not finish"
            party.pump(0.05)
        party.exchange(plain, to_plain, 1)
        # the restart: new credentials, the same certificate and setup
        party.credentials()
        ng(daemon, command="offer", **ids, sdp=party.offer_sdp(2), **BRIDGE)
        again = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                   sdp=plain_sdp(plain.getsockname()[1]))["sdp"]
        assert re.search(r"^a=ice-ufrag:(\S+)", again, re.M).group(1) \
            != re.search(r"^a=ice-ufrag:(\S+)", answer, re.M).group(1)  # ours restart too
        party.leg.restart_ice(party.ice_spec(again))
        party.seen["dtls"] = 0
        while party.leg.agent.selected is None:  # the new agents' checks, our nomination
            assert time.monotonic() < deadline + DEADLINE, "the restarted ICE did not complete"
            party.pump(0.05)
        for seq in range(2, 5):
            party.exchange(plain, to_plain, seq)  # the old keys, both ways
        assert party.seen["dtls"] == 0, "the daemon started a new DTLS handshake"
        reply = ng(daemon, command="query", **{"call-id": "ice-restart"})
        stream = reply["tags"]["party"]["medias"][0]["streams"][0]
        assert "DTLS fingerprint verified" in stream["flags"], stream
    finally:
        ng(daemon, command="delete", **{"call-id": "ice-restart"})
        party.sock.close()
        plain.close()
