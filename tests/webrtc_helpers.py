"""Shared by the tests that put aiortc peers through a daemon child process: the daemon with
one relay worker, ng requests that must answer ok, a tone source, peers on host candidates
and what they decode (``conftest``'s ``loopback_ice`` keeps aiortc's ICE on loopback)."""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
from array import array
from collections.abc import Iterator
from contextlib import contextmanager

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from rtpengined.protocol import bencode
from tests.conftest import DaemonProcess

DEADLINE = 10.0  # seconds for any one wait: generous, the machine may be loaded
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
    """One ng request over UDP; the reply, which must be ``ok`` (its SDP as text)."""
    cookie = f"w{next(_cookies)}".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(cookie + b" " + bencode.encode(message), ("127.0.0.1", daemon.ng_port))
        reply = sock.recv(65535)
    assert reply.startswith(cookie + b" ")
    decoded = bencode.decode(reply[len(cookie) + 1:])
    assert decoded.get("result") == "ok", decoded
    if "sdp" in decoded:
        decoded["sdp"] = text(decoded["sdp"])
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


def frequency(samples, rate: int) -> float:
    """A tone's frequency from its zero crossings."""
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


def new_peer() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))  # (no STUN: host candidates)


async def until_connected(pc: RTCPeerConnection, who: str) -> None:
    """ICE and DTLS done: wait for aiortc's connectionState to settle."""
    changed = asyncio.Event()
    pc.on("connectionstatechange", changed.set)
    try:
        async with asyncio.timeout(DEADLINE):
            while pc.connectionState not in ("connected", "failed", "closed"):
                changed.clear()
                await changed.wait()
    except TimeoutError:
        pass
    finally:
        pc.remove_listener("connectionstatechange", changed.set)
    assert pc.connectionState == "connected", f"the {who} is {pc.connectionState}"


class Decoded:
    """What a peer decodes: each track aiortc announces is read by a task of its own; audio
    kept as channel 0's samples per frame (``audio``, at ``rate``), video as each frame's
    size. ``who`` names the peer in failures."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.audio: list[array] = []
        self.video: list[tuple[int, int]] = []
        self.rate = 0
        self.tasks: list[asyncio.Task] = []
        self.changed = asyncio.Event()

    def on_track(self, track) -> None:
        self.tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "audio":
                    channels = frame.layout.nb_channels
                    self.rate = frame.sample_rate
                    interleaved = array("h", bytes(frame.planes[0]))[:frame.samples * channels]
                    self.audio.append(interleaved[::channels])
                else:
                    self.video.append((frame.width, frame.height))
                self.changed.set()
        except MediaStreamError:  # the connection closed
            return

    async def until(self, kind: str, count: int) -> None:
        frames = getattr(self, kind)
        try:
            async with asyncio.timeout(DEADLINE):
                while len(frames) < count:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"the {self.who} decoded {len(frames)} {kind} frames in "
                                 f"{DEADLINE} s, not {count}") from None

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
