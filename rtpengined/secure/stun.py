"""STUN messages (RFC 5389) as ICE uses them, and RFC 7983 first-byte demultiplexing.

Own codec rather than aioice's: it runs in the relay worker for every check (bench/secure.py: a
whole answered check here takes under half of what aioice.stun needs to parse, verify and
reply), needs no event loop, and only has to know the handful of attributes ICE connectivity
checks carry. Other attributes are kept as raw bytes.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import os
import struct
from dataclasses import dataclass, field

MAGIC_COOKIE = 0x2112A442
FINGERPRINT_XOR = 0x5354554E
HEADER = struct.Struct("!HHI12s")

BINDING = 0x001
REQUEST, INDICATION, SUCCESS, ERROR = 0x000, 0x010, 0x100, 0x110

MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
UNKNOWN_ATTRIBUTES = 0x000A
XOR_MAPPED_ADDRESS = 0x0020
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
SOFTWARE = 0x8022
FINGERPRINT = 0x8028
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A


def demux(datagram: bytes) -> str:
    """RFC 7983 5: what a datagram on a media port is, from its first byte.

    'stun' (0-3), 'zrtp' (16-19), 'dtls' (20-63), 'turn' (64-79, channel data),
    'rtp' (128-191, RTP or RTCP), '' for anything else or an empty datagram.
    """
    if not datagram:
        return ""
    b = datagram[0]
    if b <= 3:
        return "stun"
    if 128 <= b <= 191:
        return "rtp"
    if 20 <= b <= 63:
        return "dtls"
    if 16 <= b <= 19:
        return "zrtp"
    if 64 <= b <= 79:
        return "turn"
    return ""


def is_rtcp(datagram: bytes) -> bool:
    """Of a datagram demux() called 'rtp': RTCP, by its packet type 192-223 (RFC 5761 4)."""
    return len(datagram) >= 2 and 192 <= datagram[1] <= 223


class StunError(ValueError):
    """Not a well-formed STUN message."""


@dataclass
class Message:
    method: int
    cls: int
    transaction_id: bytes = field(default_factory=lambda: os.urandom(12))
    attributes: list[tuple[int, bytes]] = field(default_factory=list)
    # Offsets needed to check MESSAGE-INTEGRITY / FINGERPRINT of a parsed message.
    integrity_offset: int | None = None
    raw: bytes = b""

    def get(self, attr_type: int) -> bytes | None:
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def has(self, attr_type: int) -> bool:
        return any(t == attr_type for t, _ in self.attributes)

    def add(self, attr_type: int, value: bytes = b"") -> Message:
        self.attributes.append((attr_type, value))
        return self

    def check_integrity(self, key: bytes) -> bool:
        """MESSAGE-INTEGRITY (HMAC-SHA1 over the message up to it, length adjusted) matches."""
        if self.integrity_offset is None:
            return False
        off = self.integrity_offset
        head = self.raw[:2] + struct.pack("!H", off + 24 - 20) + self.raw[4:off]
        expected = hmac.new(key, head, hashlib.sha1).digest()
        return hmac.compare_digest(expected, self.raw[off + 4 : off + 24])

    def encode(self, integrity_key: bytes | None = None, fingerprint: bool = True) -> bytes:
        body = b"".join(_attr(t, v) for t, v in self.attributes)
        msg_type = _message_type(self.method, self.cls)
        if integrity_key is not None:
            head = HEADER.pack(msg_type, len(body) + 24, MAGIC_COOKIE, self.transaction_id)
            body += _attr(MESSAGE_INTEGRITY, hmac.new(integrity_key, head + body, hashlib.sha1).digest())
        if fingerprint:
            head = HEADER.pack(msg_type, len(body) + 8, MAGIC_COOKIE, self.transaction_id)
            crc = (binascii.crc32(head + body) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
            body += _attr(FINGERPRINT, struct.pack("!I", crc))
        return HEADER.pack(msg_type, len(body), MAGIC_COOKIE, self.transaction_id) + body


def _attr(attr_type: int, value: bytes) -> bytes:
    return struct.pack("!HH", attr_type, len(value)) + value + b"\x00" * (-len(value) % 4)


def _message_type(method: int, cls: int) -> int:
    return (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | cls


def parse(data: bytes) -> Message:
    """Decode a STUN message; a FINGERPRINT, when present, must be right."""
    if len(data) < 20:
        raise StunError("shorter than a STUN header")
    msg_type, length, cookie, txid = HEADER.unpack_from(data)
    if msg_type & 0xC000 or cookie != MAGIC_COOKIE or length % 4 or 20 + length != len(data):
        raise StunError("not a STUN message")
    cls = msg_type & 0x110
    method = (msg_type & 0xF) | ((msg_type >> 1) & 0x70) | ((msg_type >> 2) & 0xF80)
    msg = Message(method, cls, txid, raw=data)
    pos = 20
    while pos < len(data):
        if pos + 4 > len(data):
            raise StunError("truncated attribute")
        attr_type, attr_len = struct.unpack_from("!HH", data, pos)
        value = data[pos + 4 : pos + 4 + attr_len]
        if len(value) != attr_len:
            raise StunError("truncated attribute")
        if attr_type == MESSAGE_INTEGRITY:
            if attr_len != 20:
                raise StunError("bad MESSAGE-INTEGRITY length")
            msg.integrity_offset = pos
        elif attr_type == FINGERPRINT:
            crc = (binascii.crc32(data[:2] + struct.pack("!H", pos + 8 - 20) + data[4:pos])
                   ^ FINGERPRINT_XOR) & 0xFFFFFFFF
            if attr_len != 4 or struct.unpack("!I", value)[0] != crc:
                raise StunError("bad FINGERPRINT")
        msg.attributes.append((attr_type, value))
        pos += 4 + attr_len + (-attr_len % 4)
    return msg


def xor_address(host: str, port: int, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS value for (host, port)."""
    ip = ipaddress.ip_address(host)
    family = 1 if ip.version == 4 else 2
    mask = struct.pack("!I", MAGIC_COOKIE) + transaction_id
    packed = bytes(a ^ b for a, b in zip(ip.packed, mask, strict=False))
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + packed


def parse_xor_address(value: bytes, transaction_id: bytes) -> tuple[str, int]:
    if len(value) < 8:
        raise StunError("short address")
    _, family, xport = struct.unpack_from("!BBH", value)
    mask = struct.pack("!I", MAGIC_COOKIE) + transaction_id
    raw = value[4 : 8 if family == 1 else 20]
    host = ipaddress.ip_address(bytes(a ^ b for a, b in zip(raw, mask, strict=False)))
    return str(host), xport ^ (MAGIC_COOKIE >> 16)


def error_code(code: int, reason: str) -> bytes:
    return struct.pack("!HBB", 0, code // 100, code % 100) + reason.encode()


def parse_error_code(value: bytes) -> int:
    return (value[2] & 7) * 100 + value[3] if len(value) >= 4 else 0
