"""G.711 µ-law <-> A-law as two 256-byte translation tables.

The one conversion the relay does: a subscriber (``pubsub``) that answered PCMA to a PCMU
publisher, or the other way round, and a call whose offer/answer transcodes
(``media.transcoding``) get each payload converted with ``bytes.translate`` (both laws code
one 8-bit sample per byte at 8 kHz, so no resampling). Pure Python, built once at import:
decode to 16-bit linear (ITU-T G.711 segments), encode in the other law as rtpengine does.
"""

from __future__ import annotations

import bisect

_U_BIAS = 0x84


def ulaw_to_linear(code: int) -> int:
    code = ~code & 0xFF
    magnitude = (((code & 0x0F) << 3) + _U_BIAS) << ((code & 0x70) >> 4)
    return _U_BIAS - magnitude if code & 0x80 else magnitude - _U_BIAS


def alaw_to_linear(code: int) -> int:
    code ^= 0x55
    magnitude = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (segment - 1)
    return magnitude if code & 0x80 else -magnitude


# The encoder rtpengine's codec library (libavcodec) uses, so that converted audio is the
# same byte for byte (measured against rtpengine 10.5): the 16-bit sample is cut to a 14-bit
# index around the centre, and each code's level covers the indices below the rounded
# midpoint (in those units) between its decoded value and the next level's. That is not
# the ITU segment coding everywhere: at a few values halfway between two levels the two
# choose different neighbours.
_A_MASK, _U_MASK = 0xD5, 0xFF  # the code of level 0, positive (codes are stored inverted)


def _level_bounds(decode, mask: int) -> tuple[int, ...]:
    """For levels 0..126 (by growing magnitude): the first index magnitude above them."""
    return tuple((decode(level ^ mask) + decode((level + 1) ^ mask) + 4) >> 3
                 for level in range(127))


def _encode(sample: int, bounds: tuple[int, ...], mask: int) -> int:
    offset = max((sample + 32768) >> 2, 1) - 8192  # (index 0 is coded as index 1)
    magnitude = abs(offset)
    level = next((n for n, bound in enumerate(bounds) if magnitude < bound), 127)
    return level ^ (mask ^ 0x80) if offset < 0 else level ^ mask


def linear_to_alaw(sample: int) -> int:
    return _encode(sample, _A_BOUNDS, _A_MASK)


def linear_to_ulaw(sample: int) -> int:
    return _encode(sample, _U_BOUNDS, _U_MASK)


_A_BOUNDS = _level_bounds(alaw_to_linear, _A_MASK)
_U_BOUNDS = _level_bounds(ulaw_to_linear, _U_MASK)


def encoding_table(law: str) -> bytes:
    """``linear_to_alaw``/``linear_to_ulaw`` of every 16-bit sample, indexed by the sample
    as unsigned (``sample & 0xFFFF``): one lookup per sample for whoever encodes a stream.
    Both codings depend on ``(sample + 32768) >> 2`` only, so 16,384 levels are worked out
    (by bisection) and each stands for four samples; ~10 ms, where calling the function
    65,536 times took ~0.2 s."""
    bounds, mask = (_A_BOUNDS, _A_MASK) if law == "PCMA" else (_U_BOUNDS, _U_MASK)
    quarter = bytearray(16384)  # by (sample + 32768) >> 2
    for index in range(16384):
        offset = max(index, 1) - 8192
        level = bisect.bisect_right(bounds, abs(offset))
        quarter[index] = level ^ (mask ^ 0x80) if offset < 0 else level ^ mask
    # unsigned u is the sample u - 65536 above 32767: its index is (u ^ 0x8000) >> 2
    upper, lower = quarter[8192:], quarter[:8192]
    return bytes(b for part in (upper, lower) for b in part for _ in range(4))

_ENCODERS: dict[str, bytes] = {}


def encoder(law: str) -> bytes:
    """``encoding_table(law)`` built once per process and shared by whoever encodes (the
    T.38 gateway's audio, DTX fills)."""
    table = _ENCODERS.get(law)
    if table is None:
        table = _ENCODERS[law] = encoding_table(law)
    return table


ULAW_TO_ALAW = bytes(linear_to_alaw(ulaw_to_linear(code)) for code in range(256))
ALAW_TO_ULAW = bytes(linear_to_ulaw(alaw_to_linear(code)) for code in range(256))

# Codec names (rtpmap encoding, upper case) -> the table converting a payload to the other.
TABLES = {("PCMU", "PCMA"): ULAW_TO_ALAW, ("PCMA", "PCMU"): ALAW_TO_ULAW}
# Decoded and encoded again, as 10.5's transcoding path does to a codec it keeps: µ-law
# 0x7F (-0) comes out as 0xFF (+0); A-law is unchanged.
ROUND_TRIP = {"PCMU": bytes(linear_to_ulaw(ulaw_to_linear(code)) for code in range(256)),
              "PCMA": bytes(linear_to_alaw(alaw_to_linear(code)) for code in range(256))}
# 16-bit sample of each code, by static payload type (silence detection)
LINEAR = {0: tuple(ulaw_to_linear(code) for code in range(256)),
          8: tuple(alaw_to_linear(code) for code in range(256))}


def payload_bounds(packet: bytes) -> tuple[int, int] | None:
    """Where an RTP packet's payload starts and ends (after CSRCs and a header extension,
    before padding); None for a packet too short for its own header."""
    if len(packet) < 12:
        return None
    header = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # header extension: 4 bytes, then its length in words
        if len(packet) < header + 4:
            return None
        header += 4 + 4 * int.from_bytes(packet[header + 2:header + 4], "big")
    if len(packet) < header:
        return None
    end = len(packet)
    if packet[0] & 0x20 and end > header:  # padding: the last byte counts it
        end -= min(packet[-1], end - header)
    return header, end


def payload(packet: bytes) -> bytes | None:
    """An RTP packet's payload (``payload_bounds``); None for a packet too short."""
    bounds = payload_bounds(packet)
    return None if bounds is None else packet[bounds[0]:bounds[1]]


def convert_rtp(packet: bytes, payload_type: int, table: bytes) -> bytes | None:
    """``packet`` (RTP) with its payload converted by ``table`` and ``payload_type`` set;
    None for a packet too short for its own header."""
    bounds = payload_bounds(packet)
    if bounds is None:
        return None
    header, end = bounds
    return (bytes((packet[0], (packet[1] & 0x80) | payload_type)) + packet[2:header]
            + packet[header:end].translate(table) + packet[end:])
