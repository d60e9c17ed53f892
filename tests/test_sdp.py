"""SDP parse/rewrite unit tests (sans-I/O), expected texts taken from rtpengine 10.5 captures."""

from __future__ import annotations

import logging

import pytest

from rtpengined import sdp
from rtpengined.sdp import Connection, IceCredentials, MediaPlan, SessionPlan

LOCAL = Connection("IP4", "127.0.0.1")


def crlf(*lines: str) -> str:
    return "".join(line + "\r\n" for line in lines)


def plain_plan(parsed: sdp.SessionDescription, *ports: int, **media_kw) -> SessionPlan:
    medias = []
    for index, port in enumerate(ports):
        kw = dict(address=LOCAL, rtcp_port=port + 1 if port else None)
        kw["direction"] = media_kw.pop("direction", None) or parsed.direction(index) or "sendrecv"
        kw.update(media_kw)
        medias.append(MediaPlan(port=port, **kw))
    return SessionPlan(medias, session_connection=LOCAL)


BASIC = crlf(
    "v=0", "o=alice 2890844526 2890844526 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
    "t=0 0", "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv")


def test_parse_basic_fields():
    parsed = sdp.parse(BASIC)
    assert parsed.connection == Connection("IP4", "192.0.2.10")
    media = parsed.medias[0]
    assert (media.type, media.port, media.protocol, media.formats) == (
        "audio", 2000, "RTP/AVP", ["0", "8", "101"])
    assert media.rtpmaps()["101"] == "telephone-event/8000"
    assert parsed.direction(0) == "sendrecv"


@pytest.mark.parametrize("body", ["garbage", "", "x", "v=0\r\nm=audio abc RTP/AVP 0\r\n",
                                  "o=- 1 1 IN IP4 1.2.3.4\r\n", "v=0\r\nc=IN IP4\r\n"])
def test_parse_rejects_non_sdp(body):
    with pytest.raises(sdp.SdpError) as info:
        sdp.parse(body)
    assert info.value.reason == "Failed to parse SDP"


_HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
_MEDIA = "m=audio 5000 RTP/AVP 0\r\n"


@pytest.mark.parametrize("body", [
    _HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 example.com") + _MEDIA,
    _HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 999.1.1.1") + _MEDIA,
    _HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP6 ::::zz") + _MEDIA,
    _HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP6 192.0.2.1") + _MEDIA,
    _HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 224.1.1.1/127/3") + _MEDIA,
    _HEAD + _MEDIA + "c=IN IP4 192.0.2.2\r\nc=IN IP4 192.0.2.3\r\n",
    _HEAD.replace("v=0", "v=1") + _MEDIA,
    (_HEAD + _MEDIA).replace("\r\n", "\r"),
    _HEAD + _MEDIA + "x=junk\r\n",
    _HEAD + _MEDIA + "s=in the media\r\n",
    _HEAD + _MEDIA + "o=- 1 1 IN IP4 192.0.2.1\r\n",
    _HEAD + "o=- 2 2 IN IP4 192.0.2.1\r\n" + _MEDIA,
    *(_HEAD + _MEDIA.replace("5000", port) for port in ("5000/0", "5000/11", "1/65535",
                                                        "5000/abc", "65536")),
])
def test_parse_rejects_what_rtpengine_refuses(body):
    """10.5 refuses these (``Failed to parse SDP``); we took them."""
    with pytest.raises(sdp.SdpError) as info:
        sdp.parse(body)
    assert info.value.reason == "Failed to parse SDP"


@pytest.mark.parametrize(("body", "line"), [
    ("garbage", "at offset 0: Missing '=' sign"),
    ("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", "at offset 0: SDP doesn't start with a session "
                                          "definition"),
    (_HEAD + _MEDIA + "x=junk\r\n", "at offset 87: Unknown SDP line type found"),
    (_HEAD + "m=audio x RTP/AVP 0\r\n", "at offset 63: Error parsing m= line"),
    # the first line refused, whichever check refuses it (10.5 reads line by line)
    (_HEAD + "m=audio x RTP/AVP 0\r\nx=junk\r\n", "at offset 63: Error parsing m= line"),
    (_HEAD + _MEDIA + "s=-\r\n", "at offset 87: s= line found within media section"),
    ("v=0\r\n\r\nx=junk\r\n", None),  # (an empty line ends the body: not refused)
])
def test_a_refused_line_is_logged_as_rtpengine_logs_it(body, line, caplog):
    logging.disable(logging.NOTSET)  # (the fuzz targets of a whole run switch logging off)
    with caplog.at_level(logging.WARNING, logger="rtpengined.sdp"):
        try:
            sdp.parse(body)
        except sdp.SdpError as exc:
            assert exc.reason == "Failed to parse SDP"
    assert [r.getMessage() for r in caplog.records] == (
        [f"Error parsing SDP {line}"] if line else [])


@pytest.mark.parametrize("body", [
    _HEAD + _MEDIA.replace("5000", "5000/2"),
    (_HEAD + _MEDIA).replace("\r\n", "\n"),
    _HEAD.replace("IN IP4 192.0.2.1", "IN IP6 2001:db8::1") + _MEDIA,
    _HEAD + _MEDIA + "a=x-odd:value\rwith a CR\r\n",  # (a CR inside a line is its own)
    _HEAD + _MEDIA + "v=0\r\no=- 3 3 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n" + _MEDIA,
])
def test_parse_takes_what_rtpengine_takes(body):
    assert sdp.parse(body).medias


def test_incomplete_without_connection():
    parsed = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "t=0 0",
                            "m=audio 2000 RTP/AVP 0"))
    with pytest.raises(sdp.SdpError) as info:
        sdp.check_complete(parsed)
    assert info.value.reason == "Incomplete SDP specification"


def _audio(protocol: str, formats: str) -> sdp.SessionDescription:
    return sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "c=IN IP4 1.2.3.4", "t=0 0",
                          f"m=audio 2000 {protocol} {formats}"))


@pytest.mark.parametrize("formats", ["0 128", "0 999", "abc", "0 -1", "0 18446744073709551616"])
@pytest.mark.parametrize("protocol", ["RTP/AVP", "UDP/TLS/RTP/SAVPF"])
def test_incomplete_with_a_format_that_is_no_payload_type(protocol, formats):
    with pytest.raises(sdp.SdpError) as info:
        sdp.check_complete(_audio(protocol, formats))
    assert info.value.reason == "Incomplete SDP specification"


@pytest.mark.parametrize(("formats", "read"), [
    ("0 8 127", ["0", "8", "127"]), ("+8 08 8x", ["8", "8", "8"]), ("0x8", ["0"]),
    ("4294967296 4294967423", ["0", "127"]), ("-4294967295", ["1"]),
])
def test_an_rtp_medias_formats_are_read_as_strtoul_reads_them(formats, read):
    parsed = _audio("RTP/AVP", formats)
    assert parsed.medias[0].formats == read
    sdp.check_complete(parsed)


def test_other_protocols_keep_their_formats():
    parsed = _audio("RTP/AVP/TCP", "+8 200 x")
    assert parsed.medias[0].formats == ["+8", "200", "x"]
    sdp.check_complete(parsed)


def test_a_dynamic_payload_type_without_rtpmap_is_written_without_encoding():
    parsed = _audio("RTP/AVP", "0 96 97")
    out = sdp.render(parsed, plain_plan(parsed, 31000))
    assert "a=rtpmap:0 PCMU/8000\r\na=rtpmap:96 /0\r\na=rtpmap:97 /0\r\n" in out


def test_basic_offer_rewrite_matches_capture():
    parsed = sdp.parse(BASIC)
    out = sdp.render(parsed, plain_plan(parsed, 31000))
    assert out == crlf(
        "v=0", "o=alice 2890844526 2890844526 IN IP4 192.0.2.10", "s=-", "c=IN IP4 127.0.0.1",
        "t=0 0", "m=audio 31000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv", "a=rtcp:31001")


def test_minimal_sdp_gets_static_rtpmap_and_direction():
    parsed = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10",
                            "t=0 0", "m=audio 2000 RTP/AVP 0"))
    out = sdp.render(parsed, plain_plan(parsed, 31592))
    assert out.endswith(crlf("m=audio 31592 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
                             "a=rtcp:31593"))


def test_session_direction_moves_and_managed_attributes_reordered():
    """Capture 'media-level c=, session-level sendonly, b=, a=rtcp:2005, custom attr'."""
    parsed = sdp.parse(crlf(
        "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "t=0 0", "a=sendonly",
        "m=audio 2000 RTP/AVP 0 8", "c=IN IP4 192.0.2.10", "b=AS:64", "a=ptime:20",
        "a=rtcp:2005", "a=foo:bar"))
    assert parsed.rtcp_attribute(0) == (2005, None)
    plan = plain_plan(parsed, 31630, ptime="20")
    plan.session_connection = None
    out = sdp.render(parsed, plan)
    assert out == crlf(
        "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "t=0 0", "m=audio 31630 RTP/AVP 0 8",
        "c=IN IP4 127.0.0.1", "b=AS:64", "a=foo:bar", "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000", "a=sendonly", "a=rtcp:31631", "a=ptime:20")


def test_lf_only_lines_keep_their_endings():
    parsed = sdp.parse("v=0\no=- 1 1 IN IP4 192.0.2.10\ns=call\nc=IN IP4 192.0.2.10\nt=0 0\n"
                       "m=audio 2000 RTP/AVP 0\n")
    out = sdp.render(parsed, plain_plan(parsed, 31108))
    assert out == ("v=0\no=- 1 1 IN IP4 192.0.2.10\ns=call\nc=IN IP4 127.0.0.1\nt=0 0\n"
                   "m=audio 31108 RTP/AVP 0\n" + crlf("a=rtpmap:0 PCMU/8000", "a=sendrecv",
                                                    "a=rtcp:31109"))


def test_ice_replaced_by_own_credentials():
    parsed = sdp.parse(crlf(
        "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0",
        "a=ice-ufrag:abcd", "a=ice-pwd:0123456789abcdef0123456789", "m=audio 2000 RTP/AVP 0",
        "a=candidate:1 1 UDP 2130706431 192.0.2.10 2000 typ host",
        "a=candidate:1 2 UDP 2130706430 192.0.2.10 2001 typ host"))
    assert parsed.has_ice(0)
    ice = IceCredentials("rfqGWUPI", "nD4QukFL7SsAhw3XHBJzM1uGs9", "eFrPEKT7Ik8YCucX")
    out = sdp.render(parsed, plain_plan(parsed, 31170, ice=ice, ice_rtcp_port=31171))
    assert out == crlf(
        "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 127.0.0.1", "t=0 0",
        "m=audio 31170 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv", "a=rtcp:31171",
        "a=ice-ufrag:rfqGWUPI", "a=ice-pwd:nD4QukFL7SsAhw3XHBJzM1uGs9",
        "a=candidate:eFrPEKT7Ik8YCucX 1 UDP 2130706431 127.0.0.1 31170 typ host",
        "a=candidate:eFrPEKT7Ik8YCucX 2 UDP 2130706430 127.0.0.1 31171 typ host")


def test_rejected_media_and_non_rtp_sections():
    parsed = sdp.parse(crlf(
        "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0",
        "m=image 2000 udptl t38", "a=T38FaxVersion:0", "m=video 0 RTP/AVP 97",
        "a=rtpmap:97 VP8/90000"))
    plan = SessionPlan([MediaPlan(31298, LOCAL, rtcp_port=31299), MediaPlan(0, LOCAL)],
                       session_connection=LOCAL)
    out = sdp.render(parsed, plan)
    assert out.endswith(crlf("m=image 31298 udptl t38", "a=T38FaxVersion:0", "a=sendrecv",
                             "m=video 0 RTP/AVP 97"))


def test_zero_address_kept_and_full_rtcp_and_mux():
    parsed = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 0.0.0.0",
                            "t=0 0", "m=audio 2000 RTP/AVP 0", "a=rtcp-mux"))
    assert parsed.media_connection(0).is_zero and parsed.rtcp_mux(0)
    plan = plain_plan(parsed, 31718, direction="sendonly", rtcp_full=True, rtcp_mux=True)
    plan.keep_zero_address = True
    out = sdp.render(parsed, plan)
    assert "c=IN IP4 0.0.0.0\r\n" in out
    assert out.endswith(crlf("a=sendonly", "a=rtcp:31719 IN IP4 127.0.0.1", "a=rtcp-mux"))


def test_origin_and_session_name_replacement_and_extra_attribute():
    parsed = sdp.parse(BASIC)
    plan = plain_plan(parsed, 31374)
    plan.origin_address = LOCAL
    plan.origin_version = "7"
    plan.session_name = "x"
    plan.extra_attributes = ["rtpengine:69e5eb30013b"]
    out = sdp.render(parsed, plan)
    assert out.startswith(crlf("v=0", "o=alice 2890844526 7 IN IP4 127.0.0.1", "s=x",
                               "c=IN IP4 127.0.0.1", "t=0 0", "a=rtpengine:69e5eb30013b",
                               "m=audio 31374 RTP/AVP 0 8 101"))


def test_codec_filters():
    media = sdp.parse(BASIC).medias[0]
    assert sdp.filter_codecs(media, ["PCMA"], []) == ["0", "101"]
    assert sdp.filter_codecs(media, ["all"], ["PCMU"]) == ["0"]
    assert sdp.filter_codecs(media, [], ["PCMU"]) == ["0", "8", "101"]
    assert sdp.filter_codecs(media, ["pcma/8000"], []) == ["0", "101"]


def test_rtcp_attribute_with_address():
    parsed = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=c", "c=IN IP4 192.0.2.10",
                            "t=0 0", "m=audio 2000 RTP/AVP 0", "a=rtcp:2005 IN IP4 192.0.2.77"))
    assert parsed.rtcp_attribute(0) == (2005, Connection("IP4", "192.0.2.77"))


@pytest.mark.parametrize("name", ["offer1.sdp", "offer2.sdp", "offer3.sdp", "answer1.sdp",
                                  "answer2.sdp"])
def test_fixture_bodies_round_trip_untouched_lines(name):
    import os

    from tests.conftest import FIXTURES
    with open(os.path.join(FIXTURES, "sdp", name), newline="") as handle:
        text = handle.read()
    parsed = sdp.parse(text)
    ports = [30000 + 2 * i if m.port else 0 for i, m in enumerate(parsed.medias)]
    out = sdp.render(parsed, plain_plan(parsed, *ports))
    for line in text.splitlines(keepends=True):
        if line[:2] in ("v=", "s=", "t=", "o="):
            assert line in out


TWO_SESSIONS = crlf(
    "v=0", "o=- 1 5 IN IP4 192.0.2.1", "s=one", "t=0 0", "c=IN IP4 192.0.2.1", "a=sendonly",
    "m=audio 2000 RTP/AVP 0",
    "v=0", "o=- 2 7 IN IP6 2001:db8::2", "s=two", "t=0 0", "c=IN IP6 2001:db8::2",
    "a=recvonly", "m=audio 2002 RTP/AVP 8")


def test_second_session_is_its_own_header():
    parsed = sdp.parse(TWO_SESSIONS)
    assert len(parsed.medias) == 2
    assert [line.kind for line in parsed.medias[0].lines] == ["m"]
    (header,) = parsed.more_sessions
    assert header.start == 1 and header.lines[0].kind == "v"
    assert parsed.media_connection(1) == Connection("IP6", "2001:db8::2")
    assert (parsed.direction(0), parsed.direction(1)) == ("sendonly", "recvonly")
    assert list(parsed.session_medias(None)) == [0] and list(parsed.session_medias(header)) == [1]


def test_second_session_rendered_before_its_media():
    parsed = sdp.parse(TWO_SESSIONS)
    six = Connection("IP6", "2001:db8:4321::1")
    plan = SessionPlan([MediaPlan(port=30000, address=LOCAL, rtcp_port=30001),
                        MediaPlan(port=30002, address=six, rtcp_port=30003)],
                       origin_version="5")
    text = sdp.render(parsed, plan)
    assert text.index("s=two") > text.index("m=audio 30000")
    assert text.index("s=two") < text.index("m=audio 30002")
    assert "o=- 2 5 IN IP6 2001:db8::2" in text  # the one version for every session


def test_null_address_takes_the_outgoing_family():
    parsed = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                            "m=audio 2000 RTP/AVP 0", "c=IN IP4 0.0.0.0"))
    plan = SessionPlan([MediaPlan(port=30000, address=Connection("IP6", "2001:db8::1"),
                                  keep_zero_address=True)])
    assert "c=IN IP6 ::\r\n" in sdp.render(parsed, plan)


def test_message_media_is_copied_and_gets_the_session_connection():
    parsed = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                            "c=IN IP4 192.0.2.1", "m=message 2002 TCP/MSRP *", "a=path:x"))
    plan = SessionPlan([MediaPlan(port=2002, address=LOCAL, passthrough=True,
                                  connection_text="IN IP4 192.0.2.1")],
                       session_connection=LOCAL)
    assert sdp.render(parsed, plan).endswith(
        "m=message 2002 TCP/MSRP *\r\nc=IN IP4 192.0.2.1\na=path:x\r\n")


def test_filtering_drops_dtmf_without_a_codec_of_its_rate():
    media = sdp.parse(crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                           "c=IN IP4 192.0.2.1", "m=audio 2000 RTP/AVP 8 96 97 98",
                           "a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/8000",
                           "a=rtpmap:98 telephone-event/48000")).medias[0]
    assert sdp.filter_codecs(media, ["PCMA"], []) == ["96", "98"]
    assert sdp.filter_codecs(media, ["G729"], []) == ["8", "96", "97", "98"]
