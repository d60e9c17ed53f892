"""RTCP to a Homer capture server (``--homer``): the JSON and the HEPv3 frame rtpengine
10.5 sends for each RTCP packet a party sends; sans-I/O (``homer_sender`` sends them).

The JSON carries what 10.5's Homer handlers read of the compound packet: the sender
information of a sender report, then per sender or receiver report its SSRC, type, count
and report blocks, and per source description its items (text escaped as 10.5 escapes
it, bytes outside printable ASCII as ``_``). Extended reports, BYE, APP and feedback add
nothing; a packet that adds nothing sends nothing. Reading stops where ``rtcp_log`` says
10.5 stops.

The frame is HEPv3 with the chunks in 10.5's order: address family, IP protocol (UDP),
source and destination ports, time (seconds, microseconds), protocol type 5 (RTCP as
JSON), capture ID (``--homer-id``), source and destination addresses, the Call-ID as the
correlation key, then the JSON.
"""

from __future__ import annotations

import ipaddress
import struct

from .rtcp_log import readable_parts, report_blocks

PROTO_RTCP_JSON = 5
_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r",
            9: "\\t"}


def _text(data: bytes) -> str:
    return "".join(_ESCAPES.get(byte) or (chr(byte) if 32 <= byte <= 126 else "_")
                   for byte in data)


def _sanitized(out: list[str]) -> None:
    """10.5's ``str_sanitize`` on what is written so far: trailing spaces and commas go."""
    text = "".join(out).rstrip(" ,")
    out[:] = [text]


def _reports(packet: bytes, part: bytes, at: int, out: list[str]) -> None:
    count = part[0] & 31
    out.append(f'"ssrc":{int.from_bytes(part[4:8], "big")},"type":{part[1]},'
               f'"report_count":{count},"report_blocks":[')
    for ssrc, fraction, lost, highest, jitter, lsr, dlsr in report_blocks(packet, at, count):
        out.append(f'{{"source_ssrc":{ssrc},"highest_seq_no":{highest},'
                   f'"fraction_lost":{fraction},"ia_jitter":{jitter},'
                   f'"packets_lost":{lost},"lsr":{lsr},"dlsr":{dlsr}}},')
    _sanitized(out)
    out.append("],")


def _descriptions(part: bytes, out: list[str]) -> None:
    count = part[0] & 31
    out.append(f'"sdes_report_count":{count},"sdes_information": [ ')
    rest, at, chunks = len(part) - 4, 4, 0
    while rest >= 4:
        ssrc = int.from_bytes(part[at:at + 4], "big")
        at, rest = at + 4, rest - 4
        while rest >= 1:
            kind = part[at]
            at, rest = at + 1, rest - 1
            if not kind or rest < 1:
                break
            length = part[at]
            at, rest = at + 1, rest - 1
            if rest < length:
                break
            out.append(f'{{"sdes_chunk_ssrc":{ssrc},"type":{kind},'
                       f'"text":"{_text(part[at:at + length])}"}},')
            at, rest = at + length, rest - length
        skip = rest % 4  # (to the next chunk's start)
        at, rest = at + skip, rest - skip
        chunks += 1
        if chunks >= count:
            break
    _sanitized(out)
    out.append("],")


def rtcp_json(packet: bytes) -> bytes | None:
    """The JSON 10.5 sends Homer for one RTCP packet (plain, decrypted); None if nothing."""
    packet = bytes(packet)
    out = ["{ "]
    for at, part in readable_parts(packet):
        kind = part[1]
        if kind in (200, 201):
            if kind == 200:
                msw, lsw, stamp, packets, octets = struct.unpack_from("!IIIII", part, 8)
                out.append(f'"sender_information":{{"ntp_timestamp_sec":{msw},'
                           f'"ntp_timestamp_usec":{lsw},"octets":{octets},'
                           f'"rtp_timestamp":{stamp}, "packets":{packets}}},')
            _reports(packet, part, at + (28 if kind == 200 else 8), out)
        elif kind == 202:
            _descriptions(part, out)
    _sanitized(out)
    text = out[0] + " }"
    if len(text) <= 4:  # ("{ }": nothing read)
        return None
    return text.encode()


def _chunk(kind: int, data: bytes) -> bytes:
    return struct.pack("!HHH", 0, kind, (6 + len(data)) & 0xFFFF) + data


def hep3(payload: bytes, call_id: str, capture_id: int, source: tuple[str, int],
         destination: tuple[str, int], wall: float) -> bytes:
    """One HEPv3 frame, 10.5's chunks in 10.5's order."""
    src = ipaddress.ip_address(source[0])
    dst = ipaddress.ip_address(destination[0])
    if src.version != dst.version:  # (an IPv4 party on a dual-stack socket: both as IPv6)
        src, dst = (ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a
                    for a in (src, dst))
    seconds = int(wall)
    micros = min(999_999, int(round((wall - seconds) * 1_000_000)))
    v4 = src.version == 4
    chunks = [
        _chunk(1, bytes([2 if v4 else 10])),  # (AF_INET, AF_INET6)
        _chunk(2, bytes([17])),  # (IPPROTO_UDP)
        _chunk(7, source[1].to_bytes(2, "big")),
        _chunk(8, destination[1].to_bytes(2, "big")),
        _chunk(9, seconds.to_bytes(4, "big")),
        _chunk(10, micros.to_bytes(4, "big")),
        _chunk(11, bytes([PROTO_RTCP_JSON])),
        _chunk(12, (capture_id & 0xFFFFFFFF).to_bytes(4, "big")),
        _chunk(3 if v4 else 5, src.packed),
        _chunk(4 if v4 else 6, dst.packed),
        _chunk(17, call_id.encode()),
        _chunk(15, payload),
    ]
    body = b"".join(chunks)
    return b"HEP3" + ((6 + len(body)) & 0xFFFF).to_bytes(2, "big") + body
