"""WebRTC media through the daemon: aiortc as the browser, ICE and DTLS-SRTP terminated by the
relay worker on the stream's own port, bridged to a plain RTP party.

aiortc's own transports (RTCIceTransport over an aioice connection restricted to a loopback
host candidate, no STUN server; RTCDtlsTransport with its own SRTP) talk to the port the
daemon's SDP names. The browser side sends RTP/RTCP through its SRTP session; the plain party
must receive them byte for byte, and what the plain party sends must come out of aiortc's
SRTP session byte for byte. The flags are the ones rtpengine documents for these bridges.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time

import pytest
from aiortc import (
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsParameters,
    RTCDtlsTransport,
    RTCIceCandidate,
    RTCIceGatherer,
    RTCIceParameters,
    RTCIceTransport,
)
from secure_helpers import loopback_connection

from tests.conftest import DaemonProcess
from tests.webrtc_helpers import ng, relay_daemon

PORTS = ("--port-min=24600", "--port-max=24699")
DEADLINE = 20.0  # seconds: generous, the machine may be loaded


class Browser(RTCDtlsTransport):
    """aiortc's DTLS transport, handing what its SRTP session decrypted to the test."""

    def __init__(self, ice_transport, certificates):
        super().__init__(ice_transport, certificates)
        self.received: asyncio.Queue = asyncio.Queue()

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self.received.put_nowait(data)

    async def _handle_rtcp_data(self, data: bytes) -> None:
        self.received.put_nowait(data)


class Peer:
    """One aiortc browser: ICE gatherer/transport (loopback only) and DTLS transport."""

    async def start(self, controlling: bool) -> Peer:
        self.gatherer = RTCIceGatherer()
        self.gatherer._connection = await loopback_connection(controlling=controlling)
        await self.gatherer.gather()
        self.ice = RTCIceTransport(self.gatherer)
        self.dtls = Browser(self.ice, [RTCCertificate.generateCertificate()])
        return self

    def sdp_lines(self) -> list[str]:
        params = self.gatherer.getLocalParameters()
        cand = self.gatherer.getLocalCandidates()[0]
        fp = next(f for f in self.dtls.getLocalParameters().fingerprints if f.algorithm == "sha-256")
        return [f"a=ice-ufrag:{params.usernameFragment}", f"a=ice-pwd:{params.password}",
                f"a=candidate:1 1 udp {cand.priority} {cand.ip} {cand.port} typ host",
                "a=end-of-candidates", f"a=fingerprint:sha-256 {fp.value}"]

    @property
    def port(self) -> int:
        return self.gatherer.getLocalCandidates()[0].port

    async def connect(self, remote_sdp: str) -> None:
        """ICE then DTLS with what the daemon's SDP says (candidates, credentials, fingerprint)."""
        found = re.findall(r"^a=candidate:\S+ 1 UDP (\d+) (\S+) (\d+) typ host", remote_sdp,
                           re.M | re.I)
        for priority, host, port in found:
            await self.ice.addRemoteCandidate(RTCIceCandidate(
                component=1, foundation="1", ip=host, port=int(port), priority=int(priority),
                protocol="udp", type="host"))
        await self.ice.addRemoteCandidate(None)
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", remote_sdp, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", remote_sdp, re.M).group(1)
        fp = re.search(r"^a=fingerprint:sha-256 (\S+)", remote_sdp, re.M).group(1)
        lite = "a=ice-lite" in remote_sdp
        # (the other role than the daemon's a=setup says, as a browser takes it: aiortc's
        # transport left alone goes by the ICE roles)
        setup = re.search(r"^a=setup:(\S+)", remote_sdp, re.M)
        role = {"active": "server", "passive": "client"}.get(setup.group(1) if setup else "")
        if role is not None:
            self.dtls._set_role(role)
        await asyncio.wait_for(self.ice.start(RTCIceParameters(
            usernameFragment=ufrag, password=pwd, iceLite=lite)), DEADLINE)
        await asyncio.wait_for(self.dtls.start(RTCDtlsParameters(
            fingerprints=[RTCDtlsFingerprint(algorithm="sha-256", value=fp)], role="auto")),
            DEADLINE)

    async def stop(self) -> None:
        for part in (getattr(self, "dtls", None), getattr(self, "ice", None)):
            if part is not None:
                try:
                    await asyncio.wait_for(part.stop(), 5)
                except Exception:  # noqa: BLE001 - teardown of a peer that may have failed
                    pass


def webrtc_sdp(peer: Peer, setup: str) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
             f"m=audio {peer.port} UDP/TLS/RTP/SAVPF 0", "c=IN IP4 127.0.0.1", "a=mid:0",
             "a=rtpmap:0 PCMU/8000", "a=sendrecv", "a=rtcp-mux", *peer.sdp_lines(), f"a=setup:{setup}"]
    return "\r\n".join(lines) + "\r\n"


def plain_sdp(port: int) -> str:
    lines = ["v=0", "o=- 2 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def port_of(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


def rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes((seq + i) & 0xFF for i in range(160))


def rtcp(ssrc: int, count: int) -> bytes:
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 1, 2, count * 160, count, count * 172)


class Plain(asyncio.DatagramProtocol):
    def __init__(self):
        self.received: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.received.put_nowait(data)


async def plain_socket(loop) -> tuple:
    """A plain RTP party on loopback: RTP on an even port, RTCP on the next one."""
    for _ in range(50):
        rtp_t, rtp_p = await loop.create_datagram_endpoint(Plain, local_addr=("127.0.0.1", 0))
        port = rtp_t.get_extra_info("sockname")[1]
        try:
            rtcp_t, rtcp_p = await loop.create_datagram_endpoint(Plain, local_addr=("127.0.0.1", port + 1))
        except OSError:
            rtp_t.close()
            continue
        return rtp_t, rtp_p, rtcp_t, rtcp_p, port
    raise RuntimeError("no free port pair")


async def exchange(browser: Peer, plain, to_plain: int) -> float:
    """Media both ways; returns the seconds until the first RTP from the browser arrived."""
    rtp_t, rtp_p, rtcp_t, rtcp_p, _ = plain
    started = time.monotonic()
    first = None
    # The first packets may race the daemon learning nothing yet (it must drop, not leak):
    # resend until one arrives, then check a sequence byte for byte.
    deadline = started + DEADLINE
    while first is None:
        assert time.monotonic() < deadline, "no RTP from the browser reached the plain party"
        await browser.dtls._send_rtp(rtp(1, 0xB0B0))
        try:
            got = await asyncio.wait_for(rtp_p.received.get(), 0.5)
        except TimeoutError:
            continue
        assert got == rtp(1, 0xB0B0)
        first = time.monotonic() - started
    for seq in range(2, 12):
        await browser.dtls._send_rtp(rtp(seq, 0xB0B0))
        assert await asyncio.wait_for(rtp_p.received.get(), DEADLINE) == rtp(seq, 0xB0B0)
    await browser.dtls._send_rtp(rtcp(0xB0B0, 3))
    assert await asyncio.wait_for(rtcp_p.received.get(), DEADLINE) == rtcp(0xB0B0, 3)
    # The browser's feedback (a PLI) never reaches the plain RTP/AVP party (10.5 cuts RTPFB
    # and PSFB between an AVPF leg and one that is not); a compound of feedback only is
    # not sent at all, so the next report is what arrives next.
    pli = struct.pack("!BBHII", 0x81, 206, 2, 0xB0B0, 0x5EED)
    await browser.dtls._send_rtp(rtcp(0xB0B0, 4) + pli)
    assert await asyncio.wait_for(rtcp_p.received.get(), DEADLINE) == rtcp(0xB0B0, 4)
    await browser.dtls._send_rtp(pli)
    await browser.dtls._send_rtp(rtcp(0xB0B0, 5))
    assert await asyncio.wait_for(rtcp_p.received.get(), DEADLINE) == rtcp(0xB0B0, 5)
    # and back: plain RTP (learned from what it sent) arrives decrypted at the browser
    for seq in range(1, 11):
        rtp_t.sendto(rtp(seq, 0x5EED), ("127.0.0.1", to_plain))
        assert await asyncio.wait_for(browser.dtls.received.get(), DEADLINE) == rtp(seq, 0x5EED)
    rtcp_t.sendto(rtcp(0x5EED, 9), ("127.0.0.1", to_plain + 1))
    assert await asyncio.wait_for(browser.dtls.received.get(), DEADLINE) == rtcp(0x5EED, 9)
    return first


def streams(reply: dict, tag: str) -> list[dict]:
    return [s for m in reply["tags"][tag]["medias"] for s in m["streams"]]


async def browser_offers(daemon: DaemonProcess, role: str = "active") -> tuple[float, float]:
    """``role``: ours towards the browser (``--dtls-passive`` makes it passive: the browser
    then starts the handshake)."""
    loop = asyncio.get_running_loop()
    browser = await Peer().start(controlling=True)
    plain = await plain_socket(loop)
    try:
        offer = ng(daemon, command="offer", **{"call-id": "wa", "from-tag": "browser",
                   "sdp": webrtc_sdp(browser, "actpass"), "transport-protocol": "RTP/AVP",
                   "ICE": "remove", "rtcp-mux": ["demux"]})
        sent = offer["sdp"]
        assert "RTP/AVP" in sent and "a=fingerprint" not in sent and "a=candidate" not in sent
        answer = ng(daemon, command="answer", **{"call-id": "wa", "from-tag": "browser",
                    "to-tag": "phone", "sdp": plain_sdp(plain[4])})
        back = answer["sdp"]
        assert "UDP/TLS/RTP/SAVPF" in back and f"a=setup:{role}" in back and "a=fingerprint:" in back
        answered = time.monotonic()
        await browser.connect(back)
        answered = time.monotonic() - answered  # ICE + DTLS done (aiortc's view)
        assert browser.dtls.state == "connected"
        first = await exchange(browser, plain, port_of(sent))
        reply = ng(daemon, command="query", **{"call-id": "wa"})
        leg, fallback = streams(reply, "browser")
        # as 10.5 shows it: the verified flag, then ICE last; the suite on both entries
        assert leg["flags"][-2:] == ["DTLS fingerprint verified", "ICE"] and leg["crypto suite"]
        assert fallback["crypto suite"] == leg["crypto suite"]
        assert leg["endpoint"]["port"] == browser.port  # learned from ICE
        media_flags = reply["tags"]["browser"]["medias"][0]["flags"]
        assert "DTLS-SRTP" in media_flags and f"DTLS role {role}" in media_flags
        return answered, first
    finally:
        await browser.stop()
        for t in (plain[0], plain[2]):
            t.close()


async def browser_answers(daemon: DaemonProcess, lite: bool = False) -> None:
    """With ``lite``, our offer declares ICE-lite: the browser controls and nominates, the
    worker only answers its checks (and, left the active role, starts the handshake)."""
    loop = asyncio.get_running_loop()
    plain = await plain_socket(loop)
    browser = await Peer().start(controlling=lite)
    try:
        offer = ng(daemon, command="offer", **{"call-id": "wb", "from-tag": "phone",
                   "sdp": plain_sdp(plain[4]), "transport-protocol": "UDP/TLS/RTP/SAVPF",
                   "ICE": "force", "rtcp-mux": ["offer"],
                   **({"ICE-lite": "forward"} if lite else {})})
        sent = offer["sdp"]
        assert "a=setup:actpass" in sent and "a=ice-ufrag" in sent
        assert ("a=ice-lite" in sent) == lite
        answer = ng(daemon, command="answer", **{"call-id": "wb", "from-tag": "phone",
                    "to-tag": "browser",
                    "sdp": webrtc_sdp(browser, "passive" if lite else "active")})
        back = answer["sdp"]
        assert "RTP/AVP" in back and "a=fingerprint" not in back
        await browser.connect(sent)
        assert browser.dtls.state == "connected"
        await exchange(browser, plain, port_of(back))
        reply = ng(daemon, command="query", **{"call-id": "wb"})
        leg = streams(reply, "browser")[0]
        assert "DTLS fingerprint verified" in leg["flags"]
        role = "active" if lite else "passive"
        assert f"DTLS role {role}" in reply["tags"]["browser"]["medias"][0]["flags"]
    finally:
        await browser.stop()
        for t in (plain[0], plain[2]):
            t.close()


@pytest.fixture
def webrtc_daemon(relay_loop):
    with relay_daemon(*PORTS) as daemon:
        yield daemon


def test_browser_offer_to_plain_answerer(webrtc_daemon):
    asyncio.run(browser_offers(webrtc_daemon))


def test_browser_offer_answered_passive_with_our_software_id():
    """``--dtls-passive``: aiortc (DTLS client now) starts the handshake; ``--software-id``
    names us in the ICE checks aiortc answers. Media flows both ways as with the defaults."""
    with relay_daemon(*PORTS, "--dtls-passive", "--software-id=acme-sbc") as daemon:
        asyncio.run(browser_offers(daemon, role="passive"))


def test_plain_offer_to_browser_answerer(webrtc_daemon):
    asyncio.run(browser_answers(webrtc_daemon))


def test_plain_offer_to_browser_answerer_with_ice_lite(webrtc_daemon):
    asyncio.run(browser_answers(webrtc_daemon, lite=True))


async def browser_reinvites(daemon: DaemonProcess) -> None:
    """A re-INVITE with the same DTLS parameters keeps the association (media goes on with
    the old keys); one with a new certificate and new ICE credentials (another browser
    session) gets a new handshake, and media flows with the new keys."""
    loop = asyncio.get_running_loop()
    first = await Peer().start(controlling=True)
    second = await Peer().start(controlling=True)
    plain = await plain_socket(loop)
    ids = {"call-id": "wr", "from-tag": "browser"}
    bridge = {"transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]}
    try:
        offer = ng(daemon, command="offer", **ids, sdp=webrtc_sdp(first, "actpass"), **bridge)
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                    sdp=plain_sdp(plain[4]))
        to_plain = port_of(offer["sdp"])
        await first.connect(answer["sdp"])
        await exchange(first, plain, to_plain)
        # same parameters again: no new handshake, the first browser's keys keep working
        ng(daemon, command="offer", **ids, sdp=webrtc_sdp(first, "actpass"), **bridge)
        ng(daemon, command="answer", **ids, **{"to-tag": "phone"}, sdp=plain_sdp(plain[4]))
        await first.dtls._send_rtp(rtp(40, 0xB0B0))
        assert await asyncio.wait_for(plain[1].received.get(), DEADLINE) == rtp(40, 0xB0B0)
        # a new certificate on the same ICE path (the browser restarted DTLS): a new
        # handshake on the nominated pair, media with the new keys
        await first.dtls.stop()
        first.dtls = Browser(first.ice, [RTCCertificate.generateCertificate()])
        offer = ng(daemon, command="offer", **ids, sdp=webrtc_sdp(first, "actpass"), **bridge)
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                    sdp=plain_sdp(plain[4]))
        assert port_of(offer["sdp"]) == to_plain  # same streams: the worker's leg is new
        fp = re.search(r"^a=fingerprint:sha-256 (\S+)", answer["sdp"], re.M).group(1)
        await asyncio.wait_for(first.dtls.start(RTCDtlsParameters(
            fingerprints=[RTCDtlsFingerprint(algorithm="sha-256", value=fp)], role="auto")), DEADLINE)
        await exchange(first, plain, to_plain)
        # another browser session: new ICE credentials and certificate (and address: new ports)
        offer = ng(daemon, command="offer", **ids, sdp=webrtc_sdp(second, "actpass"), **bridge)
        answer = ng(daemon, command="answer", **ids, **{"to-tag": "phone"},
                    sdp=plain_sdp(plain[4]))
        await second.connect(answer["sdp"])  # (new ports: the browser's address changed)
        assert second.dtls.state == "connected"
        await exchange(second, plain, port_of(offer["sdp"]))
        reply = ng(daemon, command="query", **{"call-id": "wr"})
        leg = streams(reply, "browser")[0]
        assert leg["endpoint"]["port"] == second.port
        assert "DTLS fingerprint verified" in leg["flags"]
    finally:
        await first.stop()
        await second.stop()
        for t in (plain[0], plain[2]):
            t.close()


def test_browser_reinvite_renegotiates_dtls(webrtc_daemon):
    asyncio.run(browser_reinvites(webrtc_daemon))


async def two_browsers(daemon: DaemonProcess) -> None:
    """Browser to browser through the daemon with default flags: each leg has its own ICE
    and DTLS-SRTP with us (10.5 offers the answerer our DTLS and SDES keys), and the relay
    decrypts and re-encrypts every packet."""
    caller = await Peer().start(controlling=True)
    callee = await Peer().start(controlling=False)
    try:
        offer = ng(daemon, command="offer", **{"call-id": "ww", "from-tag": "caller",
                   "sdp": webrtc_sdp(caller, "actpass")})
        sent = offer["sdp"]
        assert "a=setup:actpass" in sent and "a=crypto:" in sent
        assert caller.sdp_lines()[-1] not in sent  # not the caller's fingerprint: ours
        answer = ng(daemon, command="answer", **{"call-id": "ww", "from-tag": "caller",
                    "to-tag": "callee", "sdp": webrtc_sdp(callee, "active")})
        back = answer["sdp"]
        assert "a=setup:active" in back and callee.sdp_lines()[-1] not in back
        await asyncio.gather(caller.connect(back), callee.connect(sent))
        for seq in range(1, 11):
            await caller.dtls._send_rtp(rtp(seq, 0xCA11))
            assert await asyncio.wait_for(callee.dtls.received.get(), DEADLINE) == rtp(seq, 0xCA11)
            await callee.dtls._send_rtp(rtp(seq, 0xCA1E))
            assert await asyncio.wait_for(caller.dtls.received.get(), DEADLINE) == rtp(seq, 0xCA1E)
        await caller.dtls._send_rtp(rtcp(0xCA11, 5))
        assert await asyncio.wait_for(callee.dtls.received.get(), DEADLINE) == rtcp(0xCA11, 5)
        reply = ng(daemon, command="query", **{"call-id": "ww"})
        for tag, role in (("caller", "active"), ("callee", "passive")):
            assert "DTLS fingerprint verified" in streams(reply, tag)[0]["flags"]
            assert f"DTLS role {role}" in reply["tags"][tag]["medias"][0]["flags"]
    finally:
        await caller.stop()
        await callee.stop()


def test_two_browsers_each_leg_keyed_by_us(webrtc_daemon):
    asyncio.run(two_browsers(webrtc_daemon))


async def browser_to_sdes(daemon: DaemonProcess) -> None:
    """A browser offer sent on as RTP/SAVP and answered with SDES (a=crypto choosing one of
    our keys): DTLS-SRTP on one leg, SDES-SRTP on the other, both keyed by us."""
    from rtpengined.secure import sdes
    from rtpengined.secure.srtp import SrtpContext

    loop = asyncio.get_running_loop()
    browser = await Peer().start(controlling=True)
    phone = await plain_socket(loop)
    try:
        offer = ng(daemon, command="offer", **{"call-id": "ws", "from-tag": "browser",
                   "sdp": webrtc_sdp(browser, "actpass"), "transport-protocol": "RTP/SAVP",
                   "ICE": "remove", "rtcp-mux": ["demux"]})
        sent = offer["sdp"]
        ours = next(sdes.parse(v) for v in re.findall(r"^a=(crypto:.*?)\r$", sent, re.M)
                    if "AES_CM_128_HMAC_SHA1_80" in v)
        theirs = sdes.generate(ours.tag, "AES_CM_128_HMAC_SHA1_80")
        answer_sdp = plain_sdp(phone[4]).replace("RTP/AVP", "RTP/SAVP") + f"a={theirs.format()}\r\n"
        answer = ng(daemon, command="answer", **{"call-id": "ws", "from-tag": "browser",
                    "to-tag": "phone", "sdp": answer_sdp})
        await browser.connect(answer["sdp"])
        protect = SrtpContext.from_sdes(theirs, outbound=True)
        unprotect = SrtpContext.from_sdes(ours, outbound=False)
        to_phone = port_of(sent)
        deadline = time.monotonic() + DEADLINE
        while True:  # until the browser's first packet made it (its leg may still settle)
            assert time.monotonic() < deadline, "no SRTP from the browser reached the phone"
            await browser.dtls._send_rtp(rtp(1, 0xD715))
            try:
                got = await asyncio.wait_for(phone[1].received.get(), 0.5)
                break
            except TimeoutError:
                continue
        assert unprotect.unprotect(got) == rtp(1, 0xD715)
        for seq in range(1, 11):
            phone[0].sendto(protect.protect(rtp(seq, 0x5DE5)), ("127.0.0.1", to_phone))
            assert await asyncio.wait_for(browser.dtls.received.get(), DEADLINE) == rtp(seq, 0x5DE5)
            await browser.dtls._send_rtp(rtp(seq + 1, 0xD715))
            got = await asyncio.wait_for(phone[1].received.get(), DEADLINE)
            assert unprotect.unprotect(got) == rtp(seq + 1, 0xD715)
    finally:
        await browser.stop()
        for t in (phone[0], phone[2]):
            t.close()


def test_browser_offer_to_sdes_answerer(webrtc_daemon):
    asyncio.run(browser_to_sdes(webrtc_daemon))


async def wrong_fingerprint(daemon: DaemonProcess) -> None:
    """The browser's certificate does not match the fingerprint its SDP gave: the handshake
    fails on our side, nothing it sends is relayed, nothing is sent to it unencrypted."""
    loop = asyncio.get_running_loop()
    browser = await Peer().start(controlling=True)
    plain = await plain_socket(loop)
    try:
        other = RTCCertificate.generateCertificate()
        fp = next(f for f in other.getFingerprints() if f.algorithm == "sha-256")
        sdp = re.sub(r"a=fingerprint:sha-256 \S+", f"a=fingerprint:sha-256 {fp.value}",
                     webrtc_sdp(browser, "actpass"))
        offer = ng(daemon, command="offer", **{"call-id": "wf", "from-tag": "browser", "sdp": sdp,
                   "transport-protocol": "RTP/AVP", "ICE": "remove", "rtcp-mux": ["demux"]})
        answer = ng(daemon, command="answer", **{"call-id": "wf", "from-tag": "browser",
                    "to-tag": "phone", "sdp": plain_sdp(plain[4])})
        try:  # aiortc may see the alert or wait until its own timeout: either way no keys
            await browser.connect(answer["sdp"])
        except Exception:  # noqa: BLE001
            pass
        to_plain = port_of(offer["sdp"])
        for seq in range(1, 6):
            plain[0].sendto(rtp(seq, 0x5EED), ("127.0.0.1", to_plain))
            if browser.dtls._tx_srtp is not None:
                await browser.dtls._send_rtp(rtp(seq, 0xB0B0))
        # the worker reports the leg (learned peer, failed handshake) without verification
        deadline = time.monotonic() + DEADLINE
        while True:
            leg = streams(ng(daemon, command="query", **{"call-id": "wf"}), "browser")[0]
            if leg["endpoint"].get("port") == browser.port or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        assert "DTLS fingerprint verified" not in leg["flags"] and "crypto suite" not in leg
        assert plain[1].received.empty() and browser.dtls.received.empty()
    finally:
        await browser.stop()
        for t in (plain[0], plain[2]):
            t.close()


def test_wrong_fingerprint_relays_nothing(webrtc_daemon):
    asyncio.run(wrong_fingerprint(webrtc_daemon))
