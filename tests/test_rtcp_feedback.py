"""RTCP feedback cut out between an AVPF leg and one that is not: the sans-I/O filter
(``media.rtcp_feedback``). What 10.5 sends for each compound was found by experiment."""

from __future__ import annotations

import struct

import pytest

from rtpengined.media.rtcp_feedback import strip_feedback


def header(count: int, kind: int, words: int) -> bytes:
    return struct.pack("!BBH", 0x80 | count, kind, words)


SR = header(0, 200, 6) + struct.pack("!6I", 0xAAAA, 1, 2, 3, 4, 5)
RR = header(0, 201, 1) + struct.pack("!I", 0xAAAA)
SDES = header(1, 202, 3) + struct.pack("!I", 0xAAAA) + b"\x01\x04abcd\x00\x00"
APP = header(0, 204, 3) + struct.pack("!I", 0xAAAA) + b"NAMEdata"
PLI = header(1, 206, 2) + struct.pack("!II", 0xAAAA, 0xBBBB)
NACK = header(1, 205, 3) + struct.pack("!III", 0xAAAA, 0xBBBB, 0x50000)
REMB = header(15, 206, 5) + struct.pack("!II", 0xAAAA, 0) + b"REMB" + bytes(8)


@pytest.mark.parametrize(("compound", "sent"), [
    (SR + SDES + REMB, SR + SDES),
    (RR + NACK + PLI + SDES, RR + SDES),
    (PLI + RR + NACK, RR),
    (SR + APP, SR + APP),  # no feedback: the compound itself
    (b"", b""),
])
def test_feedback_packets_are_cut_the_rest_kept_in_order(compound, sent):
    assert strip_feedback(compound) == sent


def test_a_compound_of_feedback_only_leaves_nothing():
    assert strip_feedback(PLI) == b""
    assert strip_feedback(NACK + PLI + REMB) == b""


def test_what_overruns_the_datagram_goes_on_unread():
    # (10.5: the walk stops at a length word that runs past the end; the rest is kept)
    long_pli = header(1, 206, 9) + PLI[4:]
    assert strip_feedback(RR + long_pli) == RR + long_pli
    assert strip_feedback(long_pli) == long_pli
    long_rr = header(0, 201, 5) + RR[4:]
    assert strip_feedback(PLI + long_rr) == long_rr
    assert strip_feedback(PLI + RR + b"\x80\xc9") == RR + b"\x80\xc9"  # (no room for a header)


@pytest.mark.parametrize("bad", [
    header(1, 206, 1) + b"\0\0\xaa\xaa",  # feedback shorter than its fixed 12 bytes
    struct.pack("!BBH", 0x41, 206, 2) + PLI[4:],  # not version 2
    header(0, 200, 1) + b"\0\0\xaa\xaa",  # a sender report without its sender info
    header(2, 201, 1) + RR[4:],  # two report blocks announced, none there
])
def test_a_packet_that_does_not_parse_spoils_the_compound(bad):
    assert strip_feedback(RR + bad) is None
    assert strip_feedback(bad + PLI) is None


def test_the_untouched_compound_is_not_copied():
    compound = SR + SDES
    assert strip_feedback(compound) is compound
