"""Shared by the rtpengined.secure tests: rtpengine 10.5's SDES/DTLS SDP (captures.json beside
capture.py in tests/fixtures/rtpengine-10.5/secure/) and a real aioice peer on loopback."""

import json
import re
import socket
import time
from collections import Counter
from pathlib import Path

import aioice

from rtpengined.secure import dtls, stun

CAPTURES = json.loads((Path(__file__).parent / "fixtures" / "rtpengine-10.5" / "secure" / "captures.json")
                      .read_text())


def lines(case: str, step: str, prefix: str) -> list[str]:
    """The SDP lines starting with `prefix` (without `a=`) of one captured reply or request."""
    entry = CAPTURES[case][step]
    sdp = entry["sdp"]
    return [ln[2:] for ln in sdp.splitlines() if ln.startswith("a=" + prefix)]


def mask_key(value: str) -> str:
    """Key material is random: keep its length, so the shape (base64 without padding) shows."""
    return re.sub(r"inline:([A-Za-z0-9+/=]+)", lambda m: f"inline:<{len(m.group(1))}>", value)


async def loopback_connection(controlling):
    """A real aioice Connection with a host candidate on 127.0.0.1.

    aioice's gathering skips 127.0.0.1, so gathering runs with no interface and the loopback
    candidate is made by aioice's own get_component_candidates (real socket, real protocol).
    """
    conn = aioice.Connection(ice_controlling=controlling, components=1, use_ipv4=False, use_ipv6=False)
    await conn.gather_candidates()
    conn._local_candidates += await conn.get_component_candidates(component=1, addresses=["127.0.0.1"])
    return conn


class SocketParty:
    """A WebRTC party made of the project's own sans-I/O leg (``self.leg``, set by the
    subclass once it knows the daemon's SDP) on one real UDP socket. ``pump`` runs the
    leg's timers and feeds it what arrives: STUN and DTLS go to the leg (and are counted
    in ``seen`` by kind), anything else is kept in ``media``."""

    def __init__(self, sock: socket.socket) -> None:
        self.certificate = dtls.Certificate()
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.media: list[bytes] = []
        self.seen: Counter[str] = Counter()

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            due = self.leg.deadline()
            if due is not None and due <= now:
                self._send(self.leg.poll(now))
            try:
                data, source = self.sock.recvfrom(65536)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            kind = stun.demux(data)
            if kind in ("stun", "dtls"):
                self.seen[kind] += 1
                self._send(self.leg.receive(data, source, time.monotonic()))
            else:
                self.media.append(data)

    def _send(self, datagrams) -> None:
        for data, address in datagrams:
            self.sock.sendto(data, address)
