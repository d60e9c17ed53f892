"""ICE on legs without DTLS, through the daemon: a plain RTP/AVP party whose SDP has ICE.

rtpengine 10.5 runs a full ICE agent on such a leg, not only on WebRTC ones: it checks the
party's candidates, answers its checks (learning a peer-reflexive candidate when they come
from an address the SDP did not list, with a triggered check back), nominates when it is the
controlling side, and sends the leg's media to the selected pair. The peer here is a real ICE
agent on loopback sockets: the project's own sans-I/O ``secure.ice.IceAgent`` driven by a
small blocking loop, so every check and answer crosses real sockets to the relay worker.
The other party is a plain RTP socket. An ICE restart by the party (new credentials in its
re-offer) gets new credentials from us on the same port, and the new agent completes again.
"""

from __future__ import annotations

import re
import secrets
import socket
import struct
import time

import pytest

from rtpengined.secure import sdes, stun
from rtpengined.secure.ice import IceAgent
from rtpengined.secure.srtp import SrtpContext
from tests.webrtc_helpers import ng, relay_daemon

PORTS = ("--port-min=24700", "--port-max=24799")
DEADLINE = 20.0  # seconds: generous, the machine may be loaded


@pytest.fixture(name="daemon")
def daemon_fixture(relay_loop):
    with relay_daemon(*PORTS) as daemon:
        yield daemon


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_of(sock: socket.socket) -> int:
    return sock.getsockname()[1]


def rtp(seq: int, ssrc: int = 0x1234ABCD) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes([seq & 0xFF]) * 160


def rtcp(ssrc: int = 0x1234ABCD) -> bytes:
    return struct.pack("!BBHI", 0x80, 200, 6, ssrc) + bytes(20)  # SR, no report blocks


class Peer:
    """One ICE component of the party: an agent and the socket it checks and answers on."""

    def __init__(self, controlling: bool, component: int = 1,
                 credentials: tuple[str, str] | None = None,
                 sock: socket.socket | None = None) -> None:
        ufrag, pwd = credentials or (secrets.token_hex(4), secrets.token_hex(12))
        self.agent = IceAgent(ufrag, pwd, controlling=controlling, component=component)
        self.sock = sock or udp()  # (on 127.0.0.1 unless given one)
        self.media: list[tuple[bytes, tuple]] = []
        self.requests: list[tuple[stun.Message, tuple]] = []  # checks the daemon sent us

    @property
    def port(self) -> int:
        return port_of(self.sock)

    def credentials_sdp(self) -> list[str]:
        return [f"a=ice-ufrag:{self.agent.local_ufrag}", f"a=ice-pwd:{self.agent.local_pwd}"]

    def candidate(self, port: int | None = None) -> str:
        component = self.agent.component
        prio = (126 << 24) | (65535 << 8) | (256 - component)
        return f"a=candidate:1 {component} UDP {prio} 127.0.0.1 {port or self.port} typ host"

    def remote(self, sdp: str) -> None:
        """The daemon's credentials and this component's candidates from its SDP."""
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", sdp, re.M).group(1)
        found = re.findall(rf"^a=candidate:\S+ {self.agent.component} UDP (\d+) (\S+) (\d+) typ",
                           sdp, re.M)
        self.agent.set_remote(ufrag, pwd, [])
        for prio, host, port in found:
            self.agent.add_remote((host, int(port)), int(prio))

    def step(self, wait: float) -> None:
        """One turn: due timers, then whatever arrives within ``wait`` seconds."""
        now = time.monotonic()
        for data, address in self.agent.poll(now):
            self.sock.sendto(data, address)
        deadline = self.agent.deadline()
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - now))
        self.sock.settimeout(max(wait, 0.001))
        try:
            data, source = self.sock.recvfrom(65535)
        except OSError:
            return
        if stun.demux(data) != "stun":
            self.media.append((data, source))
            return
        if data[:2] == b"\x00\x01":
            self.requests.append((stun.parse(data), source))
        out, _result = self.agent.receive(data, source, time.monotonic())
        for reply, address in out:
            self.sock.sendto(reply, address)

    def close(self) -> None:
        self.sock.close()


def run_until(peers: list[Peer], done, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, "ICE did not complete"
        for peer in peers:
            peer.step(0.02)


def receive(peer_or_sock, want: bytes, timeout: float = DEADLINE) -> tuple:
    """Wait for ``want`` on a Peer (answering checks meanwhile) or a plain socket."""
    end = time.monotonic() + timeout
    if isinstance(peer_or_sock, Peer):
        while True:
            for data, source in peer_or_sock.media:
                if data == want:
                    return source
            assert time.monotonic() < end, "media did not arrive"
            peer_or_sock.step(0.05)
    peer_or_sock.settimeout(timeout)
    while True:
        data, source = peer_or_sock.recvfrom(65535)
        if data == want:
            return source


def party_sdp(port: int, *extra: str, rtcp_port: int | None = None,
              protocol: str = "RTP/AVP") -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=tester", "t=0 0",
             f"m=audio {port} {protocol} 0",
             "c=IN IP4 127.0.0.1", "a=sendrecv"]
    if rtcp_port is not None:
        lines.append(f"a=rtcp:{rtcp_port}")
    return "\r\n".join([*lines, *extra]) + "\r\n"


def media_port(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+)", sdp, re.M).group(1))


def rtcp_port(sdp: str) -> int:
    return int(re.search(r"^a=rtcp:(\d+)", sdp, re.M).group(1))


def ufrag_of(sdp: str) -> str:
    return re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M).group(1)


def test_plain_offerer_with_ice_runs_ice_and_gets_media_on_the_nominated_pair(daemon):
    """The party offers plain RTP with ICE and is the controlling side: our answer has full
    ICE, our checks carry SOFTWARE first, its nomination selects the pair, media flows both
    ways through the plain answerer."""
    caller = Peer(controlling=True)
    callee = udp()
    ids = {"call-id": "plain-ice-1", "from-tag": "caller"}
    try:
        offer = ng(daemon, command="offer", ICE="remove", **ids,
                   sdp=party_sdp(caller.port, *caller.credentials_sdp(), caller.candidate()))
        assert "a=ice-ufrag" not in offer["sdp"]
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "callee"},
                    sdp=party_sdp(port_of(callee)))
        sdp = answer["sdp"]
        assert "a=ice-ufrag:" in sdp and "a=ice-lite" not in sdp
        caller.remote(sdp)
        ours = ("127.0.0.1", media_port(sdp))
        run_until([caller], lambda: caller.agent.selected is not None and caller.requests)
        assert caller.agent.selected == ours
        check, _source = caller.requests[0]
        assert check.attributes[0] == (stun.SOFTWARE, check.get(stun.SOFTWARE))
        assert check.get(stun.SOFTWARE).startswith(b"rtpengined")
        assert check.has(stun.ICE_CONTROLLED)  # the offerer of ICE controls: we do not
        caller.sock.sendto(rtp(1), ours)
        receive(callee, rtp(1))
        callee.sendto(rtp(2, 0x55), ("127.0.0.1", media_port(offer["sdp"])))
        assert receive(caller, rtp(2, 0x55)) == ours
    finally:
        caller.close()
        callee.close()


def test_checks_from_an_unlisted_address_learn_a_peer_reflexive_candidate(daemon):
    """The party's SDP names one address, its checks come from another: the daemon answers
    them, checks back (a triggered check to the new address) and, once the party nominates
    that pair, sends the leg's media there and not to the SDP address any more."""
    caller = Peer(controlling=True)
    listed = udp()  # what the SDP says: never answers
    callee = udp()
    ids = {"call-id": "plain-ice-2", "from-tag": "caller"}
    try:
        offer = ng(daemon, command="offer", ICE="remove", **ids,
                   sdp=party_sdp(port_of(listed), *caller.credentials_sdp(),
                                 caller.candidate(port_of(listed))))
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "callee"},
                    sdp=party_sdp(port_of(callee)))
        listed.settimeout(DEADLINE)
        data, _ = listed.recvfrom(65535)  # the daemon checks the listed candidate
        assert stun.parse(data).cls == stun.REQUEST
        caller.remote(answer["sdp"])
        ours = ("127.0.0.1", media_port(answer["sdp"]))
        run_until([caller], lambda: caller.agent.selected is not None)
        # a triggered check came back to the address the SDP never named
        assert any(source == ours for _msg, source in caller.requests)
        callee.sendto(rtp(3, 0x66), ("127.0.0.1", media_port(offer["sdp"])))
        assert receive(caller, rtp(3, 0x66)) == ours
        caller.sock.sendto(rtp(4), ours)
        receive(callee, rtp(4))
    finally:
        caller.close()
        listed.close()
        callee.close()


def test_ice_forced_towards_a_plain_answerer_we_nominate_rtp_and_rtcp(daemon):
    """ICE forced in the offer to a plain RTP party that answers with ICE and a separate RTCP
    port: we are controlling and nominate on both components; RTP and RTCP from the plain
    caller reach the answerer's RTP and RTCP sockets."""
    caller = udp()
    callee = Peer(controlling=False)
    callee_rtcp = Peer(controlling=False, component=2,
                       credentials=(callee.agent.local_ufrag, callee.agent.local_pwd))
    ids = {"call-id": "plain-ice-3", "from-tag": "caller"}
    try:
        offer = ng(daemon, command="offer", ICE="force", **{"rtcp-mux": ["demux"]}, **ids,
                   sdp=party_sdp(port_of(caller)))
        sdp = offer["sdp"]
        assert "a=ice-ufrag:" in sdp
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "callee"},
                    sdp=party_sdp(callee.port, *callee.credentials_sdp(), callee.candidate(),
                                  callee_rtcp.candidate(), rtcp_port=callee_rtcp.port))
        callee.remote(sdp)
        callee_rtcp.remote(sdp)
        run_until([callee, callee_rtcp], lambda: callee.agent.selected is not None
                  and callee_rtcp.agent.selected is not None)
        assert callee.agent.selected == ("127.0.0.1", media_port(sdp))
        assert callee_rtcp.agent.selected == ("127.0.0.1", rtcp_port(sdp))
        nominations = [m for m, _s in callee.requests if m.has(stun.USE_CANDIDATE)]
        assert nominations and all(m.has(stun.ICE_CONTROLLING) for m in nominations)
        to_callee = ("127.0.0.1", media_port(answer["sdp"]))
        caller.sendto(rtp(5), to_callee)
        receive(callee, rtp(5))
        caller.sendto(rtcp(), ("127.0.0.1", rtcp_port(answer["sdp"])))
        receive(callee_rtcp, rtcp())
        callee.sock.sendto(rtp(6, 0x77), callee.agent.selected)
        receive(caller, rtp(6, 0x77))
    finally:
        caller.close()
        callee.close()
        callee_rtcp.close()


def test_ice_restart_gets_new_credentials_on_the_same_port(daemon):
    """The party restarts ICE in a re-offer (new ufrag/pwd): our answer carries new
    credentials of ours on the same port, and the restarted agent completes with them."""
    first = Peer(controlling=True)
    callee = udp()
    ids = {"call-id": "plain-ice-4", "from-tag": "caller"}
    to = {"to-tag": "callee"}
    try:
        ng(daemon, command="offer", ICE="remove", **ids,
           sdp=party_sdp(first.port, *first.credentials_sdp(), first.candidate()))
        answer = ng(daemon, command="answer", **ids, **to, sdp=party_sdp(port_of(callee)))
        first.remote(answer["sdp"])
        run_until([first], lambda: first.agent.selected is not None)
        # the same credentials again: nothing restarts
        ng(daemon, command="offer", **ids,
           sdp=party_sdp(first.port, *first.credentials_sdp(), first.candidate()))
        same = ng(daemon, command="answer", **ids, **to, sdp=party_sdp(port_of(callee)))
        assert ufrag_of(same["sdp"]) == ufrag_of(answer["sdp"])
        # a restart: new credentials from the party, new ones from us, the port stays
        second = Peer(controlling=True)
        second.sock.close()
        second.sock = first.sock  # same address, new ICE session
        offer = ng(daemon, command="offer", **ids,
                   sdp=party_sdp(first.port, *second.credentials_sdp(), second.candidate()))
        restarted = ng(daemon, command="answer", **ids, **to, sdp=party_sdp(port_of(callee)))
        assert media_port(restarted["sdp"]) == media_port(answer["sdp"])
        assert ufrag_of(restarted["sdp"]) != ufrag_of(answer["sdp"])
        second.remote(restarted["sdp"])
        run_until([second], lambda: second.agent.selected is not None)
        callee.sendto(rtp(7, 0x88), ("127.0.0.1", media_port(offer["sdp"])))
        receive(second, rtp(7, 0x88))
    finally:
        first.close()
        callee.close()


def test_sdes_leg_with_ice_keeps_its_sdp_keys_on_the_nominated_pair(daemon):
    """An SDES-SRTP offerer with ICE, bridged to plain RTP: ICE runs on its leg, and its
    media is still decrypted and encrypted with the keys of the SDP exchange."""
    caller = Peer(controlling=True)
    callee = udp()
    mine = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    ids = {"call-id": "plain-ice-5", "from-tag": "caller"}
    try:
        offer = ng(daemon, command="offer", ICE="remove", **{"transport-protocol": "RTP/AVP"},
                   **ids, sdp=party_sdp(caller.port, f"a={mine.format()}",
                                        *caller.credentials_sdp(), caller.candidate(),
                                        protocol="RTP/SAVP"))
        assert "a=crypto" not in offer["sdp"]
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "callee"},
                    sdp=party_sdp(port_of(callee)))
        sdp = answer["sdp"]
        [ours] = [sdes.parse(v) for v in re.findall(r"^a=(crypto:\S+ \S+ \S+)", sdp, re.M)]
        caller.remote(sdp)
        to_us = ("127.0.0.1", media_port(sdp))
        run_until([caller], lambda: caller.agent.selected is not None)
        out = SrtpContext.from_sdes(mine, outbound=True)
        back = SrtpContext.from_sdes(ours, outbound=False)
        caller.sock.sendto(out.protect(rtp(8)), to_us)
        receive(callee, rtp(8))
        callee.sendto(rtp(9, 0x99), ("127.0.0.1", media_port(offer["sdp"])))
        end = time.monotonic() + DEADLINE
        while not caller.media:
            assert time.monotonic() < end, "SRTP did not arrive"
            caller.step(0.05)
        data, source = caller.media[0]
        assert source == to_us and back.unprotect(data) == rtp(9, 0x99)
    finally:
        caller.close()
        callee.close()
