"""UDPTL (ITU-T T.38 Annex D), the UDP framing of T.38 fax IFP packets, as rtpengine 10.5's
T.38 gateway speaks it; sans-I/O.

A UDPTL packet is a 16-bit sequence number, the primary IFP packet, and error correction:
either redundancy (the previous IFP packets again, newest first) or FEC (XORs of groups
of previous packets, from which one lost packet per group can be rebuilt). Lengths use
the ASN.1 PER "length determinant" form: one byte below 0x80, two bytes (0x8000 | length)
below 0x4000, and 16 KiB fragments beyond that.

``T38Options`` holds what the SDP of an ``m=image`` section negotiates, ``UdptlEncoder``
frames the IFP packets a gateway produces byte for byte as 10.5 does, and
``UdptlDecoder`` turns received UDPTL packets back into IFP packets in sequence order,
filling gaps from the error correction where it can.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

__all__ = [
    "T38Options", "UdptlDecoder", "UdptlEncoder", "UdptlError", "decode_length",
    "encode_length", "sdp_attributes",
]

_SEQ_MODULO = 0x10000
# Both ends of the error correction counts and lengths 10.5 accepts and emits.
_MAX_EC_ENTRIES = 0x7F
_MAX_SIZE = 0x3FFF
# 10.5's packet sequencer: a sequence number this far ahead or behind is not "the same
# stream", and this many held packets mean the missing one is not coming any more.
_SEQ_WINDOW = 100
_HOLD_BEFORE_SKIP = 10
# A received packet may name at most this many error correction entries (10.5's limit).
_MAX_RECEIVED_EC = 100
# Wildly-off packets in a row after which the peer is taken to have restarted its count.
_WILD_BEFORE_RESYNC = 10
# Received IFP packets kept for FEC recovery: more than any span*entries a packet can cover.
_FEC_MEMORY = 512


class UdptlError(ValueError):
    """A UDPTL packet that cannot be decoded (the whole packet is disregarded)."""


# -- options -------------------------------------------------------------------------------

def _c_int(value: str, default: int) -> int:
    """The number at the start of ``value`` as C's strtoll reads it (leading blanks, a sign,
    digits; anything after them ignored), or ``default`` when there is none or it does not
    fit an int: how 10.5 reads the numbers of T.38 attributes."""
    text = value.lstrip(" \t\n\r\f\v")
    digits = 0
    if text[:1] in ("+", "-"):
        digits = 1
    end = digits
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    if end == digits:
        return default
    number = int(text[:end])
    if not -0x80000000 <= number <= 0x7FFFFFFF:
        return default
    return number


@dataclass(frozen=True)
class T38Options:
    """What a T.38 gateway is set up with: the peer's UDPTL error correction, size limits
    and T.38 features, plus the modems and ECM the ng ``T.38`` flags leave out."""

    version: int = 0
    fec_span: int = 1
    max_ec_entries: int = 3
    min_ec_entries: int = 3
    max_datagram: int = 0
    max_ifp: int = 0
    local_tcf: bool = False
    fill_bit_removal: bool = False
    transcoding_mmr: bool = False
    transcoding_jbig: bool = False
    no_ecm: bool = False
    no_v17: bool = False
    no_v27ter: bool = False
    no_v29: bool = False
    no_v34: bool = False
    no_iaf: bool = False

    def normalised(self) -> T38Options:
        """The options brought into the ranges the gateway can work with, as 10.5 does
        before it builds one: no span below 1, entry counts that fit a byte, and an
        unknown (zero or out of range) size limit taken as the largest 2-byte length."""
        return replace(
            self,
            version=max(self.version, 0),
            fec_span=max(self.fec_span, 1),
            max_ec_entries=min(max(self.max_ec_entries, 0), _MAX_EC_ENTRIES),
            min_ec_entries=min(max(self.min_ec_entries, 0), _MAX_EC_ENTRIES),
            max_ifp=self.max_ifp if 0 < self.max_ifp <= _MAX_SIZE else _MAX_SIZE,
            max_datagram=self.max_datagram if 0 < self.max_datagram <= _MAX_SIZE else _MAX_SIZE,
        )

    @classmethod
    def from_sdp(cls, attributes: dict[str, list[str]]) -> T38Options:
        """The options an ``m=image`` section's attributes (name -> values, the value being
        what follows the colon, "" for a bare flag) ask for, read as 10.5 reads them: the
        first occurrence counts, numbers are read leniently and an unreadable number takes
        the value 10.5 gives it (which ``normalised`` then turns into the default). The
        result is not normalised."""

        def first(name: str) -> str | None:
            values = attributes.get(name)
            return values[0] if values else None

        def flag(name: str) -> bool:
            value = first(name)
            return value is not None and value != "0"  # (a bare flag, or anything but 0)

        fields: dict[str, object] = {"version": 0, "fec_span": 0, "max_ec_entries": 0,
                                     "min_ec_entries": 0, "max_datagram": 0, "max_ifp": 0}
        if (value := first("T38FaxVersion")) is not None:
            fields["version"] = _c_int(value, -1)

        error_correction = first("T38FaxUdpEC")
        if error_correction is None or error_correction == "t38UDPRedundancy":
            fields["max_ec_entries"] = fields["min_ec_entries"] = 3
        elif error_correction == "t38UDPFEC":
            fields["max_ec_entries"] = fields["min_ec_entries"] = 3
            fields["fec_span"] = 3
        # (t38UDPNoEC, or a method 10.5 does not know: no error correction)

        depth = first("T38FaxUdpECDepth")
        if depth:  # ("min max"; an empty value is not an attribute 10.5 keeps)
            low, _, high = depth.partition(" ")
            fields["min_ec_entries"] = _c_int(low, 0)
            fields["max_ec_entries"] = _c_int(high, -1)

        for name, field, default in (("T38FaxUdpFECMaxSpan", "fec_span", 0),
                                     ("T38FaxMaxDatagram", "max_datagram", -1),
                                     ("T38FaxMaxIFP", "max_ifp", -1)):
            if (value := first(name)) is not None:
                fields[field] = _c_int(value, default)

        rate_management = first("T38FaxRateManagement")
        return cls(
            **fields,  # type: ignore[arg-type]
            # (10.5 itself recognises only its own spelling "localTFC"; the standard one,
            # "localTCF", means the same and is taken too)
            local_tcf=rate_management in ("localTCF", "localTFC"),
            fill_bit_removal=flag("T38FaxFillBitRemoval"),
            transcoding_mmr=flag("T38FaxTranscodingMMR"),
            transcoding_jbig=flag("T38FaxTranscodingJBIG"),
        )


def sdp_attributes(options: T38Options) -> list[str]:
    """The attributes (without ``a=``) of the ``m=image`` section 10.5 writes for its side
    of a gateway with these options (normalised first, as the gateway's are), in its order
    and spelling (it writes "localTFC")."""
    options = options.normalised()
    if options.max_ec_entries == 0:
        error_correction = "t38UDPNoEC"
    elif options.fec_span > 1:
        error_correction = "t38UDPFEC"
    else:
        error_correction = "t38UDPRedundancy"
    return [
        f"T38FaxVersion:{options.version}",
        "T38MaxBitRate:14400",
        "T38FaxRateManagement:" + ("localTFC" if options.local_tcf else "transferredTCF"),
        "T38FaxMaxBuffer:1800",
        "T38FaxMaxDatagram:512",
        f"T38FaxUdpEC:{error_correction}",
    ]


# -- length determinants -------------------------------------------------------------------

def encode_length(data: bytes) -> bytes:
    """``data`` preceded by its length determinant (fragmented from 16 KiB on)."""
    length = len(data)
    if length < 0x80:
        return bytes((length,)) + data
    if length < 0x4000:
        return (0x8000 | length).to_bytes(2, "big") + data
    if length >= 0x10000:
        raise ValueError(f"UDPTL cannot carry {length} bytes in one field")
    blocks = length >> 14
    head = blocks << 14
    return bytes((0xC0 | blocks,)) + data[:head] + encode_length(data[head:])


def _encode_field(data: bytes) -> bytes:
    """An IFP field as 10.5 writes it: an empty one goes as a single zero byte."""
    return encode_length(data if data else b"\x00")


def decode_length(packet: bytes, offset: int, what: str = "field") -> tuple[int, int]:
    """The length determinant of the ``what`` at ``offset``: (length, offset after it)."""
    if offset >= len(packet):
        raise UdptlError(f"UDPTL packet ends at byte {offset}, before the length of the {what}")
    first = packet[offset]
    if not first & 0x80:
        return first, offset + 1
    if first & 0x40:
        raise UdptlError(f"UDPTL {what} at byte {offset} is fragmented (not supported)")
    if offset + 2 > len(packet):
        raise UdptlError(f"UDPTL packet ends inside the length of the {what} at byte {offset}")
    return int.from_bytes(packet[offset:offset + 2], "big") & 0x3FFF, offset + 2


def _decode_field(packet: bytes, offset: int, what: str) -> tuple[bytes, int]:
    length, start = decode_length(packet, offset, what)
    end = start + length
    if end > len(packet):
        raise UdptlError(f"UDPTL {what} claims {length} bytes, {len(packet) - start} left")
    return packet[start:end], end


def _xor(parts) -> bytes:
    """The XOR of byte strings, the shorter ones taken as zero-padded."""
    result = bytearray()
    for part in parts:
        if len(part) > len(result):
            result.extend(bytes(len(part) - len(result)))
        for index, byte in enumerate(part):
            result[index] ^= byte
    return bytes(result)


# -- sending -------------------------------------------------------------------------------

class UdptlEncoder:
    """Frames a gateway's outgoing IFP packets into UDPTL, one packet per IFP, with the
    redundancy or FEC the (normalised) options call for, exactly as 10.5 does.

    The history holds the last ``max_ec_entries * fec_span`` primaries, newest first.
    While it is still short, FEC shrinks first its span and then its entry count so that
    every entry covers a full span of real packets.
    """

    def __init__(self, options: T38Options) -> None:
        self.options = options.normalised()
        self.seq = 0
        self._history: deque[bytes] = deque()  # (newest first)

    def encode(self, ifp: bytes) -> bytes:
        ifp = bytes(ifp)
        if len(ifp) >= 0x10000:
            raise ValueError(f"an IFP packet of {len(ifp)} bytes does not fit UDPTL")
        packet = bytearray(self.seq.to_bytes(2, "big"))
        packet += _encode_field(ifp)
        if self.options.fec_span > 1:
            self._add_fec(packet)
        else:
            self._add_redundancy(packet)

        self.seq = (self.seq + 1) % _SEQ_MODULO
        kept = self.options.max_ec_entries * self.options.fec_span
        if kept:
            while len(self._history) >= kept:
                self._history.pop()
            self._history.appendleft(ifp)
        return bytes(packet)

    def _fits(self, packet: bytearray, corrections: bytearray, entry: bytes) -> bool:
        # (10.5 counts the entry's bytes but not its length prefix nor the count byte)
        return len(packet) + len(corrections) + len(entry) <= self.options.max_datagram

    def _add_redundancy(self, packet: bytearray) -> None:
        packet.append(0x00)
        self._add_entries(packet, self._history)

    def _add_entries(self, packet: bytearray, entries) -> None:
        """The entry count and as many ``entries`` (in order) as fit the datagram size."""
        corrections = bytearray()
        count = 0
        for entry in entries:
            if not self._fits(packet, corrections, entry):
                break
            corrections += _encode_field(entry)
            count += 1
        packet.append(count)
        packet += corrections

    def _add_fec(self, packet: bytearray) -> None:
        history = list(self._history)
        entries_wanted = self.options.max_ec_entries
        if entries_wanted:
            covered = min(self.options.fec_span * entries_wanted, len(history))
            span = max(covered // entries_wanted, 1)
            entries = min(entries_wanted, len(history))
        else:  # (10.5 divides by zero here; no entries is what the peer was promised)
            span, entries = 1, 0
        packet += bytes((0x80, 0x01, span))

        # History packet i (i = 0 the newest) goes into entry i % entries; the entries are
        # sent from the last one, which covers the oldest packets, to the first.
        groups = [history[index::entries][:span] for index in range(entries)] if entries else []
        self._add_entries(packet, (_xor(group) for group in reversed(groups)))


# -- receiving -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Parsed:
    seq: int
    primary: bytes
    redundancy: tuple[bytes, ...] = ()  # (seq-1, seq-2, ...)
    fec_span: int = 0
    fec_entries: tuple[bytes, ...] = ()  # (oldest group first)


def _parse(packet: bytes) -> _Parsed:
    """The whole packet read and checked before anything of it is used."""
    if len(packet) < 4:
        raise UdptlError(f"UDPTL packet too short ({len(packet)} bytes)")
    seq = int.from_bytes(packet[:2], "big")
    primary, offset = _decode_field(packet, 2, "primary IFP")
    if offset >= len(packet):
        raise UdptlError("UDPTL packet has no error correction mode byte")
    mode = packet[offset]
    offset += 1
    if not mode & 0x80:
        count, offset = decode_length(packet, offset, "redundancy count")
        if count > _MAX_RECEIVED_EC:
            raise UdptlError(f"UDPTL packet claims {count} redundancy entries")
        entries = []
        for index in range(count):
            entry, offset = _decode_field(packet, offset, f"redundancy entry {index}")
            entries.append(entry)
        return _Parsed(seq, primary, redundancy=tuple(entries))

    if offset + 2 > len(packet) or packet[offset] != 0x01:
        raise UdptlError("UDPTL FEC header is missing or malformed")
    span = packet[offset + 1]
    if not 0 < span < 0x80:
        raise UdptlError(f"UDPTL FEC span {span} out of range")
    count, offset = decode_length(packet, offset + 2, "FEC entry count")
    if count > _MAX_RECEIVED_EC:
        raise UdptlError(f"UDPTL packet claims {count} FEC entries")
    entries = []
    for index in range(count):
        entry, offset = _decode_field(packet, offset, f"FEC entry {index}")
        entries.append(entry)
    return _Parsed(seq, primary, fec_span=span, fec_entries=tuple(entries))


def _distance(seq: int, reference: int) -> int:
    """How far ``seq`` is ahead of ``reference`` (negative: behind), modulo 2**16."""
    delta = (seq - reference) % _SEQ_MODULO
    return delta - _SEQ_MODULO if delta >= _SEQ_MODULO // 2 else delta


class UdptlDecoder:
    """Turns received UDPTL packets into the IFP packets to process, in sequence order.

    Like 10.5's gateway it expects the peer to count from 0; duplicates and packets behind
    the next expected one are dropped, packets ahead are held until the gap before them is
    filled (from a later packet's redundancy, or rebuilt from FEC), and once
    ``_HOLD_BEFORE_SKIP`` packets are held the missing ones are given up on. A packet more
    than ``_SEQ_WINDOW`` away from the expected one is ignored, except as the very first
    packet (which starts the stream there, as 10.5's sequencer resets on it), or when a run
    of ``_WILD_BEFORE_RESYNC`` of them shows the peer restarted its numbering.
    """

    def __init__(self, options: T38Options | None = None) -> None:
        self.options = (options or T38Options()).normalised()
        self.expected = 0
        self.lost = 0
        self._started = False
        self._held: dict[int, bytes] = {}
        self._known: dict[int, bytes] = {}  # (recent IFPs by seq, for FEC recovery)
        self._wild_run = 0

    def feed(self, packet: bytes) -> list[tuple[int, bytes]]:
        """Take one UDPTL packet; the (seq, IFP) now deliverable, in order. Raises
        ``UdptlError`` (and changes nothing) for a packet that cannot be decoded."""
        parsed = _parse(bytes(packet))
        if not self._accept_seq(parsed.seq):
            return []
        if not self._hold(parsed.seq, parsed.primary):
            return []  # (a duplicate: its error correction holds nothing new either)
        if parsed.fec_span:
            self._remember(parsed.seq, parsed.primary)
        if self.expected not in self._held:
            if parsed.fec_span:
                self._recover_fec(parsed)
            else:
                self._fill_from_redundancy(parsed)
        return self._deliverable()

    def _accept_seq(self, seq: int) -> bool:
        distance = _distance(seq, self.expected)
        if not self._started:
            # (the first packet starts the stream where it is unless that is just ahead of
            # 0: packets before it may still come, or be in its error correction)
            in_window = 0 <= distance <= _SEQ_WINDOW
        else:
            in_window = abs(distance) <= _SEQ_WINDOW
        if in_window:
            self._wild_run = 0
            self._started = True
            return True
        self._wild_run += 1
        if self._started and self._wild_run < _WILD_BEFORE_RESYNC:
            return False
        # (a run of far-off packets means the peer started counting anew)
        self._started = True
        self._wild_run = 0
        self._held.clear()
        self._known.clear()
        self.expected = seq
        return True

    def _hold(self, seq: int, ifp: bytes) -> bool:
        """Keep ``seq`` for delivery unless it was delivered (or given up) or is held."""
        if _distance(seq, self.expected) < 0 or seq in self._held:
            return False
        self._held[seq] = ifp
        return True

    def _remember(self, seq: int, ifp: bytes) -> None:
        self._known[seq] = ifp
        while len(self._known) > _FEC_MEMORY:
            del self._known[next(iter(self._known))]

    def _fill_from_redundancy(self, parsed: _Parsed) -> None:
        for back, entry in enumerate(parsed.redundancy, start=1):
            if entry:  # (10.5 skips empty entries)
                self._hold((parsed.seq - back) % _SEQ_MODULO, entry)
            if self.expected in self._held:
                break

    def _recover_fec(self, parsed: _Parsed) -> None:
        """Rebuild lost packets: entry k covers the packets seq - entries*span + k +
        m*entries (m < span); if exactly one of them is unknown, and still to be delivered,
        it is the XOR of the entry and the others. The groups of one packet are disjoint,
        so one pass over them is all there is to do. (A rebuilt packet shorter than others
        of its group keeps their length: FEC does not carry lengths, and its tail comes out
        as zero bytes.)"""
        entries, span = len(parsed.fec_entries), parsed.fec_span
        first = parsed.seq - entries * span
        for k, entry in enumerate(parsed.fec_entries):
            newest = (first + k + (span - 1) * entries) % _SEQ_MODULO
            if _distance(newest, self.expected) < 0:
                continue  # (all of this group is delivered or given up)
            members = [(first + k + m * entries) % _SEQ_MODULO for m in range(span)]
            missing = [seq for seq in members if seq not in self._known]
            if len(missing) != 1 or missing[0] in self._held or _distance(missing[0], self.expected) < 0:
                continue
            rebuilt = _xor([entry] + [self._known[seq] for seq in members if seq != missing[0]])
            self._remember(missing[0], rebuilt)
            self._hold(missing[0], rebuilt)

    def _deliverable(self) -> list[tuple[int, bytes]]:
        out = []
        while self._held:
            ifp = self._held.pop(self.expected, None)
            if ifp is None:
                if len(self._held) < _HOLD_BEFORE_SKIP:
                    break
                nearest = min(self._held, key=lambda seq: _distance(seq, self.expected))
                self.lost += _distance(nearest, self.expected)
                self.expected = nearest
                continue
            out.append((self.expected, ifp))
            self.expected = (self.expected + 1) % _SEQ_MODULO
        return out
