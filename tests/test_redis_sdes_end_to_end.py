"""An SDES call whose keys pass end to end, restored from Redis: its SRTCP is still read.

A offers SDES and B answers with A's own line (its tag and suite, B's key): the relay passes
the SRTP through untouched but decrypts each party's SRTCP and encrypts it again (10.5's
savp2savp_rtcp_only), so the reports count decrypted. rtpengine 10.5 keeps doing so after
a restart (probed: a restored 10.5 counts the RTCP decrypted and re-encrypts it, its
SRTCP index starting over), from the document's ``sdes_in``/``sdes_out`` and the
sockets' and streams' keys. The call is stored by rtpengined or by 10.5, killed, and
restored by rtpengined (or 10.5 restores ours); real redis-server, real sockets, real SRTP
parties.
"""

from __future__ import annotations

import time

import pytest
from differential import audio_port, rtp_rtcp_sockets
from test_diff_quality import _rr, _sr
from test_diff_sdes_stats import A_KEY, A_SSRC, B_KEY, B_SSRC, _body, _rtp

from rtpengined.secure.srtp import SrtpContext
from tests.redis_helpers import kill9, ours, reference
from tests.test_redis_daemon import _stopped

SR_SIZE, RR_SIZE = 28, 32  # _sr without report blocks, _rr with one: as the relay reads them


def _rtcp_bytes(daemon, call_id: str) -> dict[str, tuple[int, int]]:
    """Each party's RTCP stream: (packets, bytes) it sent, as query counts them."""
    query = daemon.request({"command": "query", "call-id": call_id})
    assert query["result"] == "ok", query
    return {tag: (s["stats"]["packets"], s["stats"]["bytes"])
            for tag, info in query["tags"].items()
            for m in info["medias"] for s in m["streams"] if s["local port"] % 2}


def _rtp_bytes(daemon, call_id: str) -> int:
    query = daemon.request({"command": "query", "call-id": call_id})
    return query["totals"]["RTP"]["bytes"]


class EndToEndCall:
    """A and B on loopback, SDES on both legs with keys end to end."""

    def __init__(self, daemon, call_id: str, cleanup) -> None:
        (self.a_rtp, self.a_rtcp), (self.b_rtp, self.b_rtcp) = (rtp_rtcp_sockets(),
                                                                rtp_rtcp_sockets())
        for sock in (self.a_rtp, self.a_rtcp, self.b_rtp, self.b_rtcp):
            sock.settimeout(2)
            cleanup.callback(sock.close)
        ids = {"call-id": call_id, "from-tag": "A"}
        a_sdp, b_sdp = (_body(sock.getsockname()[1], key)
                        for sock, key in ((self.a_rtp, A_KEY), (self.b_rtp, B_KEY)))
        self.to_a = audio_port(daemon.request({"command": "offer", **ids, "ICE": "remove",
                                               "sdp": a_sdp}))
        self.to_b = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                               "ICE": "remove", "sdp": b_sdp}))
        self.a_out = SrtpContext.from_sdes(A_KEY, True)
        self.b_out = SrtpContext.from_sdes(B_KEY, True)
        self.seq = 0

    def rtp_both_ways(self) -> None:
        """SRTP each way, passed through: what arrives is what was sent."""
        for _ in range(3):
            self.seq += 1
            for out, sock, port, receiver, ssrc in (
                    (self.a_out, self.a_rtp, self.to_b, self.b_rtp, A_SSRC),
                    (self.b_out, self.b_rtp, self.to_a, self.a_rtp, B_SSRC)):
                sent = out.protect(_rtp(self.seq, ssrc))
                sock.sendto(sent, ("127.0.0.1", port))
                assert receiver.recv(2048) == sent

    def reports(self) -> None:
        """An SR from A, an RR from B: each arrives as SRTCP the other party decrypts
        (with a new context: a restarted relay's SRTCP index starts over, as 10.5's does)."""
        self.seq += 1
        for out, key, sock, port, receiver, report in (
                (self.a_out, A_KEY, self.a_rtcp, self.to_b, self.b_rtcp,
                 _sr(A_SSRC, 100 + self.seq, 0x12340000)),
                (self.b_out, B_KEY, self.b_rtcp, self.to_a, self.a_rtcp,
                 _rr(B_SSRC, ((A_SSRC, 0, self.seq, 80, 0, 655),)))):
            sock.sendto(out.protect_rtcp(report), ("127.0.0.1", port + 1))
            got = receiver.recv(2048)
            assert SrtpContext.from_sdes(key, False).unprotect_rtcp(got) == report


def _settled(read, want, timeout: float = 3.0):
    """What ``read()`` gives once it is ``want`` or ``timeout`` passed (the relay's
    counters reach query a moment after the packets)."""
    deadline = time.monotonic() + timeout
    while (have := read()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return have


def _wait_answered(redis, db: int, call_id: str) -> None:
    """The stored document holds the answer (written in the background)."""
    def answered(_keys) -> bool:
        doc = redis.document(db, call_id) or {}
        return any(v.get("tag") == "B" for k, v in doc.items() if k.startswith("tag-"))
    redis.wait_for(db, answered)


DAEMONS = {"rtpengined": ours, "rtpengine": reference}


@pytest.mark.parametrize(("stored_by", "restored_by"), [
    ("rtpengined", "rtpengined"), ("rtpengine", "rtpengined"), ("rtpengined", "rtpengine")])
def test_restored_end_to_end_sdes_call_still_reads_its_srtcp(redis, cleanup, stored_by,
                                                               restored_by):
    daemon = DAEMONS[stored_by](redis, 1, 24700, 24799)
    cleanup.push(_stopped(daemon))
    call = EndToEndCall(daemon, "e2e-sdes", cleanup)
    call.rtp_both_ways()
    call.reports()
    want = {"A": (1, SR_SIZE), "B": (1, RR_SIZE)}  # counted decrypted
    assert _settled(lambda: _rtcp_bytes(daemon, "e2e-sdes"), want) == want
    rtp_before = _rtp_bytes(daemon, "e2e-sdes")
    _wait_answered(redis, 1, "e2e-sdes")
    kill9(daemon)

    daemon = DAEMONS[restored_by](redis, 1, 24700, 24799)
    cleanup.push(_stopped(daemon))
    # (The counts restored are those of the last write, maybe the answer's: only what
    # comes after the restart is compared.)
    rtp_restored = _rtp_bytes(daemon, "e2e-sdes")
    rtcp_restored = _rtcp_bytes(daemon, "e2e-sdes")
    call.rtp_both_ways()
    # The SRTP still passes untouched (counted as it came, not decrypted)...
    want_rtp = rtp_restored + rtp_before
    assert _settled(lambda: _rtp_bytes(daemon, "e2e-sdes"), want_rtp) == want_rtp
    call.reports()
    # ...and the SRTCP is decrypted again: the reports count as the relay read them.
    want = {tag: (packets + 1, size + (SR_SIZE if tag == "A" else RR_SIZE))
            for tag, (packets, size) in rtcp_restored.items()}
    assert _settled(lambda: _rtcp_bytes(daemon, "e2e-sdes"), want) == want
