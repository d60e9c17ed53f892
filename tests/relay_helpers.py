"""Hand-built calls for media plane tests: two parties, their streams, real loopback sockets."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

import trio

from rtpengined.model import Endpoint, Interface, Stream

LOOPBACK = Interface("default", "127.0.0.1", "127.0.0.1")
LOOPBACK6 = Interface("default", "::1", "::1")


def rtp_packet(seq: int, ssrc: int = 0x11111111, payload_size: int = 160) -> bytes:
    """An RTP packet (PCMU, 12-byte header) of 12 + payload_size bytes."""
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, ssrc) + bytes(payload_size)


def rtcp_packet(ssrc: int = 0x11111111) -> bytes:
    """A minimal RTCP receiver report (8 bytes: second byte 201)."""
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def bind_media_socket(interface: Interface = LOOPBACK) -> socket.socket:
    """What the control plane hands to the media plane: a bound, non-blocking UDP socket."""
    family = socket.AF_INET6 if ":" in interface.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((interface.address, 0))
    sock.setblocking(False)
    return sock


def make_stream(group: str, interface: Interface = LOOPBACK, **fields) -> Stream:
    sock = bind_media_socket(interface)
    return Stream(interface=interface, port=sock.getsockname()[1], sock=sock, group=group, **fields)


class Party:
    """A SIP endpoint's media socket (trio, so tests can await packets with a deadline)."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        self.address = address

    async def bind(self) -> Party:
        await self.sock.bind((self.address, 0))
        return self

    @property
    def endpoint(self) -> Endpoint:
        host, port = self.sock.getsockname()[:2]
        return Endpoint(host, port)

    async def send(self, data: bytes, to: Endpoint) -> None:
        await self.sock.sendto(data, (to.address, to.port))

    async def receive(self, timeout: float = 10.0) -> tuple[bytes, Endpoint]:
        with trio.fail_after(timeout):
            data, source = await self.sock.recvfrom(65535)
        return data, Endpoint(source[0], source[1])

    async def receive_until(self, wanted: bytes, timeout: float = 10.0) -> list[bytes]:
        """Read (and return) everything up to and including the packet ``wanted``."""
        seen = []
        with trio.fail_after(timeout):
            while True:
                data, _ = await self.receive(timeout)
                seen.append(data)
                if data == wanted:
                    return seen

    def drain_now(self) -> int:
        """Discard what is already queued (loopback delivery is synchronous); return the count."""
        count = 0
        with socket.socket(fileno=os.dup(self.sock.fileno())) as raw:
            raw.setblocking(False)
            while True:
                try:
                    raw.recv(65535)
                except BlockingIOError:
                    return count
                count += 1

    def close(self) -> None:
        self.sock.close()


async def party(address: str = "127.0.0.1") -> Party:
    return await Party(address).bind()


@dataclass
class Leg:
    """One party's side of a call: its RTP (and RTCP) stream on the daemon."""

    rtp: Stream
    rtcp: Stream | None


def make_call(
    a_adv: Endpoint | None,
    b_adv: Endpoint | None,
    *,
    group: str = "call-1",
    rtcp: bool = False,
    interface: Interface = LOOPBACK,
    a_rtcp_adv: Endpoint | None = None,
    b_rtcp_adv: Endpoint | None = None,
    **flags,
) -> tuple[Leg, Leg]:
    """Streams of a two-party call: A sends to a.rtp, B to b.rtp; each sinks to the other."""
    a = Leg(make_stream(group, interface, advertised=a_adv, endpoint=a_adv, **flags), None)
    b = Leg(make_stream(group, interface, advertised=b_adv, endpoint=b_adv, **flags), None)
    a.rtp.sink, b.rtp.sink = b.rtp, a.rtp
    if rtcp:
        a.rtcp = make_stream(group, interface, rtcp=True, advertised=a_rtcp_adv, endpoint=a_rtcp_adv, **flags)
        b.rtcp = make_stream(group, interface, rtcp=True, advertised=b_rtcp_adv, endpoint=b_rtcp_adv, **flags)
        a.rtcp.sink, b.rtcp.sink = b.rtcp, a.rtcp
        a.rtp.rtcp_peer, b.rtp.rtcp_peer = a.rtcp, b.rtcp
    return a, b


def open_call(plane, *legs: Leg) -> None:
    for leg in legs:
        for stream in (leg.rtp, leg.rtcp):
            if stream is not None:
                plane.open_stream(stream)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` (cheap shared-memory reads) until it holds; fail after ``timeout``."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.005)


async def wait_counters(plane, stream: Stream, packets: int, timeout: float = 10.0) -> None:
    def done() -> bool:
        plane.refresh([stream])
        return stream.stats.packets >= packets

    await wait_until(done, timeout)
