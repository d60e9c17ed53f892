"""The groundwork pieces together against aiortc, a real WebRTC stack: one UDP socket of ours,
demultiplexed per RFC 7983, runs ICE (our IceAgent, controlled) then DTLS (our endpoint, active,
as rtpengine answers a browser's actpass) with aiortc's RTCIceTransport/RTCDtlsTransport over
loopback; media aiortc protects is unprotected by our SRTP context, and ours by aiortc's."""

import asyncio
import struct

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

from rtpengined.secure import dtls, ice, srtp, stun


class Leg(asyncio.DatagramProtocol):
    """Test-only I/O shell: what a relay worker will do for a WebRTC leg."""

    def __init__(self, agent, certificate, remote_fingerprint):
        self.agent = agent
        self.endpoint = dtls.DtlsEndpoint(certificate, dtls.is_client(dtls.answer_setup("actpass")),
                                          remote_fingerprint)
        self.started = False
        self.inbound = self.outbound = None
        self.media = asyncio.Queue()
        self.connected = asyncio.Event()

    def connection_made(self, transport):
        self.transport = transport

    def send(self, datagrams):
        for d in datagrams:
            self.transport.sendto(d, self.agent.selected)

    def datagram_received(self, data, addr):
        now = asyncio.get_running_loop().time()
        kind = stun.demux(data)
        if kind == "stun":
            out, _ = self.agent.receive(data, addr, now)
            for d, a in out:
                self.transport.sendto(d, a)
        elif kind == "dtls" and addr == self.agent.selected:
            self.send(self.endpoint.receive(data, now))
            if self.endpoint.keys and self.inbound is None:
                keys = self.endpoint.keys
                self.inbound = srtp.SrtpContext(keys.profile, keys.remote, outbound=False)
                self.outbound = srtp.SrtpContext(keys.profile, keys.local, outbound=True)
                self.connected.set()
        elif kind == "rtp" and self.inbound is not None and addr == self.agent.selected:
            unprotect = self.inbound.unprotect_rtcp if stun.is_rtcp(data) else self.inbound.unprotect
            self.media.put_nowait(unprotect(data))

    async def tick(self):
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for d, a in self.agent.poll(now):
                self.transport.sendto(d, a)
            if self.agent.selected and not self.started:
                self.started = True
                self.send(self.endpoint.start(now))
            deadline = self.endpoint.deadline()
            if deadline is not None and now >= deadline:
                self.send(self.endpoint.handle_timeout(now))
            await asyncio.sleep(0.01)


async def webrtc_call():
    loop = asyncio.get_running_loop()
    certificate = dtls.Certificate()
    gatherer = RTCIceGatherer()
    gatherer._connection = await loopback_connection(controlling=True)  # a browser offerer controls
    await gatherer.gather()
    ice_transport = RTCIceTransport(gatherer)
    their_cert = RTCCertificate.generateCertificate()
    dtls_transport = RTCDtlsTransport(ice_transport, [their_cert])
    fp = next(f for f in dtls_transport.getLocalParameters().fingerprints if f.algorithm == "sha-256")

    agent = ice.IceAgent("rtpeng", "VjWixAZ5oHvWKX1cntv1Mh65to", controlling=False)
    local = gatherer.getLocalCandidates()[0]
    agent.set_remote(gatherer.getLocalParameters().usernameFragment, gatherer.getLocalParameters().password,
                     [(local.ip, local.port, local.priority)])
    transport, leg = await loop.create_datagram_endpoint(
        lambda: Leg(agent, certificate, f"sha-256 {fp.value}"), local_addr=("127.0.0.1", 0))
    ticker = asyncio.ensure_future(leg.tick())
    try:
        port = transport.get_extra_info("sockname")[1]
        await ice_transport.addRemoteCandidate(RTCIceCandidate(
            component=1, foundation="1", ip="127.0.0.1", port=port, priority=ice.candidate_priority(126),
            protocol="udp", type="host"))
        await ice_transport.addRemoteCandidate(None)
        await asyncio.wait_for(ice_transport.start(RTCIceParameters(
            usernameFragment=agent.local_ufrag, password=agent.local_pwd)), 10)
        ours = certificate.fingerprint().split()[1]
        await asyncio.wait_for(dtls_transport.start(RTCDtlsParameters(
            fingerprints=[RTCDtlsFingerprint(algorithm="sha-256", value=ours)], role="auto")), 10)
        await asyncio.wait_for(leg.connected.wait(), 5)
        assert dtls_transport.state == "connected" and leg.endpoint.keys is not None

        rtp = struct.pack("!BBHII", 0x80, 0, 1, 160, 0xABCDEF) + b"\x55" * 160
        await dtls_transport._send_rtp(rtp)  # aiortc's own SRTP session protects it
        assert await asyncio.wait_for(leg.media.get(), 5) == rtp
        rtcp = struct.pack("!BBHI", 0x80, 200, 6, 0xABCDEF) + bytes(20)
        await dtls_transport._send_rtp(rtcp)
        assert await asyncio.wait_for(leg.media.get(), 5) == rtcp
        back = struct.pack("!BBHII", 0x80, 8, 9, 1440, 0x123456) + b"\x66" * 160
        assert dtls_transport._rx_srtp.unprotect(leg.outbound.protect(back)) == back
        return leg.endpoint.keys.profile
    finally:
        ticker.cancel()
        await dtls_transport.stop()
        await ice_transport.stop()
        transport.close()


def test_ice_dtls_srtp_with_aiortc():
    assert asyncio.run(webrtc_call()).startswith("SRTP_")
