"""The relay's side of a T.38 gateway (``offer_answer.t38`` sets it up, ``media.t38`` is
the gateway itself): G.711 payloads to and from the 16-bit samples spandsp takes, and the
audio the gateway plays to the fax party on audio, one RTP packet per packet time.

10.5 starts that audio once both parties' addresses are known (after the answer) and
sends it whatever the party sends: a fax modem on the line expects a continuous signal,
silence included (the gateway transmits on idle). The first packet has the marker bit;
SSRC, sequence number and timestamp start at random values; the first packet goes a
packet time after the start, as 10.5's first needs that much audio.
"""

from __future__ import annotations

import array
import os
import struct
import sys

from . import g711

# (payload type -> encoding) of the laws the gateway speaks whatever the SDP said
_STATIC = {0: "PCMU", 8: "PCMA"}
_decoders: dict[str, tuple[bytes, ...]] = {}


def _decoder(encoding: str) -> tuple[bytes, ...]:
    """Per code byte, its sample as two little-endian bytes."""
    table = _decoders.get(encoding)
    if table is None:
        linear = g711.ulaw_to_linear if encoding == "PCMU" else g711.alaw_to_linear
        table = _decoders[encoding] = tuple(
            struct.pack("<h", linear(code)) for code in range(256))
    return table


def payload_to_pcm(packet: bytes, pcm: tuple) -> bytes | None:
    """The samples of a G.711 RTP packet from the audio party (s16le), None for anything
    else (another payload type, too short). ``pcm`` is the stream's ``t38`` spec."""
    if len(packet) < 12:
        return None
    pt = packet[1] & 0x7F
    encoding = _STATIC.get(pt) or (pcm[3] if pt == pcm[2] else None)
    if encoding not in ("PCMU", "PCMA"):
        return None
    payload = g711.payload(packet)
    if not payload:
        return None
    return b"".join(map(_decoder(encoding).__getitem__, payload))


class PcmOutput:
    """What the gateway plays to the audio party: the media player's interface
    (``due``, ``next_due``, ``stop``, ``protect``, ``sent``, ``take_report``) over the
    gateway's output, so the worker's player timers pace it."""

    def __init__(self, source, payload_type: int, encoding: str, ptime: int,
                 now: float) -> None:
        self.source = source  # the T.38 party's relay stream: its ``gateway`` plays
        self.payload_type = payload_type
        self.table = g711.encoder(encoding)
        self.frame = 8 * max(10, min(ptime, 200))  # samples per packet at 8 kHz
        self.interval = self.frame / 8000
        self.protect = None  # (SRTP towards the party: the worker's ``_onward`` does it)
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.ts = int.from_bytes(os.urandom(4), "big")
        self.marker = True
        # The first packet once a frame of audio is there (10.5's encoder needs a whole
        # frame first): a party that answers at once is sent to where it really is.
        self.next_at = now + self.interval
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def sent(self, size: int, timestamp: int, now: float) -> None:
        """(The player's report bookkeeping: 10.5 sends no RTCP for a gateway's audio.)"""

    def take_report(self) -> None:
        return None

    def next_due(self) -> float | None:
        return None if self.stopped else self.next_at

    def due(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        gateway = getattr(self.source, "gateway", None)
        if gateway is None or gateway.closed:
            self.stopped = True
            return out
        if now - self.next_at > 1.0:  # (the worker was away: no burst of old audio)
            self.next_at = now
        while not self.stopped and self.next_at <= now:
            pcm = gateway.pull_pcm(self.frame)
            if len(pcm) < 2 * self.frame:  # (spandsp plays on idle: a full frame, really)
                pcm += bytes(2 * self.frame - len(pcm))
            samples = array.array("H", pcm)  # (as unsigned: the table's index)
            if sys.byteorder != "little":
                samples.byteswap()
            payload = bytes(map(self.table.__getitem__, samples))
            first = 0x80 | self.payload_type if self.marker else self.payload_type
            self.marker = False
            out.append(struct.pack("!BBHII", 0x80, first, self.seq, self.ts, self.ssrc)
                       + payload)
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + self.frame) & 0xFFFFFFFF
            self.next_at += self.interval
        return out
