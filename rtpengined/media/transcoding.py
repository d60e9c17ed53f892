"""The packets of a call direction the relay converts, as 10.5 sends them; sans-I/O.

Once a direction of a call converts (``codec_negotiation.conversions``: the other G.711 law
than the receiver was answered), 10.5 sends everything in that direction under an SSRC of its
own, one per SSRC received, converted packets and those passed as they came alike. Measured
on 10.5 (offer/answer with ``codec: {transcode}``, ``accept``, ``always transcode``):

- Converted audio goes out in frames of 20 ms (160 samples: both laws code one byte per
  sample at 8 kHz), whatever the sizes it came in: what is left over waits for the next
  packet. The frames carry a plain 12-byte header (no CSRCs, extension or padding).
- Their timestamps are the encoder's own clock: the first converted packet's timestamp,
  then 160 more per frame sent (gaps and jumps in what comes in do not show).
- Sequence numbers are the received ones plus a shift. A packet that fills no frame takes
  one off the shift, each frame after the first of a packet adds one, so the output counts
  on without gaps. Converted packets pass 10.5's packet sequencer: one up to 100 ahead of
  the next expected (lost packets in between) goes on at once, one up to 100 behind (a
  late duplicate) is dropped, and any other jump is a reset that moves the shift so that
  the output continues where it was.
- A packet passed as it came (the receiver takes its codec) keeps its timestamp and its
  sequence number plus the shift.

RTCP is not touched. Each ``Direction`` is one stream's: the relay worker keeps it on the
stream it reads from.
"""

from __future__ import annotations

import os
import struct

from . import g711

DUPLICATE_WINDOW = 100  # sequence numbers either side of the next expected one (10.5)
FRAME = 160  # samples (bytes) per converted packet: 20 ms at 8 kHz
_HEADER = struct.Struct("!BBHI4s")


class _Output:
    """One received SSRC's output: its SSRC, the shift of its sequence numbers, the
    sequence number the sequencer expects next and the encoder's clock (None before the
    first converted packet), and converted samples that fill no frame yet."""

    __slots__ = ("ssrc", "shift", "expected", "clock", "pending")

    def __init__(self) -> None:
        self.ssrc = os.urandom(4)
        self.shift = 0
        self.expected: int | None = None
        self.clock: int | None = None
        self.pending = b""


class Direction:
    """The output SSRCs of one direction, by received SSRC (bytes)."""

    __slots__ = ("outputs",)

    def __init__(self) -> None:
        self.outputs: dict[bytes, _Output] = {}

    def rewrite(self, packet: bytes, conversions: dict) -> list[bytes]:
        """What goes out for ``packet``: converted when ``conversions`` (payload type ->
        (payload type out, table)) names its payload type, into as many frames as it
        completes (none: a duplicate, or too little yet); else as it came, renumbered."""
        if len(packet) < 12 or packet[0] >> 6 != 2:
            return [packet]
        ssrc = packet[8:12]
        output = self.outputs.get(ssrc)
        if output is None:
            output = self.outputs[ssrc] = _Output()
        seq = (packet[2] << 8) | packet[3]
        conversion = conversions.get(packet[1] & 0x7F)
        if conversion is None:
            out_seq = (seq + output.shift) & 0xFFFF
            return [packet[:2] + bytes((out_seq >> 8, out_seq & 0xFF)) + packet[4:8]
                    + output.ssrc + packet[12:]]
        expected = output.expected
        if expected is not None:
            ahead = (seq - expected) & 0xFFFF
            if ahead >= DUPLICATE_WINDOW:
                if ahead > 0xFFFF - DUPLICATE_WINDOW:
                    return []  # a late duplicate
                output.shift -= seq - expected  # a reset: the output goes on unbroken
        payload = g711.payload(packet)
        if payload is None:
            return []
        output.expected = (seq + 1) & 0xFFFF
        pending = output.pending + payload.translate(conversion[1])
        frames = len(pending) // FRAME
        if not frames:
            output.pending = pending
            output.shift -= 1
            if output.clock is None:
                output.clock = int.from_bytes(packet[4:8], "big")
            return []
        clock = output.clock
        if clock is None:
            clock = int.from_bytes(packet[4:8], "big")
        marker = packet[1] & 0x80
        pt_out = conversion[0]
        out = []
        for index in range(frames):
            if index:
                output.shift += 1
            out.append(_HEADER.pack(0x80, (marker if not index else 0) | pt_out,
                                    (seq + output.shift) & 0xFFFF, clock & 0xFFFFFFFF,
                                    output.ssrc) + pending[index * FRAME:(index + 1) * FRAME])
            clock += FRAME
        output.clock = clock
        output.pending = pending[frames * FRAME:]
        return out
