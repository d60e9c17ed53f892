"""``media.reception``: what a stream delivered, counted as 10.5 counts it for its own RTCP
reports (``generate RTCP``), and the report blocks ``rtcp_report`` makes of it."""

from __future__ import annotations

import struct

from rtpengined.media import rtcp_report
from rtpengined.media.reception import Reception, clock_rates, receive


def _rtp(seq: int, ts: int = 0, ssrc: int = 0x1234, payload: int = 160) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, ssrc) + bytes(payload)


def _run(seqs, start_wall: float = 1000.0) -> Reception:
    got = None
    for i, seq in enumerate(seqs):
        got = receive(got, _rtp(seq, 160 * i), start_wall + 0.02 * i, 8000)
    return got


def test_packets_octets_and_timestamp_of_the_last_packet():
    got = _run(range(1000, 1038))
    assert (got.ssrc, got.packets, got.octets, got.timestamp) == (0x1234, 38, 38 * 172, 160 * 37)
    assert (got.lost, got.highest, got.fraction_lost()) == (0, 1037, 0)


def test_a_gap_counts_once_the_window_moves_past_it():
    got = _run([*range(1000, 1002), *range(1003, 1040)])  # 1002 never came
    assert got.lost == 1 and got.fraction_lost() == 6  # 1 * 256 // (38 + 1), as 10.5


def test_a_late_packet_inside_the_window_is_not_lost():
    got = _run([1000, 1001, 1003, 1002, *range(1004, 1040)])
    assert got.lost == 0 and got.highest == 1039


def test_a_first_sequence_number_up_to_256_starts_with_10_5s_losses():
    # (10.5's window starts at sequence number 0 with nothing seen: a first number from
    # 32 to 256 moves it all out at once, 32 lost; one below 32 moves it that far (5
    # lost), then each packet moves it one more until the first seen one leaves (31 more)
    assert _run(range(100, 150)).lost == 32
    assert _run(range(5, 10)).lost == 9
    assert _run(range(5, 50)).lost == 36
    assert _run(range(500, 550)).lost == 0  # (a jump: the window starts there, full)


def test_a_jump_restarts_the_window_and_wraps_extend_the_number():
    got = _run([*range(1000, 1010), *range(30000, 30010)])
    assert got.lost == 0 and got.highest == 30009
    got = _run([*range(1000, 1010), *range(65530, 65546)])
    assert got.lost == 0 and got.highest == 0x10000 + 9
    # (a first number within 257 below the wrap reads as old until the wrap, as in 10.5)
    assert _run(range(65530, 65546)).highest == 9


def test_repeats_and_old_packets_change_nothing():
    got = _run([*range(1000, 1040), 1039, 1039, 1020])
    assert (got.lost, got.highest) == (0, 1039)


def test_jitter_is_zero_when_paced_and_grows_with_uneven_arrival():
    assert _run(range(1000, 1050)).jitter == 0
    got = None
    for i in range(50):
        got = receive(got, _rtp(1000 + i, 160 * i), 1000.0 + 0.02 * i + (0.01 if i % 2 else 0),
                      8000)
    assert got.jitter >> 4 > 0


def test_a_new_ssrc_starts_over_and_short_packets_are_ignored():
    got = _run(range(1000, 1010))
    other = receive(got, _rtp(2000, ssrc=0x9999), 1000.0, 8000)
    assert other is not got and (other.ssrc, other.packets) == (0x9999, 1)
    assert receive(other, b"\x80\x00", 1000.0, 8000) is other and other.packets == 1


def test_a_block_carries_fraction_losses_and_jitter():
    block = rtcp_report.Block(0x1234, 2037, 7, 9, fraction_lost=6, lost=1, jitter=3)
    packet = rtcp_report.sender_report(0x5678, 1000.0, 8920, 37, 6364, [block], "0123456789ab")
    assert struct.unpack_from("!IIIIII", packet, 28) == (0x1234, (6 << 24) | 1, 2037, 3, 7, 9)
    assert struct.unpack_from("!III", packet, 16) == (8920, 37, 6364)


def test_clock_rates_of_a_partys_rtpmaps():
    assert clock_rates({"0": "PCMU/8000", "96": "opus/48000/2", "101": "telephone-event/8000",
                        "97": "broken", "x": "PCMA/8000"}) == ((0, 8000), (96, 48000), (101, 8000))
    got = None
    for i in range(20):  # (48 kHz timestamps, sent 20 ms apart: no jitter on that clock)
        got = receive(got, _rtp(1000 + i, 960 * i), 1000.0 + 0.02 * i, 48000)
    assert got.jitter == 0


def test_a_transcoded_stream_counts_losses_from_its_first_packet():
    got = None
    for i, seq in enumerate([*range(100, 110), *range(111, 150)]):  # 110 never came
        got = receive(got, _rtp(seq, 160 * i), 1000.0 + 0.02 * i, 8000, sequenced=True)
    assert (got.lost, got.highest) == (1, 149)
