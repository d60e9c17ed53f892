"""Differential: the flags and packet times of a call's Redis document beside rtpengine
10.5's, both daemons storing into a real redis-server.

Per party (its tag): each media's ``media_flags`` (RTCP_MUX_OVERRIDE, 0x20000, says
the last offer to it decided its answer's rtcp-mux: set unless the offerer offered
rtcp-mux and we offered it on, or with ``accept``/``reject``), its ``ptime`` (the a=ptime
the party is shown), its ``format_str`` (the format list of the last SDP on the media:
the other party's when in the same protocol) and each stream's ``ps_flags``
(IMPLICIT_RTCP, 0x1, on an RTCP stream at RTP + 1: the party's SDP had no a=rtcp; ICE,
0x80, on a leg speaking ICE; RTCP and FALLBACK_RTCP on a muxed leg). We wrote none of
these flags, a ptime of 0 and the party's own format list.
"""

from __future__ import annotations

import time

import pytest
from test_diff_options import A_ICE, A_MUX, A_RTCP_ATTR, B_ICE, A, B

from tests.redis_helpers import ours, reference
from tests.test_redis_daemon import _stopped

B_MUX = B.replace("a=sendrecv", "a=sendrecv\r\na=rtcp-mux")
B_PTIME = B.replace("a=sendrecv", "a=ptime:30\r\na=sendrecv")

CASES = {
    "plain": (A, {}, B),
    "rtcp-mux offered and answered": (A_MUX, {}, B_MUX),
    "rtcp-mux offered, demux": (A_MUX, {"rtcp-mux": ["demux"]}, B),
    "rtcp-mux offered, accept": (A_MUX, {"rtcp-mux": ["accept"]}, B_MUX),
    "rtcp-mux offered, reject": (A_MUX, {"rtcp-mux": ["reject"]}, B),
    "rtcp-mux not offered, offer": (A, {"rtcp-mux": ["offer"]}, B_MUX),
    # (RFC 5761 forbids it; 10.5 takes the answer's a=rtcp-mux all the same)
    "rtcp-mux answered, not offered": (A, {}, B_MUX),
    "rtcp-mux offered, demux, answered": (A_MUX, {"rtcp-mux": ["demux"]}, B_MUX),
    "rtcp-mux required, not answered": (A, {"rtcp-mux": ["require"]}, B),
    "a=rtcp in the offer": (A_RTCP_ATTR, {}, B),
    "ptime in the answer": (A, {}, B_PTIME),
    "ptime and ptime-reverse options": (A, {"ptime": 30, "ptime-reverse": 40}, B),
    "ICE both ways": (A_ICE, {}, B_ICE),
    "ICE removed towards the answerer": (A_ICE, {"ICE": "remove"}, B),
    "SRTP offered, plain answer": (A, {"transport-protocol": "RTP/SAVP", "DTLS": "off"}, B),
}


def _stored(redis, db: int, daemon, call_id: str, offer_sdp: str, options: dict,
            answer_sdp: str) -> dict:
    ids = {"call-id": call_id, "from-tag": "A"}
    daemon.request({"command": "offer", **ids, "sdp": offer_sdp, **options})
    daemon.request({"command": "answer", **ids, "to-tag": "B", "sdp": answer_sdp})

    def answered(_keys) -> bool:
        doc = redis.document(db, call_id) or {}
        return any(v.get("tag") == "B" for k, v in doc.items() if k.startswith("tag-"))
    redis.wait_for(db, answered)
    time.sleep(0.2)  # (the answer's own write)
    doc = redis.document(db, call_id)
    tags = {k.partition("-")[2]: v["tag"] for k, v in doc.items() if k.startswith("tag-")}
    medias = {k.partition("-")[2]: v for k, v in doc.items() if k.startswith("media-")}
    out = {}
    for key, media in medias.items():
        streams = sorted((doc[f"stream-{s}"]["component"], doc[f"stream-{s}"]["ps_flags"])
                         for s in doc[f"streams-{key}"])
        out[tags[media["tag"]]] = (media["media_flags"], media["ptime"], media["format_str"],
                                   streams)
    return out


@pytest.fixture(scope="module")
def stored(request):
    """Every case stored by each daemon, in one redis-server (a database each)."""
    from tests.redis_helpers import RedisServer

    server = RedisServer()
    request.addfinalizer(server.stop)
    result: dict = {}
    for name, start, db, ports in (("rtpengine", reference, 1, (24800, 24899)),
                                   ("rtpengined", ours, 2, (24900, 24999))):
        daemon = start(server, db, *ports)
        try:
            for case, (offer_sdp, options, answer_sdp) in CASES.items():
                result[(name, case)] = _stored(server, db, daemon, case.replace(" ", "_"),
                                               offer_sdp, options, answer_sdp)
        finally:
            _stopped(daemon)()
    return result


@pytest.mark.parametrize("case", list(CASES))
def test_document_flags_and_ptime_as_rtpengine(stored, case):
    assert stored[("rtpengined", case)] == stored[("rtpengine", case)]


DAEMONS = {"rtpengined": ours, "rtpengine": reference}


def _streams(query: dict) -> dict:
    return {tag: [(s["local port"], s["flags"], s.get("endpoint"))
                  for m in info["medias"] for s in m["streams"]]
            for tag, info in query["tags"].items()}


@pytest.mark.parametrize(("stored_by", "restored_by"), [
    ("rtpengine", "rtpengined"), ("rtpengined", "rtpengine"), ("rtpengined", "rtpengined")])
def test_restored_rtcp_mux_call_as_rtpengine(redis, cleanup, stored_by, restored_by):
    """An rtcp-mux call (each WebRTC call is one) goes through a restart with Redis: the
    restored call's streams are those the storing daemon had, the offerer's one port
    muxed and its RTCP listed without a socket (10.5 writes it with local port 0; we
    bound a random port for it on restore)."""
    from tests.redis_helpers import kill9

    daemon = DAEMONS[stored_by](redis, 1, 24800, 24899)
    cleanup.push(_stopped(daemon))
    ids = {"call-id": "mux-restart", "from-tag": "A"}
    daemon.request({"command": "offer", **ids, "sdp": A_MUX, "rtcp-mux": ["accept"]})
    daemon.request({"command": "answer", **ids, "to-tag": "B", "sdp": B_MUX})
    before = _streams(daemon.request({"command": "query", "call-id": "mux-restart"}))

    def answered(_keys) -> bool:
        doc = redis.document(1, "mux-restart") or {}
        return any(v.get("tag") == "B" for k, v in doc.items() if k.startswith("tag-"))
    redis.wait_for(1, answered)
    time.sleep(0.2)
    kill9(daemon)
    daemon = DAEMONS[restored_by](redis, 1, 24800, 24899)
    cleanup.push(_stopped(daemon))
    deadline = time.monotonic() + 10
    while True:
        reply = daemon.request({"command": "query", "call-id": "mux-restart"})
        if reply.get("result") == "ok" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert reply.get("result") == "ok"
    assert _streams(reply) == before
    assert [port for port, _, _ in before["A"]][1:] == [0]  # (the offerer's unbound RTCP)
