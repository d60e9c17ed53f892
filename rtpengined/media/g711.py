"""G.711 µ-law <-> A-law as two 256-byte translation tables (ITU-T G.711 segment coding).

The one conversion the relay does: a subscriber (``pubsub``) that answered PCMA to a PCMU
publisher, or the other way round, gets each payload converted with ``bytes.translate``
(both laws code one 8-bit sample per byte, so no state and no resampling). Pure Python,
built once at import: decode to 16-bit linear, encode in the other law.
"""

from __future__ import annotations

_A_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)  # 13-bit magnitudes
_U_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)  # 14-bit magnitudes
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


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for segment, end in enumerate(ends):
        if value <= end:
            return segment
    return len(ends)


def linear_to_alaw(sample: int) -> int:
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    segment = _segment(value, _A_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    code = segment << 4
    code |= (value >> 1 if segment < 2 else value >> segment) & 0x0F
    return code ^ mask


def linear_to_ulaw(sample: int) -> int:
    value = sample >> 2
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + (_U_BIAS >> 2)
    segment = _segment(value, _U_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


ULAW_TO_ALAW = bytes(linear_to_alaw(ulaw_to_linear(code)) for code in range(256))
ALAW_TO_ULAW = bytes(linear_to_ulaw(alaw_to_linear(code)) for code in range(256))

# Codec names (rtpmap encoding, upper case) -> the table converting a payload to the other.
TABLES = {("PCMU", "PCMA"): ULAW_TO_ALAW, ("PCMA", "PCMU"): ALAW_TO_ULAW}


def convert_rtp(packet: bytes, payload_type: int, table: bytes) -> bytes | None:
    """``packet`` (RTP) with its payload converted by ``table`` and ``payload_type`` set;
    None for a packet too short for its own header."""
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
    return (bytes((packet[0], (packet[1] & 0x80) | payload_type)) + packet[2:header]
            + packet[header:end].translate(table) + packet[end:])
