"""Differential: RTCP that 10.5 cannot read is not relayed, on any leg, beside rtpengine
10.5 over loopback sockets.

10.5 reads every RTCP compound it relays, whatever the legs' profiles: one it cannot read
(not version 2, shorter than its type's fixed part or than its report blocks) is dropped,
an error of the stream it came on. On an RTCP port everything is read so, RTP and junk
included; on a muxed port what ``is_rtcp`` says; on an RTP port without rtcp-mux nothing. A
length word that overruns the datagram ends the reading, and what the walk did not reach
goes on (``media.rtcp_feedback``). SRTCP is read after decryption, and before it 10.5 looks
at its clear header: too short, not version 2 or not of the types 200-207, it is an error
and not a packet of the stream (nor its bytes). One party sends each packet to the other's
RTCP port, or muxed to its RTP port, and some to the RTP port; what the other party
receives (decrypted, on an SDES-SRTP call) and the query's counters of the sender's streams
must be 10.5's, both while the streams learn (Python's drains) and once settled (where the
relay's C loop takes them).
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
SRTP, SRTCP = "SRTP", "SRTCP"  # (on an SRTP call, how the party protects the packet)
# name: (the packet, how it is protected on an SRTP call; where libsrtp cannot, as it is)
PACKETS = {
    "SR version 1": (struct.pack("!BBH", 0x40, 200, 6) + SR[4:], SRTCP),
    "SR version 3": (struct.pack("!BBH", 0xC0, 200, 6) + SR[4:], SRTCP),
    "SR of 8 bytes": (header(0, 200, 1) + RR[4:], SRTCP),
    "RR claiming 2 blocks": (header(2, 201, 1) + RR[4:], SRTCP),
    "SR, then RR version 1": (SR + VERSION_1, SRTCP),  # (SRTCP: encrypted, read decrypted)
    "version 0": (struct.pack("!BBH", 0x00, 200, 2) + bytes(8), SRTCP),
    "junk": (b"\x99" * 40, SRTCP),  # (muxed: RTP, payload type 25)
    "RTP": (RTP, SRTCP),
    "RTP, its length word overrunning": (struct.pack("!BBHII", 0x80, 0, 50, 8000, 0xAAAA)
                                         + bytes(40), SRTCP),
    "RTP as SRTP": (struct.pack("!BBHII", 0x80, 0, 51, 8160, 0xAAAA) + bytes(40), SRTP),
    "RTP type 64, marker, as SRTP": (struct.pack("!BBHII", 0x80, 0xC0, 52, 8320, 0xAAAA)
                                     + bytes(40), SRTP),  # (192: RTP on a muxed port)
    "type 193": (header(0, 193, 2) + bytes(8), SRTCP),
    "3 bytes": (b"\x80\xc8\x00", SRTCP),
    "an SR's 4-byte header": (header(0, 200, 0), SRTCP),
    "SR overrunning": (header(0, 200, 50) + SR[4:], SRTCP),
    "SR, two bytes after": (SR + b"\x80\xc9", SRTCP),
    "type 199": (header(0, 199, 1) + RR[4:], SRTCP),
    "type 210": (header(0, 210, 1) + RR[4:], SRTCP),
    "SR": (SR, SRTCP),
    "APP": (APP, SRTCP),
}
# Sent to the RTP port (without rtcp-mux 10.5 takes nothing there for RTCP: RTP of a
# payload type the stream does not know, an error, relayed all the same).
TO_RTP_PORT = {
    "SR to the RTP port": (SR, SRTCP),
    "SR of 8 bytes to the RTP port": (header(0, 200, 1) + RR[4:], SRTCP),
}


def _protected(context, packet: bytes, how: str) -> bytes:
    """``packet`` as the party sends it (``context``: None on a plain call)."""
    if context is None:
        return packet
    try:
        return context.protect_rtcp(packet) if how == SRTCP else context.protect(packet)
    except Exception:  # noqa: BLE001  (too short for libsrtp: sent as it is)
        return packet


def _opened(context, packet: bytes) -> bytes:
    """What the receiving party makes of ``packet`` (``context``: None on a plain call)."""
    if context is None:
        return packet
    for how in (context.unprotect_rtcp, context.unprotect):
        try:
            return how(packet)
        except Exception:  # noqa: BLE001, PERF203  (the other one, then neither)
            continue
    return b"(undecryptable)"


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
        for name, (packet, how) in PACKETS.items():
            (a_rtp if mux else a_rtcp).sendto(_protected(protect, packet, how),
                                              ("127.0.0.1", rtcp_port))
            seen[name] = [_opened(unprotect, g) for g in burst(b_gets_rtcp, 0.3)]
        for name, (packet, how) in TO_RTP_PORT.items():
            a_rtp.sendto(_protected(protect, packet, how), ("127.0.0.1", rtp_port))
            seen[name] = [_opened(unprotect, g) for g in burst(b_rtp, 0.3)]
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
