"""A WebRTC leg without rtcp-mux: RTCP on its own port gets ICE component 2 and a DTLS-SRTP
association of its own (RFC 5764 4.1, as rtpengine 10.5 does per socket), so SRTCP flows.

aiortc always multiplexes RTCP, so the party that answers without rtcp-mux here is built
from the project's own sans-I/O pieces (``secure.webrtc.WebrtcLeg``, one per component) on
two real UDP sockets; the daemon is the controlling full ICE agent and the DTLS server.
"""

from __future__ import annotations

import re
import select
import socket
import time

import pytest

from rtpengined.secure import dtls, stun
from rtpengined.secure.webrtc import DtlsSpec, IceSpec, WebrtcLeg
from tests.conftest import DaemonProcess
from tests.test_webrtc_relay import ng, plain_sdp, port_of, rtcp, rtp

DEADLINE = 20.0


@pytest.fixture
def daemon(relay_loop):
    process = DaemonProcess(["--interface=127.0.0.1", "--port-min=24700", "--port-max=24799",
                             "--relay-workers=1"])
    try:
        yield process
    finally:
        process.stop()


def udp_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def socket_pair() -> tuple[socket.socket, socket.socket]:
    for _ in range(50):
        first = udp_socket()
        try:
            return first, udp_socket(first.getsockname()[1] + 1)
        except OSError:
            first.close()
    raise RuntimeError("no free port pair")


class Party:
    """The answerer: one WebrtcLeg per component, each on its own socket."""

    def __init__(self) -> None:
        self.certificate = dtls.Certificate()
        self.socks = socket_pair()
        self.media: dict[int, list[bytes]] = {1: [], 2: []}

    def answer_sdp(self) -> str:
        fingerprint = self.certificate.fingerprint()
        rtp_port, rtcp_port = (s.getsockname()[1] for s in self.socks)
        lines = ["v=0", "o=- 3 3 IN IP4 127.0.0.1", "s=-", "t=0 0",
                 f"m=audio {rtp_port} UDP/TLS/RTP/SAVPF 0", "c=IN IP4 127.0.0.1",
                 f"a=rtcp:{rtcp_port}", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
                 "a=ice-ufrag:Pa7y", "a=ice-pwd:pQ8cmQ1nRA0tJ0uW8aF4vXyz",
                 f"a=candidate:1 1 udp 2122260223 127.0.0.1 {rtp_port} typ host",
                 f"a=candidate:1 2 udp 2122260222 127.0.0.1 {rtcp_port} typ host",
                 f"a=fingerprint:{fingerprint}", "a=setup:active"]
        return "\r\n".join(lines) + "\r\n"

    def start(self, offer: str) -> None:
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", offer, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", offer, re.M).group(1)
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r?$", offer, re.M).group(1)
        self.legs = {}
        for component in (1, 2):
            found = re.findall(rf"^a=candidate:\S+ {component} UDP (\d+) (127\.0\.0\.1) (\d+) "
                               r"typ host", offer, re.M)
            assert found, f"no component-{component} candidate offered"
            candidates = tuple(((host, int(port)), int(prio)) for prio, host, port in found)
            self.legs[component] = WebrtcLeg(
                self.certificate, DtlsSpec(True, fingerprint, "party"),
                IceSpec("Pa7y", "pQ8cmQ1nRA0tJ0uW8aF4vXyz", ufrag, pwd, False, candidates,
                        component=component))

    def pump(self, seconds: float) -> None:
        """Run both legs (their datagrams and timers) for a while; media is collected."""
        end = time.monotonic() + seconds
        by_sock = {self.socks[0]: 1, self.socks[1]: 2}
        while (now := time.monotonic()) < end:
            for component, leg in self.legs.items():
                due = leg.deadline()
                if due is not None and due <= now:
                    self._send(component, leg.poll(now))
            readable, _, _ = select.select(list(by_sock), [], [], 0.01)
            for sock in readable:
                component = by_sock[sock]
                while True:
                    try:
                        data, source = sock.recvfrom(65536)
                    except BlockingIOError:
                        break
                    if stun.demux(data) in ("stun", "dtls"):
                        self._send(component, self.legs[component].receive(
                            data, source, time.monotonic()))
                    else:
                        self.media[component].append(data)

    def _send(self, component: int, datagrams) -> None:
        for data, address in datagrams:
            self.socks[component - 1].sendto(data, address)

    def ready(self) -> bool:
        return all(leg.inbound is not None for leg in self.legs.values())


def test_rtcp_on_its_own_port_gets_its_own_dtls(daemon):
    party = Party()
    plain_rtp, plain_rtcp = socket_pair()
    plain_port = plain_rtp.getsockname()[1]
    try:
        offer = ng(daemon, command="offer", **{
            "call-id": "nomux", "from-tag": "phone", "sdp": plain_sdp(plain_port),
            "transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force"})
        sent = offer["sdp"]
        assert "a=rtcp-mux" not in sent and "a=setup:actpass" in sent
        answer = ng(daemon, command="answer", **{
            "call-id": "nomux", "from-tag": "phone", "to-tag": "party",
            "sdp": party.answer_sdp()})
        back = answer["sdp"]
        to_plain = port_of(back)
        party.start(sent)
        deadline = time.monotonic() + DEADLINE
        while not party.ready():
            assert time.monotonic() < deadline, "ICE/DTLS did not finish on both components"
            party.pump(0.05)
        rtp_leg, rtcp_leg = party.legs[1], party.legs[2]
        assert rtp_leg.peer[1] == port_of(sent)
        assert rtcp_leg.peer[1] != rtp_leg.peer[1]  # the daemon's RTCP port of that leg
        # SRTCP from the party's RTCP port arrives as plain RTCP at the phone's RTCP port
        # (and SRTP on the RTP port as RTP); the phone's RTCP reaches the party's RTCP
        # socket encrypted with the RTCP association's keys.
        got_rtp = got_rtcp = None
        while got_rtp is None or got_rtcp is None:
            assert time.monotonic() < deadline, "no media relayed from the DTLS party"
            party.socks[0].sendto(rtp_leg.outbound.protect(rtp(1, 0xAB)), rtp_leg.peer)
            party.socks[1].sendto(rtcp_leg.outbound.protect_rtcp(rtcp(0xAB, 2)), rtcp_leg.peer)
            party.pump(0.1)
            for sock in (plain_rtp, plain_rtcp):
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                if sock is plain_rtp:
                    got_rtp = data
                else:
                    got_rtcp = data
        assert got_rtp == rtp(1, 0xAB) and got_rtcp == rtcp(0xAB, 2)
        # ... a fresh SRTP/SRTCP index each time: the contexts refuse replays
        for seq in range(2, 5):
            party.socks[1].sendto(rtcp_leg.outbound.protect_rtcp(rtcp(0xAB, seq)),
                                  rtcp_leg.peer)
            for _ in range(100):
                party.pump(0.02)
                try:
                    assert plain_rtcp.recv(65536) == rtcp(0xAB, seq)
                    break
                except BlockingIOError:
                    continue
            else:
                raise AssertionError("SRTCP not relayed")
        plain_rtcp.sendto(rtcp(0xCD, 7), ("127.0.0.1", to_plain + 1))
        for _ in range(200):
            party.pump(0.02)
            if party.media[2]:
                break
        assert party.media[2], "no SRTCP at the party's RTCP port"
        assert rtcp_leg.inbound.unprotect_rtcp(party.media[2][0]) == rtcp(0xCD, 7)
        plain_rtp.sendto(rtp(1, 0xCD), ("127.0.0.1", to_plain))
        for _ in range(200):
            party.pump(0.02)
            if party.media[1]:
                break
        assert rtp_leg.inbound.unprotect(party.media[1][0]) == rtp(1, 0xCD)
        reply = ng(daemon, command="query", **{"call-id": "nomux"})
        rtp_entry, rtcp_entry = (s for m in reply["tags"]["party"]["medias"]
                                 for s in m["streams"])
        assert "DTLS fingerprint verified" in rtp_entry["flags"]
        assert "DTLS fingerprint verified" in rtcp_entry["flags"]
    finally:
        for sock in (*party.socks, plain_rtp, plain_rtcp):
            sock.close()
