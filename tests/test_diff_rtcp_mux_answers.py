"""Differential: how an answer's rtcp-mux is taken, beside rtpengine 10.5 over real sockets.

An answerer may say a=rtcp-mux though it was not offered rtcp-mux (RFC 5761 forbids it, but
phones that always multiplex do it, and so does an answer to a ``rtcp-mux: demux`` offer).
10.5 takes the answer's word: the answerer's leg shows rtcp-mux in ``query`` (its RTCP
stream a fallback), the offerer's RTCP goes to the answerer's RTP port and RTCP the
answerer sends there reaches the offerer's RTCP port. We used to keep that leg's RTCP on
its own port, where a multiplexing answerer neither listens nor sends.
"""

from __future__ import annotations

import re
import struct

import pytest
from differential import (
    answer,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    rtp_rtcp_sockets,
    sdp,
)

MUX = "a=rtcp-mux"


def _body(port: int, *extra: str) -> str:
    return sdp("v=0", f"o=- 1 {port} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {port} RTP/AVP 0", *extra, "a=sendrecv")


# Every rtcp-mux option of the offer, with and without a=rtcp-mux in the offer and in the
# answer: SDP both ways and query after the answer.
SCENARIOS = {
    f"{'-'.join(flags) or 'no option'}, offer {'with' if a_mux else 'without'}, "
    f"answer {'with' if b_mux else 'without'}": [
        offer(_body(4000, *([MUX] if a_mux else [])), **({"rtcp-mux": flags} if flags else {})),
        answer(_body(5000, *([MUX] if b_mux else []))), query()]
    for flags in ([], ["demux"], ["reject"], ["offer"], ["require"], ["accept"])
    for a_mux in (True, False) for b_mux in (True, False)
}
SCENARIOS["answer with a=rtcp on its RTP port"] = [
    offer(_body(4000)), answer(_body(5000, "a=rtcp:5000", MUX)), query()]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_answer_rtcp_mux_as_rtpengine(default_pair, name):
    default_pair.compare(SCENARIOS[name], name)


def _rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1111) + b"\xff" * 160


RECEIVER_REPORT = struct.pack("!BBHI6I", 0x81, 201, 7, 0x2222, 0x1111, 0, 0, 0, 0, 0)


def _rtcp_paths(daemon, call_id: str, options: dict) -> list:
    """A offers without rtcp-mux, B answers with it; RTP both ways, then RTCP each way: on
    which of the other party's ports each packet arrives."""
    a_rtp, a_rtcp = rtp_rtcp_sockets()
    b_rtp, b_rtcp = rtp_rtcp_sockets()
    try:
        ids = {"call-id": call_id, "from-tag": "A"}
        reply = daemon.request({"command": "offer", **ids, **options,
                                "sdp": _body(a_rtp.getsockname()[1])})
        to_b = int(re.search(r"m=audio (\d+)", reply["sdp"]).group(1))  # where B sends
        reply = daemon.request({"command": "answer", **ids, "to-tag": "B",
                                "sdp": _body(b_rtp.getsockname()[1], MUX)})
        to_a = int(re.search(r"m=audio (\d+)", reply["sdp"]).group(1))  # where A sends
        rtcp = re.search(r"a=rtcp:(\d+)", reply["sdp"])
        to_a_rtcp = int(rtcp.group(1)) if rtcp else to_a + 1
        for seq in range(3):
            b_rtp.sendto(_rtp(seq), ("127.0.0.1", to_b))
            a_rtp.sendto(_rtp(seq), ("127.0.0.1", to_a))
        seen = [len(burst(a_rtp)), len(burst(b_rtp))]
        a_rtcp.sendto(RECEIVER_REPORT, ("127.0.0.1", to_a_rtcp))
        seen += [len(burst(b_rtp, 0.3)), len(burst(b_rtcp, 0.1))]
        b_rtp.sendto(RECEIVER_REPORT, ("127.0.0.1", to_b))  # B's RTCP on its one port
        seen += [len(burst(a_rtcp, 0.3)), len(burst(a_rtp, 0.1))]
        daemon.request({"command": "delete", "call-id": call_id})
        return seen
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
            sock.close()


@pytest.mark.parametrize("options", [{}, {"rtcp-mux": ["demux"]}], ids=["plain", "demux"])
def test_rtcp_follows_the_answers_rtcp_mux_as_rtpengine(default_pair, options):
    want = _rtcp_paths(default_pair.reference, "mux-answer", options)
    assert want == [3, 3, 1, 0, 1, 0]  # (B's RTP port both ways, A's RTCP port)
    assert _rtcp_paths(default_pair.ours, "mux-answer", options) == want
