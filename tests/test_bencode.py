"""The bencode codec, including the decoder quirks rtpengine 10.5 shows on the wire.

The decode and encode tests run against both implementations (``codec``): bencode.py's
Python code and the C helper ``_bencode``.
"""

import pytest
from bencode_helpers import IMPLEMENTATIONS
from hypothesis import given
from hypothesis import strategies as st

from rtpengined.protocol import bencode, ngcodec
from rtpengined.protocol.bencode import BencodeError

each_codec = pytest.mark.parametrize("codec", IMPLEMENTATIONS)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"i0e", 0),
        (b"i-5e", -5),
        (b"i-0e", 0),  # accepted by rtpengine (capture c22)
        (b"4:ping", "ping"),
        (b"0:", ""),
        (b"le", []),
        (b"de", {}),
        (b"l4:spami42ee", ["spam", 42]),
        (b"d7:command4:pinge", {"command": "ping"}),
        (b"d7:command4:ping", {"command": "ping"}),  # missing final e: accepted (capture c4)
        (b"d7:command4:pingeXYZ", {"command": "ping"}),  # trailing bytes ignored (c5)
        (b"d7:command4:ping7:command6:nosuche", {"command": "ping"}),  # first key wins (c30)
    ],
)
@each_codec
def test_decode_accepts(codec, raw, value):
    assert codec.decode(raw) == value


@pytest.mark.parametrize(
    "raw",
    [b"", b"i03e", b"04:abcd", b"ie", b"i-e", b"5:abc", b"x", b"di1ei2ee", b"i12", b"3abc"],
)
@each_codec
def test_decode_rejects(codec, raw):
    with pytest.raises(BencodeError):
        codec.decode(raw)


@each_codec
def test_binary_strings_round_trip_exactly(codec):
    raw = bytes(range(256))
    encoded = codec.encode({"sdp": raw.decode("utf-8", "surrogateescape")})
    assert encoded == b"d3:sdp256:" + raw + b"e"
    assert codec.encode(codec.decode(encoded)) == encoded


@each_codec
def test_encode_keeps_insertion_order_and_formats_floats(codec):
    assert codec.encode({"sdp": "x", "result": "ok"}) == b"d3:sdp1:x6:result2:oke"
    assert codec.encode({"a": 1.5, "b": True}) == b"d1:a8:1.5000001:bi1ee"


@each_codec
def test_deep_nesting_decodes_as_rtpengine_and_deeper_is_an_error_not_a_crash(codec):
    """10.5 takes any depth its stack holds (10,000 levels in a UDP request are a ping to
    it); every depth a datagram can hold decodes here, without recursion. Deeper (a stream
    transport's bigger message) is an error, never a crash."""
    depth = 10_000
    value = codec.decode(b"d7:command4:ping3:foo" + b"l" * depth + b"1:x" + b"e" * depth + b"e")
    assert value["command"] == "ping"
    inner = value["foo"]
    for _ in range(depth - 1):
        (inner,) = inner
    assert inner == ["x"]
    levels = bencode.MAX_DEPTH + 1  # (the top-level value is at depth 0)
    assert 2 * levels > 65_507  # (every container takes two bytes of a UDP datagram)
    codec.decode(b"l" * levels + b"e" * levels)
    with pytest.raises(BencodeError, match="nested too deeply"):
        codec.decode(b"l" * (levels + 1) + b"e" * (levels + 1))
    with pytest.raises(BencodeError, match="nested too deeply"):
        codec.decode(b"l" * levels + b"1:x" + b"e" * levels)


@pytest.mark.parametrize(
    ("raw", "end"),
    [
        (b"d7:command4:pinge", 17),
        (b"d7:command4:pingetail", 17),
        (b"i42e", 4),
        (b"4:spam", 6),
        (b"ld1:ai1eee", 10),
    ],
)
def test_scan_value_finds_message_end(raw, end):
    assert bencode.scan_value(raw) == end


@pytest.mark.parametrize("raw", [b"", b"d7:comm", b"d7:command4:ping", b"i42", b"l"])
def test_scan_value_waits_for_more(raw):
    assert bencode.scan_value(raw) is None


@each_codec
def test_integers_clamp_to_64_bits_like_strtoll(codec):
    digits = b"1" + b"0" * 40
    assert codec.decode(b"i" + digits + b"e") == (1 << 63) - 1
    assert codec.decode(b"i-" + digits + b"e") == -(1 << 63)
    assert bencode.scan_value(b"i" + digits + b"e") == len(digits) + 2


@each_codec
def test_integers_of_any_length_clamp(codec):
    """Even past the 4300 digits Python's int() takes (a peer's input, not a crash)."""
    digits = b"7" * 5000
    assert codec.decode(b"d1:xi" + digits + b"ee") == {"x": (1 << 63) - 1}
    assert codec.decode(b"li-" + digits + b"ee") == [-(1 << 63)]


@each_codec
def test_string_lengths_of_any_length_run_past_the_end(codec):
    for length in (b"9" * 19, b"1" * 5000):
        with pytest.raises(BencodeError, match="string runs past the end"):
            codec.decode(b"d1:x" + length + b":abce")


def test_scanner_finds_the_end_of_a_long_integer_fed_in_pieces():
    raw = b"i" + b"7" * 5000 + b"e"
    scanner = bencode.ValueScanner()
    for cut in range(1, len(raw), 100):
        assert scanner.scan(raw[:cut]) is None
    assert scanner.scan(raw) == len(raw)


values = st.recursive(
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@each_codec
@given(values)
def test_round_trip(codec, value):
    encoded = codec.encode(value)
    assert codec.decode(encoded) == value
    assert bencode.scan_value(encoded) == len(encoded)


@given(values, st.binary(max_size=8))
def test_value_scanner_resumes_byte_by_byte(value, tail):
    """Fed a buffer that grows one byte at a time, the resumable scanner finds the same end
    as a one-shot scan of the whole value, at the first byte that completes it."""
    encoded = bencode.encode(value)
    buffer = bytearray()
    scanner = bencode.ValueScanner()
    found = None
    for index, byte in enumerate(encoded + tail):
        buffer.append(byte)
        found = scanner.scan(buffer)
        if found is not None:
            assert index == len(encoded) - 1
            break
    assert found == len(encoded)


def test_huge_numbers_in_a_request_get_the_protocols_answer():
    """Through the ng codec: a clamped value, or its decode error (no stray ValueError)."""
    digits = b"7" * 5000
    assert ngcodec.decode_payload(b"d7:command4:ping1:xi" + digits + b"ee", ngcodec.BENCODE) == {
        "command": "ping", "x": (1 << 63) - 1}
    with pytest.raises(ngcodec.NgError, match="Could not decode bencode dictionary"):
        ngcodec.decode_payload(b"d7:command4:ping1:x" + digits + b":xe", ngcodec.BENCODE)
