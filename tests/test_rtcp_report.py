"""The RTCP reports the relay sends itself (a media player's), without sockets: the bytes
as rtpengine 10.5's "RTCP player" cases match them, and when a player's reports fall due."""

from __future__ import annotations

import re
import struct

from rtpengined.media import player, rtcp_report
from rtpengined.media.rtcp_report import Block, sender_report

# rtpengine's "RTCP player w/ previous SR" case, as it matches the report (its fields in
# groups: sender SSRC, NTP, RTP timestamp, DLSR, SDES SSRC, CNAME).
SUITE = re.compile(
    rb"^\x81\xc8\x00\x0c(.{4})(.{4})(.{4})(.{4})\x00\x00\x00\x01\x00\x00\x00\xac\x00\x00\x12\x34"
    rb"\x00\x00\x00\x00\x00\x00\x03\xe8\x00\x00\x00\x00\x56\x78\x9a\xbc(.{4})\x81\xca\x00\x05"
    rb"(.{4})\x01\x0c([0-9a-f]{12})\x00\x00$", re.S)


def test_a_report_with_one_block_is_what_rtpengines_suite_matches():
    wall = 1_700_000_000.25
    report = sender_report(0xCAFEBABE, wall, 123456, 1, 172,
                           [Block(0x1234, 1000, 0x56789ABC, 655)], "0123456789ab")
    match = SUITE.match(report)
    assert match is not None
    ssrc, msw, lsw, ts, dlsr, chunk_ssrc, cname = match.groups()
    assert ssrc == chunk_ssrc == struct.pack("!I", 0xCAFEBABE)
    assert struct.unpack("!I", msw)[0] == 1_700_000_000 + rtcp_report.NTP_EPOCH
    assert struct.unpack("!I", lsw)[0] == 1 << 30  # a quarter of a second
    assert struct.unpack("!I", ts)[0] == 123456 and struct.unpack("!I", dlsr)[0] == 655
    assert cname == b"0123456789ab"


def test_a_report_without_blocks_and_a_cname_of_another_length():
    report = sender_report(1, 0.0, 0, 0, 0, [], "abc")
    assert report[:4] == b"\x80\xc8\x00\x06" and len(report) == 28 + 16
    # SDES: header, SSRC, CNAME item (type 1, 3 bytes), the end item, padded to 32 bits
    assert report[28:] == b"\x81\xca\x00\x03\x00\x00\x00\x01\x01\x03abc\x00\x00\x00"


def test_lsr_and_dlsr_in_1_65536_s_across_the_wrap():
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0x1234, 0x5678, 0x9ABC0000, 3000, 1, 172)
    assert rtcp_report.lsr_of(b"xx" + sr, 2) == 0x56789ABC
    stamped = rtcp_report.stamp(65535.5)  # just before 2^32 in 1/65536 s
    assert rtcp_report.since(65536.25, stamped) == int(0.75 * 65536)
    assert rtcp_report.since(123.0, 0) == 0  # no report received: 0
    assert rtcp_report.stamp(0.0) == 1  # (0 means none)


def test_a_players_reports_fall_due_with_its_first_packet_then_every_5_to_7_s(monkeypatch):
    intervals = iter([5.0, 7.0, 6.0])
    monkeypatch.setattr(player, "next_interval", lambda: next(intervals))
    played = player.Player()
    assert played.take_report() is None
    played.sent(172, 1000, now=100.0)
    assert played.take_report() == (1, 172, 1000)
    assert played.take_report() is None  # once
    for n in range(1, 250):  # 20 ms apart up to 104.98 s, SRTP-sized (10.5 counts what was sent)
        played.sent(182, 1000 + 160 * n, now=100.0 + 0.02 * n)
        assert played.take_report() is None
    played.sent(182, 41000, now=105.0)
    assert played.take_report() == (251, 172 + 182 * 250, 41000)
    played.sent(182, 41160, now=111.9)  # the next at 105 + 7 s
    assert played.take_report() is None
    played.sent(182, 41320, now=112.0)
    assert played.take_report() == (253, 172 + 182 * 252, 41320)
