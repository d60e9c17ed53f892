"""``single codec`` in an answer: what the answerer sends in the codecs it answered beside
the first is converted into that one, as rtpengine 10.5 does.

The offerer is answered with one codec (and telephone-event/CN), so 10.5 sets up codec
handlers for the answerer's other codecs: an answerer that sends one of them anyway reaches
the offerer in the codec it was answered, and ``query`` shows ``transcoding`` on the
answerer's media. rtpengined narrowed the answer but passed the other codecs through
(found by differential random flows).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    media_exchange,
    offer,
    query,
    sdp,
)

SINGLE = {"flags": ["single-codec"]}


def body(host: str, port: int, formats: str) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", "a=rtpmap:101 telephone-event/8000")


@pytest.mark.parametrize("offered,answered", [("0 8 9", "0 8"), ("0 8 9", "8 0 9"),
                                              ("0 8 101", "0 8 101"), ("0 8", "0")])
def test_signalling_and_query(default_pair, offered, answered):
    default_pair.compare([
        offer(body("198.51.100.1", 2000, offered)),
        {**answer(body("198.51.100.2", 3000, answered)), **SINGLE},
        query(),
    ], f"single-codec-{offered}-{answered}")


def test_the_answerers_other_codec_reaches_the_offerer_converted(default_pair):
    """B answered PCMU and PCMA, A was answered PCMU: B's PCMA reaches A as PCMU (the same
    bytes on both daemons), B's PCMU and A's PCMU pass."""
    pcma, pcmu = b"\xd5" * 160, b"\xff" * 160
    steps = [("B", 8, seq, 160 * seq, 0x1234, pcma) for seq in range(1, 4)]
    steps += [("B", 0, seq, 160 * seq, 0x1234, pcmu) for seq in range(4, 6)]
    steps += [("A", 0, seq, 160 * seq, 0x5678, pcmu) for seq in range(1, 3)]
    results = [media_exchange(daemon, f"single-codec-media-{index}", "0 8 9", "0 8", steps,
                              answer_options=SINGLE)
               for index, daemon in enumerate((default_pair.reference, default_pair.ours))]
    reference, ours = results
    assert [[packet[0] for packet in got] for got in reference[:3]] == [[0]] * 3
    assert ours == reference
