"""WebRTC <-> plain RTP through the daemon: ICE+DTLS set-up time to first media packet, and
daemon CPU per relayed DTLS-SRTP packet, for rtpengine and rtpengined side by side.

The browser is aiortc (its ICE over one loopback host candidate, its DTLS and SRTP); it offers
UDP/TLS/RTP/SAVPF and the daemon bridges it to a plain RTP party (``transport-protocol:
RTP/AVP``, ``ICE: remove``, ``rtcp-mux: demux``). Per call, from the answer reply: when
aiortc's DTLS transport is connected (ICE checks, nomination, handshake), and when the first
RTP the browser sends (every 5 ms from then on) reaches the plain party. Then, on one call,
media both ways at ``--rate`` packets/s in total (the browser's packets SRTP-protected
beforehand by aiortc's own session and sent from its ICE socket): the daemon's CPU time per
packet it relayed, decrypting and encrypting. Ratios only mean something within one run.

    python bench/webrtc_relay.py [--calls 10] [--rate 2000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import time

import aioice
from _common import NgClient, add_daemon_arguments, cpu_seconds, daemons_from, ratio, rtp, start_daemon
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


class Browser(RTCDtlsTransport):
    """aiortc's DTLS transport counting what its SRTP session decrypted."""

    def __init__(self, ice, certificates):
        super().__init__(ice, certificates)
        self.got = 0

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        self.got += 1


async def browser() -> tuple[RTCIceGatherer, RTCIceTransport, Browser]:
    """aioice skips 127.0.0.1 when gathering: one loopback host candidate, no STUN server."""
    gatherer = RTCIceGatherer()
    conn = aioice.Connection(ice_controlling=True, components=1, use_ipv4=False, use_ipv6=False)
    await conn.gather_candidates()
    conn._local_candidates += await conn.get_component_candidates(component=1, addresses=["127.0.0.1"])
    gatherer._connection = conn
    await gatherer.gather()
    ice = RTCIceTransport(gatherer)
    return gatherer, ice, Browser(ice, [RTCCertificate.generateCertificate()])


def offer_sdp(gatherer: RTCIceGatherer, dtls: Browser) -> str:
    params = gatherer.getLocalParameters()
    cand = gatherer.getLocalCandidates()[0]
    fp = next(f for f in dtls.getLocalParameters().fingerprints if f.algorithm == "sha-256")
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
             f"m=audio {cand.port} UDP/TLS/RTP/SAVPF 0", "c=IN IP4 127.0.0.1", "a=mid:0",
             "a=rtpmap:0 PCMU/8000", "a=sendrecv", "a=rtcp-mux",
             f"a=ice-ufrag:{params.usernameFragment}", f"a=ice-pwd:{params.password}",
             f"a=candidate:1 1 udp {cand.priority} 127.0.0.1 {cand.port} typ host",
             "a=end-of-candidates", f"a=fingerprint:sha-256 {fp.value}", "a=setup:actpass"]
    return "\r\n".join(lines) + "\r\n"


def plain_sdp(port: int) -> str:
    return ("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=sendrecv\r\n")


async def call(ng: NgClient, index: int, keep: bool = False):
    """One call; returns (s to DTLS connected, s to first RTP at the plain party) and, with
    ``keep``, what the relay measurement needs."""
    gatherer, ice, dtls = await browser()
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    plain.bind(("127.0.0.1", 0))
    plain.setblocking(False)
    call_id = f"bench-webrtc-{index}"
    try:
        offer = ng.request({"command": "offer", "call-id": call_id, "from-tag": "browser",
                            "sdp": offer_sdp(gatherer, dtls), "transport-protocol": "RTP/AVP",
                            "ICE": "remove", "rtcp-mux": ["demux"]})
        answer = ng.request({"command": "answer", "call-id": call_id, "from-tag": "browser",
                             "to-tag": "phone", "sdp": plain_sdp(plain.getsockname()[1])})
        answered = time.monotonic()
        sdp = answer["sdp"]
        for prio, host, port in re.findall(r"^a=candidate:\S+ 1 UDP (\d+) (\S+) (\d+) typ host",
                                           sdp, re.M | re.I):
            await ice.addRemoteCandidate(RTCIceCandidate(
                component=1, foundation="1", ip=host, port=int(port), priority=int(prio),
                protocol="udp", type="host"))
        await ice.addRemoteCandidate(None)
        await asyncio.wait_for(ice.start(RTCIceParameters(
            usernameFragment=re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M).group(1),
            password=re.search(r"^a=ice-pwd:(\S+)", sdp, re.M).group(1))), 30)
        await asyncio.wait_for(dtls.start(RTCDtlsParameters(fingerprints=[RTCDtlsFingerprint(
            algorithm="sha-256", value=re.search(r"^a=fingerprint:sha-256 (\S+)", sdp, re.M).group(1))],
            role="auto")), 30)
        connected = time.monotonic() - answered
        seq = 0
        while True:
            seq += 1
            await dtls._send_rtp(rtp(seq, 0xB0B0))
            await asyncio.sleep(0.005)
            try:
                plain.recv(2048)
                break
            except BlockingIOError:
                if time.monotonic() - answered > 30:
                    raise RuntimeError("no media") from None
        first = time.monotonic() - answered
        target = ("127.0.0.1", int(re.search(r"^m=audio (\d+)", offer["sdp"], re.M).group(1)))
        if keep:
            return (connected, first), (ice, dtls, plain, target, call_id)
        return (connected, first), None
    finally:
        if not keep:
            await dtls.stop()
            await ice.stop()
            plain.close()
            ng.request({"command": "delete", "call-id": call_id})


async def relay(ng: NgClient, pid: int, kept, args) -> tuple[float, float]:
    """Media both ways on one call; (daemon CPU µs per relayed packet, share arrived)."""
    ice, dtls, plain, target, call_id = kept
    count = int(args.rate * args.seconds / 2)
    browser_packets = [dtls._tx_srtp.protect(rtp(n, 0xB0B1)) for n in range(100, 100 + count)]
    plain_packets = [rtp(n, 0x5EED) for n in range(1, count + 1)]
    conn = ice._connection
    while True:  # the plain party's endpoint is learned from what it sends
        plain.sendto(rtp(0, 0x5EED), target)
        await asyncio.sleep(0.05)
        if dtls.got:
            break
    before = cpu_seconds(pid)
    got_plain = 0
    base_got = dtls.got
    interval = 0.002
    per_tick = max(1, int(args.rate * interval / 2))
    start = time.monotonic()
    tick = 0
    for position in range(0, count, per_tick):
        for n in range(position, min(count, position + per_tick)):
            await conn.sendto(browser_packets[n], 1)
            plain.sendto(plain_packets[n], target)
        while True:
            try:
                plain.recv(2048)
                got_plain += 1
            except BlockingIOError:
                break
        tick += 1
        delay = start + tick * interval - time.monotonic()
        await asyncio.sleep(max(0.0, delay))
    await asyncio.sleep(0.5)
    while True:
        try:
            plain.recv(2048)
            got_plain += 1
        except BlockingIOError:
            break
    cpu = cpu_seconds(pid) - before
    received = got_plain + dtls.got - base_got
    await dtls.stop()
    await ice.stop()
    plain.close()
    ng.request({"command": "delete", "call-id": call_id})
    return cpu / max(received, 1) * 1e6, received / (2 * count)


async def measure(ng: NgClient, pid: int, args):
    setups = []
    for index in range(args.calls):
        timing, _ = await call(ng, index)
        setups.append(timing)
    _, kept = await call(ng, args.calls, keep=True)
    return setups, await relay(ng, pid, kept, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2000, help="packets/s relayed, both ways")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    results = {}
    names = []
    for name, command in daemons_from(args):
        names.append(name)
        daemon = start_daemon(name, command, args)
        try:
            ng = NgClient(daemon.ng)
            results[name] = asyncio.run(measure(ng, daemon.pid, args))
            ng.close()
        finally:
            daemon.stop()
    print(f"{args.calls} calls set up one after the other; relay: {args.rate:.0f} packets/s, "
          f"{args.seconds:.0f} s")
    print(f"{'':36}" + "".join(f"{n:>16}" for n in names) + "   ratio")
    rows = [
        ("answer -> DTLS connected, median ms", lambda r: statistics.median(t[0] for t in r[0]) * 1e3),
        ("answer -> first RTP at plain, median", lambda r: statistics.median(t[1] for t in r[0]) * 1e3),
        ("answer -> first RTP at plain, max", lambda r: max(t[1] for t in r[0]) * 1e3),
        ("CPU µs per relayed DTLS-SRTP packet", lambda r: r[1][0]),
        ("packets arrived, share", lambda r: r[1][1] * 100),
    ]
    for label, get in rows:
        values = [get(results[n]) for n in names]
        line = f"{label:36}" + "".join(f"{v:>16.1f}" for v in values)
        if len(values) == 2:
            line += "   " + ratio(values[1], values[0])
        print(line)


if __name__ == "__main__":
    main()
