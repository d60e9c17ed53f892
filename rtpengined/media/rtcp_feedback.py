"""RTCP compounds as rtpengine 10.5 reads them: which it relays, and the feedback
(RFC 4585) it cuts out of what an AVPF leg sends to a leg that is not AVPF.

A party on an AVPF profile (RTP/AVPF, RTP/SAVPF, UDP/TLS/RTP/SAVPF: a browser, a video
phone) puts transport-layer (RTPFB, type 205: NACK, transport-cc) and payload-specific
(PSFB, type 206: PLI, FIR, REMB) feedback into its RTCP compounds. A party on plain RTP/AVP
or RTP/SAVP never asked for them, so rtpengine 10.5 takes them out of each compound on the
way there and sends on the rest; a compound left with nothing is not sent at all.

10.5 reads the compound's packets by their length words first, and what it cannot read
decides what happens (found by sending 10.5 such compounds):

* a packet whose length word runs past the end of the datagram ends the walk: it and
  whatever follows go on as they came (feedback among them included), and so do trailing
  bytes too few for a header;
* a packet that is not RTP version 2, or shorter than its type's fixed part (an SR with
  fewer than 28 bytes, RR/XR 8, APP/RTPFB/PSFB 12; SR and RR also need 24 bytes per
  report block their count announces, counted over the whole packet), spoils the whole
  compound: it is dropped, an error of the stream it came on.

10.5 reads every compound it relays, whatever the legs, and drops one it cannot read
(``refused``). What it takes for RTCP (found by sending 10.5 such packets): on an RTCP port
(not muxed), everything, read as above (so RTP whose length word, its sequence number,
overruns the datagram goes on, and a 4-byte SR header is refused); on a port with rtcp-mux,
a packet of at least 8 bytes whose second byte is 194 to 223 (``is_rtcp``), the rest there
being RTP; on an RTP port without rtcp-mux, nothing (``taken_for_rtcp``).

SRTCP (``srtcp_header_ok``): 10.5 looks at the clear header before it decrypts, and one of
fewer than 8 bytes, not version 2, or whose first packet is not one of the types 200 to 207
is an error of the stream, not counted as one of its packets (nor its bytes).

RTP (``unknown_type``): a packet whose header parses (version 2, 12 bytes, its CSRCs and
extension header within it) with a payload type that is not among the stream's is an error
of the stream, and it is counted and relayed all the same.

Sans-I/O: bytes in, bytes (or the verdict) out; the relay worker does the rest (the C
loop of ``_relay.c`` the same, the tests run the cases on both).
"""

from __future__ import annotations

RTPFB, PSFB = 205, 206
# The smallest packet of each type 10.5 accepts (its fixed part, the 4-byte header in).
_SMALLEST = {200: 28, 201: 8, 202: 4, 203: 4, 204: 12, RTPFB: 12, PSFB: 12, 207: 8}
_REPORT_BLOCK = 24

def is_rtcp(packet) -> bool:
    """Whether 10.5 takes ``packet``, arriving on a port with rtcp-mux, for RTCP."""
    return len(packet) >= 8 and 194 <= packet[1] <= 223


def taken_for_rtcp(packet, rtcp_port: bool, muxed: bool) -> bool:
    """Whether 10.5 takes ``packet`` for RTCP: everything on an RTCP port, ``is_rtcp`` on
    a port with rtcp-mux, nothing on an RTP port without it (see the module)."""
    return rtcp_port or (muxed and is_rtcp(packet))


def refused(packet, rtcp_port: bool) -> bool:
    """Whether 10.5 drops ``packet`` (decrypted) arriving on a stream, an error of that
    stream: on an RTCP port (``rtcp_port``: not muxed) whatever it cannot read, on a port
    with rtcp-mux RTCP it cannot read (see the module). (A port without rtcp-mux takes
    nothing for RTCP: not asked.)"""
    if rtcp_port or is_rtcp(packet):
        return not readable(packet)
    return False


def ignored_for_learning(packet, rtcp_port: bool) -> bool:
    """Whether 10.5 leaves ``packet`` out of learning on a stream not yet confirmed: on an
    RTP port (muxed or not; ``rtcp_port`` is a separate RTCP port's stream) a packet of 8
    bytes or more whose second byte is an RTCP type (194-223). rtpengine works so around
    endpoints that send stray RTCP to the RTP port (its GH #697): the packet is still
    counted and relayed (or dropped as RTCP it cannot read), but it neither learns nor
    confirms the endpoint, and the first RTP does. (Once confirmed, nothing is left out:
    ``strict-source`` and ``media-handover`` see every packet.)"""
    return not rtcp_port and len(packet) >= 8 and 194 <= packet[1] <= 223


def srtcp_header_ok(packet) -> bool:
    """Whether 10.5 goes on to decrypt ``packet``, SRTCP as it arrived (see the module)."""
    return len(packet) >= 8 and packet[0] >> 6 == 2 and 200 <= packet[1] <= 207


def known_mask(payload_types) -> int:
    """The bit mask of ``payload_types`` (numbers, or their text as in an SDP's format
    list; others left out) that ``unknown_type`` takes."""
    mask = 0
    for pt in payload_types:
        try:
            number = int(pt)
        except (TypeError, ValueError):
            continue
        if 0 <= number <= 127:
            mask |= 1 << number
    return mask


def unknown_type(packet, known: int) -> bool:
    """Whether 10.5 counts RTP ``packet`` as an error of a stream whose payload types are
    the bits of ``known`` (``known_mask``; -1: every type, nothing checked): a header that
    parses with a payload type not among them (see the module). RTP only: ask after
    ``taken_for_rtcp``."""
    return len(packet) > 1 and not known >> (packet[1] & 0x7F) & 1 and _rtp_header_fits(packet)


def readable(compound) -> bool:
    """Whether 10.5 reads the RTCP ``compound`` and relays it (see the module)."""
    return _walk(compound, False) is not None


def _rtp_header_fits(packet) -> bool:
    """Version 2 and the fixed header, CSRCs and extension header within ``packet``."""
    size = len(packet)
    if size < 12 or packet[0] >> 6 != 2:
        return False
    header = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:  # an extension header: its 4-byte head, then its length in words
        if header + 4 > size:
            return False
        header += 4 + 4 * (packet[header + 2] << 8 | packet[header + 3])
    return header <= size


def strip_feedback(compound: bytes) -> bytes | None:
    """``compound`` without its RTPFB and PSFB packets, as 10.5 sends it on from an AVPF
    leg to one that is not: the compound itself when it has none, ``b""`` when nothing is
    left (not sent), None when it does not parse (dropped, an error; see the module)."""
    return _walk(compound, True)


def _walk(compound, cut: bool):
    """Read ``compound`` packet by packet as 10.5 does: None when it does not parse, else
    the compound, without its feedback when ``cut``."""
    size = len(compound)
    offset = 0
    kept_from = 0  # start of the run of packets kept since the last cut
    pieces = None  # the kept runs, once something was cut
    while size - offset >= 4:
        length = ((compound[offset + 2] << 8 | compound[offset + 3]) + 1) * 4
        if length > size - offset:
            break  # overruns the datagram: the rest goes on unread
        first, kind = compound[offset], compound[offset + 1]
        if first >> 6 != 2 or length < _SMALLEST.get(kind, 0):
            return None
        if kind in (200, 201) and length < (first & 0x1F) * _REPORT_BLOCK:
            return None
        if cut and (kind == RTPFB or kind == PSFB):
            if pieces is None:
                pieces = []
            pieces.append(compound[kept_from:offset])
            kept_from = offset + length
        offset += length
    if pieces is None:
        return compound
    pieces.append(compound[kept_from:])
    return b"".join(pieces)

