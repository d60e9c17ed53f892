"""Payload types a restored call's streams know, beside rtpengine 10.5 restoring the same
document: RTP of a type the stream does not know is an error of it (and relayed) after a
restart too.

10.5 restores each media's codecs from the document (``payload_types-N``) and fills each
restored stream's RTP statistics from them: after the restart a stream knows its media's
stored codecs, and only those (not the types it had gathered over its offers). Each
case is stored by one daemon (either kind), which is then killed with SIGKILL; 10.5 and
rtpengined each restore that daemon's document (a database each) and both parties send
RTP of known and unknown types over real sockets. The streams' counters must be the same.
We restored no payload types at all (nothing was ever an error after a restart).
"""

from __future__ import annotations

import time

import pytest
from differential import burst, rtp_rtcp_sockets
from test_diff_rtcp_feedback import _ports, _text
from test_diff_rtp_payload_types import RTPMAPS, _body, _counters, _rtp

from tests.redis_helpers import kill9, ours, reference
from tests.test_redis_daemon import _stopped

DAEMONS = {"rtpengined": ours, "rtpengine": reference}
# name: (A's formats, B's, offer options)
CASES = {
    "the same": ("0 8", "0 8", {}),
    "answered fewer": ("0 8 101", "0 101", {}),
    "answered more": ("0", "0 8 18", {}),
    "dynamic": ("0 96", "0 96", {}),
    "stripped": ("0 8 9", "0", {"codec": {"strip": ["PCMA"]}}),
}
SENT = (0, 8, 9, 18, 96, 101, 72)  # the payload types each party sends after the restart


def _attributes(formats: str) -> tuple[str, ...]:
    return tuple(line for line in RTPMAPS if line.split()[0][9:] in formats.split())


def _restored_counters(redis, cleanup, db: int, stored_by: str, restored_by: str,
                       case: tuple) -> tuple:
    """Each party's streams' counters after the restart and RTP of ``SENT`` both ways."""
    a_formats, b_formats, options = case
    (a_rtp, a_rtcp), (b_rtp, b_rtcp) = rtp_rtcp_sockets(), rtp_rtcp_sockets()
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        cleanup.callback(sock.close)
    ids = {"call-id": "restored-types", "from-tag": "A"}
    daemon = DAEMONS[stored_by](redis, db, 24800, 24899)
    cleanup.push(_stopped(daemon))
    to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove", **options,
                                 "sdp": _body(a_rtp.getsockname()[1], "RTP/AVP", None, False,
                                              a_formats, _attributes(a_formats))}))
    to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                 "sdp": _body(b_rtp.getsockname()[1], "RTP/AVP", None, False,
                                              b_formats, _attributes(b_formats))}))

    def answered(_keys) -> bool:
        doc = redis.document(db, "restored-types") or {}
        return any(v.get("tag") == "B" for k, v in doc.items() if k.startswith("tag-"))
    redis.wait_for(db, answered)
    time.sleep(0.3)  # (the answer's own write)
    kill9(daemon)
    daemon = DAEMONS[restored_by](redis, db, 24800, 24899)
    cleanup.push(_stopped(daemon))
    deadline = time.monotonic() + 10
    while daemon.request({"command": "query", "call-id": "restored-types"}).get(
            "result") != "ok":
        assert time.monotonic() < deadline, "the call was not restored"
        time.sleep(0.1)
    to_b_party, to_a_party = [], []  # (totals: a slow relay may deliver one late)
    for seq, pt in enumerate(SENT, start=10):
        a_rtp.sendto(_rtp(pt, seq), ("127.0.0.1", _ports(to_a)[0]))
        to_b_party += burst(b_rtp, 0.2)
        b_rtp.sendto(_rtp(pt, seq), ("127.0.0.1", _ports(to_b)[0]))
        to_a_party += burst(a_rtp, 0.2)
    to_b_party += burst(b_rtp, 0.3)
    to_a_party += burst(a_rtp, 0.3)
    relayed = (len(to_b_party), len(to_a_party))
    counters = (_counters(daemon, "restored-types", "A"),
                _counters(daemon, "restored-types", "B"))
    daemon.request({"command": "delete", **ids})
    daemon.stop()  # (its ports free for the next daemon)
    return relayed, counters


@pytest.mark.parametrize("stored_by", ["rtpengine", "rtpengined"])
@pytest.mark.parametrize("name", list(CASES))
def test_restored_streams_know_their_stored_payload_types_as_rtpengine(
        redis, cleanup, name, stored_by):
    want = _restored_counters(redis, cleanup, 1, stored_by, "rtpengine", CASES[name])
    have = _restored_counters(redis, cleanup, 2, stored_by, "rtpengined", CASES[name])
    assert have[1] == want[1]
    assert have[0] == (len(SENT), len(SENT))  # (unknown or not, everything is relayed)
    if stored_by == "rtpengine":
        assert want[0] == have[0]
    # (10.5 restoring our document of an answer with other codecs than the offer's drops
    # what the offerer sends in a codec the answerer lacks: its restore builds codec
    # handlers from the two parties' stored codecs, which our document lists as each
    # party's own (10.5 lists the answered ones on both): README, "Calls in Redis".)
    a_streams, b_streams = want[1]
    assert a_streams[0][2] > 0 and b_streams[0][2] > 0  # (the case is tested)
