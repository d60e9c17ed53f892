"""RTCP reports the relay sends itself, as rtpengine 10.5 sends them; sans-I/O.

10.5 sends a sender report for what its media player plays: with the first packet of a
player (the SSRC's first packet) and then every 5 to 7 s (random) while it plays, from the
RTCP port facing the party to the party's RTCP address (the RTP port when RTCP is muxed),
encrypted as anything sent to the party. Measured on 10.5 (rtpengine's "RTCP player"
cases):

- the sender part: the player's SSRC, the NTP time of sending, the timestamp of the last
  packet played, and the packets and octets played so far (octets count the whole RTP
  packet, its header included, as 10.5 counts them);
- one report block per SSRC the party sent RTP from (none before it sent any): its last
  sequence number, the middle of the NTP time of its last sender report (LSR) and the time
  since it arrived (DLSR, 1/65536 s);
- an SDES chunk with the daemon's instance id (12 hex digits, the id of ``a=rtpengine``)
  as the CNAME.

Loss and jitter are not measured by this relay: their fields are 0 (a party that lost
nothing sees what 10.5 sends).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

NTP_EPOCH = 2208988800  # 1900-01-01 to 1970-01-01, in seconds
INTERVAL = (5.0, 7.0)  # seconds between a player's reports (10.5: 5 s plus up to 2 s random)

_SENDER = struct.Struct("!BBHIIIIII")  # header, SSRC, NTP msw/lsw, RTP ts, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction+lost, highest seq, jitter, LSR, DLSR
_MIDDLE = struct.Struct("!I")


@dataclass(frozen=True)
class Block:
    """A report block: what the party sent from ``ssrc`` as the relay received it."""

    ssrc: int
    highest_seq: int
    lsr: int = 0  # middle 32 bits of the NTP time of its last sender report (0: none)
    dlsr: int = 0  # 1/65536 s since that report arrived
    # (0 where the relay does not count them: a media player's reports)
    fraction_lost: int = 0  # of 256
    lost: int = 0  # cumulative
    jitter: int = 0  # in RTP timestamp units


def stamp(wall: float) -> int:
    """A wall-clock time in DLSR units (1/65536 s), modulo 2^32 (never 0: 0 means none)."""
    return int(wall * 65536) & 0xFFFFFFFF or 1


def since(wall: float, stamped: int) -> int:
    """DLSR: the time from ``stamped`` (``stamp``'s) to ``wall``, 0 when nothing was."""
    return (stamp(wall) - stamped) & 0xFFFFFFFF if stamped else 0


def lsr_of(packet, first: int = 0) -> int:
    """The middle 32 bits of a sender report's NTP time (the packet at ``first`` is one)."""
    return _MIDDLE.unpack_from(packet, first + 10)[0]


def next_interval() -> float:
    return random.uniform(*INTERVAL)


def sender_report(ssrc: int, wall: float, rtp_ts: int, packets: int, octets: int,
                  blocks: list[Block], cname: str) -> bytes:
    """A compound packet: the sender report and an SDES chunk with ``cname``."""
    seconds = int(wall)
    fraction = int((wall - seconds) * 4294967296) & 0xFFFFFFFF
    blocks = blocks[:31]
    out = [_SENDER.pack(0x80 | len(blocks), 200, 6 + 6 * len(blocks), ssrc,
                        (seconds + NTP_EPOCH) & 0xFFFFFFFF, fraction, rtp_ts & 0xFFFFFFFF,
                        packets & 0xFFFFFFFF, octets & 0xFFFFFFFF)]
    out.extend(_BLOCK.pack(block.ssrc, (block.fraction_lost & 0xFF) << 24
                           | min(block.lost, 0x7FFFFF), block.highest_seq & 0xFFFFFFFF,
                           block.jitter & 0xFFFFFFFF, block.lsr, block.dlsr)
               for block in blocks)
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\0"
    chunk += bytes(-len(chunk) % 4)
    out.append(struct.pack("!BBH", 0x81, 202, len(chunk) // 4) + chunk)
    return b"".join(out)


_BLOCK = struct.Struct("!IIIIII")


def parse(packet: bytes) -> tuple[list, list, list]:
    """(sender reports, report blocks, extended reports) of a compound RTCP packet: (SSRC,
    the NTP time's middle 32 bits); (reporter SSRC, reported SSRC, fraction lost,
    cumulative lost, jitter, LSR, DLSR); and from XR (RFC 3611) packets ("time", reporter,
    middle bits) for a receiver reference time, ("dlrr", reporter, SSRC, LRR, DLRR) for the
    first DLRR item (as 10.5 reads them), ("rtt", reporter, SSRC, round-trip delay in ms)
    from VoIP metrics. What does not parse ends the walk."""
    reports, blocks, extended = [], [], []
    offset, size = 0, len(packet)
    while offset + 8 <= size:
        first, kind, length = packet[offset], packet[offset + 1], int.from_bytes(
            packet[offset + 2:offset + 4], "big")
        end = offset + 4 + 4 * length
        if first >> 6 != 2 or end > size:
            break
        count = first & 0x1F
        reporter = int.from_bytes(packet[offset + 4:offset + 8], "big")
        at = offset + 8
        if kind == 207:
            _extended(packet, at, end, reporter, extended)
            offset = end
            continue
        if kind == 200:
            if at + 20 > end:
                break
            reports.append((reporter, lsr_of(packet, offset)))
            at += 20
        elif kind != 201:
            offset = end
            continue
        for _ in range(count):
            if at + 24 > end:
                break
            ssrc, lost, _highest, jitter, lsr, dlsr = _BLOCK.unpack_from(packet, at)
            blocks.append((reporter, ssrc, lost >> 24, lost & 0xFFFFFF, jitter, lsr, dlsr))
            at += 24
        offset = end
    return reports, blocks, extended


def _extended(packet: bytes, at: int, end: int, reporter: int, out: list) -> None:
    """The report blocks of one XR packet the call quality figures use."""
    while at + 4 <= end:
        block_type = packet[at]
        stop = at + 4 * (int.from_bytes(packet[at + 2:at + 4], "big") + 1)
        if stop > end:
            return
        body = at + 4
        if block_type == 4 and body + 8 <= stop:  # receiver reference time
            out.append(("time", reporter, _MIDDLE.unpack_from(packet, body + 2)[0]))
        elif block_type == 5 and body + 12 <= stop:  # DLRR
            ssrc, lrr, dlrr = struct.unpack_from("!III", packet, body)
            out.append(("dlrr", reporter, ssrc, lrr, dlrr))
        elif block_type == 7 and body + 16 <= stop:  # VoIP metrics
            ssrc = int.from_bytes(packet[body:body + 4], "big")
            delay = int.from_bytes(packet[body + 12:body + 14], "big")
            out.append(("rtt", reporter, ssrc, delay))
        at = stop
