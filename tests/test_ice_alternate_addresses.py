"""ICE candidates on every address of the interface, relayed: a peer that can only reach the
second address gets its media there.

The daemon runs with two addresses under one interface name (``-i 127.0.0.1 -i ::1``, both
"default"), as a dual-stack rtpengine does. Its SDP towards an ICE party lists a host
candidate on each; the party here has an IPv6 address only, so the only pair that can work
is the one on our ``::1`` port. The relay worker must answer checks arriving there, check
from there itself, and once that pair is selected relay the party's media arriving there and
send it its media *from* there (the source it checked). Two parties: aiortc (a real WebRTC
stack: ICE, DTLS-SRTP) answering a plain offer, and a plain RTP party with ICE (our own
sans-I/O agent on a real IPv6 socket, which shows the source of every datagram). Both relay
loops (the C loop relays a settled stream on the selected socket).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time

import aioice
import pytest
from aiortc import RTCCertificate, RTCIceGatherer, RTCIceTransport
from test_webrtc_relay import Browser, Peer, ng, plain_socket, port_of, rtcp, rtp
from webrtc_helpers import text

from rtpengined.secure.ice import IceAgent
from rtpengined.secure.webrtc import IceSpec, WebrtcLeg
from tests.conftest import DaemonProcess
from tests.test_ice_plain_legs import Peer as IcePeer

PORTS = ("--port-min=25100", "--port-max=25199")
DEADLINE = 20.0  # seconds: generous, the machine may be loaded


@pytest.fixture(name="daemon")
def daemon_fixture(relay_loop):
    daemon = DaemonProcess(["--interface=127.0.0.1", "--interface=::1", *PORTS,
                            "--relay-workers=1"])
    try:
        yield daemon
    finally:
        daemon.stop()


def candidates(sdp: str, component: int = 1) -> dict[str, int]:
    """Our host candidates of a component: address -> port."""
    return {host: int(port) for host, port in re.findall(
        rf"^a=candidate:\S+ {component} UDP \d+ (\S+) (\d+) typ host", sdp, re.M)}


def plain_sdp(port: int) -> str:
    lines = ["v=0", "o=- 2 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def stream_of(daemon: DaemonProcess, call_id: str, tag: str) -> dict:
    reply = ng(daemon, command="query", **{"call-id": call_id})
    return reply["tags"][tag]["medias"][0]["streams"][0]


# -- without sockets: the agent's pairs per local socket --------------------------------------

OURS = (("192.0.2.1", 5000), ("2001:db8::1", 5000, 0, 0))  # our sockets: local 0 and 1
PEER = ("2001:db8::9", 7000, 0, 0)  # the party: IPv6 only


def relay_between(leg: WebrtcLeg, party: IceAgent, rounds: int = 200) -> None:
    """Deliver what each side sends, in memory: the leg's datagrams leave from the local
    socket they name (``OURS``), the party's reach the leg on the socket it addressed."""
    now = 0.0
    queue: list[tuple[str, bytes, tuple, tuple]] = []
    for _ in range(rounds):
        now += 0.01
        for data, address, *via in leg.poll(now):
            queue.append(("party", data, OURS[via[0] if via else 0], address))
        for data, address in party.poll(now):
            queue.append(("leg", data, PEER, address))
        while queue:
            side, data, source, target = queue.pop(0)
            if side == "party":
                assert target == PEER  # nothing for an address the party does not have
                out, _ = party.receive(data, source, now)
                queue += [("leg", d, PEER, a) for d, a in out]
            else:
                local = OURS.index(target)
                for d, a, *via in leg.receive(data, source, now, local):
                    queue.append(("party", d, OURS[via[0] if via else 0], a))
        if leg.peer is not None and party.selected is not None:
            return


@pytest.mark.parametrize("we_control", [True, False])
def test_agent_checks_and_answers_on_the_socket_of_each_pair(we_control):
    """The party's candidate is given for local socket 1 only (the one of its family):
    our checks go out of that socket, its checks are answered from it, and the selected
    pair is (socket 1, the party)."""
    party = IceAgent("pu", "p" * 22, controlling=not we_control)
    spec = IceSpec("lu", "l" * 22, "pu", "p" * 22, we_control, (), alternates=((
        (PEER, 2130706431),),))
    leg = WebrtcLeg(None, None, spec)
    party.set_remote("lu", "l" * 22, [])
    party.add_remote(OURS[1], 2130706431)
    party.add_remote(OURS[0], 2130706430)  # unreachable from an IPv6 party: never answers
    relay_between(leg, party)
    assert leg.peer == PEER and leg.local == 1
    assert party.selected == OURS[1]
    assert leg.status().peer == PEER


# -- aiortc: a WebRTC browser with an IPv6 address only ---------------------------------------

class Ipv6Browser(Peer):
    """``test_webrtc_relay.Peer`` with its one host candidate on ::1, recording the source
    of every media datagram its sockets receive (aioice does not pass it on)."""

    async def start(self, controlling: bool) -> Ipv6Browser:
        self.gatherer = RTCIceGatherer()
        conn = aioice.Connection(ice_controlling=controlling, components=1,
                                 use_ipv4=False, use_ipv6=False)
        await conn.gather_candidates()
        conn._local_candidates += await conn.get_component_candidates(
            component=1, addresses=["::1"])
        self.gatherer._connection = conn
        await self.gatherer.gather()
        self.ice = RTCIceTransport(self.gatherer)
        self.dtls = Browser(self.ice, [RTCCertificate.generateCertificate()])
        self.sources: set[tuple] = set()
        for protocol in conn._protocols:
            received = protocol.datagram_received

            def spy(data, addr, received=received):
                if data and 128 <= data[0] <= 191:  # SRTP/SRTCP (RFC 7983)
                    self.sources.add((addr[0], addr[1]))
                received(data, addr)
            protocol.datagram_received = spy
        return self


def webrtc_answer(peer: Ipv6Browser) -> str:
    lines = ["v=0", "o=- 1 1 IN IP6 ::1", "s=-", "t=0 0",
             f"m=audio {peer.port} UDP/TLS/RTP/SAVPF 0", "c=IN IP6 ::1", "a=mid:0",
             "a=rtpmap:0 PCMU/8000", "a=sendrecv", "a=rtcp-mux", *peer.sdp_lines(),
             "a=setup:active"]
    return "\r\n".join(lines) + "\r\n"


async def browser_on_second_address(daemon: DaemonProcess) -> None:
    loop = asyncio.get_running_loop()
    plain = await plain_socket(loop)
    browser = await Ipv6Browser().start(controlling=False)
    try:
        offer = ng(daemon, command="offer", **{"call-id": "alt-w", "from-tag": "phone",
                   "sdp": plain_sdp(plain[4]), "transport-protocol": "UDP/TLS/RTP/SAVPF",
                   "ICE": "force", "rtcp-mux": ["offer"]})
        sent = text(offer["sdp"])
        ours = candidates(sent)
        assert set(ours) == {"127.0.0.1", "::1"}, sent
        assert "c=IN IP4 127.0.0.1" in sent and port_of(sent) == ours["127.0.0.1"]
        answer = ng(daemon, command="answer", **{"call-id": "alt-w", "from-tag": "phone",
                    "to-tag": "browser", "sdp": webrtc_answer(browser)})
        back = text(answer["sdp"])
        await browser.connect(sent)  # every candidate given: only the IPv6 one can pair
        assert browser.dtls.state == "connected"
        # media both ways, byte for byte
        rtp_t, rtp_p, rtcp_t, rtcp_p, _ = plain
        deadline = time.monotonic() + DEADLINE
        while True:
            assert time.monotonic() < deadline, "no RTP from the browser reached the phone"
            await browser.dtls._send_rtp(rtp(1, 0xB0B0))
            try:
                got = await asyncio.wait_for(rtp_p.received.get(), 0.5)
            except TimeoutError:
                continue
            assert got == rtp(1, 0xB0B0)
            break
        for seq in range(2, 8):
            await browser.dtls._send_rtp(rtp(seq, 0xB0B0))
            assert await asyncio.wait_for(rtp_p.received.get(), DEADLINE) == rtp(seq, 0xB0B0)
        to_phone = port_of(back)
        for seq in range(1, 8):
            rtp_t.sendto(rtp(seq, 0x5EED), ("127.0.0.1", to_phone))
            assert await asyncio.wait_for(browser.dtls.received.get(), DEADLINE) == \
                rtp(seq, 0x5EED)
        rtcp_t.sendto(rtcp(0x5EED, 7), ("127.0.0.1", to_phone + 1))
        assert await asyncio.wait_for(browser.dtls.received.get(), DEADLINE) == rtcp(0x5EED, 7)
        # what the browser received came from the port it checked: ours on ::1
        assert browser.sources == {("::1", ours["::1"])}
        stream = stream_of(daemon, "alt-w", "browser")
        assert stream["local address"] == "::1" and stream["local port"] == ours["::1"]
        assert stream["endpoint"]["address"] == "::1"
        assert stream["endpoint"]["port"] == browser.port
        assert "DTLS fingerprint verified" in stream["flags"]
        assert stream["stats"]["packets"] >= 7  # one stream, whichever socket it came to
    finally:
        await browser.stop()
        for t in (plain[0], plain[2]):
            t.close()


def test_webrtc_browser_reaching_only_the_second_address(daemon):
    asyncio.run(browser_on_second_address(daemon))


def bindable(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


# -- a plain RTP party with ICE, IPv6 only (our own agent on a real socket) ----------------

class PlainIcePeer(IcePeer):
    """One ICE component of a plain RTP party on ::1 (or 127.0.0.1): an agent and its
    socket (``IcePeer``'s turn of timers and datagrams, on a socket of that address)."""

    def __init__(self, controlling: bool, address: str = "::1") -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET,
                             socket.SOCK_DGRAM)
        sock.bind((address, 0))
        super().__init__(controlling, sock=sock)
        self.address = address

    def sdp(self, connection: str | None = None) -> str:
        """``connection``: the c= line's address (a dual-stack party may name its IPv4 one
        there while its only working candidate is IPv6)."""
        host = self.address
        connection = connection or f"IP{6 if ':' in host else 4} {host}"
        prio = (126 << 24) | (65535 << 8) | 255
        lines = ["v=0", f"o=- 3 3 IN {connection}", "s=-", f"c=IN {connection}", "t=0 0",
                 f"m=audio {self.port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
                 "a=rtcp-mux", f"a=ice-ufrag:{self.agent.local_ufrag}",
                 f"a=ice-pwd:{self.agent.local_pwd}",
                 f"a=candidate:1 1 UDP {prio} {host} {self.port} typ host"]
        return "\r\n".join(lines) + "\r\n"

    def remote(self, sdp: str) -> None:
        """The daemon's candidates of the party's own family (the other one its socket
        cannot reach)."""
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", sdp, re.M).group(1)
        self.agent.set_remote(ufrag, pwd, [])
        for prio, host, port in re.findall(
                r"^a=candidate:\S+ 1 UDP (\d+) (\S+) (\d+) typ host", sdp, re.M):
            if (":" in host) == (":" in self.address):
                address = (host, int(port), 0, 0) if ":" in host else (host, int(port))
                self.agent.add_remote(address, int(prio))


@pytest.mark.parametrize("party_controls", [False, True], ids=["we-control", "party-controls"])
@pytest.mark.parametrize("address", ["::1", "127.0.0.1"], ids=["second-address", "first-address"])
def test_plain_ice_party(daemon, party_controls, address):
    """A plain RTP party with ICE answers our ICE offer (we control and nominate) or offers
    ICE itself (it controls, we answer its checks). On ::1 the pair is on our port there (the
    leg's own is on 127.0.0.1), and RTP goes both ways through it, from it; on 127.0.0.1 the
    leg's own port is used, as with a single address."""
    peer = PlainIcePeer(controlling=party_controls, address=address)
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    ids = {"call-id": f"alt-p{int(party_controls)}-{address}"}
    try:
        if party_controls:
            # (its c= line IPv4: its leg's own port is on 127.0.0.1, ::1 the other address)
            offer = ng(daemon, command="offer", **ids, **{"from-tag": "party",
                       "sdp": peer.sdp("IP4 127.0.0.1"), "ICE": "remove"})
            answer = ng(daemon, command="answer", **ids, **{"from-tag": "party",
                        "to-tag": "phone", "sdp": plain_sdp(phone.getsockname()[1])})
            ours, to_phone = text(answer["sdp"]), port_of(text(offer["sdp"]))
        else:
            offer = ng(daemon, command="offer", **ids, **{"from-tag": "phone",
                       "sdp": plain_sdp(phone.getsockname()[1]), "ICE": "force"})
            ours = text(offer["sdp"])
            answer = ng(daemon, command="answer", **ids, **{"from-tag": "phone",
                        "to-tag": "party", "sdp": peer.sdp()})
            to_phone = port_of(text(answer["sdp"]))
        ports = candidates(ours)
        assert set(ports) == {"127.0.0.1", "::1"}, ours
        # the leg's own port is the IPv4 one: ::1 is the other address's
        assert "c=IN IP4 127.0.0.1" in ours and port_of(ours) == ports["127.0.0.1"]
        peer.remote(ours)
        end = time.monotonic() + DEADLINE
        while peer.agent.selected is None:
            assert time.monotonic() < end, "ICE did not complete"
            peer.step(0.02)
        assert peer.agent.selected[:2] == (address, ports[address])
        target = peer.agent.selected
        # the party's RTP reaches the phone; the phone's comes back from our port there
        phone.settimeout(0.2)
        for seq in range(1, 6):
            while True:
                assert time.monotonic() < end, "no RTP from the party reached the phone"
                peer.sock.sendto(rtp(seq, 0xA1A1), target)
                try:
                    data, _ = phone.recvfrom(65535)
                except OSError:
                    peer.step(0.01)  # (checks still in flight: answer them)
                    continue
                assert data == rtp(seq, 0xA1A1)
                break
        for seq in range(1, 6):
            phone.sendto(rtp(seq, 0xB2B2), ("127.0.0.1", to_phone))
            while len(peer.media) < seq:
                assert time.monotonic() < end, "no RTP from the phone reached the party"
                peer.step(0.05)
            data, source = peer.media[seq - 1]
            assert data == rtp(seq, 0xB2B2)
            assert source[:2] == (address, ports[address])
        stream = stream_of(daemon, ids["call-id"], "party")
        assert stream["local address"] == address and stream["local port"] == ports[address]
        family = "IPv6" if ":" in address else "IPv4"
        assert stream["endpoint"] == {"family": family, "address": address, "port": peer.port}
        assert stream["stats"]["packets"] >= 5
        # the call ends: every socket of the stream is closed, in the worker too (the port
        # on ::1 can be bound again once the worker let go of its copy)
        ng(daemon, command="delete", **ids, **{"delete-delay": 0})
        while not bindable("::1", ports["::1"]):
            assert time.monotonic() < end + DEADLINE, "the ::1 port stays bound"
            time.sleep(0.05)
    finally:
        peer.sock.close()
        phone.close()


# -- the same against rtpengine 10.5 ---------------------------------------------------------

def stored_socket(redis, ports: dict[str, int]) -> tuple:
    """The party's RTP stream's socket in the call's Redis document: (family, local
    interface index, whether the port is the leg's own, on 127.0.0.1). 10.5 writes the
    document when signalling changes the call, not when ICE selects a pair: the stream's
    own socket stays the stored one."""
    doc = redis.document(0, "second-address")
    assert doc is not None, "the call never reached Redis"
    tag = next(i for i in range(int(doc["json"]["num_tags"]))
               if doc[f"tag-{i}"]["tag"] == "party")
    media = doc[f"medias-{tag}"][0]
    stream = doc[f"stream-{doc[f'streams-{media}'][0]}"]
    sfd = doc[f"sfd-{stream['sfd']}"]
    return sfd["pref_family"], sfd["local_intf_uid"], int(sfd["localport"]) == ports["127.0.0.1"]


def second_address_call(daemon, redis=None) -> dict:
    """An IPv6 ICE party answering an ``ICE: force`` offer of a two-address daemon (either
    daemon: ``differential.NgProcess``): what ICE selected, where the phone's RTP came from,
    what ``query`` says of the party's RTP stream and, with ``redis``, the socket the call's
    Redis document gives that stream."""
    def request(**message) -> dict:
        reply = daemon.request(message)
        assert reply.get("result") == "ok", reply
        return reply

    peer = PlainIcePeer(controlling=False)
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    ids = {"call-id": "second-address", "from-tag": "phone"}
    try:
        offer = request(command="offer", **ids, sdp=plain_sdp(phone.getsockname()[1]),
                        ICE="force")
        answer = request(command="answer", **ids, **{"to-tag": "party"}, sdp=peer.sdp())
        ours, to_phone = text(offer["sdp"]), port_of(text(answer["sdp"]))
        ports = candidates(ours)
        peer.remote(ours)
        end = time.monotonic() + DEADLINE
        while peer.agent.selected is None:
            assert time.monotonic() < end, "ICE did not complete"
            peer.step(0.02)
        for seq in range(1, 4):
            peer.sock.sendto(rtp(seq, 0xA1A1), peer.agent.selected)
            peer.step(0.02)
        sources = []
        for seq in range(1, 4):
            phone.sendto(rtp(seq, 0xB2B2), ("127.0.0.1", to_phone))
            count = len(peer.media)
            while len(peer.media) == count:
                assert time.monotonic() < end, "no RTP from the phone reached the party"
                peer.step(0.05)
            sources.append(peer.media[-1][1][:2])
        stream = request(command="query", **{"call-id": "second-address"})[
            "tags"]["party"]["medias"][0]["streams"][0]
        stored = stored_socket(redis, ports) if redis is not None else None
        # a re-offer once ICE completed: only the selected socket (c=, m=, one candidate
        # per component: RTCP's own socket, it selected nothing)
        again = text(request(command="offer", **ids, **{"to-tag": "party"},
                             sdp=plain_sdp(phone.getsockname()[1]))["sdp"])
        request(command="delete", **{"call-id": "second-address"})
        return {
            "stored socket": stored,
            "re-offer c=": re.findall(r"^c=.*$", again, re.M),
            "re-offer m= port is the selected one": port_of(again) == ports["::1"],
            "re-offer candidates": re.findall(r"^a=candidate:\S+ (\d \S+ \d+ \S+) \d+ typ host",
                                              again, re.M),
            "selected": peer.agent.selected[0],
            "selected is our ::1 candidate": peer.agent.selected[1] == ports["::1"],
            "phone's RTP from": {(host, port == ports["::1"]) for host, port in sources},
            "local": (stream["local address"], stream["local port"] == ports["::1"]),
            "endpoint": stream["endpoint"] == {"family": "IPv6", "address": "::1",
                                               "port": peer.port},
            "packets": stream["stats"]["packets"],
        }
    finally:
        peer.sock.close()
        phone.close()


@pytest.mark.skipif(not os.path.exists("/usr/bin/rtpengine"), reason="rtpengine 10.5 not installed")
def test_second_address_as_rtpengine_does(relay_loop):
    """rtpengine 10.5 on the same two addresses, the same party: the same pair, media from
    the same socket, the same ``query`` (selected socket shown, one stream's counters), the
    same socket stored in Redis for the stream, the same re-offer."""
    from differential import start_ours, start_reference
    from redis_helpers import RedisServer

    results = []
    for start, ports in ((start_reference, (25200, 25299)), (start_ours, (25300, 25399))):
        redis = RedisServer()
        try:
            daemon = start(*ports, [f"--redis={redis.address(0)}"], ("127.0.0.1", "::1"))
            try:
                results.append(second_address_call(daemon, redis))
            finally:
                daemon.stop()
        finally:
            redis.stop()
    reference, ours = results
    assert reference["selected"] == "::1" and reference["selected is our ::1 candidate"]
    assert reference["stored socket"] == ("IP4", "0", True)
    assert ours == reference
