"""``--dtmf-log-dest`` without sockets: the option, the JSON line of a key, and which
streams the relay reads keys on (``dtmf_log``). Beside 10.5: ``test_diff_dtmf_log.py``."""

import json

import pytest

from rtpengined import dtmf_log
from rtpengined.config import ConfigError, ListenAddress, parse_args
from rtpengined.model import Call, CallMedia, Interface, Monologue, Stream

LOOPBACK = Interface("default", "127.0.0.1", "127.0.0.1")


def test_the_option_takes_a_host_and_a_port():
    assert parse_args([]).dtmf_log_dest is None
    config = parse_args(["--dtmf-log-dest=192.0.2.7:5555"])
    assert config.dtmf_log_dest == ListenAddress("192.0.2.7", 5555)
    assert config.warnings == []  # (no longer "an rtpengine option rtpengined ignores")
    assert parse_args(["--dtmf-log-dest", "[2001:db8::1]:9"]).dtmf_log_dest == \
        ListenAddress("2001:db8::1", 9)
    assert parse_args(["--dtmf-log-dest=collector.example:9"]).dtmf_log_dest.host == \
        "collector.example"  # (resolved when the daemon starts)


@pytest.mark.parametrize("value", ["5555", "192.0.2.7:x", "192.0.2.7:70000", "2001:db8::1:9"])
def test_an_address_to_send_to_is_refused_without_a_host_or_port(value):
    with pytest.raises(ConfigError, match="--dtmf-log-dest"):
        parse_args([f"--dtmf-log-dest={value}"])


def test_a_port_alone_is_refused_as_naming_no_host():
    with pytest.raises(ConfigError, match="names no host"):
        parse_args(["--dtmf-log-dest=5555"])


def test_a_line_has_10_5s_fields_in_its_order():
    line = dtmf_log.line("c1", "A", ["A", "B"], 1796488268, "127.0.0.1", 5, 10, 640, 8000)
    assert line == (b'{"callid":"c1","source_tag":"A","tags":["A","B"],"type":"DTMF",'
                    b'"timestamp":1796488268,"source_ip":"127.0.0.1","event":5,'
                    b'"duration":80,"volume":10}')


def test_odd_strings_still_make_json():
    line = dtmf_log.line('a"b\\c', "t\u00e4g", [], 1, "::1", 11, 0, 160, 8000)
    assert json.loads(line)["callid"] == 'a"b\\c'
    assert "t\u00e4g".encode() in line  # (as it came, not \u-escaped: 10.5 prints bytes)


@pytest.mark.parametrize("samples,rate,ms", [
    (640, 8000, 80), (800, 16000, 49), (4800, 48000, 96), (1, 8000, 0), (65535, 0, 8191)])
def test_durations_follow_10_5s_integer_arithmetic(samples, rate, ms):
    # (1000000 // 16000 is 62: 50 ms at 16 kHz come out as 49, and 48 kHz loses the same way)
    assert dtmf_log.duration_ms(samples, rate) == ms


def _party(tag: str, rtpmaps: dict, rtcp_mux: bool = False) -> Monologue:
    party = Monologue(tag, 0.0)
    media = CallMedia(0, "audio", "RTP/AVP", rtpmaps=rtpmaps)
    media.streams = [Stream(LOOPBACK, 30000)] + ([] if rtcp_mux else [Stream(LOOPBACK, 30001, rtcp=True)])
    party.medias = [media]
    return party


def test_streams_get_their_partys_event_types_and_changes_only_are_updated():
    a = _party("A", {"0": "PCMU/8000", "101": "telephone-event/8000", "96": "opus/48000/2",
                     "97": "TELEPHONE-EVENT/48000"})
    b = _party("B", {"0": "PCMU/8000"}, rtcp_mux=True)
    call = Call("c1", 0.0, 0.0)
    call.monologues = [a, b]
    updated = []
    dtmf_log.apply(call, updated.append)
    rtp, rtcp = a.medias[0].streams
    assert rtp.dtmf_events == ((97, 48000), (101, 8000))
    assert rtcp.dtmf_events == ()  # (RTCP carries no events)
    assert b.medias[0].streams[0].dtmf_events == ()
    assert updated == [rtp]
    dtmf_log.apply(call, updated.append)
    assert updated == [rtp]  # (nothing changed: the relay is not told again)
    a.medias[0].rtpmaps = {"0": "PCMU/8000"}  # a re-INVITE without telephone-event
    dtmf_log.apply(call, updated.append)
    assert rtp.dtmf_events == () and updated == [rtp, rtp]


def test_the_sender_of_a_stream_is_the_party_it_receives_from():
    a, b = _party("A", {}), _party("B", {})
    call = Call("c1", 0.0, 0.0)
    call.monologues = [a, b]
    assert dtmf_log.sender_of(call, b.medias[0].streams[1]) is b
    assert dtmf_log.sender_of(call, Stream(LOOPBACK, 1)) is None


def test_a_notification_is_a_cookie_and_bencode_in_10_5s_order():
    message = dtmf_log.notification(b"0123456789abcdef", "c1", "A", ["A", "B"], 7,
                                    "127.0.0.1", 4, 10, 640, 8000)
    assert message == (b"0123456789abcdef d6:notify6:onDTMF4:datad4:tagsl1:A1:Be"
                       b"6:callid2:c110:source_tag1:A4:type4:DTMF9:source_ip9:127.0.0.1"
                       b"9:timestampi7e5:eventi4e8:durationi80e6:volumei10eee")


def test_keys_are_read_when_any_option_asks_for_them():
    assert not dtmf_log.wanted(parse_args([]))
    assert dtmf_log.wanted(parse_args(["--dtmf-log-dest=127.0.0.1:9"]))
    assert dtmf_log.wanted(parse_args(["--dtmf-log-ng-tcp"]))
    assert dtmf_log.wanted(parse_args(["--log-facility-dtmf=daemon"]))


def test_log_facility_dtmf_takes_10_5s_facility_names():
    config = parse_args(["--log-facility-dtmf=local5"])
    assert (config.log_facility_dtmf, config.syslog_socket, config.warnings) == (
        21, "/dev/log", [])
    assert parse_args(["--log-facility-dtmf=daemon", "--syslog-socket=/run/log"]).syslog_socket \
        == "/run/log"
    with pytest.raises(ConfigError, match="'local8' is not a syslog facility"):
        parse_args(["--log-facility-dtmf=local8"])
