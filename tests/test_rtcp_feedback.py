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
    (RTP, RELAY, ERROR),  # RTP: on an RTCP port an error
    (header(0, 193, 2) + bytes(8), RELAY, ERROR),  # (193: RTP to 10.5, marker and type 65)
    (b"\x99" * 40, RELAY, RELAY),  # no RTP header (9 CSRCs announced) nor RTCP: junk
    (header(0, 200, 0), RELAY, RELAY),  # 4 bytes: too short to be taken for RTCP
    (b"\x80\xc8\x00", RELAY, RELAY),
    (b"", RELAY, RELAY),
]


@pytest.mark.parametrize("refused", VERDICTS)
@pytest.mark.parametrize(("packet", "muxed", "on_rtcp_port"), ON_BOTH)
def test_what_10_5_relays_of_what_arrives(refused, packet, muxed, on_rtcp_port):
    assert refused(packet, False) is muxed
    assert refused(packet, True) is on_rtcp_port


@pytest.mark.parametrize("refused", VERDICTS)
def test_an_rtp_header_is_read_with_its_csrcs_and_extension(refused):
    with_csrc = struct.pack("!BBHII", 0x81, 0, 1, 160, 1)  # one CSRC announced
    assert not refused(with_csrc, True)
    assert refused(with_csrc + bytes(4), True)
    extended = struct.pack("!BBHII", 0x90, 0, 1, 160, 1) + struct.pack("!HH", 0xBEDE, 1)
    assert not refused(extended, True)
    assert refused(extended + bytes(4), True)


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
