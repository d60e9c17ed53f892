"""The T.38 gateway: UDPTL framing (``rtpengined.udptl``) checked byte for byte against
what rtpengine 10.5's own gateway test expects of it, and whole fax pages sent through
spandsp's gateway (``rtpengined.media.t38``) between spandsp's fax terminals, in both
directions, with and without lost packets, with redundancy and with FEC.

The receive-side checks of 10.5's test (how many redundancy entries, which FEC span and
entry count while the history is still short, and the FEC entries themselves) are stated
again here in Python, independently of the encoder, and every packet the gateway sends
during a transfer is held to them.
"""

from __future__ import annotations

import array
import functools
import os
import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtpengined.media import g711
from rtpengined.udptl import (
    T38Options,
    UdptlDecoder,
    UdptlEncoder,
    UdptlError,
    decode_length,
    encode_length,
    sdp_attributes,
)

# -- the receiver's view, as 10.5's auto-daemon-tests-t38.pl states it ----------------------


def string_xor(a: bytes, b: bytes) -> bytes:
    """Perl's string ``^``: the shorter operand counts as padded with zero bytes."""
    length = max(len(a), len(b))
    a, b = a.ljust(length, b"\0"), b.ljust(length, b"\0")
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def suite_fec(seq_out: int, num_ec: int, span: int, packets: dict[int, bytes]) -> tuple[int, bytes]:
    """The FEC entries a receiver expects on packet ``seq_out``: entry ``k`` is the XOR of
    packets seq_out - num_ec*span + k + m*num_ec (m < span), each written length-first."""
    count, blob = 0, b""
    for ec_pack in range(num_ec):
        ec_seq = seq_out - num_ec * span + ec_pack
        if ec_seq < 0 or ec_seq not in packets:
            break
        xor = b""
        for fec_iter in range(span):
            member = packets[ec_seq + fec_iter * num_ec]
            assert len(member) < 0x80
            xor = string_xor(xor, member)
        blob += bytes((len(xor),)) + xor
        count += 1
    return count, blob


def suite_expected_span(seq: int, span: int, num_ec: int) -> tuple[int, int]:
    """The span and entry count a receiver expects on packet ``seq``: while fewer than
    span*entries packets came before, first the span shrinks, then the entry count."""
    while seq < span * num_ec:
        if span > 1:
            span -= 1
            continue
        num_ec -= 1
    return span, num_ec


class SuiteReceiver:
    """The receive side of 10.5's T.38 test: every UDPTL packet from the gateway is checked
    as that test checks it (sequence, redundancy or FEC), and its primary IFP returned."""

    def __init__(self, span: int = 1, num_ec: int = 3) -> None:
        self.span, self.num_ec = span, num_ec
        self.seq = 0
        self.ifps: dict[int, bytes] = {}

    def check(self, packet: bytes) -> tuple[int, bytes]:
        seq = int.from_bytes(packet[:2], "big")
        assert seq in (self.seq, self.seq + 1), f"UDPTL seq {seq} after {self.seq}"
        self.seq = seq
        length = packet[2]
        assert 0 < length < 0x80, "remote packet short enough"
        ifp, rest = packet[3:3 + length], packet[3 + length:]
        assert len(ifp) == length
        self.ifps[seq] = ifp
        if self.span == 1:
            assert rest[0] == 0x00, "redundancy method"
            count = rest[1]
            assert count == min(seq, 3), f"num EC packets {count}"
            rest = rest[2:]
            for ec_seq in range(seq - 1, seq - 1 - count, -1):
                entry_length = rest[0]
                assert 0 < entry_length < 0x80, "EC packet short enough"
                assert rest[1:1 + entry_length] == self.ifps[ec_seq], "EC packet matches"
                rest = rest[1 + entry_length:]
        else:
            assert rest[0] == 0x80, "FEC method"
            assert rest[1] == 0x01, "FEC span header"
            span, count = rest[2], rest[3]
            assert (span, count) == suite_expected_span(seq, self.span, self.num_ec)
            expected_count, expected_blob = suite_fec(seq, count, span, self.ifps)
            assert expected_count == count, "num actual FEC entries"
            assert rest[4:4 + len(expected_blob)] == expected_blob, "FEC blob matches"
            rest = rest[4 + len(expected_blob):]
        assert rest == b""
        return seq, ifp


def random_ifps(count: int, seed: int, max_length: int = 0x7F) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(1, max_length)) for _ in range(count)]


# -- length determinants --------------------------------------------------------------------

@pytest.mark.parametrize("length, prefix", [
    (0, b"\x00"), (1, b"\x01"), (0x7F, b"\x7f"), (0x80, b"\x80\x80"), (0x3FFF, b"\xbf\xff"),
])
def test_length_determinants(length, prefix):
    data = bytes(range(256)) * (length // 256) + bytes(range(length % 256))
    encoded = encode_length(data)
    assert encoded == prefix + data
    assert decode_length(encoded, 0) == (length, len(prefix))


def test_long_fields_are_fragmented():
    data = bytes(0x4000 + 5)
    assert encode_length(data) == b"\xc1" + data[:0x4000] + b"\x05" + data[0x4000:]
    data = bytes(0xC000)
    assert encode_length(data) == b"\xc3" + data + b"\x00"  # (an empty remainder closes it)
    with pytest.raises(ValueError):
        encode_length(bytes(0x10000))
    with pytest.raises(UdptlError, match="fragment"):
        decode_length(b"\xc1" + bytes(10), 0)


# -- encoder ------------------------------------------------------------------------------

def test_redundancy_packets_while_the_history_grows():
    encoder = UdptlEncoder(T38Options())
    a, b, c, d, e = b"\x01\x02", b"\x03", b"\x04\x05\x06", b"\x07", b"\x08\x09"
    assert encoder.encode(a) == b"\x00\x00" b"\x02\x01\x02" b"\x00\x00"
    assert encoder.encode(b) == b"\x00\x01" b"\x01\x03" b"\x00\x01" b"\x02\x01\x02"
    assert encoder.encode(c) == b"\x00\x02" b"\x03\x04\x05\x06" b"\x00\x02" b"\x01\x03" b"\x02\x01\x02"
    assert encoder.encode(d) == (b"\x00\x03" b"\x01\x07" b"\x00\x03"
                                 b"\x03\x04\x05\x06" b"\x01\x03" b"\x02\x01\x02")
    # (three entries at most: the oldest falls out)
    assert encoder.encode(e) == (b"\x00\x04" b"\x02\x08\x09" b"\x00\x03"
                                 b"\x01\x07" b"\x03\x04\x05\x06" b"\x01\x03")


def test_an_empty_ifp_goes_as_one_zero_byte():
    encoder = UdptlEncoder(T38Options())
    assert encoder.encode(b"") == b"\x00\x00\x01\x00\x00\x00"
    assert encoder.encode(b"\x05") == b"\x00\x01\x01\x05\x00\x01\x01\x00"


def test_no_error_correction():
    encoder = UdptlEncoder(T38Options(max_ec_entries=0, min_ec_entries=0))
    for seq, ifp in enumerate(random_ifps(5, seed=1)):
        assert encoder.encode(ifp) == seq.to_bytes(2, "big") + bytes((len(ifp),)) + ifp + b"\x00\x00"


def test_redundancy_stops_before_max_datagram():
    """10.5 adds entries while the packet so far plus the entries so far plus the next
    entry's bytes (neither length prefixes nor the count byte counted) stay within it."""
    encoder = UdptlEncoder(T38Options(max_datagram=30))
    for ifp in (bytes([1]) * 10, bytes([2]) * 10, bytes([3]) * 10):
        encoder.encode(ifp)
    packet = encoder.encode(bytes([4]) * 5)
    # head: seq 2 + primary 6 + mode 1 = 9; +10 = 19 fits; 9 + 11 + 10 = 30 fits;
    # 9 + 22 + 10 = 41 does not
    assert packet == (b"\x00\x03" + b"\x05" + bytes([4]) * 5 + b"\x00\x02"
                      + b"\x0a" + bytes([3]) * 10 + b"\x0a" + bytes([2]) * 10)


def test_sequence_numbers_wrap():
    encoder = UdptlEncoder(T38Options())
    encoder.seq = 0xFFFF
    assert encoder.encode(b"\x01")[:2] == b"\xff\xff"
    assert encoder.encode(b"\x01")[:2] == b"\x00\x00"


@pytest.mark.parametrize("span", [3, 5])
@pytest.mark.parametrize("num_ec", [3, 2])
def test_fec_packets_meet_the_suites_receiver(span, num_ec):
    """The span and entry count grow as 10.5's test expects while the history fills, and
    the entries are the XORs it computes, for a run of packets of varied lengths."""
    encoder = UdptlEncoder(T38Options(fec_span=span, max_ec_entries=num_ec, min_ec_entries=num_ec))
    receiver = SuiteReceiver(span=span, num_ec=num_ec)
    seen = []
    for ifp in random_ifps(60, seed=span * 10 + num_ec):
        packet = encoder.encode(ifp)
        assert receiver.check(packet)[1] == ifp
        seen.append((packet[len(ifp) + 5], packet[len(ifp) + 6]))  # (span, count)
    assert seen[0] == (1, 0)
    assert seen[-1] == (span, num_ec)
    assert len(set(seen)) == span + num_ec  # (every step of the growth was seen)


def test_fec_first_packets_spelled_out():
    encoder = UdptlEncoder(T38Options(fec_span=3))
    p0, p1, p2, p3 = b"\x01", b"\x02\x02", b"\x04", b"\x08"
    assert encoder.encode(p0) == b"\x00\x00\x01\x01" b"\x80\x01\x01\x00"
    assert encoder.encode(p1) == b"\x00\x01\x02\x02\x02" b"\x80\x01\x01\x01" b"\x01\x01"
    assert encoder.encode(p2) == (b"\x00\x02\x01\x04" b"\x80\x01\x01\x02"
                                  b"\x01\x01" b"\x02\x02\x02")
    assert encoder.encode(p3) == (b"\x00\x03\x01\x08" b"\x80\x01\x01\x03"
                                  b"\x01\x01" b"\x02\x02\x02" b"\x01\x04")
    for ifp in (b"\x10", b"\x20"):
        encoder.encode(ifp)
    # seq 6: six packets before it, span 2 over three entries, oldest group first:
    # (0, 3), (1, 4), (2, 5)
    assert encoder.encode(b"\x40") == (b"\x00\x06\x01\x40" b"\x80\x01\x02\x03"
                                       b"\x01\x09" b"\x02\x12\x02" b"\x01\x24")


def test_fec_stops_before_max_datagram():
    encoder = UdptlEncoder(T38Options(fec_span=2, max_ec_entries=2, min_ec_entries=2, max_datagram=14))
    for ifp in (bytes([1]) * 4, bytes([2]) * 4, bytes([4]) * 4, bytes([8]) * 4):
        encoder.encode(ifp)
    packet = encoder.encode(b"\x77")
    # head: seq 2 + primary 2 + 0x80 0x01 span 3 = 7; 7 + 4 = 11 fits, 7 + 5 + 4 = 16 not
    assert packet == b"\x00\x04\x01\x77\x80\x01\x02\x01\x04" + bytes([1 ^ 4]) * 4


# -- decoder ------------------------------------------------------------------------------

def encoded(ifps: list[bytes], options: T38Options | None = None) -> list[bytes]:
    encoder = UdptlEncoder(options or T38Options())
    return [encoder.encode(ifp) for ifp in ifps]


def test_decoder_in_order_and_duplicates():
    ifps = random_ifps(5, seed=2)
    packets = encoded(ifps)
    decoder = UdptlDecoder()
    out = []
    for packet in packets:
        out += decoder.feed(packet)
        assert decoder.feed(packet) == []  # (a duplicate)
    assert out == list(enumerate(ifps))


def test_decoder_holds_packets_until_the_gap_is_filled():
    ifps = random_ifps(4, seed=3)
    packets = encoded(ifps, T38Options(max_ec_entries=0))
    decoder = UdptlDecoder()
    assert decoder.feed(packets[0]) == [(0, ifps[0])]
    assert decoder.feed(packets[2]) == []
    assert decoder.feed(packets[3]) == []
    assert decoder.feed(packets[1]) == [(1, ifps[1]), (2, ifps[2]), (3, ifps[3])]
    assert decoder.feed(packets[2]) == []


def test_decoder_fills_gaps_from_redundancy():
    ifps = random_ifps(8, seed=4)
    packets = encoded(ifps)
    decoder = UdptlDecoder()
    out = decoder.feed(packets[0])
    # packets 1, 2 and 3 lost: packet 4 carries them all
    out += decoder.feed(packets[4])
    assert out == list(enumerate(ifps[:5]))
    # packets 5 and 6 lost, 7 carries both
    assert decoder.feed(packets[7]) == [(5, ifps[5]), (6, ifps[6]), (7, ifps[7])]
    assert decoder.lost == 0


def test_decoder_recovers_a_lost_packet_from_fec():
    options = T38Options(fec_span=3)
    ifps = random_ifps(30, seed=5, max_length=20)
    ifps[14] = bytes(range(1, 30))  # (the longest of its group: FEC gives its whole length)
    packets = encoded(ifps, options)
    decoder = UdptlDecoder(options)
    out = []
    for seq, packet in enumerate(packets):
        if seq != 14:
            out += decoder.feed(packet)
    assert out == list(enumerate(ifps))
    assert decoder.lost == 0


def test_fec_recovery_of_a_shorter_packet_keeps_the_groups_length():
    options = T38Options(fec_span=3)
    ifps = [bytes([seq + 1]) * (4 if seq != 14 else 2) for seq in range(30)]
    packets = encoded(ifps, options)
    decoder = UdptlDecoder(options)
    out = dict(item for seq, packet in enumerate(packets) if seq != 14 for item in decoder.feed(packet))
    assert out[14] == ifps[14] + b"\0\0"


def test_decoder_gives_up_on_a_lost_packet_after_ten_held():
    options = T38Options(max_ec_entries=0)
    ifps = random_ifps(20, seed=6)
    packets = encoded(ifps, options)
    decoder = UdptlDecoder(options)
    assert decoder.feed(packets[0]) == [(0, ifps[0])]
    for seq in range(2, 11):
        assert decoder.feed(packets[seq]) == []
    assert decoder.feed(packets[11]) == [(seq, ifps[seq]) for seq in range(2, 12)]
    assert decoder.lost == 1
    assert decoder.feed(packets[1]) == []  # (too late now)
    assert decoder.feed(packets[12]) == [(12, ifps[12])]


def test_decoder_ignores_wildly_off_sequence_numbers():
    ifps = random_ifps(3, seed=7)
    packets = encoded(ifps)
    decoder = UdptlDecoder()
    assert decoder.feed(packets[0]) == [(0, ifps[0])]
    assert decoder.feed(b"\x13\x88" + packets[1][2:]) == []  # (seq 5000)
    assert decoder.feed(b"\xff\x00" + packets[1][2:]) == []  # (seq 65280: far behind)
    assert decoder.feed(packets[1]) == [(1, ifps[1])]


def test_decoder_follows_a_peer_that_restarts_its_count():
    decoder = UdptlDecoder(T38Options(max_ec_entries=0))
    assert decoder.feed(b"\x00\x00\x01\xaa\x00\x00") == [(0, b"\xaa")]
    out = []
    for seq in range(5000, 5012):
        out += decoder.feed(seq.to_bytes(2, "big") + b"\x01\xbb\x00\x00")
    assert [seq for seq, _ in out] == list(range(5009, 5012))


def test_decoder_starts_where_the_first_packet_is():
    encoder = UdptlEncoder(T38Options())
    encoder.seq = 3000
    decoder = UdptlDecoder()
    assert decoder.feed(encoder.encode(b"\x01")) == [(3000, b"\x01")]
    assert decoder.feed(encoder.encode(b"\x02")) == [(3001, b"\x02")]
    encoder.seq = 0xFFFE
    decoder = UdptlDecoder()
    out = []
    for ifp in (b"\x01", b"\x02", b"\x03"):
        out += decoder.feed(encoder.encode(ifp))
    assert out == [(0xFFFE, b"\x01"), (0xFFFF, b"\x02"), (0, b"\x03")]


def test_decoder_waits_for_packets_just_after_zero():
    """Like 10.5's, it expects the peer to start at 0: a first packet at 2 is held while
    its redundancy brings 0 and 1."""
    packets = encoded([b"\x01", b"\x02", b"\x03"])
    decoder = UdptlDecoder()
    assert decoder.feed(packets[2]) == [(0, b"\x01"), (1, b"\x02"), (2, b"\x03")]


@pytest.mark.parametrize("packet, message", [
    (b"", "too short"),
    (b"\x00\x01\x05", "too short"),
    (b"\x00\x01\x05\x01\x02", "claims 5 bytes"),
    (b"\x00\x01\x01\x01", "no error correction mode"),
    (b"\x00\x01\xc1\x00\x00", "fragmented"),
    (b"\x00\x01\x01\x01\x00\x02\x01\x05", "redundancy entry 1"),
    (b"\x00\x01\x01\x01\x00\x7f", "claims 127 redundancy entries"),
    (b"\x00\x01\x01\x01\x80\x02\x01\x00", "FEC header"),
    (b"\x00\x01\x01\x01\x80\x01\x00\x00", "FEC span 0"),
    (b"\x00\x01\x01\x01\x80\x01\x03\x01\x09", "FEC entry 0"),
])
def test_malformed_packets(packet, message):
    decoder = UdptlDecoder()
    with pytest.raises(UdptlError, match=message):
        decoder.feed(packet)
    assert decoder.feed(encoded([b"\x01"])[0]) == [(0, b"\x01")]  # (nothing was changed)


@settings(max_examples=500)
@given(st.binary(max_size=64), st.sampled_from([T38Options(), T38Options(fec_span=3)]))
def test_any_bytes_decode_or_raise_udptl_error(data, options):
    decoder = UdptlDecoder(options)
    try:
        decoder.feed(data)
        decoder.feed(b"\x00" + data)
    except UdptlError:
        pass


@settings(max_examples=200)
@given(st.data())
def test_decoder_delivers_in_order_without_duplicates(data):
    """Whatever is lost, repeated or reordered: delivered seqs only go up, each IFP is the
    one sent under its seq, and with redundancy a lone loss is always recovered."""
    options = data.draw(st.sampled_from([T38Options(), T38Options(fec_span=3), T38Options(max_ec_entries=0)]))
    ifps = random_ifps(40, seed=data.draw(st.integers(0, 1000)), max_length=10)
    packets = list(enumerate(encoded(ifps, options)))
    sent = [item for item in packets if data.draw(st.integers(0, 9)) != 0]
    sent += data.draw(st.lists(st.sampled_from(packets), max_size=5))
    for index in range(len(sent) - 1):
        if data.draw(st.integers(0, 5)) == 0:
            sent[index], sent[index + 1] = sent[index + 1], sent[index]
    decoder = UdptlDecoder(options)
    out = []
    for _, packet in sent:
        out += decoder.feed(packet)
    seqs = [seq for seq, _ in out]
    assert seqs == sorted(set(seqs))
    for seq, ifp in out:
        if options.fec_span > 1:
            assert ifp.rstrip(b"\0") == ifps[seq].rstrip(b"\0")
        else:
            assert ifp == ifps[seq]


# -- options and SDP ----------------------------------------------------------------------

def test_options_normalised():
    odd = T38Options(version=-2, fec_span=0, max_ec_entries=200, min_ec_entries=-1,
                     max_datagram=0, max_ifp=0x4000)
    assert odd.normalised() == T38Options(version=0, fec_span=1, max_ec_entries=0x7F, min_ec_entries=0,
                                          max_datagram=0x3FFF, max_ifp=0x3FFF)
    fine = T38Options(version=3, fec_span=5, max_ec_entries=2, min_ec_entries=1, max_datagram=300, max_ifp=200)
    assert fine.normalised() == fine


def test_options_from_sdp():
    attributes = {
        "T38FaxVersion": ["2"], "T38MaxBitRate": ["14400"], "T38FaxRateManagement": ["transferredTCF"],
        "T38FaxMaxBuffer": ["262"], "T38FaxMaxDatagram": ["300"], "T38FaxUdpEC": ["t38UDPRedundancy"],
    }
    assert T38Options.from_sdp(attributes) == T38Options(version=2, fec_span=0, max_datagram=300)
    assert T38Options.from_sdp(attributes).normalised() == T38Options(
        version=2, max_datagram=300, max_ifp=0x3FFF)


@pytest.mark.parametrize("attributes, expected", [
    ({}, dict(max_ec_entries=3, min_ec_entries=3)),
    ({"T38FaxUdpEC": ["t38UDPFEC"]}, dict(max_ec_entries=3, min_ec_entries=3, fec_span=3)),
    ({"T38FaxUdpEC": ["t38UDPNoEC"]}, dict(max_ec_entries=0, min_ec_entries=0)),
    ({"T38FaxUdpEC": ["something"]}, dict(max_ec_entries=0, min_ec_entries=0)),
    ({"T38FaxUdpEC": ["t38UDPFEC"], "T38FaxUdpFECMaxSpan": ["5"]}, dict(fec_span=5)),
    ({"T38FaxUdpECDepth": ["1 4"]}, dict(min_ec_entries=1, max_ec_entries=4)),
    ({"T38FaxUdpECDepth": ["2"]}, dict(min_ec_entries=2, max_ec_entries=0)),  # (no max: -1)
    ({"T38FaxMaxIFP": ["400"], "T38FaxMaxDatagram": ["500"]}, dict(max_ifp=400, max_datagram=500)),
    ({"T38FaxFillBitRemoval": [""]}, dict(fill_bit_removal=True)),
    ({"T38FaxFillBitRemoval": ["0"]}, dict(fill_bit_removal=False)),
    ({"T38FaxTranscodingMMR": ["1"], "T38FaxTranscodingJBIG": ["yes"]},
     dict(transcoding_mmr=True, transcoding_jbig=True)),
    ({"T38FaxRateManagement": ["localTCF"]}, dict(local_tcf=True)),
    ({"T38FaxRateManagement": ["localTFC"]}, dict(local_tcf=True)),
    ({"T38FaxRateManagement": ["transferredTCF"]}, dict(local_tcf=False)),
    # numbers read as C reads them; unreadable ones take what 10.5 gives them
    ({"T38FaxVersion": [" 1x"]}, dict(version=1)),
    ({"T38FaxVersion": ["x"]}, dict(version=0)),
    ({"T38FaxMaxDatagram": ["big"]}, dict(max_datagram=0x3FFF)),
    ({"T38FaxMaxDatagram": ["99999999999"]}, dict(max_datagram=0x3FFF)),
    ({"T38FaxUdpEC": ["t38UDPFEC"], "T38FaxUdpFECMaxSpan": ["wide"]}, dict(fec_span=1)),
    ({"T38FaxUdpECDepth": ["a b"]}, dict(min_ec_entries=0, max_ec_entries=0)),
    ({"T38FaxVersion": ["1", "3"]}, dict(version=1)),  # (the first one counts)
])
def test_options_from_sdp_attributes(attributes, expected):
    base = {"max_ec_entries": 3, "min_ec_entries": 3, "max_datagram": 0x3FFF, "max_ifp": 0x3FFF}
    base.update(expected)
    assert T38Options.from_sdp(attributes).normalised() == T38Options(**base).normalised()


def test_sdp_attributes():
    assert sdp_attributes(T38Options()) == [
        "T38FaxVersion:0", "T38MaxBitRate:14400", "T38FaxRateManagement:transferredTCF",
        "T38FaxMaxBuffer:1800", "T38FaxMaxDatagram:512", "T38FaxUdpEC:t38UDPRedundancy",
    ]
    assert sdp_attributes(T38Options(version=1, local_tcf=True, fec_span=3)) == [
        "T38FaxVersion:1", "T38MaxBitRate:14400", "T38FaxRateManagement:localTFC",
        "T38FaxMaxBuffer:1800", "T38FaxMaxDatagram:512", "T38FaxUdpEC:t38UDPFEC",
    ]
    assert sdp_attributes(T38Options(max_ec_entries=0, fec_span=3))[-1] == "T38FaxUdpEC:t38UDPNoEC"
    # (what an odd offer asked for, as the gateway takes it)
    odd = T38Options.from_sdp({"T38FaxVersion": ["x"], "T38FaxUdpECDepth": ["2"]})
    assert sdp_attributes(odd)[0] == "T38FaxVersion:0"
    assert sdp_attributes(odd)[-1] == "T38FaxUdpEC:t38UDPNoEC"


# -- the gateway with spandsp -------------------------------------------------------------

fax_terminals = pytest.importorskip("fax_terminals")
t38 = pytest.importorskip("rtpengined.media.t38")
needs_spandsp = pytest.mark.skipif(
    not (t38.available() and fax_terminals.spandsp_available()),
    reason="libspandsp (with libtiff) is not installed: no T.38 gateway to test")

STEP = 160  # (20 ms at 8 kHz)
PAGE_ROWS = 300


@functools.cache
def _alaw_levels() -> tuple[int, ...]:
    # (the A-law encoder looks at the top 14 bits of a sample only)
    return tuple(g711.alaw_to_linear(g711.linear_to_alaw((index << 2) - 32768)) for index in range(16384))


def alaw_line(pcm: bytes) -> bytes:
    """s16le audio as it comes out of an A-law (PCMA) call leg, as in 10.5's test."""
    levels = _alaw_levels()
    samples = array.array("h", pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    out = array.array("h", [levels[(sample + 32768) >> 2] for sample in samples])
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


class Transfer:
    """One fax call through a ``Gateway``: a PCM fax terminal on its audio side (over an
    A-law line, 10 ms pulls of the gateway's audio as 10.5 makes them), a T.38
    terminal on its UDPTL side with its own ``UdptlEncoder``/``UdptlDecoder`` (as 10.5's
    test frames the terminal's packets itself), and packet loss on either way."""

    def __init__(self, tmp_path, *, pcm_sends: bool, options: T38Options,
                 drop_to_gateway: int = 0, drop_to_terminal: int = 0) -> None:
        self.source = str(tmp_path / "page.tif")
        self.received = str(tmp_path / "received.tif")
        fax_terminals.make_fax_tiff(self.source, rows=PAGE_ROWS)
        self.drop_to_gateway, self.drop_to_terminal = drop_to_gateway, drop_to_terminal
        self.options = options.normalised()
        self.from_gateway: list[bytes] = []
        self.gateway = t38.Gateway(options, self.from_gateway.append)
        self.terminal_encoder = UdptlEncoder(options)
        self.terminal_decoder = UdptlDecoder(options)
        self.suite = SuiteReceiver(span=self.options.fec_span, num_ec=self.options.max_ec_entries)
        self.sent_to_gateway = self.sent_to_terminal = 0
        self.dropped_to_gateway: set[int] = set()  # (seqs of which no copy arrived)
        self.arrived_at_gateway: set[int] = set()
        self.dropped_to_terminal: set[int] = set()
        self.arrived_at_terminal: set[int] = set()
        delivered = self.delivered_to_gateway = []
        feed = self.gateway.decoder.feed
        self.gateway.decoder.feed = lambda packet: _record(feed(packet), delivered)
        if pcm_sends:
            self.pcm = fax_terminals.PcmFaxTerminal(calling=True, send_file=self.source)
            self.t38 = fax_terminals.T38FaxTerminal(self.to_gateway, calling=False,
                                                    receive_file=self.received)
            self.receiver = self.t38
        else:
            self.pcm = fax_terminals.PcmFaxTerminal(calling=False, receive_file=self.received)
            self.t38 = fax_terminals.T38FaxTerminal(self.to_gateway, calling=True, send_file=self.source)
            self.receiver = self.pcm

    def to_gateway(self, ifp: bytes, count: int) -> None:
        packet = self.terminal_encoder.encode(ifp)
        seq = int.from_bytes(packet[:2], "big")
        for _ in range(count):
            self.sent_to_gateway += 1
            if self.drop_to_gateway and self.sent_to_gateway % self.drop_to_gateway == 0:
                self.dropped_to_gateway.add(seq)
                continue
            self.arrived_at_gateway.add(seq)
            self.gateway.feed_udptl(packet)

    def to_terminal(self, packet: bytes) -> None:
        seq, _ = self.suite.check(packet)
        self.sent_to_terminal += 1
        if self.drop_to_terminal and self.sent_to_terminal % self.drop_to_terminal == 0:
            self.dropped_to_terminal.add(seq)
            return
        self.arrived_at_terminal.add(seq)
        for seq, ifp in self.terminal_decoder.feed(packet):
            self.t38.rx_ifp(seq, ifp)

    def run(self, seconds: int = 120) -> int:
        """Move time in 20 ms steps until both terminals are done; the steps taken."""
        for step in range(seconds * 8000 // STEP):
            self.gateway.feed_pcm(alaw_line(self.pcm.tx(STEP)))
            audio = self.gateway.pull_pcm(STEP // 2) + self.gateway.pull_pcm(STEP // 2)
            assert len(audio) == 2 * STEP  # (it plays silence while idle)
            self.pcm.rx(alaw_line(audio))
            self.t38.advance(STEP)
            while self.from_gateway:
                self.to_terminal(self.from_gateway.pop(0))
            if self.pcm.done and self.t38.done:
                return step
        raise AssertionError(f"no end of call after {seconds} s: {self.pcm.result}, {self.t38.result}")

    def close(self) -> None:
        self.gateway.close()
        self.pcm.close()
        self.t38.close()


def _record(delivered, into):
    into.extend(seq for seq, _ in delivered)
    return delivered


def assert_page_received(transfer: Transfer) -> None:
    assert transfer.receiver.result == fax_terminals.T30_ERR_OK
    assert transfer.pcm.result == transfer.t38.result == fax_terminals.T30_ERR_OK
    assert fax_terminals.tiff_page_info(transfer.received) == (1, fax_terminals.FAX_WIDTH, PAGE_ROWS)
    assert os.path.getsize(transfer.received) > 3000
    assert transfer.gateway.callback_error is None
    delivered = transfer.delivered_to_gateway
    assert delivered == sorted(set(delivered))


@pytest.fixture
def transfer(tmp_path):
    made = []

    def make(**kwargs) -> Transfer:
        made.append(Transfer(tmp_path, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


@needs_spandsp
@pytest.mark.parametrize("pcm_sends", [True, False], ids=["pcm-to-t38", "t38-to-pcm"])
def test_fax_page_through_the_gateway(transfer, pcm_sends):
    call = transfer(pcm_sends=pcm_sends, options=T38Options())
    steps = call.run()
    assert 500 < steps < 3000  # (10 to 60 s of simulated line time)
    assert_page_received(call)
    assert call.gateway.decoder.lost == 0


@needs_spandsp
@pytest.mark.parametrize("pcm_sends", [True, False], ids=["pcm-to-t38", "t38-to-pcm"])
def test_fax_page_with_lost_packets_recovered_from_redundancy(transfer, pcm_sends):
    call = transfer(pcm_sends=pcm_sends, options=T38Options(), drop_to_gateway=7, drop_to_terminal=9)
    call.run()
    assert_page_received(call)
    lost_to_gateway = call.dropped_to_gateway - call.arrived_at_gateway
    lost_to_terminal = call.dropped_to_terminal - call.arrived_at_terminal
    assert len(lost_to_gateway) >= 3 and len(lost_to_terminal) >= 3
    # (every packet of which no copy arrived was taken from a later one's redundancy)
    assert lost_to_gateway <= set(call.delivered_to_gateway)
    assert call.gateway.decoder.lost == 0 and call.terminal_decoder.lost == 0


@needs_spandsp
@pytest.mark.parametrize("pcm_sends", [True, False], ids=["pcm-to-t38", "t38-to-pcm"])
def test_fax_page_with_fec(transfer, pcm_sends):
    call = transfer(pcm_sends=pcm_sends, options=T38Options(fec_span=3))
    call.run()
    assert_page_received(call)
    assert call.suite.seq > 20  # (every one of them passed the suite's FEC checks)


@needs_spandsp
@pytest.mark.parametrize("pcm_sends", [True, False], ids=["pcm-to-t38", "t38-to-pcm"])
def test_fax_page_with_lost_packets_rebuilt_from_fec(transfer, pcm_sends):
    call = transfer(pcm_sends=pcm_sends, options=T38Options(fec_span=3), drop_to_gateway=5,
                    drop_to_terminal=5)
    call.run()
    assert_page_received(call)
    assert len(call.dropped_to_gateway - call.arrived_at_gateway) >= 3
    assert len(call.dropped_to_terminal - call.arrived_at_terminal) >= 3
    assert call.gateway.decoder.lost == 0 and call.terminal_decoder.lost == 0


@needs_spandsp
def test_gateway_plays_silence_while_idle_and_closes_once():
    sent = []
    gateway = t38.Gateway(T38Options(), sent.append)
    assert len(gateway.pull_pcm(80)) == 160
    gateway.feed_pcm(bytes(320))
    gateway.close()
    gateway.close()
    assert gateway.closed
    assert gateway.pull_pcm(80) == b""
    gateway.feed_pcm(bytes(320))
    gateway.feed_udptl(b"\x00\x00\x01\x00\x00\x00")


@needs_spandsp
def test_gateway_raises_udptl_errors_to_its_caller():
    gateway = t38.Gateway(T38Options(), lambda packet: None)
    try:
        with pytest.raises(UdptlError):
            gateway.feed_udptl(b"\x00\x01\x7f")
        with pytest.raises(ValueError):
            gateway.feed_pcm(b"\x00\x01\x02")
    finally:
        gateway.close()


@needs_spandsp
def test_send_failures_stay_out_of_spandsp(tmp_path):
    """A failing ``send_udptl`` is caught at the C boundary, kept, and the call goes on."""
    def fail(packet):
        raise OSError("network unreachable")

    gateway = t38.Gateway(T38Options(), fail)
    source = str(tmp_path / "page.tif")
    fax_terminals.make_fax_tiff(source, rows=20)
    pcm = fax_terminals.PcmFaxTerminal(calling=True, send_file=source)
    try:
        for _ in range(300):  # (6 s: the caller's CNG and the gateway's first packets)
            gateway.feed_pcm(pcm.tx(STEP))
            pcm.rx(gateway.pull_pcm(STEP))
        assert isinstance(gateway.callback_error, OSError)
        assert gateway.callback_errors >= 1
    finally:
        gateway.close()
        pcm.close()


def test_supported_modems_bits():
    assert t38.supported_modems(T38Options()) == 0x1F
    assert t38.supported_modems(T38Options(no_v17=True, no_iaf=True)) == 0x0B
    assert t38.supported_modems(T38Options(no_v27ter=True, no_v29=True, no_v34=True)) == 0x14
