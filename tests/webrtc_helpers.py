"""Shared by the tests that put aiortc peers through a daemon child process: the daemon with
one relay worker, ng requests that must answer ok, and a tone source (``conftest``'s
``loopback_ice`` keeps aiortc's ICE on loopback)."""

from __future__ import annotations

import itertools
import math
import socket
from array import array
from collections.abc import Iterator
from contextlib import contextmanager

from aiortc.mediastreams import AudioStreamTrack

from rtpengined.protocol import bencode
from tests.conftest import DaemonProcess

_cookies = itertools.count()


@contextmanager
def relay_daemon(*options: str) -> Iterator[DaemonProcess]:
    """rtpengined on 127.0.0.1 with one relay worker (under the relay loop ``relay_loop``
    chose for the environment it inherits), stopped whatever happens."""
    daemon = DaemonProcess(["--interface=127.0.0.1", *options, "--relay-workers=1"])
    try:
        yield daemon
    finally:
        daemon.stop()


def ng(daemon: DaemonProcess, **message) -> dict:
    """One ng request over UDP; the reply, which must be ``ok``."""
    cookie = f"w{next(_cookies)}".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(cookie + b" " + bencode.encode(message), ("127.0.0.1", daemon.ng_port))
        reply = sock.recv(65535)
    assert reply.startswith(cookie + b" ")
    decoded = bencode.decode(reply[len(cookie) + 1:])
    assert decoded.get("result") == "ok", decoded
    return decoded


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def tone(hz: int, amplitude: int, rate: int, start: int, count: int) -> array:
    """16-bit samples ``start`` to ``start + count`` of a sine at ``rate`` samples/s."""
    return array("h", (round(amplitude * math.sin(2 * math.pi * hz * (start + i) / rate))
                       for i in range(count)))


class ToneTrack(AudioStreamTrack):
    """aiortc's paced 8 kHz mono source (20 ms frames) with a tone instead of silence."""

    def __init__(self, hz: int, amplitude: int) -> None:
        super().__init__()
        self.hz, self.amplitude = hz, amplitude

    async def recv(self):
        frame = await super().recv()
        samples = tone(self.hz, self.amplitude, frame.sample_rate, frame.pts,
                       frame.samples).tobytes()
        plane = frame.planes[0]
        plane.update(samples + bytes(plane.buffer_size - len(samples)))
        return frame
