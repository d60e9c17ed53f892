"""G.711 µ-law <-> A-law tables (``media.g711``), the one payload conversion the relay does
(for publish/subscribe copies and transcoding calls), checked against the ITU-T G.711
segment coding and against rtpengine 10.5's output."""

from __future__ import annotations

from rtpengined.media import g711

# (µ-law code, linear value) and (A-law code, linear value) points from the G.711 tables.
ULAW_POINTS = [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xF0, 120), (0x70, -120)]
ALAW_POINTS = [(0xD5, 8), (0x55, -8), (0x2A, -32256), (0xAA, 32256), (0xC5, 264)]


def test_decoding_follows_the_segment_tables():
    for code, value in ULAW_POINTS:
        assert g711.ulaw_to_linear(code) == value
    for code, value in ALAW_POINTS:
        assert g711.alaw_to_linear(code) == value


def test_encoding_inverts_decoding():
    for code in range(256):
        linear = g711.ulaw_to_linear(code)
        assert g711.ulaw_to_linear(g711.linear_to_ulaw(linear)) == linear
        linear = g711.alaw_to_linear(code)
        assert g711.alaw_to_linear(g711.linear_to_alaw(linear)) == linear


def test_conversion_tables():
    assert g711.ULAW_TO_ALAW[0x00] == 0x2A  # full scale negative, as rtpengine's suite expects
    assert g711.ULAW_TO_ALAW[0xFF] == 0xD5 and g711.ALAW_TO_ULAW[0xD5] == 0xFE  # near silence
    # each converted sample is the nearest the other law has: within half a step of it
    for code in range(256):
        for table, decode_in, decode_out in (
                (g711.ULAW_TO_ALAW, g711.ulaw_to_linear, g711.alaw_to_linear),
                (g711.ALAW_TO_ULAW, g711.alaw_to_linear, g711.ulaw_to_linear)):
            value = decode_in(code)
            assert abs(decode_out(table[code]) - value) <= max(16, abs(value) // 16)


def test_conversions_are_rtpengines_where_a_sample_lies_between_two_levels():
    # Measured through rtpengine 10.5 (offer/answer transcoding PCMU <-> PCMA): the entries
    # where its encoder picks the other neighbour than the ITU segment coding would.
    assert {code: g711.ULAW_TO_ALAW[code] for code in (113, 115, 117, 119, 121, 123, 125)} == {
        113: 82, 115: 83, 117: 80, 119: 81, 121: 86, 123: 87, 125: 84}
    assert g711.ALAW_TO_ULAW[10] == 32 and g711.ALAW_TO_ULAW[138] == 160


def test_convert_rtp_keeps_the_header_csrcs_extension_and_padding():
    header = bytes([0xB1, 0x80]) + b"\x00\x05" + b"\x00" * 8 + b"CSRC"  # P, X, CC=1, marker
    extension = b"\xbe\xde\x00\x01" + b"EXTN"
    packet = header + extension + b"\x00\xff" + b"\x00\x00\x03"  # 2 samples, 3 padding bytes
    out = g711.convert_rtp(packet, 8, g711.ULAW_TO_ALAW)
    assert out[0] == 0xB1 and out[1] == 0x88 and out[2:24] == packet[2:24]
    assert out[24:26] == bytes([0x2A, 0xD5]) and out[26:] == b"\x00\x00\x03"
    assert g711.convert_rtp(b"\x80\x00", 8, g711.ULAW_TO_ALAW) is None


def test_encoding_tables_are_the_functions_for_every_sample():
    """The 65,536-entry tables the T.38 gateway's audio is encoded with give what the
    per-sample functions give, for every 16-bit sample (indexed as unsigned)."""
    for law, encode in (("PCMA", g711.linear_to_alaw), ("PCMU", g711.linear_to_ulaw)):
        table = g711.encoding_table(law)
        assert len(table) == 65536
        assert all(table[sample & 0xFFFF] == encode(sample)
                   for sample in range(-32768, 32768)), law
