"""Differential: the log lines about ng commands and calls, line for line beside 10.5.

Both daemons get the same requests; what each writes to stderr for them is compared after
the parts that must differ are normalised (the time stamp, the client's port, the ports
each daemon picked, the elapsed time, seconds since something happened):

- per command ``Received command 'X' from ADDR`` and ``Replying to 'X' from ADDR (elapsed
  time ... sec)`` at info level, the request (and a bencode reply) dumped at debug level,
  every line about a call carrying ``[CALL-ID]: ``;
- a bad request's ``Protocol error in packet from ADDR: REASON [RAW BYTES]``, a message
  without a cookie, a retransmission answered from the cache;
- block/silence/forwarding on a party or the whole call, recording asked for (there is
  none: 10.5 without ``--recording-dir`` says so);
- the keys, flags and values 10.5 does not know (typos): a warning each, as 10.5 words it;
- an SDP that is no SDP: the offset of the line refused and why;
- ports running out, a direction naming no interface, codec options emptying a list;
  what other commands refuse (a media file, a DTMF duration, a publish without media, a
  tag a delete names);
- a new call's notice, the delete's lines (a branch, the whole call, a delay, a tag or
  call that is not there) and a call's ``Final packet stats`` block with the codec, SSRC
  and counters of the media that flowed;
- each HTTP request (``HTTP GET from ADDR: '/ping'``), one nothing answers, a CLI command
  over HTTP;
- the start and stop of a daemon; a call closed by ``--timeout``, with its final packet
  stats; SIGUSR2 and SIGUSR1 raising
  and lowering every subsystem's log level;
- ``--log-mark-prefix``/``--log-mark-suffix`` around what 10.5 deems private, and
  ``--log-format=parsable`` with ``--max-log-line-length`` and ``--split-logs``.
"""

from __future__ import annotations

import re
import signal
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from netns_helpers import (
    NetNamespace,
    NsDaemonPair,
    NsNgProcess,
    media_target,
    namespaces_available,
    rtp_packet,
)

pytestmark = pytest.mark.skipif(namespaces_available() is not None,
                                reason=namespaces_available() or "")

MARKS = ("--log-mark-prefix={", "--log-mark-suffix=}")
PARSABLE = ("-L", "6", "--log-format=parsable", "--max-log-line-length=60", "--split-logs")


def _sdp(address: str, port: int) -> str:
    return (f"v=0\no=- 1 1 IN IP4 {address}\ns=t\nt=0 0\nm=audio {port} RTP/AVP 0 8 101\n"
            f"c=IN IP4 {address}\na=rtpmap:101 telephone-event/8000\na=sendrecv\n")


@pytest.fixture(scope="module")
def namespace() -> Iterator[NetNamespace]:
    space = NetNamespace()
    try:
        yield space
    finally:
        space.delete()


def _pair(namespace: NetNamespace, extra: tuple[str, ...],
          our_extra: tuple[str, ...] | None = None) -> Iterator[NsDaemonPair]:
    pair = NsDaemonPair(namespace, extra, our_extra)
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def marked(namespace):
    yield from _pair(namespace, MARKS)


@pytest.fixture(scope="module")
def parsable(namespace):
    yield from _pair(namespace, PARSABLE)


REFERENCE_HTTP = 19191  # (inside the test's namespace: no other listener there)


@pytest.fixture(scope="module")
def http(namespace):
    yield from _pair(namespace, ("-L", "6", f"--listen-http=127.0.0.1:{REFERENCE_HTTP}"),
                     our_extra=("-L", "6"))


@pytest.fixture(scope="module")
def timing_out(namespace):
    yield from _pair(namespace, ("-L", "6", "--timeout=2"))


def _written(daemon: NsNgProcess, run) -> str:
    """What ``daemon`` logs while ``run(daemon)`` runs (its lines are written before it
    answers; a short wait for the last)."""
    daemon.log.seek(0, 2)
    start = daemon.log.tell()
    run(daemon)
    time.sleep(0.2)
    daemon.log.seek(start)
    return daemon.log.read().decode(errors="replace")


_PORTS = re.compile(r"(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+")


def _normalised(text: str, keep=lambda line: True) -> list[str]:
    lines = []
    for line in re.split(r"\n(?=\[\d+\.\d{6}\] )", text):
        line = re.sub(r"^\[\d+\.\d{6}\] ", "", line.rstrip("\n"))
        if not line or "[internals]" in line or "[codec]" in line or not keep(line):
            continue
        if line.startswith("DEBUG: ") and " [control] Dump for " not in line and \
                " [control] Response dump for " not in line and " log level to " not in line:
            continue  # (what else each says at debug level is its own)
        line = _PORTS.sub(r"\1:P", line)
        line = re.sub(r"[\d.]+ sec\)", "T sec)", line)  # (the elapsed time)
        line = re.sub(r"created \d+:\d\d ago", "created M:SS ago", line)
        line = re.sub(r"\d+ ts$", "N ts", line)
        line = re.sub(r"(m=\w+ |a=rtcp:)\d+", r"\1P", line)
        line = re.sub(r"a=rtpengine:\w+", "a=rtpengine:ID", line)  # (each daemon's own)
        lines.append(line)
    return lines


def _same(pair: NsDaemonPair, run, keep=lambda line: True) -> list[str]:
    want = _normalised(_written(pair.reference, run), keep)
    have = _normalised(_written(pair.ours, run), keep)
    assert have == want
    return have


def test_a_ping_and_bad_requests(marked):
    def run(daemon: NsNgProcess) -> None:
        assert daemon.raw(b"d7:command4:pinge") == b"d6:result4:ponge"
        daemon.raw(b"d7:command4:ping5:flagsl1:a1:be5:emptyle2:ddde1:ni-42e1:xd1:yl1:zeeee")
        daemon.raw(b"d7:command6:answeree")
        daemon.raw(b'd4:xxxxi1ee')
        daemon.raw(b"d7:command6:foobare")
        daemon.raw(b"garbage")
        daemon.raw(b'{"command":"ping","flags":["a"]}')
        daemon.sock.sendto(b"nocookie", ("127.0.0.1", daemon.ng_port))
        time.sleep(0.1)  # (no reply to wait for; 10.5 may take the next one first)
        sdp = _sdp("198.51.100.1", 2000)
        daemon.request({"command": "answer", "call-id": "nowhere", "from-tag": "a",
                        "to-tag": "b", "sdp": sdp})
        daemon.request({"command": "query", "call-id": "nowhere"})
        daemon.sock.sendto(b"same1 d7:command4:pinge", ("127.0.0.1", daemon.ng_port))
        daemon.sock.recv(1000)
        daemon.sock.sendto(b"same1 d7:command4:pinge", ("127.0.0.1", daemon.ng_port))
        daemon.sock.recv(1000)

    lines = _same(marked, run)
    assert "INFO: [control] Received command 'ping' from 127.0.0.1:P" in lines
    # (the whole dump between the marks)
    assert ('DEBUG: [control] Dump for \'ping\' from 127.0.0.1:P: {{ "command": "ping", "flags": '
            '[ "a", "b" ], "empty": [  ], "dd": {  }, "n": -42, "x": { "y": [ "z" ] } }}') in lines
    assert ("WARNING: [control] Protocol error in packet from 127.0.0.1:P: Unrecognized "
            "command [{d7:command6:foobare}]") in lines
    assert "WARNING: [control] Received invalid data on NG port (no cookie) from " \
        "127.0.0.1:P: {nocookie}" in lines
    assert "INFO: [control] Detected command from 127.0.0.1:P as a duplicate" in lines
    assert any(line.startswith("WARNING: [{nowhere}]: [control] Protocol error in packet from "
                               "127.0.0.1:P: Unknown call-id [{d7:command6:answer") for line in lines)


def _call(daemon: NsNgProcess, call_id: str) -> None:
    daemon.request({"command": "offer", "call-id": call_id, "from-tag": "ft",
                    "sdp": _sdp("198.51.100.1", 2000)})
    daemon.request({"command": "answer", "call-id": call_id, "from-tag": "ft", "to-tag": "tt",
                    "sdp": _sdp("198.51.100.2", 3000)})


def test_deletes_of_calls_branches_and_what_is_not_there(marked):
    def run(daemon: NsNgProcess) -> None:
        _call(daemon, "del-all")
        daemon.request({"command": "delete", "call-id": "del-all"})
        _call(daemon, "del-later")
        daemon.request({"command": "delete", "call-id": "del-later", "from-tag": "ft",
                        "delete-delay": 30})
        _call(daemon, "del-all-later")
        daemon.request({"command": "delete", "call-id": "del-all-later", "delete-delay": 30})
        _call(daemon, "del-no-tag")
        daemon.request({"command": "delete", "call-id": "del-no-tag", "from-tag": "xx"})
        _call(daemon, "del-to-tag")
        daemon.request({"command": "delete", "call-id": "del-to-tag", "from-tag": "tt",
                        "to-tag": "ft"})
        daemon.request({"command": "offer", "call-id": "del-offered", "from-tag": "ft",
                        "sdp": _sdp("198.51.100.1", 2000)})
        daemon.request({"command": "delete", "call-id": "del-offered", "from-tag": "ft"})
        for branch in ("v1", "v2"):
            daemon.request({"command": "offer", "call-id": "del-fork", "from-tag": "ft",
                            "via-branch": branch, "sdp": _sdp("198.51.100.1", 2000)})
        daemon.request({"command": "answer", "call-id": "del-fork", "from-tag": "ft",
                        "to-tag": "t1", "via-branch": "v1", "sdp": _sdp("198.51.100.2", 3000)})
        daemon.request({"command": "delete", "call-id": "del-fork", "from-tag": "ft",
                        "to-tag": "t1", "via-branch": "v1"})
        daemon.request({"command": "delete", "call-id": "del-nowhere"})
        for call_id in ("del-later", "del-all-later", "del-no-tag", "del-fork"):
            daemon.request({"command": "delete", "call-id": call_id, "delete-delay": 0})

    # (a delete's reply dump holds times and counters in each daemon's own order)
    lines = _same(marked, run, keep=lambda line: "Response dump for 'delete'" not in line)
    for expected in (
            "NOTICE: [{del-all}]: [core] Creating new call",
            "INFO: [{del-all}]: [core] Deleting entire call",
            "INFO: [{del-all}]: [core] Final packet stats:",
            "INFO: [{del-all}]: [core] --- Tag '{ft}', created M:SS ago for branch '{}'",
            "INFO: [{del-all}]: [core] ------ Media #1 (audio over RTP/AVP) using unknown codec",
            "INFO: [{del-all}]: [core] --------- Port     203.0.113.1:P <> {   198.51.100.2:P }, "
            "SSRC {0}, 0 p, 0 b, 0 e, N ts",
            "INFO: [{del-offered}]: [core] --------- Port     203.0.113.1:P <> {               :0"
            "    }, SSRC {0}, 0 p, 0 b, 0 e, N ts",
            "INFO: [{del-later}]: [core] Scheduling deletion of call branch '{ft}' "
            "(via-branch '{}') in 30 seconds",
            "INFO: [{del-all-later}]: [core] Scheduling deletion of entire call in 30 seconds",
            "INFO: [{del-no-tag}]: [core] Tag 'xx' in delete message not found, ignoring",
            "INFO: [{del-to-tag}]: [core] Call branch '{ft}' (via-branch '{}') deleted, no more "
            "branches remaining",
            "INFO: [{del-fork}]: [core] Call branch '{t1}' (via-branch '{v1}') deleted",
            "INFO: [{del-nowhere}]: [core] Call-ID to delete not found"):
        assert expected in lines


def test_block_silence_forwarding_and_recording(marked):
    """Each state command on one party (by from-tag or label) or the whole call (no tag,
    a to-tag alone, ``all``), and recording asked for where there is none."""
    def run(daemon: NsNgProcess) -> None:
        _call(daemon, "states")
        for command in ("block media", "unblock media", "block DTMF", "unblock DTMF",
                        "silence media", "unsilence media", "start forwarding",
                        "stop forwarding", "start recording", "stop recording"):
            for selection in ({"from-tag": "ft"}, {}, {"to-tag": "tt"}, {"label": "none"},
                              {"flags": ["all"]}):
                daemon.request({"command": command, "call-id": "states", **selection})
        for asked in ({"record call": "yes"}, {"record-call": "on"}, {"record call": "no"},
                      {"flags": ["record call"]}):
            daemon.request({"command": "offer", "call-id": "states", "from-tag": "ft",
                            "sdp": _sdp("198.51.100.1", 2000), **asked})
        daemon.request({"command": "delete", "call-id": "states"})

    lines = _same(marked, run, keep=lambda line: "Response dump for 'delete'" not in line)
    for expected in ("INFO: [{states}]: [core] Blocking directional media (tag '{ft}')",
                     "INFO: [{states}]: [core] Unsilencing media (entire call)",
                     "INFO: [{states}]: [core] Stop forwarding for single party (tag '{ft}')",
                     "ERR: [{states}]: [core] Call recording requested, but no spool "
                     "directory configured"):
        assert expected in lines


_FLAGS = ["strict source", "strict_source", "STRICT-SOURCE", "asymmetric-codecs",
          "reorder-codecs", "SDES-no-AES_CM_128_HMAC_SHA1_32", "SDES-pad", "SDES-bogus",
          "SDES-unencrypted_srtp", "OSRTP-offer", "OSRTP-bogus", "endpoint-learning-heuristic",
          "endpoint-learning-bogus", "T38-decode", "T.38-no-V.17", "T38-bogus",
          "transcode-G722", "codec-mask-PCMA", "codec-set-PCMA/8000", "codec-except-PCMU",
          "from-tags-x", "loop-protect", "ICE reject", "ice-lite", 7]
# Keys 10.5 knows with values it does not (each its own wording; a value that is no string
# is an empty word where one word is read, skipped where a list is).
_VALUES = {"ICE": "forcee", "replace": ["origin", "session name", "bogus word", 3],
           "rtcp-mux": ["offer", "x"], "codec": {"strip": ["PCMA"], "bogus": ["x"],
                                                 "transcode": ["G722"], "set": []},
           "DTMF-security": "beep", "T.38": ["decode", "no V.17", "nope"], "drop-traffic": 5,
           "media-echo": "up", "passthrough": "maybe", "DTLS-reverse": "off",
           "endpoint-learning": ["sometimes", "delayed"], "OSRTP": ["x"],
           "SDES": ["no-AES_CM_128_HMAC_SHA1_32", "bad"], "DTLS": "what", "ICE-lite": "half",
           "supports": ["load limit", "magic"]}  # (once: the answer's is within 15 s)


def test_words_10_5_does_not_know(marked):
    """Keys and flags 10.5 does not know, in the commands that read them: each a warning
    (its own for a prefix's vocabulary; transcoding and T.38 flags only where offering),
    obsolete flags an info line, ``record call`` with a value it does not take."""
    def run(daemon: NsNgProcess) -> None:
        offer = {"command": "offer", "call-id": "words", "from-tag": "ft",
                 "sdp": _sdp("198.51.100.1", 2000), "ICE_lite": "yes", "Call-ID": "x",
                 "transport protocol": "RTP/AVP", "record call": "maybe", "flags": _FLAGS,
                 **_VALUES}
        daemon.request(offer)
        daemon.request({**offer, "command": "answer", "to-tag": "tt",
                        "sdp": _sdp("198.51.100.2", 3000)})
        daemon.raw(b'{"command":"block media","call-id":"words","from_tag":"ft",'
                   b'"flags":["all","bogus"]}')
        for command in ("query", "delete"):  # (these read their own keys: no warnings)
            daemon.request({"command": command, "call-id": "words", "bogus": 1,
                            "flags": ["bogus"]})

    lines = _same(marked, run, keep=lambda line: " [core] " in line and (
        "encountered" in line or "obsolete" in line or "invalid flag" in line
        or "not supported" in line))
    assert "WARNING: [{words}]: [core] Unknown 'ICE' flag encountered: 'forcee'" in lines
    assert "WARNING: [{words}]: [core] Unknown 'replace' flag encountered: 'bogus-word'" in lines
    assert "WARNING: [{words}]: [core] Unknown 'codec' operation encountered: 'bogus'" in lines
    assert "WARNING: [{words}]: [core] Unknown DTMF block mode encountered: 'beep'" in lines
    assert lines.count("INFO: [{words}]: [core] Optional feature 'magic' not supported") == 1
    assert "WARNING: [{words}]: [core] Unknown dictionary key encountered: 'ICE_lite'" in lines
    assert "WARNING: [{words}]: [core] Unknown flag encountered: 'strict_source'" in lines
    assert "WARNING: [{words}]: [core] Unknown 'SDES' flag encountered: 'bogus'" in lines
    assert "WARNING: [{words}]: [core] Unknown flag encountered: 'transcode-G722'" in lines
    assert "INFO: [{words}]: [core] Ignoring obsolete flag `reorder-codecs`" in lines
    assert 'INFO: [{words}]: [core] "record-call" flag maybe is invalid flag.' in lines
    assert not any("'bogus'" in line and "delete" in line for line in lines)


_GOOD = ("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=t", "c=IN IP4 198.51.100.1", "t=0 0",
         "m=audio 2000 RTP/AVP 0")
_BAD_SDPS = {
    "no =": ("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s t"),
    "first not v=": ("o=- 1 1 IN IP4 198.51.100.1", "v=0"),
    "v=1": ("v=1",),
    "unknown type": (*_GOOD[:3], "x=what"),
    "bad m=": (*_GOOD[:5], "m=audio 70000 RTP/AVP 0"),
    "m= without formats": (*_GOOD[:5], "m=audio 2000"),
    "bad c=": (*_GOOD[:3], "c=IN IP4 example.com"),
    "second c=": (*_GOOD, "c=IN IP4 198.51.100.1", "c=IN IP4 198.51.100.2"),
    "o= in a media": (*_GOOD, "o=- 1 1 IN IP4 198.51.100.1"),
    "bad o=": ("v=0", "o=- 1 1 IN IP4"),
    "s= in a media": (*_GOOD, "s=again"),
    "a bad line after a bad m=": (*_GOOD[:5], "m=audio x RTP/AVP 0", "zz"),
    "a bad c= after an unknown type": (*_GOOD[:3], "x=what", "c=IN IP4 nowhere"),
}


def test_sdp_that_is_no_sdp(marked):
    """Each SDP 10.5 cannot parse: which line (its offset) and why, as 10.5 words it."""
    def run(daemon: NsNgProcess) -> None:
        for name, lines in _BAD_SDPS.items():
            reply = daemon.request({"command": "offer", "call-id": f"bad {name}",
                                    "from-tag": "ft", "sdp": "\r\n".join(lines) + "\r\n"})
            assert reply == {"result": "error", "error-reason": "Failed to parse SDP"}

    lines = _same(marked, run, keep=lambda line: "Error parsing SDP" in line)
    assert len(lines) == len(_BAD_SDPS)
    assert "WARNING: [{bad bad m=}]: [core] Error parsing SDP at offset 69: Error parsing m= " \
        "line" in lines


def test_an_sdp_that_looped_back(marked):
    def run(daemon: NsNgProcess) -> None:
        ours = daemon.request({"command": "offer", "call-id": "looped", "from-tag": "ft",
                               "sdp": _sdp("198.51.100.1", 2000), "flags": ["loop-protect"]})
        for command, tags in (("offer", {}), ("answer", {"to-tag": "tt"})):
            daemon.request({"command": command, "call-id": "looped", "from-tag": "ft", **tags,
                            "sdp": ours["sdp"], "flags": ["loop-protect"]})
        daemon.request({"command": "delete", "call-id": "looped"})

    lines = _same(marked, run, keep=lambda line: "Response dump for 'delete'" not in line)
    assert lines.count("INFO: [{looped}]: [core] Ignoring message as SDP has already been "
                       "processed by us") == 2


def test_final_packet_stats_of_a_call_with_media(marked, namespace):
    a = namespace.udp_socket("198.51.100.1")
    b = namespace.udp_socket("198.51.100.2")

    def run(daemon: NsNgProcess) -> None:
        offer = daemon.request({"command": "offer", "call-id": "stats-media", "from-tag": "ft",
                                "sdp": _sdp("198.51.100.1", a.getsockname()[1])})
        answer = daemon.request({"command": "answer", "call-id": "stats-media",
                                 "from-tag": "ft", "to-tag": "tt",
                                 "sdp": _sdp("198.51.100.2", b.getsockname()[1])})
        to_b, to_a = media_target(offer), media_target(answer)
        for sequence in range(5):
            a.sendto(rtp_packet(0, sequence, sequence * 160, 0x1234ABCD), to_a)
            b.sendto(rtp_packet(8, sequence, sequence * 160, 0x5678, b"\xd5" * 160), to_b)
            time.sleep(0.02)
        time.sleep(0.3)
        daemon.request({"command": "delete", "call-id": "stats-media"})

    try:
        lines = _same(marked, run, keep=lambda line: "Response dump for 'delete'" not in line)
    finally:
        a.close()
        b.close()
    assert "INFO: [{stats-media}]: [core] ------ Media #1 (audio over RTP/AVP) using PCMU/8000" \
        in lines
    assert any(re.fullmatch(r"INFO: \[\{stats-media\}\]: \[core\] --------- Port     "
                            r"203\.0\.113\.1:P <> \{   198\.51\.100\.1:P\}, SSRC \{1234abcd\}, "
                            r"5 p, 860 b, 0 e, N ts", line) for line in lines), lines


def test_final_packet_stats_with_the_mos_of_rtcp_reports(namespace):
    """A party that reported on RTCP: its SSRC's average, lowest and highest MOS and loss
    close its part of the final packet stats. (Listening quality, and a report whose
    round-trip time is out of reach: the MOS owes nothing to the wall clock.)"""
    pair = NsDaemonPair(namespace, ("--mos=LQ",))
    sockets = {}
    for name, address in (("a", "198.51.100.1"), ("b", "198.51.100.2")):
        rtp = namespace.udp_socket(address)
        sockets[name] = rtp, namespace.udp_socket(address, rtp.getsockname()[1] + 1)
    (a, a_rtcp), (b, b_rtcp) = sockets["a"], sockets["b"]

    def run(daemon: NsNgProcess) -> None:
        offer = daemon.request({"command": "offer", "call-id": "mos", "from-tag": "ft",
                                "sdp": _sdp("198.51.100.1", a.getsockname()[1])})
        answer = daemon.request({"command": "answer", "call-id": "mos", "from-tag": "ft",
                                 "to-tag": "tt", "sdp": _sdp("198.51.100.2", b.getsockname()[1])})
        for sequence in range(3):
            a.sendto(rtp_packet(0, sequence, sequence * 160, 0xAAAA), media_target(answer))
            b.sendto(rtp_packet(0, sequence, sequence * 160, 0xBBBB), media_target(offer))
            time.sleep(0.02)
        sender_report = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0xAAAA, 100, 0x12340000, 480,
                                    3, 480)
        a_rtcp.sendto(sender_report, media_target(answer, rtcp=True))
        time.sleep(0.05)
        # (B about A: 5 % lost, 7 in all, jitter 80; the SR's middle, a delay since it of
        # 18 hours: no round-trip time)
        report = struct.pack("!BBHIIIIIII", 0x81, 201, 7, 0xBBBB, 0xAAAA, (13 << 24) | 7, 2,
                             80, (100 << 16) | 0x1234, 0xFFFF0000)
        b_rtcp.sendto(report, media_target(offer, rtcp=True))
        time.sleep(0.2)
        daemon.request({"command": "delete", "call-id": "mos"})

    try:
        lines = _same(pair, run, keep=lambda line: " [core] " in line and "---" in line)
    finally:
        pair.stop()
        for rtp, rtcp in sockets.values():
            rtp.close()
            rtcp.close()
    assert "INFO: [mos]: [core] --- SSRC bbbb" in lines, lines
    assert any(line.startswith("INFO: [mos]: [core] ------ Average MOS ") and
               line.endswith(" (at 0:00) lost:7") for line in lines), lines


def test_what_other_commands_refuse(marked):
    """Requests that name what is not there or ask what cannot be: each daemon's lines
    about them (the errors, 10.5's own lines before some: a media file that cannot be
    opened, a DTMF duration out of range, a publish with nothing to publish)."""
    def run(daemon: NsNgProcess) -> None:
        daemon.request({"command": "offer", "call-id": "refused", "from-tag": "ft",
                        "sdp": _sdp("198.51.100.1", 2000)})
        daemon.request({"command": "answer", "call-id": "refused", "from-tag": "ft",
                        "to-tag": "tt", "sdp": _sdp("198.51.100.2", 3000)})
        party = {"call-id": "refused", "from-tag": "ft"}
        for message in (
                {"command": "block media", "call-id": "refused", "from-tag": "zz"},
                {"command": "silence media", "call-id": "refused", "from-tag": "zz"},
                {"command": "play media", "call-id": "refused", "from-tag": "zz",
                 "file": "/nonexistent"},
                {"command": "play media", **party, "file": "/nonexistent"},
                {"command": "play media", **party, "file": "/"},
                {"command": "play DTMF", **party, "code": "Z"},
                {"command": "play DTMF", **party, "code": "1", "duration": 5},
                {"command": "play DTMF", **party, "code": "1", "duration": 0, "pause": 9000},
                {"command": "stop media", **party},
                {"command": "subscribe request", "call-id": "refused", "from-tag": "zz"},
                {"command": "subscribe answer", "call-id": "refused", "to-tag": "zz",
                 "sdp": _sdp("198.51.100.3", 4000)},
                {"command": "subscribe answer", "call-id": "refused"},
                {"command": "subscribe request", "call-id": "refused", "to-tag": "sub",
                 "from-tags": ["nope", "ft", "zz"]},
                {"command": "start recording", "call-id": "nowhere"},
                {"command": "delete", **party, "to-tag": "zz"},
                {"command": "publish", "call-id": "empty", "from-tag": "pt", "sdp": "v=0\r\n"},
                {"command": "offer", "call-id": "callback", "from-tag": "ft",
                 "sdp": _sdp("198.51.100.1", 2000), "xmlrpc-callback": "not-an-ip"},
                {"command": "delete", "call-id": "callback"},
                {"command": "offer", "call-id": "fragment", "from-tag": "ft",
                 "flags": ["fragment"], "sdp": "a=ice-ufrag:x\r\nm=audio x RTP/AVP 0\r\n"},
                {"command": "delete", "call-id": "refused"},
                {"command": "delete", "call-id": "empty"}):
            daemon.request(message)

    lines = _same(marked, run, keep=lambda line: "Received command" not in line
                  and "Replying to" not in line and " dump for " not in line.lower())
    assert "ERR: [{refused}]: [core] Failed to open media file for playback: No such file or " \
        "directory" in lines
    assert "WARNING: [{refused}]: [core] Invalid duration (100 ms) specified, using 100 ms " \
        "instead" in lines
    assert "INFO: [{refused}]: [core] Tag 'zz' in delete message not found, ignoring" in lines
    assert "ERR: [{empty}]: [core] Failed to create SDP: Need at least one media" in lines
    assert "WARNING: [{refused}]: [core] Given from-tag {zz} not found" in lines
    assert "WARNING: [{fragment}]: [core] Error parsing SDP at offset 15: Error parsing m= " \
        "line" in lines  # (the fragment's own offset)
    assert lines.index("WARNING: [{callback}]: [core] Failed to parse 'xmlrpc-callback' address "
                       "'not-an-ip'") < lines.index("NOTICE: [{callback}]: [core] Creating new call")


_EMPTYING = {  # codec options -> how many of an offer's two lists they empty (10.5)
    "strip all": ({"strip": ["all"]}, 2), "strip full": ({"strip": ["full"]}, 2),
    "strip each": ({"strip": ["PCMU", "PCMA", "telephone-event"]}, 2),
    "strip the codecs": ({"strip": ["PCMU", "PCMA"]}, 0),
    "strip all but one": ({"strip": ["all"], "except": ["PCMA"]}, 0),
    "strip all, offer one": ({"strip": ["all"], "offer": ["PCMU"]}, 0),
    "mask all": ({"mask": ["all"]}, 1), "mask all, transcode": ({"mask": ["all"],
                                                                  "transcode": ["G722"]}, 0),
    "strip all, transcode": ({"strip": ["all"], "transcode": ["G722"]}, 1),
    "mask all, strip each": ({"mask": ["all"], "strip": ["PCMU", "PCMA", "telephone-event"]}, 2),
}


def test_codec_options_that_empty_the_list(marked):
    """Codec options that leave an offer's list empty: 10.5 keeps the codecs offered and
    says so for each of the two lists it makes (the one sent on, the offerer's own)."""
    def run(daemon: NsNgProcess) -> None:
        for name, (codec, _) in _EMPTYING.items():
            daemon.request({"command": "offer", "call-id": f"emptied {name}", "from-tag": "ft",
                            "sdp": _sdp("198.51.100.1", 2000), "codec": codec})
        daemon.request({"command": "offer", "call-id": "emptied flag", "from-tag": "ft",
                        "sdp": _sdp("198.51.100.1", 2000), "flags": ["codec-strip-all"]})

    lines = _same(marked, run, keep=lambda line: "Usage error" in line)
    for name, (_, count) in _EMPTYING.items():
        assert sum(f"[{{emptied {name}}}]" in line for line in lines) == count, name


def test_out_of_ports(namespace):
    """A pool too small for a second call: the interface, the logical interface, the
    allocation and the call that ends, each said as 10.5 says it at error level."""
    pair = NsDaemonPair(namespace, ("-m", "40000", "-M", "40003"), ("-m", "40010", "-M", "40013"))

    def run(daemon: NsNgProcess) -> None:
        for call in ("fits", "too many"):
            daemon.request({"command": "offer", "call-id": call, "from-tag": "ft",
                            "sdp": _sdp("198.51.100.1", 2000)})

    try:
        lines = _same(pair, run, keep=lambda line: line.startswith(("ERR", "WARNING")))
        # (the call ended counts as a managed session, of no duration, in 10.5 too)
        managed = [daemon.request({"command": "statistics"})["statistics"]["totalstatistics"]
                   ["managedsessions"] for daemon in pair.daemons]
    finally:
        pair.stop()
    assert managed == [1, 1]
    assert lines[:4] == [
        "ERR: [too many]: [core] Failed to get 2 consecutive ports on interface 203.0.113.1 "
        "for media relay (last error: Success)",
        "ERR: [too many]: [core] Failed to get 2 consecutive ports on all locals of logical "
        "'default'",
        "ERR: [too many]: [core] Error allocating media ports",
        "ERR: [too many]: [core] Destroying call"]


def test_a_direction_naming_no_interface(marked):
    def run(daemon: NsNgProcess) -> None:
        two = _sdp("198.51.100.1", 2000) + "m=video 2002 RTP/AVP 96\nc=IN IP4 198.51.100.1\n"
        for command, tags in (("offer", {}), ("answer", {"to-tag": "tt"})):
            daemon.request({"command": command, "call-id": "directions", "from-tag": "ft",
                            **tags, "sdp": two, "direction": ["bogus", "nope"]})
        daemon.request({"command": "delete", "call-id": "directions"})

    lines = _same(marked, run, keep=lambda line: "Interface" in line)
    # (per media, each side: the receiving side's name first)
    assert lines == [f"WARNING: [{{directions}}]: [core] Interface '{name}' not found, using "
                     "default" for name in ("nope", "bogus") * 4]


def test_startup_and_shutdown(namespace):
    """The lines a daemon starts and stops with, as 10.5 words them (its version: its own)."""
    pair = NsDaemonPair(namespace, ())
    lines = []
    try:
        for daemon in pair.daemons:
            daemon.proc.terminate()
        for daemon in pair.daemons:
            daemon.proc.wait(timeout=10)
            daemon.log.seek(0)
            text = daemon.log.read().decode(errors="replace")
            lines.append([re.sub(r"version \S+|Version \S+", "VERSION", line)
                          for line in _normalised(text)
                          if "Startup complete" in line or "shutting down" in line])
    finally:
        pair.stop()
    assert lines[1] == lines[0] == ["INFO: [core] Startup complete, VERSION",
                                    "INFO: [core] VERSION shutting down"]


def test_parsable_format_and_broken_lines(parsable):
    def run(daemon: NsNgProcess) -> None:
        _call(daemon, "parsable-call")
        daemon.request({"command": "answer", "call-id": "parsable-none", "from-tag": "a",
                        "to-tag": "b", "sdp": _sdp("198.51.100.2", 3000)})
        daemon.request({"command": "delete", "call-id": "parsable-call"})

    lines = _same(parsable, run)
    assert 'INFO: [ID="parsable-call"]: [control] Received command \'offer\' from 127.0.0.1:P' \
        in lines
    # (the subsystem is part of the text broken at 60 characters, the call is not)
    assert ('WARNING: [ID="parsable-none"]: [control] Protocol error in packet from '
            '127.0.0.1:P: Unk ...') in lines
    assert 'WARNING: [ID="parsable-none"]: ... o=- 1 1 IN IP4 198.51.100.2 ...' in lines
    assert 'WARNING: [ID="parsable-none"]: ... e]' in lines


def test_a_call_closed_by_the_timeout(timing_out):
    def run(daemon: NsNgProcess) -> None:
        _call(daemon, "timed-out")
        daemon.request({"command": "offer", "call-id": "only-offered", "from-tag": "ft",
                        "sdp": _sdp("198.51.100.1", 2000)})  # (the offer timeout is an hour)
        time.sleep(4)
        daemon.request({"command": "delete", "call-id": "only-offered"})

    lines = _same(timing_out, run)
    start = lines.index("INFO: [timed-out]: [core] Closing call due to timeout")
    assert lines[start + 1:start + 3] == [
        "INFO: [timed-out]: [core] Final packet stats:",
        "INFO: [timed-out]: [core] --- Tag 'ft', created M:SS ago for branch ''"]


def test_sigusr2_and_sigusr1_raise_and_lower_every_log_level(timing_out):
    levels = {}

    def run(daemon: NsNgProcess) -> None:
        shown = []
        for signum in (signal.SIGUSR2, signal.SIGUSR1, signal.SIGUSR1, signal.SIGUSR2):
            daemon.proc.send_signal(signum)
            time.sleep(0.3)  # (two of the same at once would be one)
            shown.append(daemon.cli("list loglevel"))
        levels[daemon] = shown
        assert daemon.request({"command": "ping"})["result"] == "pong"  # (still there)

    lines = _same(timing_out, run, keep=lambda line: " log level to " in line)
    assert levels[timing_out.ours] == levels[timing_out.reference]
    assert levels[timing_out.ours][0].startswith("core = 7\nspandsp = 7\n")
    assert levels[timing_out.ours][2].startswith("core = 5\n")
    assert lines[:2] == ["DEBUG: [core] Increased 'core' log level to 7",
                         "DEBUG: [spandsp] Increased 'spandsp' log level to 7"]
    assert "NOTICE: [control] Decreased 'control' log level to 5" in lines


def _http(namespace: NetNamespace, port: int, request: bytes) -> bytes:
    with namespace.entered():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(3)
        sock.connect(("127.0.0.1", port))
        sock.sendall(request)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(4096)
        return reply


def test_http_requests(http, namespace):
    def run(daemon: NsNgProcess) -> None:
        port = REFERENCE_HTTP if daemon is http.reference else http.http_port
        for request in (
                b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /cli/list%20numsessions HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /ng-plain HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-"
                b"urlencoded\r\nContent-Length: 17\r\n\r\nd7:command4:pinge"):
            _http(namespace, port, request)

    lines = _same(http, run, keep=lambda line: "[http]" in line or "CLI command" in line)
    assert lines == [
        "INFO: [http] HTTP GET from 127.0.0.1:P: '/ping'",
        "INFO: [http] HTTP GET from 127.0.0.1:P: '/cli/list numsessions'",
        "INFO: [control] Got CLI command: list numsessions",
        "INFO: [http] HTTP GET from 127.0.0.1:P: '/nothing'",
        "WARNING: [http] Unhandled HTTP GET URI: '/nothing'",
        "INFO: [http] HTTP POST from 127.0.0.1:P: '/ng-plain'",
        "WARNING: [http] Unsupported content-type 'application/x-www-form-urlencoded'",
        "WARNING: [http] Unhandled HTTP POST URI: '/ng-plain'"]
