"""``quality`` and ``rtcp_report.parse`` directly (sans-I/O): RTCP parsing, the MOS formula,
round-trip times from sender/receiver reports, what a query shows. Beside 10.5:
``test_diff_quality.py``."""

from __future__ import annotations

import struct

from rtpengined import quality
from rtpengined.media.rtcp_report import parse


def _sr(ssrc: int, seconds: int, fraction: int, blocks: tuple = ()) -> bytes:
    body = struct.pack("!IIIIII", ssrc, seconds, fraction, 0, 0, 0)
    for block in blocks:
        body += struct.pack("!IIIIII", *block)
    return struct.pack("!BBH", 0x80 | len(blocks), 200, len(body) // 4) + body


def test_parse_sender_and_receiver_reports_of_a_compound_packet():
    sdes = struct.pack("!BBH", 0x81, 202, 1) + b"\x00" * 4
    packet = _sr(7, 0x00010002, 0x00030004, ((9, (64 << 24) | 3, 0, 80, 0x11, 0x22),)) + sdes
    reports, blocks, _ = parse(packet)
    assert reports == [(7, 0x00020003)]  # (the NTP time's middle 32 bits)
    assert blocks == [(7, 9, 64, 3, 80, 0x11, 0x22)]


def test_parse_stops_at_what_does_not_parse():
    assert parse(b"") == ([], [], [])
    assert parse(b"\x80\xc8\x00\x10" + b"\x00" * 8) == ([], [], [])  # (longer than it is)
    assert parse(b"\x00\xc8\x00\x01" + b"\x00" * 4) == ([], [], [])  # (not version 2)
    truncated = _sr(7, 1, 2)[:-4]
    assert parse(truncated) == ([], [], [])


def test_mos_as_10_5_works_it_out():
    assert quality.mos(0, 20, 0) == 0  # (no round-trip time: no MOS)
    assert quality.mos(80_000, 20, 0) == 43
    assert quality.mos(2_281_000, 2, 50) == 10
    assert quality.mos(10_000, 0, 0) == 43
    assert quality.mos(400_000, 0, 0) == 33  # (past 160 ms: the steeper slope)


def test_round_trip_times_of_both_legs_and_the_whole_path():
    a, b, totals = {}, {}, quality.Totals()
    quality.sender_report(a, 0xA, 0x12345678, 100.0)
    quality.sender_report(b, 0xB, 0x9ABCDEF0, 100.0)
    # B reports A's stream 50 ms after A's SR, having held it 10 ms (DLSR 655/65536 s)
    quality.receiver_report(b, [a], (0xB, 0xA, 0, 0, 80, 0x12345678, 655), 100.05, 8000,
                            totals)
    assert b[0xB].blocks[-1].rtt_leg == 50_000 - 655 * 1_000_000 // 65536
    assert b[0xB].blocks[-1].mos == 0  # (the other leg not known yet)
    quality.receiver_report(a, [b], (0xA, 0xB, 0, 0, 160, 0x9ABCDEF0, 655), 100.04, 8000,
                            totals)
    shown = a[0xA].blocks[-1]
    assert shown.rtt == shown.rtt_leg + b[0xB].blocks[-1].rtt_leg
    assert shown.jitter == 20 and shown.mos == 43 and totals.samples == 1


def test_a_report_about_an_ssrc_of_unknown_codec_is_dropped():
    a, totals = {}, quality.Totals()
    quality.receiver_report(a, [], (0xA, 0xB, 0, 0, 160, 0, 0), 1.0, None, totals)
    assert not a[0xA].blocks and a[0xA].as_dict() is None


def test_one_block_a_second_and_the_progression_in_about_ten_steps():
    a, b, totals = {}, {0xB: quality.SsrcQuality(last_rtt=20_000)}, quality.Totals()
    a[0xA] = quality.SsrcQuality(last_rtt=20_000)  # (the other leg's, known)
    for n in range(40):
        wall = 100.0 + n * 0.5
        quality.sender_report(b, 0xB, n + 1, wall - 0.03)  # (LSR 0 would name no SR)
        quality.receiver_report(a, [b], (0xA, 0xB, 0, n, 80, n + 1, 655), wall, 8000, totals)
    entry = a[0xA]
    assert len(entry.blocks) == 20  # (half of them less than a second after the last)
    assert totals.samples == 40  # (the totals count every one)
    shown = entry.as_dict()
    assert shown["cumulative loss"] == 39
    assert shown["MOS progression"]["interval"] == 1
    assert len(shown["MOS progression"]["entries"]) == 20
    assert shown["average MOS"]["samples"] == 20


def test_nothing_shown_before_a_mos():
    a, totals = {}, quality.Totals()
    # (an SR named that the daemon never saw: a block without a round-trip time)
    quality.receiver_report(a, [], (0xA, 0xB, 0, 3, 80, 0x1234, 655), 1.0, 8000, totals)
    assert a[0xA].blocks and a[0xA].as_dict() is None  # (10.5: no lowest MOS yet)


def test_a_block_naming_no_sender_report_is_dropped():
    a, totals = {}, quality.Totals()
    for lsr, dlsr in ((0, 655), (0x1234, 0), (0, 0)):
        quality.receiver_report(a, [], (0xA, 0xB, 0, 3, 80, lsr, dlsr), 1.0, 8000, totals)
    assert not a[0xA].blocks and a[0xA].lost == 0 and totals.samples == 0


def test_a_party_naming_ever_new_ssrcs_keeps_a_bounded_table():
    a, totals = {}, quality.Totals()
    for n in range(500):
        quality.sender_report(a, n, n, 1.0)
        quality.receiver_report(a, [], (10_000 + n, n, 0, 0, 0, 0, 0), 1.0, 8000, totals)
    assert len(a) <= quality.MAX_SSRCS
