"""Differential: RTCP that 10.5 cannot read is not relayed, on any leg, beside rtpengine
10.5 over loopback sockets.

10.5 reads every RTCP compound it relays, whatever the legs' profiles: one it cannot read
(not version 2, shorter than its type's fixed part or than its report blocks) is dropped,
an error of the stream it came on, and on an RTCP port so is whatever is not RTCP (an error
when it reads as RTP, quietly when it is junk). A length word that overruns the datagram
ends the reading, and what the walk did not reach goes on (``media.rtcp_feedback``). One
party sends each packet to the other's RTCP port, or muxed to its RTP port; what the other
party receives (decrypted, on an SDES-SRTP call: SRTCP is read after decryption) and the
query's counters of the sender's streams must be 10.5's, both while the streams learn
(Python's drains) and once settled (where the relay's C loop takes them).
"""

from __future__ import annotations

import struct
import time

import pytest
from differential import (
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    rtp_rtcp_sockets,
)
from test_diff_quality import _plain
from test_diff_rtcp_feedback import _body, _crypto, _ports, _text
from test_rtcp_feedback import APP, RR, SR, header

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

RTP = struct.pack("!BBHII", 0x80, 0, 7, 1120, 0xAAAA) + bytes(160)
VERSION_1 = struct.pack("!BBH", 0x40, 201, 1) + RR[4:]
# name: (the packet, sent on an SRTP call too: its second byte says RTCP, so the party
# protects it as SRTCP). Not on SRTP either: what 10.5 refuses before decrypting (a first
# packet not version 2 or of a type it does not know: an error, not counted as a packet;
# we decrypt, count it and then drop it), left as it is.
PACKETS = {
    "SR version 1": (struct.pack("!BBH", 0x40, 200, 6) + SR[4:], False),
    "SR of 8 bytes": (header(0, 200, 1) + RR[4:], True),
    "RR claiming 2 blocks": (header(2, 201, 1) + RR[4:], True),
    "SR, then RR version 1": (SR + VERSION_1, True),  # (SRTCP: encrypted, read decrypted)
    "version 0": (struct.pack("!BBH", 0x00, 200, 2) + bytes(8), False),
    "junk": (b"\x99" * 40, False),  # (muxed: RTP, payload type 25)
    "RTP": (RTP, False),
    "3 bytes": (b"\x80\xc8\x00", False),
    "SR overrunning": (header(0, 200, 50) + SR[4:], True),
    "SR, two bytes after": (SR + b"\x80\xc9", True),
    "type 199": (header(0, 199, 1) + RR[4:], False),
    "SR": (SR, True),
    "APP": (APP, True),
}


def _exchange(daemon, call_id: str, protocol: str, mux: bool, settle: float) -> dict:
    a_rtp, a_rtcp = rtp_rtcp_sockets()
    b_rtp, b_rtcp = rtp_rtcp_sockets()
    ids = {"call-id": call_id, "from-tag": "A"}
    secure = "SAVP" in protocol
    seen = {}
    try:
        a_key = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80") if secure else None
        to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove",
                                     "sdp": _body(a_rtp.getsockname()[1], protocol, a_key,
                                                  mux)}))
        b_in = _crypto(to_b)
        b_key = sdes.generate(b_in.tag, b_in.suite.name) if b_in else None
        to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                     "sdp": _body(b_rtp.getsockname()[1], protocol, b_key,
                                                  mux)}))
        protect = a_key and SrtpContext.from_sdes(a_key, True)
        unprotect = b_in and SrtpContext.from_sdes(b_in, False)
        b_protect = b_key and SrtpContext.from_sdes(b_key, True)
        rtp_port, rtcp_port = _ports(to_a)
        b_gets_rtcp = b_rtp if mux else b_rtcp

        for seq in range(3):  # RTP both ways, an RR from A: every port learns its party
            for sock, port, context in ((a_rtp, rtp_port, protect),
                                        (b_rtp, _ports(to_b)[0], b_protect)):
                packet = struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0xAAAA) + bytes(40)
                sock.sendto(context.protect(packet) if context else packet,
                            ("127.0.0.1", port))
            time.sleep(0.02)
        burst(a_rtp, 0.2)
        burst(b_rtp, 0.2)
        (a_rtp if mux else a_rtcp).sendto(protect.protect_rtcp(RR) if protect else RR,
                                          ("127.0.0.1", rtcp_port))
        seen["learning"] = len(burst(b_gets_rtcp, 0.3))
        if settle:
            time.sleep(settle)
        for name, (packet, on_srtp) in PACKETS.items():
            if secure and not on_srtp:
                continue
            (a_rtp if mux else a_rtcp).sendto(protect.protect_rtcp(packet) if protect else packet,
                                              ("127.0.0.1", rtcp_port))
            got = burst(b_gets_rtcp, 0.3)
            if unprotect:
                got = [unprotect.unprotect_rtcp(g) if 192 <= g[1] <= 223 else unprotect.unprotect(g)
                       for g in got]
            seen[name] = got
        seen["counters"] = _senders_counters(daemon, call_id)
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
            sock.close()
    return seen


def _senders_counters(daemon, call_id: str) -> list[dict]:
    """The query's counters of A's streams: RTP, then RTCP unless muxed."""
    reply = _plain(daemon.request({"command": "query", "call-id": call_id}))
    return [stream["stats"] for media in reply["tags"]["A"].get("medias", [])
            for stream in media.get("streams", [])]


@pytest.mark.parametrize("protocol", ["RTP/AVP", "RTP/SAVP"])
@pytest.mark.parametrize("mux", [False, True], ids=["rtcp-port", "rtcp-mux"])
@pytest.mark.parametrize("settle", [0.0, 3.3], ids=["learning", "settled-streams"])
def test_unreadable_rtcp_is_dropped_as_rtpengine(default_pair, protocol, mux, settle):
    call_id = f"rtcp-check-{protocol}-{mux}-{settle}".replace("/", "_")
    want = _exchange(default_pair.reference, call_id, protocol, mux, settle)
    have = _exchange(default_pair.ours, call_id, protocol, mux, settle)
    assert have == want
    assert want["SR of 8 bytes"] == [] and want["SR"] != []  # (the case is tested)
    assert any(stats["errors"] for stats in want["counters"])
