"""``rtcp_log`` directly (sans-I/O): what 10.5 logs of packets the differential test cannot
send through both daemons (ones neither relays), and of nothing at all."""

from __future__ import annotations

from test_diff_rtcp_log import _part, _rr, _sdes, _sr

from rtpengined import rtcp_log

RR_LINE = (b"[c] version=2, padding=0, count=1, payloadtype=201, length=7, ssrc=5, ssrc=80, "
           b"fraction_lost=5, packet_loss=259, last_seq=100, jitter=7, last_sr=305419896, "
           b"delay_since_last_sr=655")


def test_reading_stops_at_a_part_10_5_cannot_read_what_came_before_logged():
    assert rtcp_log.line("c", _rr()) == RR_LINE
    assert rtcp_log.line("c", _rr() + _part(202, 1, bytes(8), version=1) + _sdes()) == RR_LINE
    assert rtcp_log.line("c", _rr() + _sr(count=3, blocks=1) + _sdes()) == RR_LINE
    assert rtcp_log.line("c", _rr() + _part(200, 0, bytes(8))) == RR_LINE  # (short SR)


def test_nothing_to_log_gives_no_line():
    assert rtcp_log.line("c", b"") is None
    assert rtcp_log.line("c", _part(203, 1, bytes(4))) is None  # (BYE alone)
    assert rtcp_log.line("c", b"\x81\xc9\x00\x07") is None  # (longer than the packet)
    assert rtcp_log.line("c", _part(210, 0, bytes(4)) + _sdes()).endswith(  # (210: skipped)
        b"payloadtype=202, length=3")
