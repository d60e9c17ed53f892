"""RTCP as 10.5 reads it: which packets it relays on any leg (``media.rtcp_feedback.refused``
and the C loop's ``_relay.refused``), and feedback cut out between an AVPF leg and one
that is not: the sans-I/O filter (``media.rtcp_feedback``) and the C loop's copy of it
(``_relay.strip_feedback``), the control plane's choice of streams
(``offer_answer.feedback``) and the kernel planner keeping them with the relay. What 10.5 sends for each compound was found by experiment
(``test_diff_rtcp_feedback`` checks it over sockets)."""

from __future__ import annotations

import struct

import pytest

from rtpengined.media import rtcp_feedback
from rtpengined.media.kernel import why_userspace
from rtpengined.model import Call, CallMedia, Endpoint, Interface, Monologue, Stream
from rtpengined.offer_answer import feedback

try:
    from rtpengined.media import _relay
except ImportError:  # (not built: the Python filter alone)
    _relay = None

# Both filters, the same cases: the worker's Python drains use one, its C loop the other.
FILTERS = [pytest.param(rtcp_feedback.strip_feedback, id="python"),
           pytest.param(getattr(_relay, "strip_feedback", None), id="C", marks=pytest.mark.skipif(
               _relay is None, reason="the C helper is not built"))]


def header(count: int, kind: int, words: int) -> bytes:
    return struct.pack("!BBH", 0x80 | count, kind, words)


SR = header(0, 200, 6) + struct.pack("!6I", 0xAAAA, 1, 2, 3, 4, 5)
RR = header(0, 201, 1) + struct.pack("!I", 0xAAAA)
SDES = header(1, 202, 3) + struct.pack("!I", 0xAAAA) + b"\x01\x04abcd\x00\x00"
APP = header(0, 204, 3) + struct.pack("!I", 0xAAAA) + b"NAMEdata"
PLI = header(1, 206, 2) + struct.pack("!II", 0xAAAA, 0xBBBB)
NACK = header(1, 205, 3) + struct.pack("!III", 0xAAAA, 0xBBBB, 0x50000)
REMB = header(15, 206, 5) + struct.pack("!II", 0xAAAA, 0) + b"REMB" + bytes(8)


@pytest.mark.parametrize("strip_feedback", FILTERS)
@pytest.mark.parametrize(("compound", "sent"), [
    (SR + SDES + REMB, SR + SDES),
    (RR + NACK + PLI + SDES, RR + SDES),
    (PLI + RR + NACK, RR),
    (SR + APP, SR + APP),  # no feedback: the compound itself
    (b"", b""),
])
def test_feedback_packets_are_cut_the_rest_kept_in_order(strip_feedback, compound, sent):
    assert strip_feedback(compound) == sent


@pytest.mark.parametrize("strip_feedback", FILTERS)
def test_a_compound_of_feedback_only_leaves_nothing(strip_feedback):
    assert strip_feedback(PLI) == b""
    assert strip_feedback(NACK + PLI + REMB) == b""


@pytest.mark.parametrize("strip_feedback", FILTERS)
def test_what_overruns_the_datagram_goes_on_unread(strip_feedback):
    # (10.5: the walk stops at a length word that runs past the end; the rest is kept)
    long_pli = header(1, 206, 9) + PLI[4:]
    assert strip_feedback(RR + long_pli) == RR + long_pli
    assert strip_feedback(long_pli) == long_pli
    long_rr = header(0, 201, 5) + RR[4:]
    assert strip_feedback(PLI + long_rr) == long_rr
    assert strip_feedback(PLI + RR + b"\x80\xc9") == RR + b"\x80\xc9"  # (no room for a header)


@pytest.mark.parametrize("strip_feedback", FILTERS)
@pytest.mark.parametrize("bad", [
    header(1, 206, 1) + b"\0\0\xaa\xaa",  # feedback shorter than its fixed 12 bytes
    struct.pack("!BBH", 0x41, 206, 2) + PLI[4:],  # not version 2
    header(0, 200, 1) + b"\0\0\xaa\xaa",  # a sender report without its sender info
    header(2, 201, 1) + RR[4:],  # two report blocks announced, none there
])
def test_a_packet_that_does_not_parse_spoils_the_compound(strip_feedback, bad):
    assert strip_feedback(RR + bad) is None
    assert strip_feedback(bad + PLI) is None


def test_the_untouched_compound_is_not_copied():
    compound = SR + SDES
    assert rtcp_feedback.strip_feedback(compound) is compound


# -- every compound relayed: what 10.5 refuses (found by experiment) ----------------------

RELAY, ERROR = False, True  # (``refused``: dropped, an error)
VERDICTS = [pytest.param(rtcp_feedback.refused, id="python"),
            pytest.param(getattr(_relay, "refused", None), id="C", marks=pytest.mark.skipif(
                _relay is None, reason="the C helper is not built"))]
RTP = struct.pack("!BBHII", 0x80, 0, 1, 160, 0xAAAA) + bytes(160)
ON_BOTH = [  # (a packet, what 10.5 does with it on a muxed port and on an RTCP port)
    (SR, RELAY, RELAY),
    (SR + APP, RELAY, RELAY),
    (APP, RELAY, RELAY),  # (no report first: read all the same)
    (header(0, 199, 1) + RR[4:], RELAY, RELAY),  # a type 10.5 knows nothing of: RTCP all the same
    (header(0, 200, 50) + SR[4:], RELAY, RELAY),  # overruns: unread
    (SR + b"\x80\xc9", RELAY, RELAY),
    (struct.pack("!BBH", 0x40, 200, 6) + SR[4:], ERROR, ERROR),  # not version 2
    (SR + struct.pack("!BBH", 0x40, 201, 1) + RR[4:], ERROR, ERROR),
    (struct.pack("!BBH", 0x00, 200, 2) + bytes(8), ERROR, ERROR),
    (header(0, 200, 1) + RR[4:], ERROR, ERROR),  # an SR of 8 bytes
    (header(2, 201, 1) + RR[4:], ERROR, ERROR),  # two report blocks announced, none there
    # RTP: on an RTCP port read as RTCP all the same: its sequence number is the length
    # word (1: 8 bytes), then its SSRC's top half (0: overruns the rest, unread)
    (RTP, RELAY, RELAY),
    (RTP[:8] + bytes(8), RELAY, ERROR),  # (then a packet of version 0)
    (header(0, 193, 2) + bytes(8), RELAY, RELAY),  # (193: RTP to 10.5, marker and type 65)
    (b"\x99" * 40, RELAY, RELAY),  # no RTP header (9 CSRCs announced) nor RTCP: junk
    # 4 bytes: too short to be taken for RTCP on a muxed port, an SR too short to read on
    # an RTCP port
    (header(0, 200, 0), RELAY, ERROR),
    (b"\x80\xc8\x00", RELAY, RELAY),
    (b"", RELAY, RELAY),
]


@pytest.mark.parametrize("refused", VERDICTS)
@pytest.mark.parametrize(("packet", "muxed", "on_rtcp_port"), ON_BOTH)
def test_what_10_5_relays_of_what_arrives(refused, packet, muxed, on_rtcp_port):
    assert refused(packet, False) is muxed
    assert refused(packet, True) is on_rtcp_port


@pytest.mark.parametrize("refused", VERDICTS)
def test_rtp_on_an_rtcp_port_is_walked_as_rtcp(refused):
    """(10.5, by experiment: ``test_diff_rtcp_validate``.) Its header's CSRCs or extension
    do not matter: the walk meets the SSRC's halves as a packet header."""
    with_csrc = struct.pack("!BBHII", 0x81, 0, 1, 160, 1)  # length word 1: 8 bytes, then 4
    assert not refused(with_csrc, True)  # (too few for another header's length: unread)
    assert refused(with_csrc + bytes(4), True)  # (8 bytes of version 0)
    extended = struct.pack("!BBHII", 0x90, 0, 1, 160, 1) + struct.pack("!HH", 0xBEDE, 1)
    assert refused(extended, True) and refused(extended + bytes(4), True)
    assert not refused(struct.pack("!BBHII", 0x80, 0, 50, 160, 1) + bytes(40), True)


# -- what 10.5 reads before it decrypts SRTCP, and RTP's payload type ---------------------

SRTCP_HEADERS = [pytest.param(rtcp_feedback.srtcp_header_ok, id="python"),
                 pytest.param(getattr(_relay, "srtcp_header_ok", None), id="C",
                              marks=pytest.mark.skipif(_relay is None,
                                                       reason="the C helper is not built"))]


@pytest.mark.parametrize("header_ok", SRTCP_HEADERS)
@pytest.mark.parametrize(("packet", "decrypted"), [
    (SR, True),
    (APP, True),
    (header(0, 207, 1) + RR[4:], True),  # XR
    (header(0, 202, 1) + RR[4:], True),  # SDES
    (header(0, 199, 1) + RR[4:], False),  # a type 10.5 does not take for SRTCP
    (header(0, 208, 1) + RR[4:], False),
    (header(0, 194, 1) + RR[4:], False),
    (struct.pack("!BBH", 0x40, 200, 6) + SR[4:], False),  # version 1
    (struct.pack("!BBH", 0xC0, 200, 6) + SR[4:], False),  # version 3
    (SR[:7], False),  # shorter than a header and an SSRC
    (RTP, False),
    (b"", False),
])
def test_srtcp_is_refused_by_its_clear_header(header_ok, packet, decrypted):
    assert header_ok(packet) is decrypted


UNKNOWN_TYPES = [pytest.param(rtcp_feedback.unknown_type, id="python"),
                 pytest.param(getattr(_relay, "unknown_type", None), id="C",
                              marks=pytest.mark.skipif(_relay is None,
                                                       reason="the C helper is not built"))]
PCMU_PCMA = rtcp_feedback.known_mask(["0", "8"])


def _rtp(first: int, second: int, size: int = 172) -> bytes:
    return (struct.pack("!BBHII", first, second, 1, 160, 0xAAAA) + bytes(size))[:size]


@pytest.mark.parametrize("unknown_type", UNKNOWN_TYPES)
@pytest.mark.parametrize(("packet", "error"), [
    (_rtp(0x80, 0), False),
    (_rtp(0x80, 8), False),
    (_rtp(0x80, 0x80 | 8), False),  # (the marker bit is not the type's)
    (_rtp(0x80, 9), True),
    (_rtp(0x80, 96), True),
    (_rtp(0x80, 0x80 | 64), True),  # (192: RTP but on an RTCP port)
    (_rtp(0x80, 0x80 | 72), True),  # (200: RTP on a port without rtcp-mux)
    (_rtp(0x80, 9, 12), True),
    (_rtp(0x80, 9, 11), False),  # no header: not RTP to 10.5, nothing counted
    (_rtp(0x40, 9), False),  # version 1
    (_rtp(0x8F, 9, 12 + 14 * 4), False),  # 15 CSRCs announced, 14 there
    (_rtp(0x8F, 9, 12 + 15 * 4), True),
    (_rtp(0x90, 9, 12 + 3), False),  # an extension header announced, not there
    (struct.pack("!BBHII", 0x90, 9, 1, 160, 1) + struct.pack("!HH", 0xBEDE, 1), False),
    (struct.pack("!BBHII", 0x90, 9, 1, 160, 1) + struct.pack("!HH", 0xBEDE, 1) + bytes(4),
     True),
    (b"\x80", False),
    (b"", False),
])
def test_rtp_of_a_payload_type_the_stream_does_not_know_is_an_error(unknown_type, packet,
                                                                     error):
    assert unknown_type(packet, PCMU_PCMA) is error
    assert unknown_type(packet, -1) is False  # (none checked)
    assert unknown_type(packet, rtcp_feedback.known_mask(range(128))) is False


def test_a_payload_type_mask_takes_the_format_list_as_sdp_has_it():
    assert rtcp_feedback.known_mask(["0", "8", "101"]) == 1 | 1 << 8 | 1 << 101
    assert rtcp_feedback.known_mask(["t38", "128", "-1", "127"]) == 1 << 127


@pytest.mark.parametrize(("packet", "rtcp_port", "muxed", "rtcp"), [
    (SR, True, False, True),
    (RTP, True, False, True),  # (everything, on an RTCP port)
    (SR, False, True, True),
    (_rtp(0x80, 0x80 | 65), False, True, False),  # (193: RTP on a muxed port)
    (SR[:7], False, True, False),
    (SR, False, False, False),  # (nothing, on an RTP port without rtcp-mux)
])
def test_what_10_5_takes_for_rtcp(packet, rtcp_port, muxed, rtcp):
    assert rtcp_feedback.taken_for_rtcp(packet, rtcp_port, muxed) is rtcp


@pytest.mark.parametrize(("packet", "rtcp_port", "ignored"), [
    (SR, False, True),  # (stray RTCP on an RTP port, muxed or not)
    (header(0, 194, 1) + bytes(4), False, True),
    (header(0, 223, 1) + bytes(4), False, True),
    (header(0, 193, 1) + bytes(4), False, False),  # (RTP with the marker, type 65)
    (header(0, 224, 1) + bytes(4), False, False),
    (SR[:7], False, False),  # (too short for an RTCP header and SSRC)
    (b"\x40\xc8" + bytes(6), False, True),  # (the version is not looked at)
    (RTP, False, False),
    (SR, True, False),  # (a separate RTCP port's stream learns from its RTCP)
])
def test_what_10_5_leaves_out_of_learning(packet, rtcp_port, ignored):
    assert rtcp_feedback.ignored_for_learning(packet, rtcp_port) is ignored


def test_the_walk_leaves_the_compound_alone():
    assert rtcp_feedback.readable(SR + PLI) and not rtcp_feedback.readable(
        SR + struct.pack("!BBH", 0x41, 206, 2) + PLI[4:])


# -- the control plane: which streams strip --------------------------------------------

OURS = Interface("default", "203.0.113.1", "203.0.113.1")


def _leg(tag: str, protocol: str, port: int, mux: bool = False) -> Monologue:
    rtp = Stream(interface=OURS, port=port, rtcp_mux=mux)
    rtcp = Stream(interface=OURS, port=port + 1, rtcp=True)
    media = CallMedia(index=1, type="audio", protocol=protocol, streams=[rtp, rtcp])
    return Monologue(tag=tag, created=0.0, medias=[media])


def _call(a_protocol: str, b_protocol: str, a_mux: bool = False) -> Call:
    a, b = _leg("A", a_protocol, 30000, a_mux), _leg("B", b_protocol, 30010)
    (a_rtp, a_rtcp), (b_rtp, b_rtcp) = a.medias[0].streams, b.medias[0].streams
    a_rtp.sink, b_rtp.sink, a_rtcp.sink, b_rtcp.sink = b_rtp, a_rtp, b_rtcp, a_rtcp
    return Call(call_id="c", created=0.0, last_signal=0.0, monologues=[a, b])


def _stripping(call: Call) -> list[tuple[str, int]]:
    return [(party.tag, stream.port) for party in call.monologues for stream in
            party.medias[0].streams if stream.strip_feedback]


@pytest.mark.parametrize(("a_protocol", "b_protocol", "stripping"), [
    ("RTP/AVPF", "RTP/AVP", [("A", 30001)]),
    ("RTP/SAVPF", "RTP/SAVP", [("A", 30001)]),
    ("RTP/SAVPF", "RTP/AVP", [("A", 30001)]),
    ("RTP/AVPF", "RTP/SAVP", [("A", 30001)]),
    ("UDP/TLS/RTP/SAVPF", "RTP/AVP", [("A", 30001)]),
    ("RTP/AVP", "RTP/AVPF", [("B", 30011)]),  # (the other way round)
    ("RTP/AVPF", "RTP/SAVPF", []),
    ("UDP/TLS/RTP/SAVPF", "RTP/AVPF", []),
    ("RTP/AVP", "RTP/SAVP", []),
])
def test_rtcp_streams_of_an_avpf_leg_to_one_that_is_not_strip(a_protocol, b_protocol,
                                                               stripping):
    call = _call(a_protocol, b_protocol)
    changed = []
    feedback.apply(call, changed.append)
    assert _stripping(call) == stripping
    assert [s.port for s in changed] == [port for _, port in stripping]


def test_a_muxed_rtp_stream_strips_and_a_reinvite_to_avpf_ends_it():
    call = _call("UDP/TLS/RTP/SAVPF", "RTP/AVP", a_mux=True)
    feedback.apply(call, lambda stream: None)
    assert _stripping(call) == [("A", 30000), ("A", 30001)]
    call.monologues[1].medias[0].protocol = "RTP/AVPF"
    changed = []
    feedback.apply(call, changed.append)
    assert _stripping(call) == [] and len(changed) == 2


def test_a_call_without_avpf_is_passed_over():
    call = _call("RTP/AVP", "RTP/AVP")
    feedback.apply(call, lambda stream: pytest.fail("nothing changes"))
    assert all(stream.rare is None for party in call.monologues
               for stream in party.medias[0].streams)


def test_a_stripping_stream_stays_with_the_relay():
    call = _call("RTP/AVPF", "RTP/AVP")
    feedback.apply(call, lambda stream: None)
    (_, a_rtcp), (_, b_rtcp) = (party.medias[0].streams for party in call.monologues)
    a_rtcp.endpoint, b_rtcp.endpoint = Endpoint("198.51.100.1", 5001), Endpoint(
        "198.51.100.2", 6001)
    a_rtcp.confirmed = b_rtcp.confirmed = True
    assert why_userspace(a_rtcp) == why_userspace(b_rtcp) == "RTCP feedback stripped"
    a_rtcp.strip_feedback = False
    assert why_userspace(a_rtcp) is None
