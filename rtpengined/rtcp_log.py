"""The RTCP log of ``--log-facility-rtcp``: one syslog line per RTCP packet a party sends,
as rtpengine 10.5 writes it; sans-I/O.

``[CALL-ID] `` then ``key=value, `` pairs for each part of the compound packet 10.5 reads:
a sender or receiver report (its header, sender info, every report block), the header of
a source description (no items), an extended report (its header, then each block of a
type 10.5 reads: receiver reference time, DLRR, statistics summary, VoIP metrics). BYE,
APP and feedback packets add nothing; the separator after the last pair is cut off, and a
packet that adds nothing logs nothing. Reading stops at the first part that does not fit
as 10.5 reads it (longer than what is left, a bad version, shorter than its type's
minimum, a report with more blocks than its length holds), what came before still
logged. (Such a packet, but for the first case, is one neither daemon relays; the relay
drops it before it is noted, so this daemon logs nothing of it: see the README.)

10.5's quirks are kept, as its log is what collectors parse: the receiver reference time
and DLRR values come out byte-swapped, as do the statistics summary's end sequence and ToH
figures (its code converts them twice or as the wrong width), and two separators in that
block lack their space.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

# Each part's minimum length by packet type (10.5's structure sizes).
_MIN_LENGTH = {200: 28, 201: 8, 202: 4, 203: 4, 204: 12, 205: 12, 206: 12, 207: 8}
# Extended report blocks 10.5 reads, by block type: their minimum length.
_XR_MIN_LENGTH = {4: 12, 5: 16, 6: 40, 7: 36}
_REPORT_BLOCK = struct.Struct("!IB3sIIII")
_U32 = struct.Struct("!I")


def _swapped(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "big"), "little")


def _header(part: bytes, out: list[str]) -> None:
    first, kind, length = part[0], part[1], int.from_bytes(part[2:4], "big")
    out.append(f"version={first >> 6}, padding={(first >> 5) & 1}, count={first & 31}, "
               f"payloadtype={kind}, length={length}, ")


def report_blocks(data: bytes, at: int, count: int
                  ) -> Iterator[tuple[int, int, int, int, int, int, int]]:
    """The ``count`` report blocks of a sender or receiver report, the first at ``at`` in
    ``data`` (the whole packet), each as (SSRC, fraction lost, cumulative lost, highest
    sequence number, jitter, LSR, DLSR); the RTCP log and Homer read them alike, as 10.5
    does: a count larger than the part reads on into what follows (zeros past the packet's
    end)."""
    for index in range(count):
        start = at + index * 24
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack(
            data[start:start + 24].ljust(24, b"\0"))
        yield ssrc, fraction, int.from_bytes(lost, "big"), highest, jitter, lsr, dlsr


def _report_blocks(data: bytes, at: int, count: int, out: list[str]) -> None:
    for ssrc, fraction, lost, highest, jitter, lsr, dlsr in report_blocks(data, at, count):
        out.append(f"ssrc={ssrc}, fraction_lost={fraction}, packet_loss={lost}, "
                   f"last_seq={highest}, jitter={jitter}, last_sr={lsr}, "
                   f"delay_since_last_sr={dlsr}, ")


def _extended_blocks(part: bytes, out: list[str]) -> None:
    at = 8
    while len(part) - at >= 4:
        kind, specific, length = part[at], part[at + 1], int.from_bytes(part[at + 2:at + 4], "big")
        size = (length + 1) * 4
        if size > len(part) - at:
            break
        block = part[at:at + size]
        at += size
        if kind not in _XR_MIN_LENGTH or size < _XR_MIN_LENGTH[kind]:
            continue
        out.append(f"rb_header_blocktype={kind}, rb_header_blockspecdata={specific}, "
                   f"rb_header_blocklength={length}, ")
        if kind == 4:
            msw, lsw = (_swapped(v) for v in struct.unpack_from("!II", block, 4))
            out.append(f"rb_rr_time_ntp_sec={msw}, rb_rr_time_ntp_frac={lsw}, ")
        elif kind == 5:
            ssrc, lrr, dlrr = (_swapped(v) for v in struct.unpack_from("!III", block, 4))
            out.append(f"rb_dlrr_ssrc={ssrc}, rb_dlrr_lrr={lrr}, rb_dlrr_dlrr={dlrr}, ")
        elif kind == 6:
            ssrc, begin, lost, dup, *jitter = struct.unpack_from("!IHxxIIIIII", block, 4)
            end = block[10] << 24 | block[11] << 16
            toh = [byte << 24 for byte in block[36:40]]
            out.append(f"rb_stats_ssrc={ssrc}, rb_stats_begin_seq={begin}, "
                       f"rb_stats_end_seq={end}, rb_stats_lost_packets={lost}, "
                       f"rb_stats_duplicate_packets={dup},"
                       f"rb_stats_jitter_min={jitter[0]}, rb_stats_jitter_max={jitter[1]}, "
                       f"rb_stats_jitter_mean={jitter[2]}, rb_stats_jitter_deviation={jitter[3]},"
                       f"rb_stats_toh_min={toh[0]}, rb_stats_toh_max={toh[1]}, "
                       f"rb_stats_toh_mean={toh[2]}, rb_stats_toh_deviation={toh[3]}, ")
        else:
            (ssrc, loss, discard, burst_den, gap_den, burst_dur, gap_dur, round_trip,
             end_system, signal, noise, rerl, gmin, r_factor, ext_r_factor, mos_lq, mos_cq,
             rx_config, jb_nom, jb_max, jb_abs_max) = struct.unpack_from(
                "!IBBBBHHHHBBBBBBBBBxHHH", block, 4)
            out.append(
                f"rb_voip_mtc_ssrc={ssrc}, rb_voip_mtc_loss_rate={loss}, "
                f"rb_voip_mtc_discard_rate={discard}, rb_voip_mtc_burst_den={burst_den}, "
                f"rb_voip_mtc_gap_den={gap_den}, rb_voip_mtc_burst_dur={burst_dur}, "
                f"rb_voip_mtc_gap_dur={gap_dur}, rb_voip_mtc_rnd_trip_delay={round_trip}, "
                f"rb_voip_mtc_end_sys_delay={end_system}, rb_voip_mtc_signal_lvl={signal}, "
                f"rb_voip_mtc_noise_lvl={noise}, rb_voip_mtc_rerl={rerl}, "
                f"rb_voip_mtc_gmin={gmin}, rb_voip_mtc_r_factor={r_factor}, "
                f"rb_voip_mtc_ext_r_factor={ext_r_factor}, rb_voip_mtc_mos_lq={mos_lq}, "
                f"rb_voip_mtc_mos_cq={mos_cq}, rb_voip_mtc_rx_config={rx_config}, "
                f"rb_voip_mtc_jb_nom={jb_nom}, rb_voip_mtc_jb_max={jb_max}, "
                f"rb_voip_mtc_jb_abs_max={jb_abs_max}, ")


def readable_parts(packet: bytes) -> Iterator[tuple[int, bytes]]:
    """(offset, part) of each part of a compound packet, up to the first that 10.5's
    parser cannot read (shared with ``homer``, which reads what the same parser reads)."""
    at = 0
    while len(packet) - at >= 4:
        size = (int.from_bytes(packet[at + 2:at + 4], "big") + 1) * 4
        if size > len(packet) - at:
            return
        part = packet[at:at + size]
        kind = part[1]
        if part[0] >> 6 != 2 or size < _MIN_LENGTH.get(kind, 0):
            return
        # (a report's blocks checked against the whole part, header and all, as 10.5 does)
        if kind in (200, 201) and size < (part[0] & 31) * 24:
            return
        yield at, part
        at += size


def _parts(packet: bytes, out: list[str]) -> None:
    """The pairs of each part into ``out``, up to the first part 10.5 cannot read."""
    for at, part in readable_parts(packet):
        kind = part[1]
        if kind in (200, 201):
            count = part[0] & 31
            _header(part, out)
            out[-1] += f"ssrc={_U32.unpack_from(part, 4)[0]}, "
            if kind == 200:
                msw, lsw, stamp, packets, octets = struct.unpack_from("!IIIII", part, 8)
                out.append(f"ntp_sec={msw}, ntp_fractions={lsw}, rtp_ts={stamp}, "
                           f"sender_packets={packets}, sender_bytes={octets}, ")
            # (blocks past the part's end are read from what follows it, as 10.5 reads)
            _report_blocks(packet, at + (28 if kind == 200 else 8), count, out)
        elif kind == 202:
            _header(part, out)
        elif kind == 207:
            _header(part, out)
            out[-1] += f"ssrc={_U32.unpack_from(part, 4)[0]}, "
            _extended_blocks(part, out)


def line(call_id: str, packet: bytes) -> bytes | None:
    """The log line of one RTCP packet (plain, decrypted) a party of ``call_id`` sent; None
    when 10.5 would log nothing for it."""
    out: list[str] = []
    _parts(bytes(packet), out)
    if not out:
        return None
    return f"[{call_id}] {''.join(out).rstrip(', ')}".encode()
