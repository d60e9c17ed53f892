"""SDP parse and rewrite, sans-I/O, the way rtpengine 10.5 rewrites plain RTP offers/answers.

``parse`` keeps every line with its own line ending, so ``render`` can copy untouched
lines byte for byte; only lines the proxy must change are regenerated (they always end
in CRLF, copied lines keep their ending, as rtpengine does). The call model decides
ports, addresses and codecs and hands them over in a ``SessionPlan``/``MediaPlan``.
Over 400 lines on purpose: parsing and rendering share the line model and the rules of
which lines are copied, so splitting them would put one format in two places.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from .protocol.errors import SdpError
from .protocol.errors import SdpLineRefused as _Refused

CRLF = "\r\n"
NULL_ADDRESSES = {"IP4": "0.0.0.0", "IP6": "::"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_DIRECTION = {direction: direction for direction in DIRECTIONS}
RTP_PROTOCOLS = frozenset({
    "RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF",
    "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF",
})
ICE_ATTRIBUTES = frozenset({
    "ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-mismatch", "candidate",
    "remote-candidates", "end-of-candidates",
})


def rtpmap_text(codec: str) -> str:
    """10.5 writes ``encoding/rate`` without a ``/1`` channel count."""
    return codec[:-2] if codec.count("/") == 2 and codec.endswith("/1") else codec
# Media attributes the rewriter regenerates (removed from their place, re-added at the end).
SECURITY_ATTRIBUTES = frozenset({"crypto", "setup", "fingerprint"})
MANAGED_MEDIA_ATTRIBUTES = frozenset({"rtcp", "rtcp-mux", "rtpmap", "fmtp", "ptime", "mid"})
STATIC_PAYLOAD_TYPES = {
    "0": "PCMU/8000", "3": "GSM/8000", "4": "G723/8000", "5": "DVI4/8000",
    "6": "DVI4/16000", "7": "LPC/8000", "8": "PCMA/8000", "9": "G722/8000",
    "10": "L16/44100/2", "11": "L16/44100", "12": "QCELP/8000", "13": "CN/8000",
    "14": "MPA/90000", "15": "G728/8000", "16": "DVI4/11025", "17": "DVI4/22050",
    "18": "G729/8000", "25": "CelB/90000", "26": "JPEG/90000", "28": "nv/90000",
    "31": "H261/90000", "32": "MPV/90000", "33": "MP2T/90000", "34": "H263/90000",
}
# Lines end at LF (a CR before it belongs to the ending): 10.5 splits so, and a CR
# elsewhere is part of the line (an SDP with CR-only line ends is then one bad v= line).
_LINE = re.compile(r"([^\n]*?)(\r\n|\n|$)")
# The line types 10.5 takes; any other is "Unknown SDP line type found".
_LINE_TYPES = frozenset("vomcabksiuteprz")


log = logging.getLogger("rtpengined.sdp")


@dataclass(slots=True, init=False)
class Line:
    """One SDP line: type letter, value after ``=``, and its original line ending."""

    kind: str
    value: str
    ending: str

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, kind: str, value: str, ending: str) -> None:
        self.kind = kind
        self.value = value
        self.ending = ending

    @property
    def text(self) -> str:
        return f"{self.kind}={self.value}{self.ending}"

    @property
    def attribute(self) -> tuple[str, str]:
        """``(name, value)`` of an ``a=`` line (value empty for flag attributes)."""
        name, _, value = self.value.partition(":")
        return name, value


@dataclass(slots=True, init=False)
class Connection:
    family: str  # IP4 / IP6
    address: str

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, family: str, address: str) -> None:
        self.family = family
        self.address = address

    @property
    def is_zero(self) -> bool:
        return self.address in ("0.0.0.0", "::")


@dataclass(init=False)
class MediaSection:
    """One ``m=`` section: the m= line first, then its own lines."""

    lines: list[Line]
    type: str
    port: int
    port_count: int | None
    protocol: str
    formats: list[str]
    # name -> values of the a= lines, built on first use (the rewriter asks many times).
    _attributes: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    _connection: Connection | None | bool = field(default=False, repr=False, compare=False)
    _rtpmaps: dict[str, str] | None = field(default=None, repr=False, compare=False)

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, lines: list[Line], type: str, port: int, port_count: int | None,
                 protocol: str, formats: list[str], _attributes: dict[str, list[str]] | None = None,
                 _connection: Connection | None | bool = False,
                 _rtpmaps: dict[str, str] | None = None) -> None:
        self.lines = lines
        self.type = type
        self.port = port
        self.port_count = port_count
        self.protocol = protocol
        self.formats = formats
        self._attributes = _attributes
        self._connection = _connection
        self._rtpmaps = _rtpmaps

    def attribute_index(self) -> dict[str, list[str]]:
        index = self._attributes
        if index is None:
            index = self._attributes = _attribute_index(self.lines)
        return index

    def attributes(self, name: str) -> list[str]:
        return list(self.attribute_index().get(name, ()))

    def has_attribute(self, name: str) -> bool:
        return name in self.attribute_index()

    @property
    def connection(self) -> Connection | None:
        if self._connection is False:
            self._connection = _first_connection(self.lines)
        return self._connection  # type: ignore[return-value]

    @property
    def is_rtp(self) -> bool:
        return self.protocol in RTP_PROTOCOLS

    def rtpmaps(self) -> dict[str, str]:
        """Payload type → ``encoding/rate[/channels]``, static types filled in.

        One table per section, shared by every caller and kept by the call model as the
        media's ``rtpmaps`` (a copy per call cost ~0.4 kB of every open call): read it,
        never change it."""
        cached = self._rtpmaps
        if cached is None:
            cached = self._rtpmaps = self._build_rtpmaps()
        return cached

    def _build_rtpmaps(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for value in self.attributes("rtpmap"):
            pt, _, codec = value.partition(" ")
            # Interned: every open call keeps its parties' tables, nearly all of the same
            # few codecs (interned strings are still freed with their last user).
            result[sys.intern(pt)] = sys.intern(codec.strip())
        for pt in self.formats:
            if pt not in result and pt in STATIC_PAYLOAD_TYPES:
                result[pt] = STATIC_PAYLOAD_TYPES[pt]
        return result


def _first_connection(lines) -> Connection | None:
    """The first ``c=`` line of a session or media section, parsed (cached by the callers)."""
    for line in lines:
        if line.kind == "c":
            return parse_connection(line.value)
    return None


def _attribute_index(lines: list[Line]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for line in lines:
        if line.kind == "a":
            name, _, value = line.value.partition(":")
            values = index.get(name)
            if values is None:
                index[name] = [value]
            else:
                values.append(value)
    return index


@dataclass
class SessionHeader:
    """A further session (a second ``v=`` block in one body): its own lines, and the index of
    its first media. rtpengine numbers medias across sessions and rewrites each header."""

    start: int
    lines: list[Line]
    connection: Connection | None = None


@dataclass(init=False)
class SessionDescription:
    session: list[Line]
    medias: list[MediaSection]
    _attributes: dict[str, list[str]] | None = field(default=None, repr=False, compare=False)
    _connection: Connection | None | bool = field(default=False, repr=False, compare=False)
    more_sessions: list[SessionHeader] = field(default_factory=list)

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, session: list[Line], medias: list[MediaSection],
                 _attributes: dict[str, list[str]] | None = None,
                 _connection: Connection | None | bool = False,
                 more_sessions: list[SessionHeader] | None = None) -> None:
        self.session = session
        self.medias = medias
        self._attributes = _attributes
        self._connection = _connection
        self.more_sessions = [] if more_sessions is None else more_sessions

    def session_attribute_index(self) -> dict[str, list[str]]:
        index = self._attributes
        if index is None:
            index = self._attributes = _attribute_index(self.session)
        return index

    def session_attributes(self, name: str) -> list[str]:
        return list(self.session_attribute_index().get(name, ()))

    @property
    def connection(self) -> Connection | None:
        if self._connection is False:
            self._connection = _first_connection(self.session)
        return self._connection  # type: ignore[return-value]

    @property
    def origin(self) -> list[str] | None:
        for line in self.session:
            if line.kind == "o":
                return line.value.split()
        return None

    def media_connection(self, index: int) -> Connection | None:
        """The connection that applies to media ``index`` (its own, else its session's)."""
        own = self.medias[index].connection
        if own is not None:
            return own
        header = self.header_of(index)
        return self.connection if header is None else header.connection

    def header_of(self, index: int) -> SessionHeader | None:
        """The further session media ``index`` belongs to (None: the first session)."""
        found = None
        for header in self.more_sessions:
            if header.start <= index:
                found = header
        return found

    def session_medias(self, header: SessionHeader | None) -> range:
        """The media indexes of one session (``None``: the first)."""
        starts = [h.start for h in self.more_sessions]
        begin = 0 if header is None else header.start
        end = next((start for start in starts if start > begin), len(self.medias))
        if header is None:
            end = starts[0] if starts else len(self.medias)
        return range(begin, end)

    def direction(self, index: int) -> str | None:
        """The direction attribute in force for media ``index`` (media level wins, then its
        own session's)."""
        # The constant, not the line's own string: the call model keeps it per media.
        for line in self.medias[index].lines:
            if line.kind == "a" and line.value in _DIRECTION:
                return _DIRECTION[line.value]
        header = self.header_of(index)
        for line in self.session if header is None else header.lines:
            if line.kind == "a" and line.value in _DIRECTION:
                return _DIRECTION[line.value]
        return None

    def has_ice(self, index: int) -> bool:
        media = self.medias[index].attribute_index()
        return "ice-ufrag" in media or "candidate" in media or bool(
            self.session_attributes("ice-ufrag"))

    def rtcp_mux(self, index: int) -> bool:
        """rtcp-mux offered: ``a=rtcp-mux``, or an ``a=rtcp`` naming the RTP port itself
        (RTCP on the RTP port; 10.5 reads it so, unless it is trickle ICE's 0.0.0.0:9)."""
        media = self.medias[index]
        if media.has_attribute("rtcp-mux"):
            return True
        rtcp = self.rtcp_attribute(index)
        if rtcp is None or media.port_count not in (None, 1) or rtcp[0] != media.port:
            return False
        conn = self.media_connection(index)
        return not (media.port == 9 and conn is not None and conn.is_zero)

    def rtcp_attribute(self, index: int) -> tuple[int, Connection | None] | None:
        """``a=rtcp:PORT [IN IP4 ADDR]`` of media ``index``, or ``None``. An unspecified
        address (browsers write ``a=rtcp:9 IN IP4 0.0.0.0``) comes back as none given: the
        media's own address is meant, where 10.5 sends the RTCP."""
        values = self.medias[index].attributes("rtcp")
        if not values:
            return None
        parts = values[0].split()
        try:
            port = int(parts[0])
        except (ValueError, IndexError):
            return None
        if not 0 < port <= 0xFFFF:  # (10.5 ignores the attribute: RTCP goes to port + 1)
            return None
        conn = parse_connection(" ".join(parts[1:4])) if len(parts) >= 4 else None
        return port, (None if conn is not None and conn.is_zero else conn)


def parse_connection(value: str) -> Connection | None:
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        return None
    # The address interned: the call model keeps it (endpoints) for the call's life, and
    # the calls through one gateway or SBC share it.
    return Connection(parts[1], sys.intern(_unbracketed(parts[1], parts[2].split("/")[0])))


def _unbracketed(family: str, address: str) -> str:
    """An IPv6 address as some SDPs write it, ``[2001:db8::1]``, without its brackets (10.5
    takes that form); anything else as it is."""
    if family == "IP6" and address.startswith("[") and address.endswith("]"):
        return address[1:-1]
    return address


_BAD_M = "Error parsing m= line"


def _parse_media_line(value: str) -> tuple[str, int, int | None, str, list[str]]:
    parts = value.split()
    if len(parts) < 3:
        raise _Refused(_BAD_M)
    port_text, _, count_text = parts[1].partition("/")
    if not port_text.isdigit() or (count_text and not count_text.isdigit()):
        raise _Refused(_BAD_M)
    port = int(port_text)
    if port > 65535 or (count_text and not 1 <= int(count_text) <= 10):
        raise _Refused(_BAD_M)  # (10.5 takes 1 to 10 ports, as m=.../N says)
    # Type, protocol and formats interned: the call model keeps them (the format list
    # shared, not copied) for the call's life, and nearly every call has the same few.
    protocol = sys.intern(parts[2])
    if protocol in RTP_PROTOCOLS and not _PAYLOAD_TYPES.issuperset(parts[3:]):
        formats = [sys.intern(pt if pt in _PAYLOAD_TYPES else _c_payload_type(pt))
                   for pt in parts[3:]]
    else:
        formats = [sys.intern(pt) for pt in parts[3:]]
    return (sys.intern(parts[0]), port, int(count_text) if count_text else None,
            protocol, formats)


# The payload types an RTP media may list, as their canonical text ("0" to "127").
_PAYLOAD_TYPES = frozenset(str(number) for number in range(128))
_ULONG_MAX = 2**64 - 1


def _c_payload_type(token: str) -> str:
    """An RTP media's format as 10.5 reads it, a C ``strtoul`` cast to 32 bits: a sign and
    leading digits count, the rest is ignored ("+8", "08" and "8x" are 8, "4294967296" is
    0), as its canonical text; a token without digits stays as it is. What is then not
    a payload type (above 127, no number) makes the SDP incomplete (``check_complete``)."""
    sign = token[:1]
    digits = token[1:] if sign in ("+", "-") else token
    end = 0
    while end < len(digits) and digits[end].isdigit() and digits[end].isascii():
        end += 1
    if end == 0:
        return token
    value = int(digits[:end])
    if value > _ULONG_MAX:
        value = _ULONG_MAX  # (strtoul's overflow, whatever the sign)
    elif sign == "-":
        value = -value % 2**64
    return str(value & 0xFFFFFFFF)


def _split_lines(text: str) -> list[tuple[str, str]]:
    """(body, line ending) pairs as ``_LINE.findall`` gives them. SDP nearly always ends
    every line in CRLF and has no other CR or LF: then one ``split`` does (about a third
    of what the regular expression costs); mixed endings take the expression."""
    crlf = text.count("\r\n")
    if text.count("\n") != crlf or text.count("\r") != crlf:
        return _LINE.findall(text)
    pieces = text.split("\r\n")
    last = pieces.pop()
    pairs = [(piece, CRLF) for piece in pieces]
    pairs.append((last, ""))
    return pairs


def parse(text: str, reject_invalid: bool = False, added: int = 0) -> SessionDescription:
    """Parse an SDP body; ``SdpError('Failed to parse SDP')`` for anything that is not SDP.

    What 10.5 refuses is refused: a line type it does not know, a v= other than 0, o= or
    s= inside a media section, a second c= or o= in one section, a c= address that is no
    address of its family (a name, a multicast /ttl), an m= port beyond 65535 or a port
    count other than 1 to 10. An empty line ends the body, as it ends 10.5's (what follows
    is neither read nor sent on); with ``reject_invalid`` (``--reject-invalid-sdp``) it is
    refused, unless it is a lone CR or LF at the very end (10.5 reads no line shorter than
    two characters there). ``added``: the length of what the caller put before the body
    it was given (a trickle fragment's ``v=0``), left out of a refused line's offset."""
    pairs = _split_lines(text)
    lines: list[Line] = []
    refused: tuple[int, str] | None = None  # the first line that is no SDP line, and why
    for index, (body, ending) in enumerate(pairs):
        if not body:
            if reject_invalid and ending and not (
                    len(ending) == 1 and index == len(pairs) - 2 and pairs[-1] == ("", "")):
                refused = (index, "Missing '=' sign")
            break
        if len(body) < 2 or body[1] != "=":
            refused = (index, "Missing '=' sign")
        elif index == 0 and body[0] != "v":
            refused = (index, "SDP doesn't start with a session definition")
        elif body[0] not in _LINE_TYPES:
            refused = (index, "Unknown SDP line type found")
        if refused:
            break
        lines.append(Line(body[0], body[2:], ending))
    try:
        parsed = _sections(lines)
    except _Refused as exc:  # (a line before the one that is no SDP line: 10.5 reads in order)
        raise _refusal(pairs, exc.index, exc.detail, added) from None
    if refused is not None:
        raise _refusal(pairs, *refused, added)
    if not lines:  # (an empty body, or one that ends before its first line)
        raise SdpError("Failed to parse SDP")
    return parsed


def _refusal(pairs: list[tuple[str, str]], index: int, detail: str, added: int = 0
             ) -> SdpError:
    """The error for line ``index``, logged as 10.5 logs it (the offset is the line's)."""
    offset = sum(len(body) + len(ending) for body, ending in pairs[:index]) - added
    log.warning("Error parsing SDP at offset %d: %s", offset, detail)
    return SdpError("Failed to parse SDP")


def _sections(lines: list[Line]) -> SessionDescription:
    """The lines in their sections; ``_Refused`` for the first one 10.5 refuses."""
    session: list[Line] = []
    medias: list[MediaSection] = []
    headers: list[SessionHeader] = []
    section_lines = session
    connection: Connection | None | bool = False  # the first c= of the current section
    header: SessionHeader | None = None
    seen: set[str] = set()  # the c= and o= of the current section (one of each)
    in_media = False
    for index, line in enumerate(lines):
        kind = line.kind
        if kind == "v":
            if line.value != "0":
                raise _Refused("Error in v= line", index)
            if section_lines is not session:
                if medias:
                    medias[-1]._connection = connection
                connection = None
                header = SessionHeader(len(medias), [line])
                headers.append(header)
                section_lines = header.lines
                seen.clear()
                in_media = False
                continue
        if kind == "m":
            if medias and header is None:  # (a session header already closed the media)
                medias[-1]._connection = connection
            header = None
            connection = None
            try:
                mtype, port, count, proto, formats = _parse_media_line(line.value)
            except _Refused as exc:
                exc.index = index
                raise
            section_lines = [line]
            medias.append(MediaSection(section_lines, mtype, port, count, proto, formats))
            seen.clear()
            in_media = True
            continue
        section_lines.append(line)
        if kind == "c":
            parsed = parse_connection(line.value)
            if parsed is None or "c" in seen or not _is_address(line.value):
                raise _Refused("Error parsing c= line", index)
            seen.add("c")
            if header is not None:
                header.connection = header.connection or parsed
            elif connection is None and medias:
                connection = parsed
        elif kind == "o":
            if in_media:
                raise _Refused("o= line found within media section", index)
            if "o" in seen or len(line.value.split()) != 6:
                raise _Refused("Error parsing o= line", index)
            seen.add("o")
        elif kind == "s" and in_media:
            raise _Refused("s= line found within media section", index)
    if medias and header is None:
        medias[-1]._connection = connection
    return SessionDescription(session, medias, more_sessions=headers)


_ADDRESSES: dict[str, bool] = {}  # c= values checked (a few per gateway or SBC)


def _is_address(value: str) -> bool:
    """A c= value's address is an address of its family, written as one (10.5 parses it
    so: no name, no multicast /ttl after it)."""
    known = _ADDRESSES.get(value)
    if known is None:
        parts = value.split()
        try:
            socket.inet_pton(socket.AF_INET6 if parts[1] == "IP6" else socket.AF_INET,
                             _unbracketed(parts[1], parts[2]))
            known = True
        except (OSError, IndexError, ValueError):
            known = False
        if len(_ADDRESSES) > 4096:
            _ADDRESSES.clear()
        _ADDRESSES[value] = known
    return known


def check_complete(sdp: SessionDescription) -> None:
    """Every media needs a connection address, and an RTP media's formats must be payload
    types, 0 to 127 (``Incomplete SDP specification``, as 10.5 refuses them)."""
    for index, media in enumerate(sdp.medias):
        if sdp.media_connection(index) is None or (
                media.protocol in RTP_PROTOCOLS
                and not _PAYLOAD_TYPES.issuperset(media.formats)):
            raise SdpError("Incomplete SDP specification")


# -- rewriting -------------------------------------------------------------------------


def ice_priority(type_pref: int, local_pref: int, component: int) -> int:
    """A candidate priority as 10.5 computes it (RFC 8445 5.1.2.1 in 32-bit unsigned
    arithmetic): a local preference past 65535 wraps, which is how 10.5 comes to
    4294967295 for the second address of a passed-through leg (``offer_answer.ice``)."""
    return ((type_pref << 24) | (((65535 - local_pref) & 0xFFFFFFFF) << 8)
            | (256 - component)) & 0xFFFFFFFF


@dataclass
class IceCredentials:
    ufrag: str
    pwd: str
    foundation: str
    # Further host candidates (foundation, address, RTP port, RTCP port) after the main one:
    # the other addresses of the same logical interface (10.5 offers every family it has).
    alternates: list[tuple[str, str, int, int | None]] = field(default_factory=list)
    trickle: bool = False  # the `trickle ICE` flag: a=ice-options:trickle, a=end-of-candidates
    # Our candidates: their type (host, or relay with raddr/rport: `ICE: force-relay`), type
    # preference, and the local preference of the first address (each further address one
    # more: its rank, or after the party's own candidates when they are kept).
    kind: str = "host"
    type_pref: int = 126
    local_pref: int = 0
    # False: the party's own ICE credentials stay in the SDP (ICE passthrough) and we write
    # only candidates of ours beside its candidates.
    credentials: bool = True
    # ICE completed on the leg: only the local candidate of each component's selected pair,
    # as (component, rank, foundation, address, port) (10.5 narrows its SDP so).
    selected: list[tuple[int, int, str, str, int]] | None = None


@dataclass(init=False)
class MediaPlan:
    """What the produced SDP says for one media section."""

    port: int  # 0: rejected, no ports and no generated attributes
    address: Connection  # our address for c= lines
    formats: list[str] | None = None  # None: keep the input's format list
    protocol: str | None = None
    direction: str | None = "sendrecv"  # None: keep input direction lines (original-sendrecv)
    keep_zero_address: bool = False
    rtcp_port: int | None = None  # None: no a=rtcp line
    rtcp_full: bool = False
    rtcp_mux: bool = False
    ptime: str | None = None
    ice: IceCredentials | None = None
    ice_rtcp_port: int | None = None
    # No ICE spoken, but the leg keeps an agent of ours and trickles: 10.5 still writes
    # a=ice-options:trickle and a=end-of-candidates, with no credentials or candidates.
    trickle_only: bool = False
    # (payload type out, payload type in the input, rtpmap text): renumbered answer codecs.
    codecs: list[tuple[str, str, str | None, list[str] | None]] | None = None
    keep_ptime: bool = False  # copy the input's a=ptime lines where they are
    hide_formats: bool = False  # empty m= format list, the SDP's codec lines kept (10.5)
    # Copied untouched (m=message): only a c= line is added when it has none of its own.
    passthrough: bool = False
    # None: the input's a=crypto/setup/fingerprint pass through; else they are replaced by
    # these attribute values (secure.attributes order), written before the ICE lines.
    security: list[str] | None = None
    connection_text: str | None = None  # the session's c= value, for that added line
    # The a=mid written is ``mid`` (the receiving party's media ID, 10.5), not the input's:
    # none if it has none, whatever the sender wrote. Off (input's mids kept) for refused
    # medias and non-RTP ones.
    write_mid: bool = False
    mid: str | None = None
    label: str | None = None  # SIPREC: an a=label line written after the a=mid (10.5)
    # The input's ICE attributes stay where they are (`ICE: optional|force-relay`, or an ICE
    # passthrough leg), without its relay candidates for `force-relay`; a passthrough leg
    # keeps its a=extmap whatever `strip-extmap` says.
    keep_ice: bool = False
    strip_relay_candidates: bool = False
    keep_extmap: bool = False
    # A refused media keeps the input's a=crypto/setup/fingerprint (an ICE passthrough leg,
    # whose parties key it end to end); otherwise a refused media's go.
    keep_security: bool = False
    # `ICE: force-relay`: the m= and c= lines, a=rtcp and a=rtcp-mux stay as they were.
    keep_media_line: bool = False

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, port: int, address: Connection, formats: list[str] | None = None,
                 protocol: str | None = None, direction: str | None = "sendrecv",
                 keep_zero_address: bool = False, rtcp_port: int | None = None,
                 rtcp_full: bool = False, rtcp_mux: bool = False, ptime: str | None = None,
                 ice: IceCredentials | None = None, ice_rtcp_port: int | None = None,
                 trickle_only: bool = False,
                 codecs: list[tuple[str, str, str | None, list[str] | None]] | None = None,
                 keep_ptime: bool = False, hide_formats: bool = False, passthrough: bool = False,
                 security: list[str] | None = None, connection_text: str | None = None,
                 write_mid: bool = False, mid: str | None = None, label: str | None = None,
                 keep_ice: bool = False, strip_relay_candidates: bool = False,
                 keep_extmap: bool = False, keep_security: bool = False,
                 keep_media_line: bool = False) -> None:
        self.port = port
        self.address = address
        self.formats = formats
        self.protocol = protocol
        self.direction = direction
        self.keep_zero_address = keep_zero_address
        self.rtcp_port = rtcp_port
        self.rtcp_full = rtcp_full
        self.rtcp_mux = rtcp_mux
        self.ptime = ptime
        self.ice = ice
        self.ice_rtcp_port = ice_rtcp_port
        self.trickle_only = trickle_only
        self.codecs = codecs
        self.keep_ptime = keep_ptime
        self.hide_formats = hide_formats
        self.passthrough = passthrough
        self.security = security
        self.connection_text = connection_text
        self.write_mid = write_mid
        self.mid = mid
        self.label = label
        self.keep_ice = keep_ice
        self.strip_relay_candidates = strip_relay_candidates
        self.keep_extmap = keep_extmap
        self.keep_security = keep_security
        self.keep_media_line = keep_media_line


@dataclass(init=False)
class SessionPlan:
    medias: list[MediaPlan]
    origin_address: Connection | None = None
    session_connection: Connection | None = None  # rewrite the session c= line to this
    keep_zero_address: bool = False
    origin_username: str | None = None
    origin_version: str | None = None
    session_name: str | None = None
    extra_attributes: list[str] = field(default_factory=list)
    keep_directions: bool = False
    strip_extmap: bool = False  # ``strip-extmap``: no a=extmap lines, session or media
    replace_session_connection: bool = False  # ``replace: session-connection``
    # Media-level security written by us: the input's session-level a=fingerprint/setup
    # (Firefox puts its fingerprint there) go, as 10.5 drops them.
    strip_security: bool = False
    # Session-level ICE attributes as for the medias (``MediaPlan.keep_ice``), and a session
    # whose first media is an ICE passthrough leg keeps every a= line (10.5).
    keep_ice: bool = False
    strip_relay_candidates: bool = False
    keep_attributes: bool = False

    # Written out, not left to dataclasses: compiled (mypyc), this runs as C.
    def __init__(self, medias: list[MediaPlan], origin_address: Connection | None = None,
                 session_connection: Connection | None = None, keep_zero_address: bool = False,
                 origin_username: str | None = None, origin_version: str | None = None,
                 session_name: str | None = None, extra_attributes: list[str] | None = None,
                 keep_directions: bool = False, strip_extmap: bool = False,
                 replace_session_connection: bool = False, strip_security: bool = False,
                 keep_ice: bool = False, strip_relay_candidates: bool = False,
                 keep_attributes: bool = False) -> None:
        self.medias = medias
        self.origin_address = origin_address
        self.session_connection = session_connection
        self.keep_zero_address = keep_zero_address
        self.origin_username = origin_username
        self.origin_version = origin_version
        self.session_name = session_name
        self.extra_attributes = [] if extra_attributes is None else extra_attributes
        self.keep_directions = keep_directions
        self.strip_extmap = strip_extmap
        self.replace_session_connection = replace_session_connection
        self.strip_security = strip_security
        self.keep_ice = keep_ice
        self.strip_relay_candidates = strip_relay_candidates
        self.keep_attributes = keep_attributes


def render(sdp: SessionDescription, plan: SessionPlan) -> str:
    """Produce the rewritten SDP text (every session's header in front of its own medias)."""
    out: list[str] = []
    for line in sdp.session:
        out.append(_session_line(line, plan))
    for attr in plan.extra_attributes:
        out.append(f"a={attr}{CRLF}")
    headers = {header.start: header for header in sdp.more_sessions}
    for index, (media, mplan) in enumerate(zip(sdp.medias, plan.medias, strict=True)):
        header = headers.pop(index, None)
        if header is not None:
            out.extend(_session_line(line, _header_plan(sdp, header, plan))
                       for line in header.lines)
        out.extend(_render_media(media, mplan, plan))
    for header in headers.values():  # sessions without media
        out.extend(_session_line(line, _header_plan(sdp, header, plan)) for line in header.lines)
    return "".join(out)  # (lines dropped are empty strings)


def _header_plan(sdp: SessionDescription, header: SessionHeader, plan: SessionPlan) -> SessionPlan:
    """A further session's header is rewritten like the first; its c= names the address of
    its own first relayed media, and only when one of its medias lacks a c= (or asked)."""
    medias = sdp.session_medias(header)
    lacking = any(sdp.medias[i].connection is None for i in medias)
    address = next((plan.medias[i].address for i in medias
                    if plan.medias[i].port and not plan.medias[i].passthrough), None)
    connection = None
    if lacking or plan.replace_session_connection:
        connection = address or plan.session_connection or plan.origin_address
    return SessionPlan(plan.medias, origin_address=plan.origin_address,
                       session_connection=connection, keep_zero_address=plan.keep_zero_address,
                       origin_username=plan.origin_username, origin_version=plan.origin_version,
                       session_name=plan.session_name, keep_directions=plan.keep_directions,
                       strip_extmap=plan.strip_extmap, strip_security=plan.strip_security,
                       keep_ice=plan.keep_ice,
                       strip_relay_candidates=plan.strip_relay_candidates)


def _session_line(line: Line, plan: SessionPlan) -> str:
    if line.kind == "o":
        fields = line.value.split()
        if plan.origin_username is not None:
            fields[0] = plan.origin_username
        if plan.origin_version is not None:
            fields[2] = plan.origin_version
        if plan.origin_address is not None:
            fields[4], fields[5] = plan.origin_address.family, plan.origin_address.address
        value = " ".join(fields)
        return line.text if value == line.value else f"o={value}{line.ending}"
    if line.kind == "s" and plan.session_name is not None:
        return f"s={plan.session_name}{line.ending}"
    if line.kind == "c" and plan.session_connection is not None:
        current = parse_connection(line.value)
        conn = plan.session_connection
        if current is not None and current.is_zero and plan.keep_zero_address:
            return _null_line(line, conn.family)
        return f"c=IN {conn.family} {conn.address}{line.ending}"
    if line.kind == "a" and not plan.keep_attributes:
        name = line.attribute[0]
        if line.value in DIRECTIONS and not plan.keep_directions:
            return ""
        if name in ICE_ATTRIBUTES and _ice_stripped(line, plan.keep_ice,
                                                    plan.strip_relay_candidates):
            return ""
        if name == "extmap" and plan.strip_extmap:
            return ""
        if plan.strip_security and name in SECURITY_ATTRIBUTES:
            return ""
        if name == "group" and line.attribute[1].startswith("BUNDLE"):
            return ""  # 10.5 does not bundle what it relays
    return line.text


def _ice_stripped(line: Line, keep: bool, strip_relay: bool) -> bool:
    """Whether an ICE attribute of the input goes: all unless kept; relay candidates with
    `force-relay` (we are the relay); a=end-of-candidates always (re-added last)."""
    name, value = line.attribute
    if name == "end-of-candidates" or not keep:
        return True
    if name == "candidate" and strip_relay:
        parts = value.split()
        return len(parts) > 7 and parts[7].lower() == "relay"
    return False


def _null_line(line: Line, family: str) -> str:
    """A held (null) connection stays null, in the family of the side it is sent to: an
    IPv6 hold answered towards IPv4 becomes ``0.0.0.0``, and ``::`` the other way (10.5)."""
    value = f"IN {family} {NULL_ADDRESSES[family]}"
    return line.text if value == line.value else f"c={value}{line.ending}"


def _passthrough_media(media: MediaSection, mplan: MediaPlan) -> list[str]:
    """A media 10.5 does not rewrite (m=message): its lines as they were. Without a ``c=`` of
    its own it gets the session's original one (the session's is rewritten), placed where a
    ``c=`` belongs: before its first ``b=``/``k=``/``a=`` line, else last; 10.5 ends that
    line with a bare LF."""
    out = [line.text for line in media.lines]
    if media.connection is None and mplan.connection_text is not None:
        at = next((n for n, line in enumerate(media.lines) if line.kind in "bka"),
                  len(media.lines))
        out.insert(at, f"c={mplan.connection_text}\n")
    return out


def _render_media(media: MediaSection, mplan: MediaPlan, plan: SessionPlan) -> list[str]:
    if mplan.passthrough:
        return _passthrough_media(media, mplan)
    rtp = media.is_rtp
    formats = media.formats if mplan.formats is None else mplan.formats
    if mplan.codecs is not None:
        formats = [codec[0] for codec in mplan.codecs]
    out: list[str] = []
    mids: list[str] = []
    keep_directions = mplan.direction is None
    # An empty format list (``hide_formats``): 10.5 has no codecs to write the codec lines
    # of, so it leaves the SDP's own rtpmap, fmtp and rtcp-fb lines where they are, all of
    # them, those of the codecs the list lost included.
    keep_codecs = rtp and mplan.hide_formats
    for index, line in enumerate(media.lines):
        if mplan.keep_media_line and (index == 0 or line.kind == "c"):
            out.append(line.text)
            continue
        if index == 0:
            port = str(mplan.port)
            if media.port_count is not None:
                port += f"/{media.port_count}"
            shown = [] if mplan.hide_formats else formats
            value = " ".join([media.type, port, mplan.protocol or media.protocol, *shown])
            if mplan.hide_formats:
                value += " "
            elif not media.formats and not shown:
                # No format list to reprint: what follows the protocol stays (10.5).
                value += re.sub(r"^\s*\S+\s+\S+\s+\S+", "", line.value)
            out.append(line.text if value == line.value else f"m={value}{line.ending}")
            continue
        if line.kind == "c":
            current = parse_connection(line.value)
            if current is not None and current.is_zero and mplan.keep_zero_address:
                out.append(_null_line(line, mplan.address.family))
            else:
                addr = mplan.address
                value = f"IN {addr.family} {addr.address}"
                out.append(line.text if value == line.value else f"c={value}{line.ending}")
            continue
        if line.kind != "a":
            out.append(line.text)
            continue
        name, value = line.attribute
        if line.value in DIRECTIONS:
            if keep_directions:
                out.append(line.text)
            continue
        if name in ICE_ATTRIBUTES and _ice_stripped(line, mplan.keep_ice,
                                                    mplan.strip_relay_candidates):
            continue
        if name == "extmap" and plan.strip_extmap and not mplan.keep_extmap:
            continue
        if rtp and name == "mid":
            mids.append(value)
            continue
        if rtp and name == "ptime" and mplan.keep_ptime:
            out.append(line.text)
            continue
        if rtp and name in MANAGED_MEDIA_ATTRIBUTES and not (
                mplan.keep_media_line and name in ("rtcp", "rtcp-mux")):
            if keep_codecs and (name == "rtpmap" or name == "fmtp"):
                out.append(line.text)
            continue
        if rtp and name == "rtcp-fb" and value.split(" ", 1)[0] != "*":
            if keep_codecs:
                out.append(line.text)
            continue
        if name in SECURITY_ATTRIBUTES and (
                mplan.security is not None or (mplan.port == 0 and not mplan.keep_security)):
            continue  # (ours replace them; a refused media's go, as in 10.5)
        out.append(line.text)
    if rtp and mplan.write_mid:
        mids = [mplan.mid] if mplan.mid is not None else []
    for mid in mids:  # a rejected media keeps its mid too
        out.append(f"a=mid:{mid}{CRLF}")
    if mplan.label is not None:
        out.append(f"a=label:{mplan.label}{CRLF}")
    if not mplan.port:
        return out
    if rtp and not keep_codecs:
        out.extend(_codec_lines(media, formats, mplan.codecs))
    if mplan.direction is not None:
        out.append(f"a={mplan.direction}{CRLF}")
    if rtp and mplan.rtcp_port is not None:
        if mplan.rtcp_full:
            addr = mplan.address
            out.append(f"a=rtcp:{mplan.rtcp_port} IN {addr.family} {addr.address}{CRLF}")
        else:
            out.append(f"a=rtcp:{mplan.rtcp_port}{CRLF}")
    if rtp and mplan.rtcp_mux:
        out.append(f"a=rtcp-mux{CRLF}")
    if mplan.security:
        out.extend(f"a={value}{CRLF}" for value in mplan.security)
    if rtp and mplan.ptime is not None:  # after crypto/setup/fingerprint (10.5)
        out.append(f"a=ptime:{mplan.ptime}{CRLF}")
    if mplan.ice is not None:
        out.extend(_ice_lines(mplan.ice, mplan))
    elif mplan.trickle_only:
        out.append(f"a=ice-options:trickle{CRLF}")
    if (media.has_attribute("end-of-candidates") or mplan.trickle_only
            or (mplan.ice is not None and mplan.ice.trickle)):
        out.append(f"a=end-of-candidates{CRLF}")  # kept, moved last (as 10.5)
    return out


def ice_hosts(ice: IceCredentials, mplan: MediaPlan) -> list[tuple[str, str, int, int | None]]:
    """(foundation, address, RTP port, RTCP port or None) of every address of the media's
    interface, ours first: the host candidates offered, in rank order."""
    return [(ice.foundation, mplan.address.address, mplan.port, mplan.ice_rtcp_port),
            *ice.alternates]


def ice_lines(ice: IceCredentials, mplan: MediaPlan) -> list[str]:
    """Our ICE lines of a media (credentials, candidates; CRLF-terminated) for SDP written
    outside ``render`` (a publish answer)."""
    return _ice_lines(ice, mplan)


def _ice_lines(ice: IceCredentials, mplan: MediaPlan) -> list[str]:
    """Our credentials (unless the party's stay) and candidates: every component 1 first,
    then every component 2, one per address of the interface, each address's local
    preference one more than the one before."""
    out = []
    if ice.credentials:
        out.append(f"a=ice-ufrag:{ice.ufrag}{CRLF}")
        out.append(f"a=ice-pwd:{ice.pwd}{CRLF}")
        if ice.trickle:
            out.append(f"a=ice-options:trickle{CRLF}")
    candidates: Sequence[tuple[int, int, str, str, int | None]]
    if ice.selected is not None:  # ICE completed: each component's selected socket only
        candidates = ice.selected
    else:
        hosts = ice_hosts(ice, mplan)
        candidates = [(component, rank, foundation, host,
                       rtp_port if component == 1 else rtcp_port)
                      for component in (1, 2)
                      for rank, (foundation, host, rtp_port, rtcp_port) in enumerate(hosts)]
    for component, rank, foundation, host, port in candidates:
        if port is None or (component == 2 and mplan.ice_rtcp_port is None):
            continue
        priority = ice_priority(ice.type_pref, ice.local_pref + rank, component)
        related = f" raddr {host} rport {port}" if ice.kind != "host" else ""
        out.append(f"a=candidate:{foundation} {component} UDP {priority} {host} {port} "
                   f"typ {ice.kind}{related}{CRLF}")
    return out


def _codec_lines(media: MediaSection, formats: list[str],
                 codecs: list[tuple[str, str, str | None, list[str] | None]] | None = None) -> list[str]:
    if codecs is not None:
        return _mapped_codec_lines(media, codecs)
    rtpmaps = media.rtpmaps()
    fmtps = by_payload_type(media, "fmtp", False)
    feedback = by_payload_type(media, "rtcp-fb", False)
    out: list[str] = []
    # (Plain loops, and none at all for a media without fmtp/rtcp-fb: a generator per
    # payload type and attribute was most of this function's time.)
    for pt in formats:
        codec = rtpmaps.get(pt)
        if codec is not None:
            out.append(f"a=rtpmap:{pt} {rtpmap_text(codec)}{CRLF}")
        else:  # (no rtpmap, not a static type: 10.5 writes it, as no encoding at 0 Hz)
            out.append(f"a=rtpmap:{pt} /0{CRLF}")
        if fmtps:
            for value in fmtps.get(pt, ()):
                out.append(f"a=fmtp:{value}{CRLF}")
        if feedback:
            for value in feedback.get(pt, ()):
                out.append(f"a=rtcp-fb:{value}{CRLF}")
    return out


def by_payload_type(media: MediaSection, name: str, strip: bool) -> dict[str, list[str]]:
    """The media's ``a=<name>`` values by their leading payload type, in order (``strip``:
    without the payload type and its space)."""
    grouped: dict[str, list[str]] = {}
    for value in media.attribute_index().get(name, ()):
        pt, _, rest = value.partition(" ")
        grouped.setdefault(pt, []).append(rest if strip else value)
    return grouped


def filter_codecs(
    media: MediaSection, strip: list[str] | tuple[()], except_: list[str], keep_all: bool = True,
    offer: list[str] | tuple[()] = (), orphans: bool = False,
) -> list[str]:
    """The format list after ``codec: {strip, except, offer}`` (no transcoding).

    As 10.5: codecs match by encoding name or ``name/rate`` (not by payload type), a
    stripped codec named in ``offer`` comes back (in ``offer``'s order, before the
    telephone-event and comfort-noise codecs kept), and a strip that would leave nothing at
    all leaves everything. ``orphans``: telephone-event and CN left without a codec of their
    clock rate stay (a transcoding offer's tracker decides on them).
    """
    if not strip or not media.is_rtp:
        return list(media.formats)
    rtpmaps = media.rtpmaps()

    def matches(pt: str, names: list[str]) -> bool:
        codec = rtpmaps.get(pt, "")
        encoding = codec.split("/")[0]
        for name in names:
            if name.lower() == encoding.lower() or name.lower() == codec.lower():
                return True
            # "PCMU/8000" matches "PCMU/8000/1"
            if codec and codec.lower().startswith(name.lower() + "/"):
                return True
        return False

    strip_all = "all" in strip
    kept = []
    for pt in media.formats:
        if matches(pt, except_):
            kept.append(pt)
        elif strip_all or matches(pt, strip):
            continue
        else:
            kept.append(pt)
    for name in offer:
        for pt in media.formats:
            if pt not in kept and matches(pt, [name]):
                at = next((index for index, other in enumerate(kept)
                           if _supplementary(rtpmaps.get(other, ""))), len(kept))
                kept.insert(at, pt)
    if not kept:
        return list(media.formats) if keep_all else []
    if orphans or len(kept) == len(media.formats):
        return kept
    return _without_orphans(kept, rtpmaps, media.formats)


def _supplementary(codec: str) -> bool:
    """telephone-event or comfort noise (an rtpmap text)."""
    return codec.split("/")[0].lower() in ("telephone-event", "cn")


def clock_rate(codec: str) -> str:
    """An rtpmap text's clock rate ("" without one)."""
    return codec.split("/")[1] if codec.count("/") >= 1 else ""


def _without_orphans(formats: list[str], rtpmaps: dict[str, str],
                     before: list[str]) -> list[str]:
    """Once codecs are filtered, telephone-event and comfort noise go where the filter left
    no codec of their clock rate (``telephone-event/8000`` beside only ``opus/48000``), as
    in 10.5; one at a rate the offer had no codec at stays, unless the filter took a
    telephone-event or CN itself (10.5's tracker looks at the rates a change touched, and
    at every rate once such a codec goes). When nothing but such codecs is left they stay
    (see ``only_dtmf_left``)."""
    def rates_of(pts: list[str]) -> set[str]:
        return {clock_rate(rtpmaps.get(pt, "")) for pt in pts
                if not _supplementary(rtpmaps.get(pt, ""))}

    rates = rates_of(formats)
    if not rates:
        return formats
    kept = set(formats)
    # The rates the filter touched: those it took codecs from, every rate once it took a
    # telephone-event or CN.
    every = any(pt not in kept and _supplementary(rtpmaps.get(pt, "")) for pt in before)
    touched = rates_of(before)

    def stays(pt: str) -> bool:
        text = rtpmaps.get(pt, "")
        rate = clock_rate(text)
        return not _supplementary(text) or rate in rates or not (every or rate in touched)

    return [pt for pt in formats if stays(pt)]


def only_dtmf_left(media: MediaSection, before: list[str], after: list[str]) -> bool:
    """10.5 quirk: stripping every codec but telephone-event and CN empties the m= format
    list while their attributes stay."""
    if not after or len(after) == len(before):
        return False
    rtpmaps = media.rtpmaps()
    return all(rtpmaps.get(pt, "").split("/")[0].lower() in ("telephone-event", "cn")
               for pt in after)


def _mapped_codec_lines(media: MediaSection,
                        codecs: list[tuple[str, str, str | None, list[str] | None]]) -> list[str]:
    """Codec lines under new payload type numbers (fmtp/rtcp-fb taken from the input's)."""
    fmtps = by_payload_type(media, "fmtp", True)
    feedback = by_payload_type(media, "rtcp-fb", True)
    out: list[str] = []
    for pt, source, rtpmap, own_fmtps in codecs:
        if rtpmap:
            out.append(f"a=rtpmap:{pt} {rtpmap_text(rtpmap)}{CRLF}")
        for value in (fmtps.get(source, ()) if own_fmtps is None else own_fmtps):
            out.append(f"a=fmtp:{pt} {value}{CRLF}")
        if feedback:
            for value in feedback.get(source, ()):
                out.append(f"a=rtcp-fb:{pt} {value}{CRLF}")
    return out
