"""Differential: the traffic figures of a call with SDES-SRTP on both legs, beside
rtpengine 10.5, over loopback sockets.

A offers SDES and B answers with the offerer's own line (its suite and tag, its own key):
10.5 then passes SRTP through as it came but decrypts each party's SRTCP (and encrypts it
again for the other) whatever the keys, so the reports count decrypted and their figures
(``SSRC``: MOS and loss) show in query and delete, as on any other leg. Both parties send
RTP, then sender and receiver reports about each other; the streams' counters, the totals
and the ``SSRC`` figures must be the same (as rtpengine's t/test-sdes-sdes.pl found them
not to be). Each party must still decrypt what it gets with the keys its SDP gave it.
"""

from __future__ import annotations

import struct
import time

import pytest
from differential import (
    audio_port,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    rtp_rtcp_sockets,
)
from test_diff_quality import _plain, _rr, _same, _sr

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

A_SSRC, B_SSRC = 0xAAAA, 0xBBBB
A_KEY = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
B_KEY = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")



def _body(port: int, crypto: sdes.Crypto) -> str:
    return "\r\n".join(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                        "t=0 0", f"m=audio {port} RTP/SAVP 0", f"a={crypto.format()}",
                        "a=sendrecv", ""])


def _rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + b"\xff" * 100


def _figures(reply: dict) -> dict:
    """What is compared of a query or delete reply: each stream's counters (by party and
    component), the totals and the quality figures."""
    streams = {}
    for tag, monologue in reply["tags"].items():
        for media in monologue.get("medias", []):
            for stream in media.get("streams", []):
                key = (_plain(tag), media["index"], stream.get("local port", 0) % 2)
                streams[key] = _plain(stream["stats"])
    return {"streams": streams, "totals": _plain(reply["totals"]),
            "SSRC": _plain(reply.get("SSRC", {}))}


def _call(daemons: list, call_id: str, settle: float) -> list[tuple[dict, dict, list]]:
    """The exchange, on each daemon in lockstep (each packet sent to every daemon before
    any is read back; pauses shared), so that the round-trip times and the MOS worked out
    from them measure the same intervals on each however loaded the machine is. For each
    daemon: (the query's figures, the delete's, what each party decrypted). ``settle``: a
    pause after the first RTP, past endpoint learning (the relay's C loop then carries the
    streams; before it, Python's drains)."""
    legs = [(rtp_rtcp_sockets(), rtp_rtcp_sockets()) for _ in daemons]
    ids = {"call-id": call_id, "from-tag": "A"}
    try:
        calls = []
        for daemon, ((a_rtp, a_rtcp), (b_rtp, b_rtcp)) in zip(daemons, legs, strict=True):
            to_a = audio_port(daemon.request({"command": "offer", **ids, "ICE": "remove",
                                              "sdp": _body(a_rtp.getsockname()[1], A_KEY)}))
            to_b = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                              "ICE": "remove",
                                              "sdp": _body(b_rtp.getsockname()[1], B_KEY)}))
            calls.append({"A": (a_rtp, a_rtcp, to_b, b_rtp, b_rtcp), "B": (b_rtp, b_rtcp, to_a,
                                                                            a_rtp, a_rtcp)})
        a_out, b_out = SrtpContext.from_sdes(A_KEY, True), SrtpContext.from_sdes(B_KEY, True)
        # (the receivers' contexts are per daemon: each keeps its own replay window)
        inbound = [{"A": SrtpContext.from_sdes(A_KEY, False),
                    "B": SrtpContext.from_sdes(B_KEY, False)} for _ in daemons]
        got: list[list] = [[] for _ in daemons]

        def send(sender: str, data: bytes, rtcp: bool) -> None:
            """From ``sender`` through every daemon; what the other party gets, decrypted."""
            for call in calls:
                rtp, rtcp_sock, port, _, _ = call[sender]
                (rtcp_sock if rtcp else rtp).sendto(data, ("127.0.0.1", port + rtcp))
            for call, contexts, received in zip(calls, inbound, got, strict=True):
                _, _, _, rtp, rtcp_sock = call[sender]
                receiver = rtcp_sock if rtcp else rtp
                receiver.settimeout(1)
                packet = receiver.recv(2048)
                context = contexts[sender]
                received.append(context.unprotect_rtcp(packet) if rtcp
                                else context.unprotect(packet))

        for seq in range(1, 6):
            send("A", a_out.protect(_rtp(seq, A_SSRC)), False)
            send("B", b_out.protect(_rtp(seq, B_SSRC)), False)
            time.sleep(0.02)
            if seq == 3 and settle:
                time.sleep(settle)
        # the reports of test_diff_quality, in its order and at its pace
        out = {"A": a_out, "B": b_out}
        rounds = (
            (("A", _sr(A_SSRC, 100, 0x12340000)), ("B", _sr(B_SSRC, 200, 0x56780000)), 0.05),
            (("B", _rr(B_SSRC, ((A_SSRC, (13 << 24) | 5, 3, 80, (100 << 16) | 0x1234,
                                 655),))), 0.05),
            (("A", _rr(A_SSRC, ((B_SSRC, 0, 3, 160, (200 << 16) | 0x5678, 655),))), 1.1),
            (("B", _sr(B_SSRC, 201, 0, ((A_SSRC, (26 << 24) | 9, 5, 240,
                                          (100 << 16) | 0x1234, 655),))), 0.05),
            (("A", _rr(A_SSRC, ((B_SSRC, (128 << 24) | 7, 5, 16, (200 << 16) | 0x5678,
                                 655),))), 0.1),
        )
        for *reports, pause in rounds:
            for sender, report in reports:
                send(sender, out[sender].protect_rtcp(report), True)
            time.sleep(pause)
        queried = [_figures(daemon.request({"command": "query", "call-id": call_id}))
                   for daemon in daemons]
        deleted = [_figures(daemon.request({"command": "delete", **ids, "delete-delay": 0}))
                   for daemon in daemons]
    finally:
        for pair in legs:
            for sock in (*pair[0], *pair[1]):
                sock.close()
    return list(zip(queried, deleted, got, strict=True))


@pytest.mark.parametrize("settle", [0.0, 3.3], ids=["learning", "settled-streams"])
def test_sdes_both_legs_figures_as_rtpengine(default_pair, settle):
    want, have = _call([default_pair.reference, default_pair.ours], f"sdes-stats-{settle}",
                       settle)
    assert have[2] == want[2]  # each party decrypted the same packets
    for ours, theirs in zip(have[:2], want[:2], strict=True):
        assert ours["streams"] == theirs["streams"], (ours["streams"], theirs["streams"])
        assert ours["totals"] == theirs["totals"], (ours["totals"], theirs["totals"])
        assert set(ours["SSRC"]) == {str(A_SSRC), str(B_SSRC)} == set(theirs["SSRC"])
        assert _same(ours["SSRC"], theirs["SSRC"]), (ours["SSRC"], theirs["SSRC"])
