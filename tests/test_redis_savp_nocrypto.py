"""An SDES offer answered RTP/SAVP without a key we can use, through a restart with Redis,
beside rtpengine 10.5 restoring the same kind of document.

Before the restart (``test_diff_savp_nocrypto``) the offerer is answered with a key of
ours and everything the keyless answerer sends is refused, an error of its stream. The
answerer's leg is stored as 10.5 stores it: no inbound key on its sockets, the offered
line as its outbound key. After a ``kill -9`` and a restore, what each party gets (and
can decrypt) and the streams' counters must be what 10.5 gives restoring its own
document: one daemon stores, a second one (either kind) restores from the same Redis.
"""

from __future__ import annotations

import time

import pytest
from differential import rtp_rtcp_sockets
from test_diff_savp_nocrypto import (
    A_KEY,
    ANOTHER_SUITE,
    BAD_KEY,
    TO_SAVP,
    _body,
    _exchange,
    _media_both_ways,
)

from tests.redis_helpers import kill9, ours, reference
from tests.test_redis_daemon import _stopped

DAEMONS = {"rtpengined": ours, "rtpengine": reference}
CASES = {
    "SAVP answer without a=crypto": ("RTP/SAVP", "RTP/SAVP", []),
    "SAVP answer with an unusable key": ("RTP/SAVP", "RTP/SAVP", [BAD_KEY]),
    # (SDES off: no line went on, nothing to encrypt for the answerer with either)
    "SDES off, SAVP answer without a=crypto": ("RTP/SAVP", "RTP/SAVP", [], {"SDES": ["off"]}),
    "OSRTP offer, SAVP answer without a=crypto": ("RTP/AVP", "RTP/SAVP", []),
    "SAVP answer with another suite under the offerer's tag": (
        "RTP/SAVP", "RTP/SAVP", [ANOTHER_SUITE]),
    "plain offer to SAVP, SAVP answer without a=crypto": ("RTP/AVP", "RTP/SAVP", [], TO_SAVP),
}
# 10.5 restores an opportunistic offerer's leg (RTP/AVP with a=crypto) as a plain one: it
# no longer decrypts what the offerer sends, and encrypts it (SRTP already) once more for
# the answerer. Not followed (README, "Calls in Redis"): ours goes on as 10.5 does
# without a restart.
RESTORED_AS_BEFORE = {"OSRTP offer, SAVP answer without a=crypto"}


def _restored_exchange(redis, cleanup, db: int, stored_by: str, restored_by: str,
                       call_id: str, a_proto: str, b_proto: str, b_lines: list[str],
                       options: dict | None = None) -> list:
    """Offer and answer through ``stored_by``, ``kill -9`` once Redis holds the answer,
    restore in ``restored_by``; then both parties send SRTP (with every key they know
    of), plain RTP and RTCP, as ``test_diff_savp_nocrypto`` does without a restart."""
    (a_rtp, a_rtcp), (b_rtp, b_rtcp) = rtp_rtcp_sockets(), rtp_rtcp_sockets()
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        cleanup.callback(sock.close)
    ids = {"call-id": call_id, "from-tag": "A"}
    options = options or {}
    keyed = "transport-protocol" not in options
    daemon = DAEMONS[stored_by](redis, db, 24800, 24899)
    cleanup.push(_stopped(daemon))
    offered = daemon.request({"command": "offer", **ids, "ICE": "remove", **options,
                              "sdp": _body(a_rtp.getsockname()[1], a_proto,
                                           [f"a={A_KEY.format()}"] if keyed else [])})
    answered = daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                               "sdp": _body(b_rtp.getsockname()[1], b_proto, b_lines)})
    _wait_answered(redis, db, call_id)
    kill9(daemon)
    daemon = DAEMONS[restored_by](redis, db, 24800, 24899)
    cleanup.push(_stopped(daemon))
    deadline = time.monotonic() + 10
    while daemon.request({"command": "query", "call-id": call_id}).get("result") != "ok":
        assert time.monotonic() < deadline, "the call was not restored"
        time.sleep(0.1)
    log = _media_both_ways(daemon, ids, ((a_rtp, a_rtcp), (b_rtp, b_rtcp)), offered,
                           answered, b_lines, keyed, [])
    daemon.stop()  # (its ports free for the next daemon)
    return log


def _wait_answered(redis, db: int, call_id: str) -> None:
    """Until Redis holds the answer's write (the answerer's tag), and a moment for it."""
    def answered(_keys) -> bool:
        doc = redis.document(db, call_id) or {}
        return any(v.get("tag") == "B" for k, v in doc.items() if k.startswith("tag-"))
    redis.wait_for(db, answered)
    time.sleep(0.3)


@pytest.mark.parametrize("stored_by", ["rtpengined", "rtpengine"])
@pytest.mark.parametrize("name", list(CASES))
def test_restored_keyless_answerer_as_rtpengine(redis, cleanup, name, stored_by):
    call_id = "savp-nocrypto-restored-" + name.replace(" ", "-")
    if name in RESTORED_AS_BEFORE:
        daemon = reference(redis, 1, 24800, 24899)
        cleanup.push(_stopped(daemon))
        want = _exchange(daemon, call_id, *CASES[name])[1:]  # (less the answer's shape)
        daemon.stop()
    else:
        want = _restored_exchange(redis, cleanup, 1, "rtpengine", "rtpengine", call_id,
                                  *CASES[name])
    have = _restored_exchange(redis, cleanup, 2, stored_by, "rtpengined", call_id,
                              *CASES[name])
    assert have == want
