"""Differential: packets 10.5 refuses before its source-address check neither learn nor
confirm the endpoint, beside rtpengine 10.5 over loopback sockets.

10.5 handles a received packet in this order: the clear header is read (an RTP payload
type it does not know is an error), the packet is decrypted (SRTP/SRTCP: failing
authentication, replay, the SRTCP clear-header check or a leg without a key ends it: an
error, not a packet of the stream), it is counted, and only then is its source looked at:
learnt during the 3 s after the last signal, confirmed after them, checked against the
confirmed endpoint under ``strict-source``. On a stream's RTP component an RTCP packet
(types 194-223, muxed or stray) before the endpoint is confirmed is relayed but is no
source for learning (rtpengine's GH #697 work-around). RTCP it cannot read is dropped only
after the check (it has learnt). So a party whose first packets are refused keeps the
SDP's endpoint, unconfirmed, and the first good packet after the window confirms its
source at once (the window counts from the signal, not from any packet).

Each case is a call in which one party sends packets from a source other than its SDP's;
the query's flags, endpoint and counters of its streams, what the other party receives,
and where the other party's media goes once a good packet came from a third source, must
be 10.5's.
"""

from __future__ import annotations

import struct
import time

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    loopback_party,
    rtp_rtcp_sockets,
    sdp,
)
from test_diff_quality import _plain
from test_diff_rtcp_feedback import _crypto, _ports, _text
from test_rtcp_feedback import RR, SR

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

SUITE = "AES_CM_128_HMAC_SHA1_80"
VERSION_1 = struct.pack("!BBH", 0x40, 201, 1) + RR[4:]
RTP, RTCP = "RTP", "RTCP"  # (the sender's port a packet goes to)
TO_PLAIN = {"transport-protocol": "RTP/AVP"}  # (10.5 decrypts A's SRTP for B)


def _rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0xAAAA) + bytes(160)


# name: (protocol, rtcp-mux, extra offer flags, the refused packet's port and how it is
# made from (good context, wrong context, seq), the good packet's port and maker)
CASES = {
    "SRTP failing authentication": (
        "RTP/SAVP", False, {}, RTP, lambda good, bad, seq: bad.protect(_rtp(seq)),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
    "SRTP failing authentication, to a plain leg": (
        "RTP/SAVP", False, TO_PLAIN, RTP, lambda good, bad, seq: bad.protect(_rtp(seq)),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
    "SRTP failing authentication, to a plain leg, muxed": (
        "RTP/SAVP", True, TO_PLAIN, RTP, lambda good, bad, seq: bad.protect(_rtp(seq)),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
    "SRTP failing authentication, to a plain leg, strict source": (
        "RTP/SAVP", False, {**TO_PLAIN, "flags": ["strict-source"]}, RTP,
        lambda good, bad, seq: bad.protect(_rtp(seq)),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
    "SRTCP failing authentication, to a plain leg": (
        "RTP/SAVP", False, TO_PLAIN, RTCP, lambda good, bad, seq: bad.protect_rtcp(RR),
        RTCP, lambda good, seq: good.protect_rtcp(RR)),
    "SRTCP failing authentication": (
        "RTP/SAVP", False, {}, RTCP, lambda good, bad, seq: bad.protect_rtcp(RR),
        RTCP, lambda good, seq: good.protect_rtcp(RR)),
    "SRTCP failing the clear-header check": (
        "RTP/SAVP", False, {}, RTCP, lambda good, bad, seq: b"\x80\xc9" + bytes(30),
        RTCP, lambda good, seq: good.protect_rtcp(RR)),
    "SRTP of a payload type not in the SDP, failing": (
        "RTP/SAVP", False, {}, RTP,
        lambda good, bad, seq: bad.protect(struct.pack("!BBHII", 0x80, 8, seq, 0, 0xAAAA)
                                           + bytes(160)),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
    "muxed SRTCP failing authentication": (
        "RTP/SAVP", True, {}, RTP, lambda good, bad, seq: bad.protect_rtcp(RR),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
    "plain RTCP unreadable": (
        "RTP/AVP", False, {}, RTCP, lambda good, bad, seq: VERSION_1,
        RTCP, lambda good, seq: RR),
    "plain RTCP stray on the RTP port": (
        "RTP/AVP", False, {}, RTP, lambda good, bad, seq: SR,
        RTP, lambda good, seq: _rtp(seq)),
    "plain RTCP muxed before RTP": (
        "RTP/AVP", True, {}, RTP, lambda good, bad, seq: SR,
        RTP, lambda good, seq: _rtp(seq)),
    "plain RTCP unreadable, muxed": (
        "RTP/AVP", True, {}, RTP, lambda good, bad, seq: VERSION_1,
        RTP, lambda good, seq: _rtp(seq)),
    "SRTP failing authentication, strict source": (
        "RTP/SAVP", False, {"flags": ["strict-source"]}, RTP,
        lambda good, bad, seq: bad.protect(_rtp(seq)),
        RTP, lambda good, seq: good.protect(_rtp(seq))),
}


# (RTCP that 10.5 drops as unreadable after the address check: the stream learns from it and
# is confirmed, but is not kernelized until a packet gets through)
KERNEL_GAP = "plain RTCP unreadable"


def _body(port: int, protocol: str, crypto, mux: bool) -> str:
    return sdp("v=0", f"o=- 1 {port} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {port} {protocol} 0", *([f"a={crypto.format()}"] if crypto else []),
               *(["a=rtcp-mux"] if mux else []), "a=sendrecv")


class _Call:
    """One case's call: A sends refused packets from ``other``, then a good one from
    ``third``; B answers."""

    def __init__(self, daemon, call_id: str, case: tuple) -> None:
        protocol, mux, extra, *_ = case
        self.daemon, self.call_id, self.case = daemon, call_id, case
        self.a_rtp, self.a_rtcp = rtp_rtcp_sockets()
        self.b_rtp, self.b_rtcp = rtp_rtcp_sockets()
        self.other, self.third = loopback_party(), loopback_party()
        self.names = {s.getsockname()[1]: name for s, name in (
            (self.a_rtp, "A RTP"), (self.a_rtcp, "A RTCP"), (self.other, "other"),
            (self.third, "third"), (self.b_rtp, "B RTP"), (self.b_rtcp, "B RTCP"))}
        secure = "SAVP" in protocol
        ids = {"call-id": call_id, "from-tag": "A"}
        a_key = sdes.generate(1, SUITE) if secure else None
        to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove", **extra,
                                     "sdp": _body(self.a_rtp.getsockname()[1], protocol,
                                                  a_key, mux)}))
        b_in = _crypto(to_b)
        b_key = sdes.generate(b_in.tag, b_in.suite.name) if b_in else None
        to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                     "sdp": _body(self.b_rtp.getsockname()[1],
                                                  extra.get("transport-protocol", protocol),
                                                  b_key, mux)}))
        self.good = a_key and SrtpContext.from_sdes(a_key, True)
        self.wrong = secure and SrtpContext.from_sdes(sdes.generate(1, SUITE), True)
        self.b_protect = b_key and SrtpContext.from_sdes(b_key, True)
        self.to_a, self.to_b = _ports(to_a), _ports(to_b)
        self.seq = 0

    def send_refused(self) -> None:
        """A sends two refused packets from ``other``."""
        _, _, _, port, make, _, _ = self.case
        for _ in range(2):
            self.seq += 1
            self.other.sendto(make(self.good, self.wrong, self.seq),
                              ("127.0.0.1", self.to_a[port == RTCP]))

    def send_good(self) -> None:
        """A good packet from ``third``."""
        _, _, _, _, _, port, make = self.case
        self.seq += 1
        self.third.sendto(make(self.good, self.seq), ("127.0.0.1", self.to_a[port == RTCP]))

    def seen(self) -> dict:
        """What B got since the last look, and the query."""
        return {"B got": [len(_take(s)) for s in (self.b_rtp, self.b_rtcp)],
                "query": self._query()}

    def send_back(self) -> None:
        """B's RTP and RTCP to A."""
        rtp = _rtp(100)
        self.b_rtp.sendto(self.b_protect.protect(rtp) if self.b_protect else rtp,
                          ("127.0.0.1", self.to_b[0]))
        (self.b_rtp if self.to_b[1] == self.to_b[0] else self.b_rtcp).sendto(
            self.b_protect.protect_rtcp(RR) if self.b_protect else RR,
            ("127.0.0.1", self.to_b[1]))

    def a_got(self) -> dict:
        """Which of A's sockets B's packets reached."""
        return {name: len(_take(sock)) for sock, name in (
            (self.a_rtp, "A RTP"), (self.a_rtcp, "A RTCP"), (self.other, "other"),
            (self.third, "third"))}

    def _query(self) -> list:
        reply = _plain(self.daemon.request({"command": "query", "call-id": self.call_id}))
        out = []
        for media in reply["tags"]["A"].get("medias", []):
            for stream in media.get("streams", []):
                endpoint = stream.get("endpoint") or {}
                stats = stream["stats"]
                out.append({
                    "flags": stream["flags"],
                    "endpoint": self.names.get(endpoint.get("port"), endpoint.get("port")),
                    "stats": {k: stats[k] for k in ("packets", "bytes", "errors")},
                })
        return out

    def close(self) -> None:
        self.daemon.request({"command": "delete", "call-id": self.call_id})
        for sock in (self.a_rtp, self.a_rtcp, self.b_rtp, self.b_rtcp, self.other, self.third):
            sock.close()


def _take(sock) -> list:
    """The datagrams waiting on ``sock`` (the senders waited for them to arrive)."""
    got = []
    sock.setblocking(False)
    while True:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            return got


def _run(daemon, tag: str, cases: dict) -> dict:
    """Every case at once on ``daemon``: refused packets during the learning window, again
    after it, then a good packet, then the other party's media."""
    calls = {name: _Call(daemon, f"refused-{tag}-{index}", case)
             for index, (name, case) in enumerate(cases.items())}
    signalled = time.monotonic()
    seen = {name: {} for name in calls}
    try:
        for phase in ("learning", "after the window", "a good packet"):
            if phase == "after the window":  # (10.5 counts whole seconds: its window
                # ends 3 to 4 s after the signal)
                time.sleep(max(0.0, signalled + 4.2 - time.monotonic()))
            for call in calls.values():
                (call.send_good if phase == "a good packet" else call.send_refused)()
            time.sleep(0.3)
            for name, call in calls.items():
                seen[name][phase] = call.seen()
            if phase == "learning":  # (the case needs it: all of it within the window)
                assert time.monotonic() < signalled + 2.5
        for call in calls.values():
            call.send_back()
        time.sleep(0.3)
        for name, call in calls.items():
            seen[name]["B's media reached"] = call.a_got()
    finally:
        for call in calls.values():
            call.close()
    return seen


def test_refused_packets_do_not_learn_as_rtpengine(default_pair):
    cases = {name: case for name, case in CASES.items() if name != KERNEL_GAP}
    want = _run(default_pair.reference, "ref", cases)
    have = _run(default_pair.ours, "ours", cases)
    for name in cases:
        assert have[name] == want[name], name
    # (the cases test what they say: refused packets left the SDP's endpoint unconfirmed
    # after the window, and the good packet from a third source was learnt at once)
    refused = want["SRTP failing authentication, to a plain leg"]
    assert refused["after the window"]["query"][0]["endpoint"] == "A RTP"
    assert "confirmed" not in refused["after the window"]["query"][0]["flags"]
    assert refused["a good packet"]["query"][0]["endpoint"] == "third"
    assert "confirmed" in refused["a good packet"]["query"][0]["flags"]
    stray = want["plain RTCP stray on the RTP port"]
    assert stray["after the window"]["query"][0]["endpoint"] == "A RTP"
    assert stray["after the window"]["B got"] == [2, 0]  # (relayed all the same)


@pytest.mark.xfail(strict=True, reason="10.5 shows a stream confirmed by RTCP it then dropped "
                   "as unreadable without 'kernelized' until a packet gets through; the "
                   "query shows the three flags together (the slot has no bit for it)")
def test_confirmed_by_unreadable_rtcp_is_not_kernelized_as_rtpengine(default_pair):
    cases = {KERNEL_GAP: CASES[KERNEL_GAP]}
    want = _run(default_pair.reference, "ref-kernel", cases)
    have = _run(default_pair.ours, "ours-kernel", cases)
    assert have == want


def _keyless(daemon, call_id: str, mux: bool) -> dict:
    """An SDES offer answered RTP/SAVP without a=crypto: 10.5 has no key for what the
    answerer sends and refuses all of it. B sends SRTP and SRTCP from ``other`` within
    the window and after it; then A's media: which of B's sockets it reaches."""
    a_rtp, a_rtcp = rtp_rtcp_sockets()
    b_rtp, b_rtcp = rtp_rtcp_sockets()
    other = loopback_party()
    names = {b_rtp.getsockname()[1]: "B RTP", b_rtcp.getsockname()[1]: "B RTCP",
             other.getsockname()[1]: "other"}
    ids = {"call-id": call_id, "from-tag": "A"}
    seen = {}
    try:
        a_key = sdes.generate(1, SUITE)
        to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove",
                                     "sdp": _body(a_rtp.getsockname()[1], "RTP/SAVP", a_key,
                                                  mux)}))
        to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                     "sdp": _body(b_rtp.getsockname()[1], "RTP/SAVP", None,
                                                  mux)}))
        signalled = time.monotonic()
        b_send = SrtpContext.from_sdes(sdes.generate(1, SUITE), True)
        b_ports = _ports(to_b)
        for phase in ("learning", "after the window"):
            if phase == "after the window":
                time.sleep(max(0.0, signalled + 4.2 - time.monotonic()))
            for seq in (1, 2):
                other.sendto(b_send.protect(_rtp(seq + 10 * len(seen))),
                             ("127.0.0.1", b_ports[0]))
                other.sendto(b_send.protect_rtcp(RR), ("127.0.0.1", b_ports[1]))
            time.sleep(0.3)
            reply = _plain(daemon.request({"command": "query", "call-id": call_id}))
            seen[phase] = {
                "A got": [len(_take(s)) for s in (a_rtp, a_rtcp)],
                "query": [{"flags": stream["flags"],
                           "endpoint": names.get((stream.get("endpoint") or {}).get("port")),
                           "stats": {k: stream["stats"][k]
                                     for k in ("packets", "bytes", "errors")}}
                          for media in reply["tags"]["B"].get("medias", [])
                          for stream in media.get("streams", [])]}
            if phase == "learning":
                assert time.monotonic() < signalled + 2.5
        a_send = SrtpContext.from_sdes(a_key, True)
        a_ports = _ports(to_a)
        a_rtp.sendto(a_send.protect(_rtp(50)), ("127.0.0.1", a_ports[0]))
        (a_rtp if mux else a_rtcp).sendto(a_send.protect_rtcp(RR), ("127.0.0.1", a_ports[1]))
        time.sleep(0.3)
        seen["A's media reached"] = {name: len(_take(s)) for s, name in (
            (b_rtp, "B RTP"), (b_rtcp, "B RTCP"), (other, "other"))}
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp, other):
            sock.close()
    return seen


@pytest.mark.parametrize("mux", [False, True], ids=["rtcp-port", "rtcp-mux"])
def test_what_a_keyless_answerer_sends_does_not_learn_as_rtpengine(default_pair, mux):
    want = _keyless(default_pair.reference, f"keyless-ref-{mux}", mux)
    have = _keyless(default_pair.ours, f"keyless-ours-{mux}", mux)
    assert have == want
    assert want["after the window"]["query"][0]["endpoint"] == "B RTP"
