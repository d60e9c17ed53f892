"""rtcp-mux in a re-offer that adds a media, as rtpengine 10.5 offers it.

10.5 keeps rtcp-mux on a leg that uses it and offers no fallback port (a "require"), and
it does so by setting ``require`` on the whole message: every accepted RTP media after
that one in the offer is offered rtcp-mux on a single port too, a media the re-offer adds
included, whatever that media's own SDP says. rtpengined offered an added media its own
choice with an RTCP port (found by differential random flows). Both parties' re-offers,
with and without ``a=rtcp-mux`` on the added media, and a first media that is refused.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)


def body(host: str, audio: int, video: int | None = None, mux: bool = True,
         video_mux: bool = False) -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {audio} RTP/AVP 0 8"]
    lines += ["a=rtcp-mux"] if mux else []
    if video is not None:
        lines += [f"m=video {video} RTP/AVP 97", "a=rtpmap:97 H264/90000"]
        lines += ["a=rtcp-mux"] if video_mux else [f"a=rtcp:{video + 1}"]
    return sdp(*lines)


A, B = "198.51.100.1", "198.51.100.2"


@pytest.mark.parametrize("video_mux", [False, True])
@pytest.mark.parametrize("who", ["A", "B"])
def test_a_media_added_after_a_muxed_one(default_pair, who, video_mux):
    first = [offer(body(A, 2000)), answer(body(B, 3000))]
    if who == "A":
        again = [{**offer(body(A, 2000, 2002, video_mux=video_mux)), "to-tag": "B"},
                 answer(body(B, 3000, 3002, video_mux=video_mux))]
    else:
        again = [{**offer(body(B, 3000, 3002, video_mux=video_mux)),
                  "from-tag": "B", "to-tag": "A"},
                 {**answer(body(A, 2000, 2002, video_mux=video_mux)),
                  "from-tag": "B", "to-tag": "A"}]
    default_pair.compare([*first, *again, query()], f"mux-added-{who}-{video_mux}")


def test_a_refused_first_media_forces_nothing(default_pair):
    default_pair.compare([
        offer(body(A, 2000)), answer(body(B, 3000)),
        {**offer(body(A, 0, 2002)), "to-tag": "B"}, query(),
    ], "mux-refused-first")


def test_no_mux_in_use_forces_nothing(default_pair):
    default_pair.compare([
        offer(body(A, 2000, mux=False)), answer(body(B, 3000, mux=False)),
        {**offer(body(A, 2000, 2002, mux=False)), "to-tag": "B"}, query(),
    ], "mux-none")


@pytest.mark.parametrize("moved", [False, True], ids=["same-address", "moved"])
@pytest.mark.parametrize("first_flags", [["accept"], []], ids=["accepted", "offered"])
def test_a_reofferer_on_one_port_keeps_it(default_pair, first_flags, moved):
    """An offerer whose leg is on rtcp-mux re-offers rtcp-mux (no ``rtcp-mux`` option): 10.5
    keeps its leg on one port (query lists its RTCP stream without a socket); rtpengined
    bound a new pair for it. A leg that had a pair (rtcp-mux offered on, then answered)
    keeps its pair on both."""
    again = body("198.51.100.3" if moved else A, 4000 if moved else 2000)
    default_pair.compare([
        {**offer(body(A, 2000)), "rtcp-mux": first_flags}, answer(body(B, 3000)),
        {**offer(again), "to-tag": "B"}, query(), answer(body(B, 3000)), query(),
    ], f"mux-reoffer-keeps-{first_flags}-{moved}")
