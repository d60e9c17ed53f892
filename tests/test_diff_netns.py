"""Differential in a private network namespace, with the interfaces rtpengine's own tests use.

Both daemons start with upstream's test options (``-t -1 -i 203.0.113.1 -i 2001:db8:4321::1
-i foo/203.0.113.2 -i foo/2001:db8:4321::2 -n … -c … -f -L 7 -E -u …``): a ``default``
interface of both families and a named ``foo`` one. Scenarios mix ng messages with real RTP
sent from 198.51.100.x / 2001:db8::x sockets: what arrives where, from which local port,
and what query then shows (learned endpoints, counters) must match rtpengine 10.5.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from differential import Normaliser, answer, delete, describe_difference, offer, query, sdp
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

RECEIVE_WAIT = 1.0   # a relayed packet arrives well within this on loopback
SILENCE_WAIT = 0.25  # how long "nothing arrives" is watched for


@pytest.fixture(scope="module")
def namespace():
    ns = NetNamespace()
    yield ns
    ns.delete()


def pair_fixture(*extra: str, our_extra: tuple[str, ...] | None = None):
    @pytest.fixture(scope="module")
    def fixture(namespace):
        daemons = NsDaemonPair(namespace, extra, our_extra)
        yield daemons
        daemons.stop()
    return fixture


# Upstream passes ``--silent_timeout`` (underscore); 10.5's option parser rejects it, so the
# reference gets the dashed spelling and ours the underscore one (both mean the same to us).
upstream = pair_fixture("--silent-timeout=1", our_extra=("--silent_timeout=1",))
learning_immediate = pair_fixture("--endpoint-learning=immediate")
learning_off = pair_fixture("--endpoint-learning=off")
learning_heuristic = pair_fixture("--endpoint-learning=heuristic")


class NetnsNormaliser(Normaliser):
    """Also keys ICE candidate ports by the candidate's own address: 10.5 binds a port on
    every address of an interface, and whether two of them share a number is chance."""

    def sdp(self, text: str) -> str:
        out = []
        for line in text.splitlines(keepends=True):
            fields = line.split()
            if line.startswith("a=candidate:") and len(fields) > 5 and fields[5].isdigit():
                fields[5] = str(self.port(int(fields[5]), fields[4]))
                line = " ".join(fields) + "\r\n"
            out.append(line)
        return super().sdp("".join(out))


# -- media steps ----------------------------------------------------------------------------

@dataclass
class Bind:
    """Open socket ``name`` at (address, port) inside the namespace."""

    name: str
    address: str
    port: int


@dataclass
class Send:
    """Send an RTP (or RTCP) packet from socket ``name`` to the media port in step ``step``'s SDP
    (or to ``to``, a (address, step, media, rtcp) override of the address only)."""

    name: str
    step: int
    packet: bytes
    media: int = 0
    rtcp: bool = False
    address: str | None = None


@dataclass
class Expect:
    """What socket ``name`` receives next: the packet and its normalised source, or nothing."""

    name: str
    silence: bool = False


@dataclass
class Wait:
    """Let ``seconds`` pass (both daemons get the same pause)."""

    seconds: float


@dataclass
class Cli:
    """An rtpengine-ctl line; ``{cid}`` becomes the scenario's call-id. Volatile values
    (timestamps, durations, the ng client's port) are masked, media ports normalised."""

    line: str


CLI_VOLATILE = [
    (re.compile(r"^(created|last_signal): \d+$", re.M), r"\1: TIME"),
    (re.compile(r"\b\d{9,} ts$", re.M), "TIME ts"),
    (re.compile(r"callduration \d+\.\d+"), "callduration DURATION"),
    (re.compile(r"^proxy: (\S+):\d+$", re.M), r"proxy: \1:PORT"),
]


def _cli_text(run: Run, text: str) -> list[str]:
    for pattern, replacement in CLI_VOLATILE:
        text = pattern.sub(replacement, text)
    text = re.sub(r"([0-9a-f.:]+[0-9a-f]):(\d{4,5})\b",
                  lambda m: f"{m.group(1)}:{run.normaliser.port(int(m.group(2)), m.group(1))}",
                  text)
    return text.splitlines()


@dataclass
class Run:
    """Per-daemon state of one conversation."""

    daemon: NsNgProcess
    normaliser: Normaliser
    replies: list[Any] = field(default_factory=list)
    sockets: dict[str, socket.socket] = field(default_factory=dict)
    call_id: str = ""


def _media_step(run: Run, step: Any) -> Any:
    if isinstance(step, Bind):
        run.sockets[step.name] = run.daemon.namespace.udp_socket(step.address, step.port)
        return ("bound", step.name)
    if isinstance(step, Send):
        address, port = media_target(run.replies[step.step], step.media, step.rtcp)
        run.sockets[step.name].sendto(step.packet, (step.address or address, port))
        return ("sent", step.name)
    if isinstance(step, Wait):
        time.sleep(step.seconds)
        return ("waited", step.seconds)
    if isinstance(step, Cli):
        return _cli_text(run, run.daemon.cli(step.line.replace("{cid}", run.call_id)))
    if isinstance(step, Expect):
        sock = run.sockets[step.name]
        sock.settimeout(SILENCE_WAIT if step.silence else RECEIVE_WAIT)
        try:
            data, source = sock.recvfrom(65535)
        except TimeoutError:
            return ("nothing", step.name)
        return ("received", step.name, data.hex(), source[0],
                run.normaliser.port(source[1], source[0]))
    raise TypeError(step)


def converse(daemon: NsNgProcess, steps: list[Any], call_id: str) -> list[Any]:
    run = Run(daemon, NetnsNormaliser(daemon.port_range), call_id=call_id)
    out = []
    try:
        for step in steps:
            if not isinstance(step, dict):
                run.replies.append(None)
                out.append(_media_step(run, step))
                continue
            message = {k: v for k, v in step.items() if v is not None and not k.startswith("_")}
            message.setdefault("call-id", call_id)
            reply = daemon.request(message)
            run.replies.append(reply)
            out.append(run.normaliser.value(reply))
    finally:
        for sock in run.sockets.values():
            sock.close()
    return out


def compare(pair: NsDaemonPair, steps: list[Any], name: str) -> None:
    pair.scenarios += 1
    call_id = f"{name}-{pair.scenarios}".replace(" ", "_")
    expected = converse(pair.reference, steps, call_id)
    got = converse(pair.ours, steps, call_id)
    for index, (step, want, have) in enumerate(zip(steps, expected, got, strict=True)):
        if isinstance(step, dict) and step.get("_mask"):
            want, have = step["_mask"](want), step["_mask"](have)
        if want != have:
            what = step.get("command") if isinstance(step, dict) else type(step).__name__
            raise AssertionError(f"step {index} ({what}) differs:\n"
                                 + describe_difference(want, have))


# -- SDP bodies -------------------------------------------------------------------------------

def body(address: str, port: int, *extra: str, formats: str = "0", version: int = 1) -> str:
    family = "IP6" if ":" in address else "IP4"
    return sdp("v=0", f"o=- 1545997027 {version} IN {family} {address}", "s=tester", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", f"c=IN {family} {address}", "a=sendrecv",
               *extra)


A = body("198.51.100.1", 3000)
B = body("198.51.100.3", 3002)
A6 = body("2001:db8::1", 3000)
B6 = body("2001:db8::3", 3002)
A_MUX = body("198.51.100.1", 3000, "a=rtcp-mux")
# (its own ports: both daemons check the candidates from the offer on, and a check sent
# as a call is deleted, our relay worker's first on a cold start, must not reach the
# party of the media tests, which listens on 198.51.100.1:3000)
A_ICE = body("198.51.100.1", 3090, "a=ice-ufrag:asbsdfds", "a=ice-pwd:sfhwsrgyergws45ujhsrthsrhH",
             "a=candidate:sfthqw45hdfgdfsb 1 UDP 2130706431 198.51.100.1 3090 typ host",
             "a=candidate:ujksdfghfdfgdfsb 1 UDP 2130706175 2001:db8::1 3090 typ host",
             "a=candidate:sfthqw45hdfgdfsb 2 UDP 2130706430 198.51.100.1 3091 typ host")
A_SESSION_C = sdp("v=0", "o=- 1545997027 1 IN IP4 198.51.100.1", "s=tester",
                  "c=IN IP4 198.51.100.1", "t=0 0", "m=audio 3000 RTP/AVP 0 8",
                  "a=rtpmap:8 PCMA/8000", "a=sendrecv")
T38_WITH_AUDIO_REJECTED = sdp(
    "v=0", "o=- 1545997027 1 IN IP4 198.51.100.1", "s=tester", "t=0 0",
    "c=IN IP4 198.51.100.1", "m=audio 0 RTP/AVP 8 101", "m=image 3000 udptl t38",
    "c=IN IP4 198.51.100.1", "a=T38FaxVersion:0", "a=T38FaxRateManagement:transferredTCF")

FOO = {"direction": ["foo", "foo"]}
V6 = {"address family": "IP6"}
V4 = {"address family": "IP4"}

SIGNALLING: dict[str, list[Any]] = {
    "plain, ICE removed": [offer(A, ICE="remove"), answer(B, ICE="remove"), query(), delete()],
    "plain, default ICE candidates of both families": [offer(A), answer(B), delete()],
    "ICE offer, default": [offer(A_ICE), answer(B), query(), delete()],
    "ICE offer, force": [offer(A_ICE, ICE="force"), answer(B), delete()],
    "T.38 with audio port 0": [offer(T38_WITH_AUDIO_REJECTED, ICE="remove"), delete()],
    "session-level c= kept in place": [offer(A_SESSION_C, ICE="remove"), delete()],
    "IPv4 to IPv6": [offer(A, ICE="remove", **V6), answer(B6, ICE="remove", **V4), query(),
                     delete()],
    "IPv6 to IPv4": [offer(A6, ICE="remove", **V4), answer(B, ICE="remove", **V6), query(),
                     delete()],
    "IPv6 both ways": [offer(A6, ICE="remove"), answer(B6, ICE="remove"), query(), delete()],
    "IPv6 offer, IPv4 answer, no family": [offer(A6, ICE="remove"), answer(B, ICE="remove"),
                                           query(), delete()],
    "IPv6 with ICE default": [offer(A6), answer(B6), delete()],
    "named interface foo": [offer(A, ICE="remove", **FOO), answer(B, ICE="remove", **FOO),
                            query(), delete()],
    "foo to default": [offer(A, ICE="remove", direction=["foo", "default"]),
                       answer(B, ICE="remove", direction=["default", "foo"]), query(), delete()],
    "default to foo IPv6": [offer(A, ICE="remove", direction=["default", "foo"], **V6),
                            answer(B6, ICE="remove"), query(), delete()],
    "foo with ICE": [offer(A, **FOO), answer(B, **FOO), delete()],
    "interface key foo": [offer(A, ICE="remove", interface="foo"), delete()],
    "media address": [offer(A, ICE="remove", **{"media address": "198.51.100.9"}),
                      answer(B, ICE="remove"), delete()],
    "media address IPv6 on IPv4": [offer(A, ICE="remove", **{"media address": "2001:db8::9"}),
                                   delete()],
    "replace origin and session connection": [
        offer(A_SESSION_C, ICE="remove", replace=["origin", "session-connection"]),
        answer(B, ICE="remove", replace=["origin"]), delete()],
    "replace origin IPv6": [offer(A, ICE="remove", replace=["origin"], **V6), delete()],
    "SDP version re-offer unchanged": [offer(A, ICE="remove"), answer(B, ICE="remove"),
                                       offer(A, ICE="remove"), delete()],
    "SDP version re-offer changed": [
        offer(A, ICE="remove"), answer(B, ICE="remove"),
        offer(body("198.51.100.1", 3004, version=2), ICE="remove"), delete()],
    "SDP version force increment": [
        offer(A, ICE="remove", replace=["force-increment-sdp-ver"]),
        offer(A, ICE="remove", replace=["force-increment-sdp-ver"]), delete()],
    "rtcp-mux offer accepted": [offer(A_MUX, ICE="remove"),
                                answer(body("198.51.100.3", 3002, "a=rtcp-mux"), ICE="remove"),
                                query(), delete()],
    "rtcp-mux demux": [offer(A_MUX, ICE="remove", **{"rtcp-mux": ["demux"]}),
                       answer(B, ICE="remove"), query(), delete()],
    "rtcp-mux offer added": [offer(A, ICE="remove", **{"rtcp-mux": ["offer"]}),
                             answer(B, ICE="remove"), delete()],
    "PCMA and PCMU with telephone-event": [
        offer(body("198.51.100.1", 3000, "a=rtpmap:101 telephone-event/8000",
                   formats="8 0 101"), ICE="remove"),
        answer(body("198.51.100.3", 3002, formats="8"), ICE="remove"), delete()],
    "query with from-tag and to-tag": [offer(A, ICE="remove"), answer(B, ICE="remove"),
                                       query(**{"from-tag": "A"}), query(**{"to-tag": "B"}),
                                       delete()],
    "hold with c=0.0.0.0 and ICE": [offer(A_ICE.replace("c=IN IP4 198.51.100.1",
                                                        "c=IN IP4 0.0.0.0")), delete()],
    "sendonly re-offer": [offer(A, ICE="remove"), answer(B, ICE="remove"),
                          offer(A.replace("sendrecv", "sendonly"), ICE="remove"), query(),
                          delete()],
    "audio and video": [offer(A + "m=video 3004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
                              ICE="remove"),
                        answer(B + "m=video 3006 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
                               ICE="remove"), query(), delete()],
    "video with ICE on both families": [
        offer(A + "m=video 3004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n", ICE="force"),
        delete()],
    "rtcp attribute full": [offer(A, ICE="remove", flags=["full-rtcp-attribute"]), delete()],
    "received from IPv6": [
        offer(A, ICE="remove", flags=["SIP-source-address"],
              **{"received from": ["IP6", "2001:db8::7"]}), query(), delete()],
    "trust address": [offer(A, ICE="remove", flags=["trust-address"]), query(), delete()],
    "asymmetric and strict in query": [
        offer(A, ICE="remove", flags=["asymmetric", "strict-source"]),
        answer(B, ICE="remove", flags=["media-handover"]), query(), delete()],
    "ICE lite forward": [offer(A, ICE="force", **{"ICE-lite": "forward"}), delete()],
    "rtcp-mux require, IPv6 out": [offer(A, ICE="remove", **{"rtcp-mux": ["require"]}, **V6),
                                   delete()],
    "foo to IPv6 with ICE force": [offer(A, ICE="force", direction=["default", "foo"], **V6),
                                   delete()],
    "answer on foo after offer on default": [
        offer(A, ICE="remove"), answer(B, ICE="remove", direction=["foo", "foo"]), query(),
        delete()],
    "list and ping": [offer(A, ICE="remove"), {"command": "list"}, {"command": "ping"},
                      delete()],
    # a re-offer without direction: each party keeps its interface, a new m= line too
    "re-offer without direction keeps interfaces": [
        offer(A, ICE="remove", direction=["default", "foo"]), answer(B, ICE="remove"),
        offer(A + "m=audio 3004 RTP/AVP 0\r\nc=IN IP4 198.51.100.1\r\na=sendrecv\r\n",
              ICE="remove"), query(), delete()],
    "re-offer by the answerer without direction keeps interfaces": [
        offer(A, ICE="remove", direction=["foo", "default"]), answer(B, ICE="remove"),
        {**offer(B, ICE="remove"), "from-tag": "B", "to-tag": "A"}, query(), delete()],
}


@pytest.mark.parametrize("name", list(SIGNALLING))
def test_signalling(upstream, name):
    compare(upstream, SIGNALLING[name], name)


# -- real media -----------------------------------------------------------------------------

def pkt(seq: int, pt: int = 0, ssrc: int = 0x1234) -> bytes:
    return rtp_packet(pt, seq, seq * 160, ssrc, bytes([seq & 0xFF]) * 80)


def call_with_sockets(a: str = "198.51.100.1", b: str = "198.51.100.3", a_opts=None,
                      b_opts=None, a_body: str | None = None, b_body: str | None = None
                      ) -> list[Any]:
    """Offer (step 2) and answer (step 3) with both parties' sockets bound at their SDP ports."""
    return [Bind("a", a, 3000), Bind("b", b, 3002),
            offer(a_body or body(a, 3000), ICE="remove", **(a_opts or {})),
            answer(b_body or body(b, 3002), ICE="remove", **(b_opts or {}))]


ANSWER, OFFER = 3, 2  # a sends to the answer's port, b to the offer's
MEDIA_STREAM_KEYS = ("media_userspace", "media_kernel", "media_mixed")


def sender_report(ssrc: int) -> bytes:
    """An RTCP sender report without report blocks."""
    return bytes([0x80, 200, 0, 6]) + ssrc.to_bytes(4, "big") + bytes(20)


def current_media_streams() -> dict[str, Any]:
    """``statistics``, compared on its media stream counts only (the rest is timing)."""

    def mask(reply: Any) -> Any:
        statistics = dict(dict(reply)["statistics"])
        current = dict(statistics["currentstatistics"])
        return [(key, current[key]) for key in MEDIA_STREAM_KEYS]

    return {"command": "statistics", "_mask": mask}

MEDIA: dict[str, list[Any]] = {
    "both ways": [*call_with_sockets(), Send("a", ANSWER, pkt(1)), Expect("b"),
                  Send("b", OFFER, pkt(1, ssrc=0x5678)), Expect("a"), query(), delete()],
    "IPv6 both ways": [*call_with_sockets("2001:db8::1", "2001:db8::3"),
                       Send("a", ANSWER, pkt(1)), Expect("b"),
                       Send("b", OFFER, pkt(2)), Expect("a"), query(), delete()],
    "IPv4 to IPv6": [*call_with_sockets("198.51.100.1", "2001:db8::3", a_opts=V6, b_opts=V4),
                     Send("a", ANSWER, pkt(1)), Expect("b"),
                     Send("b", OFFER, pkt(2)), Expect("a"), query(), delete()],
    "foo interface": [*call_with_sockets(a_opts=FOO, b_opts=FOO), Send("a", ANSWER, pkt(1)),
                      Expect("b"), Send("b", OFFER, pkt(2)), Expect("a"), delete()],
    "media before the answer": [Bind("a", "198.51.100.1", 3000), Bind("b", "198.51.100.3", 3002),
                                offer(A, ICE="remove"), Send("b", 2, pkt(1)), Expect("a"),
                                delete()],
    "latching to another source port": [
        *call_with_sockets(), Bind("a2", "198.51.100.1", 3010),
        Send("a2", ANSWER, pkt(1)), Expect("b"),
        Send("b", OFFER, pkt(2)), Expect("a2"), Expect("a", silence=True), query(), delete()],
    "latching to another address": [
        *call_with_sockets(), Bind("a2", "198.51.100.2", 3000),
        Send("a", ANSWER, pkt(1)), Expect("b"), Send("a2", ANSWER, pkt(2)), Expect("b"),
        Send("b", OFFER, pkt(3)), Expect("a2"), Expect("a", silence=True), query(), delete()],
    "asymmetric keeps the SDP address": [
        *call_with_sockets(a_opts={"flags": ["asymmetric"]}),
        Bind("a2", "198.51.100.1", 3010), Send("a2", ANSWER, pkt(1)), Expect("b"),
        Send("b", OFFER, pkt(2)), Expect("a"), Expect("a2", silence=True), query(), delete()],
    "strict source drops other sources": [
        *call_with_sockets(a_opts={"flags": ["strict-source"]}),
        Send("a", ANSWER, pkt(1)), Expect("b"),
        Bind("a2", "198.51.100.2", 3000), Send("a2", ANSWER, pkt(2)), Expect("b", silence=True),
        query(), delete()],
    "RTCP both ways": [*call_with_sockets(), Bind("a_rtcp", "198.51.100.1", 3001),
                       Bind("b_rtcp", "198.51.100.3", 3003),
                       Send("a_rtcp", ANSWER, b"\x81\xc9\x00\x07" + bytes(28), rtcp=True),
                       Expect("b_rtcp"),
                       Send("b_rtcp", OFFER, b"\x81\xc9\x00\x07" + bytes(28), rtcp=True),
                       Expect("a_rtcp"), delete()],
    "rtcp-mux RTCP on the RTP port": [
        *call_with_sockets(a_body=A_MUX, b_body=body("198.51.100.3", 3002, "a=rtcp-mux")),
        Send("a", ANSWER, b"\x81\xc9\x00\x07" + bytes(28)), Expect("b"),
        Send("b", OFFER, pkt(2)), Expect("a"), delete()],
    "rtcp-mux demux to separate RTCP": [
        *call_with_sockets(a_body=A_MUX, a_opts={"rtcp-mux": ["demux"]}),
        Bind("b_rtcp", "198.51.100.3", 3003),
        Send("a", ANSWER, b"\x81\xc9\x00\x07" + bytes(28)), Expect("b_rtcp"),
        Send("a", ANSWER, pkt(2)), Expect("b"), delete()],
    "re-invite moves the far end": [
        *call_with_sockets(), Send("a", ANSWER, pkt(1)), Expect("b"),
        Bind("b2", "198.51.100.4", 3002),
        offer(B.replace("198.51.100.3", "198.51.100.4"), ICE="remove", **{"from-tag": "B"}),
        answer(A, ICE="remove", **{"from-tag": "B", "to-tag": "A"}),
        Send("a", ANSWER, pkt(2)), Expect("b2"), delete()],
    # The replaced ports relay as the new ones, into the same stream's counters (10.5).
    "re-invite: old and new ports both relay, counters continue": [
        *call_with_sockets(), Send("a", ANSWER, pkt(1)), Expect("b"),
        Bind("b2", "198.51.100.4", 3002),
        offer(B.replace("198.51.100.3", "198.51.100.4"), ICE="remove", **{"from-tag": "B"}),
        answer(A, ICE="remove", **{"from-tag": "B", "to-tag": "A"}),
        Send("a", ANSWER, pkt(2)), Expect("b2"), Send("a", 7, pkt(3)), Expect("b2"),
        Send("b2", 8, pkt(4, ssrc=0x5678)), Expect("a"), Send("a", ANSWER, pkt(5)),
        Expect("b2"), query(), delete()],
    # RTCP on a muxed port: the RTCP component shows its SSRC too.
    "rtcp-mux: RTCP SSRC on the RTCP component": [
        *call_with_sockets(a_body=A_MUX, b_body=body("198.51.100.3", 3002, "a=rtcp-mux")),
        Send("a", ANSWER, pkt(1)), Expect("b"), Send("a", ANSWER, sender_report(0x1234)),
        Expect("b"), Send("b", OFFER, pkt(2, ssrc=0x5678)), Expect("a"), Wait(0.2), query(),
        delete()],
    # media_userspace counts RTP components only. 10.5 counts a stream once a packet comes
    # more than a second after the stream was confirmed, hence the pause before the second
    # round (ours counts at once: the figures agree from then on).
    "RTP and RTCP both ways: two userspace streams": [
        *call_with_sockets(), Bind("a_rtcp", "198.51.100.1", 3001),
        Bind("b_rtcp", "198.51.100.3", 3003),
        *[step for n in (1, 2) for step in (
            *([Wait(2.2)] if n == 2 else []),
            Send("a", ANSWER, pkt(n)), Expect("b"), Send("b", OFFER, pkt(n, ssrc=0x5678)),
            Expect("a"), Send("a_rtcp", ANSWER, sender_report(0x1234), rtcp=True),
            Expect("b_rtcp"), Send("b_rtcp", OFFER, sender_report(0x5678), rtcp=True),
            Expect("a_rtcp"))],
        Wait(0.2), query(), current_media_streams(), delete()],
}


KNOWN_MEDIA_DIFFERENCES: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_MEDIA_DIFFERENCES[n], strict=True))
    if n in KNOWN_MEDIA_DIFFERENCES else n for n in MEDIA])
def test_media(upstream, name):
    compare(upstream, MEDIA[name], name)


# -- endpoint learning modes ------------------------------------------------------------------

LEARNING: dict[str, list[Any]] = {
    "NAT source then SDP source": [
        *call_with_sockets(), Bind("a2", "198.51.100.2", 3010),
        Send("a2", ANSWER, pkt(1)), Expect("b"), Send("a", ANSWER, pkt(2)), Expect("b"),
        Send("b", OFFER, pkt(3)), Expect("a"), Expect("a2", silence=True), query(), delete()],
    "SDP source then NAT source": [
        *call_with_sockets(), Bind("a2", "198.51.100.2", 3010),
        Send("a", ANSWER, pkt(1)), Expect("b"), Send("a2", ANSWER, pkt(2)), Expect("b"),
        Send("b", OFFER, pkt(3)), Expect("a2"), Expect("a", silence=True), query(), delete()],
    "only a NAT source": [
        *call_with_sockets(), Bind("a2", "198.51.100.2", 3010),
        Send("a2", ANSWER, pkt(1)), Expect("b"),
        Send("b", OFFER, pkt(2)), Expect("a2"), Expect("a", silence=True), query(), delete()],
}


@pytest.mark.parametrize("name", list(LEARNING))
def test_learning_delayed(upstream, name):
    compare(upstream, LEARNING[name], name)


@pytest.mark.parametrize("name", list(LEARNING))
def test_learning_immediate(learning_immediate, name):
    compare(learning_immediate, LEARNING[name], name)


@pytest.mark.parametrize("name", list(LEARNING))
def test_learning_off(learning_off, name):
    compare(learning_off, LEARNING[name], name)


@pytest.mark.parametrize("name", list(LEARNING))
def test_learning_heuristic(learning_heuristic, name):
    compare(learning_heuristic, LEARNING[name], name)


# -- media timeouts and the totals they leave ---------------------------------------------------

timeouts = pair_fixture("--timeout=1", "--silent-timeout=2", "--offer-timeout=2")

TOTAL_KEYS = ("managedsessions", "rejectedsessions", "timeoutsessions", "silenttimeoutsessions",
              "finaltimeoutsessions", "offertimeoutsessions", "regularterminatedsessions",
              "forcedterminatedsessions", "relayedpackets", "relayedbytes", "onewaystreams",
              "zerowaystreams")

TIMEOUT_CALLS: dict[str, list[Any]] = {
    "no media at all": [offer(A, ICE="remove"), answer(B, ICE="remove")],
    "media one way then silence": [*call_with_sockets(), Send("a", ANSWER, pkt(1)), Expect("b")],
    "media both ways then silence": [*call_with_sockets("198.51.100.5", "198.51.100.6"),
                                     Send("a", ANSWER, pkt(1)), Expect("b"),
                                     Send("b", OFFER, pkt(2)), Expect("a")],
    "held call": [offer(body("198.51.100.1", 3000).replace("sendrecv", "sendonly"), ICE="remove"),
                  answer(body("198.51.100.3", 3002).replace("sendrecv", "recvonly"),
                         ICE="remove")],
    "offer never answered": [offer(A, ICE="remove")],
    "both inactive": [offer(body("198.51.100.1", 3000).replace("sendrecv", "inactive"),
                            ICE="remove"),
                      answer(body("198.51.100.3", 3002).replace("sendrecv", "inactive"),
                             ICE="remove")],
    "caller recvonly": [offer(body("198.51.100.1", 3000).replace("sendrecv", "recvonly"),
                              ICE="remove"),
                        answer(body("198.51.100.3", 3002).replace("sendrecv", "sendonly"),
                               ICE="remove")],
    "deleted with a delay": [offer(A, ICE="remove"), answer(B, ICE="remove"),
                             {"command": "delete", "delete-delay": 1}, query()],
}


def wait_until_gone(daemon: NsNgProcess, call_ids: list[str], limit: float = 8.0) -> list[str]:
    """Poll (not sleep) until every call is gone; returns the ones still there at the limit."""
    import time
    deadline = time.monotonic() + limit
    left = list(call_ids)
    while left and time.monotonic() < deadline:
        left = [c for c in left if daemon.request({"command": "query", "call-id": c})
                .get("result") == "ok"]
        if left:
            time.sleep(0.1)
    return left


def test_timeouts_end_calls_and_count_them(timeouts):
    replies = {}
    for daemon in timeouts.daemons:
        replies[daemon] = [converse(daemon, steps, f"timeout-{name}")
                           for name, steps in TIMEOUT_CALLS.items()]
    reference, ours = (replies[d] for d in timeouts.daemons)
    for (name, steps), want, have in zip(TIMEOUT_CALLS.items(), reference, ours, strict=True):
        for index, (step, w, h) in enumerate(zip(steps, want, have, strict=True)):
            assert w == h, f"{name}: step {index} ({step}) differs:\n" + describe_difference(w, h)
    call_ids = [f"timeout-{name}" for name in TIMEOUT_CALLS]
    assert [wait_until_gone(d, call_ids) for d in timeouts.daemons] == [[], []]
    totals = []
    for daemon in timeouts.daemons:
        stats = daemon.request({"command": "statistics"})["statistics"]["totalstatistics"]
        totals.append({key: stats.get(key) for key in TOTAL_KEYS})
    assert totals[1] == totals[0], describe_difference(totals[0], totals[1])


# -- the CLI's view of calls after real media -------------------------------------------------

CLI_SCENARIOS: dict[str, list[Any]] = {
    "list sessions after media both ways": [
        *call_with_sockets(), Send("a", ANSWER, pkt(1)), Expect("b"),
        Send("b", OFFER, pkt(2, ssrc=0x5678)), Expect("a"),
        Cli("list sessions {cid}"), Cli("call {cid} info"), delete()],
    "PCMA received": [
        *call_with_sockets(a_body=body("198.51.100.1", 3000, "a=rtpmap:8 PCMA/8000",
                                       formats="8 0"),
                           b_body=body("198.51.100.3", 3002, "a=rtpmap:8 PCMA/8000",
                                       formats="8")),
        Send("a", ANSWER, pkt(1, pt=8)), Expect("b"), Cli("list sessions {cid}"), delete()],
    "second codec received": [
        *call_with_sockets(a_body=body("198.51.100.1", 3000, "a=rtpmap:8 PCMA/8000",
                                       formats="0 8"),
                           b_body=body("198.51.100.3", 3002, "a=rtpmap:8 PCMA/8000",
                                       formats="0 8")),
        Send("a", ANSWER, pkt(1, pt=8)), Expect("b"), Cli("list sessions {cid}"), delete()],
    "offered party not answered yet": [offer(A, ICE="remove"), Cli("list sessions {cid}"),
                                       delete()],
    "deleted with a delay, no tag": [
        *call_with_sockets(), Send("a", ANSWER, pkt(1)), Expect("b"),
        {"command": "delete", "delete-delay": 5}, Cli("list sessions {cid}"), delete()],
    "deleted with a delay, from-tag": [
        *call_with_sockets(), {"command": "delete", "delete-delay": 5, "from-tag": "A"},
        Cli("list sessions {cid}"), delete()],
    "IPv6 party": [*call_with_sockets("2001:db8::1", "2001:db8::3"), Send("a", ANSWER, pkt(1)),
                   Expect("b"), Cli("list sessions {cid}"), delete()],
}


KNOWN_CLI_DIFFERENCES: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_CLI_DIFFERENCES[n], strict=True))
    if n in KNOWN_CLI_DIFFERENCES else n for n in CLI_SCENARIOS])
def test_cli_views(upstream, name):
    compare(upstream, CLI_SCENARIOS[name], name)
