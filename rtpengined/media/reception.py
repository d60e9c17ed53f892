"""What one party's RTP stream has delivered, as 10.5 counts it for the RTCP reports it
generates itself (``generate RTCP``): packets, octets and the last timestamp of the SSRC,
losses from the sequence numbers, and the RFC 3550 interarrival jitter. Sans-I/O: the
relay worker feeds it each RTP packet of a stream that needs it.

The loss count follows 10.5's tracker: a 32-packet window of sequence numbers seen, a
packet counted lost when it leaves the window unseen; a jump of more than 256 restarts the
window; a gap of 32 or more counts 32. The window starts at sequence number 0 with
nothing seen, so, as in 10.5, a stream whose first sequence number is from 32 to 256
starts with 32 packets lost, one below 32 with up to 32 more as the window moves on (a
larger one restarts the window there, full), and one that starts within 257 below the
wrap is "old" until it wraps. The jitter is taken on a
millisecond clock, as 10.5 takes it.
"""

from __future__ import annotations

import struct

_HEADER = struct.Struct("!HII")  # sequence number, timestamp, SSRC (from byte 2)
_WINDOW = 32  # bits of the loss tracker
_RESET = 0x100  # a forward jump beyond this restarts the tracker
_OLD = 0xFEFF  # a 16-bit difference at least this large is an old or repeated packet
_MASK32 = 0xFFFFFFFF


class Reception:
    """One SSRC's figures (a new SSRC on the stream starts a new one)."""

    __slots__ = ("ssrc", "packets", "octets", "timestamp", "highest", "lost_bits", "lost",
                 "transit", "jitter")

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.packets = 0
        self.octets = 0
        self.timestamp = 0  # of the last packet
        self.highest = 0  # extended sequence number of the newest packet
        self.lost_bits = 0
        self.lost = 0
        self.transit = 0
        self.jitter = 0  # RFC 3550's, scaled by 16

    def fraction_lost(self) -> int:
        """The report block's fraction (of 256): lost over expected, as 10.5 works it out."""
        expected = self.packets + self.lost
        return self.lost * 256 // expected if expected else 0

    def count_sequence(self, seq: int) -> None:
        highest = self.highest
        diff = (seq - highest) & 0xFFFF
        if diff == 0 or diff >= _OLD:
            newest = highest  # old or repeated
        elif diff > _RESET:
            newest = self.highest = seq
            self.lost_bits = _MASK32
        else:
            newest = (highest & 0xFFFF0000) | seq
            while newest < highest:
                newest += 0x10000
                if not newest & 0xFFFF0000:
                    break
            diff = (newest - highest) & 0xFFFF
            self.highest = newest
            if diff >= _WINDOW:
                self.lost += _WINDOW
                self.lost_bits = _MASK32
            else:
                bits, lost = self.lost_bits, self.lost
                for _ in range(diff):
                    if not bits & 0x80000000:
                        lost += 1
                    bits = (bits << 1) & _MASK32
                self.lost_bits, self.lost = bits, lost
        back = ((newest & 0xFFFF) - seq) & 0xFFFF
        if back < _WINDOW:
            self.lost_bits |= 1 << back

    def count_time(self, timestamp: int, wall: float, clock_rate: int) -> None:
        transit = ((int(wall * 1000) * clock_rate) // 1000 - timestamp) & _MASK32
        d = 0
        if self.transit:
            d = (transit - self.transit) & _MASK32
            if d >= 0x80000000:
                d = 0x100000000 - d
        self.transit = transit
        self.jitter = max(0, self.jitter + d - ((self.jitter + 8) >> 4))


def receive(current: Reception | None, packet, wall: float, clock_rate: int | None,
            sequenced: bool = False) -> Reception | None:
    """Count one RTP packet (``packet``: the whole of it, decrypted); returns the figures
    of its SSRC (``current`` if it is the same one, a new ``Reception`` if not), or
    ``current`` for a packet too short to be RTP. ``sequenced``: the packets are
    transcoded, and 10.5 counts their losses in its transcoder's sequencer, which starts
    at the first packet (no losses before it)."""
    if len(packet) < 12:
        return current
    seq, timestamp, ssrc = _HEADER.unpack_from(packet, 2)
    if current is None or current.ssrc != ssrc:
        current = Reception(ssrc)
        if sequenced:
            current.highest, current.lost_bits = (seq - 1) & 0xFFFF, _MASK32
    current.packets += 1
    current.octets += len(packet)
    current.timestamp = timestamp
    if clock_rate:
        current.count_time(timestamp, wall, clock_rate)
    current.count_sequence(seq)
    return current


def clock_rates(rtpmaps: dict[str, str]) -> tuple[tuple[int, int], ...]:
    """(payload type, RTP clock rate) of a party's rtpmaps: what its RTP's jitter is
    counted in (``generate RTCP``; the relay knows only the static types' own)."""
    rates = []
    for pt, rtpmap in rtpmaps.items():
        parts = rtpmap.split("/")
        if pt.isdigit() and len(parts) > 1 and parts[1].isdigit():
            rates.append((int(pt), int(parts[1])))
    return tuple(rates)
