"""telephone-event and CN in the answer after codec options took a codec out of the offer,
as rtpengine 10.5 answers them.

When ``strip`` or ``mask`` removes a codec at the clock rate of a telephone-event or CN the
offer keeps, 10.5 answers those from its codec handlers: the offerer gets its own format
parameters back (``a=fmtp:101 0-16`` although the answerer wrote none, or wrote another),
and an answer left with only telephone-event/CN gets an empty format list. A codec removed
at another clock rate (opus at 48 kHz) changes nothing. rtpengined did so only when the
options named telephone-event/CN themselves (found by differential random flows). The same
holds for the answer's own ``strip`` (rtpengined used to pass the answerer's parameters).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    sdp,
)


def body(host: str, port: int, formats: str, fmtp: str | None = "0-16") -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP {formats}", "a=rtpmap:101 telephone-event/8000",
             "a=rtpmap:96 opus/48000/2", "a=rtpmap:13 CN/8000"]
    lines += [f"a=fmtp:101 {fmtp}"] if fmtp else []
    return sdp(*lines)


CASES = [
    ({}, None, "8 101"),
    ({"mask": ["PCMU"]}, None, "8 101"),
    ({"strip": ["PCMU"]}, None, "8 101"),
    ({"strip": ["PCMU"]}, "0-15", "8 101"),
    ({"strip": ["PCMU"], "transcode": ["G722"]}, None, "8 101"),
    ({"mask": ["opus"]}, None, "8 101"),
    ({"strip": ["opus"]}, None, "9 101"),
    ({"strip": ["PCMU"]}, None, "96 8 101"),
    ({"strip": ["PCMU"]}, None, "9 101"),
    ({"strip": ["PCMU"]}, None, "9 101 13"),
    ({"mask": ["opus"]}, None, "9 101"),
    ({"except": ["PCMA"], "strip": ["all"]}, None, "8 101"),
]


@pytest.mark.parametrize("codec,answer_fmtp,answered", CASES, ids=str)
def test_answer_after_a_strip(default_pair, codec, answer_fmtp, answered):
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000, "0 8 96 101 13")), "codec": codec},
        answer(body("198.51.100.2", 3000, answered, answer_fmtp)),
    ], "strip-supplementary")


# The answer's own codec options: a ``strip`` that takes a codec out of the answer at the
# clock rate of its telephone-event/CN has the offerer's format parameters answered too
# (``0-16``, whatever the answerer wrote); one at another rate, or none, leaves the
# answerer's own. ``mask`` in an answer takes nothing out (10.5 reads it in offers only).
ANSWER_CASES = [
    ({"strip": ["PCMA"]}, None, "0 8 101"),
    ({"strip": ["PCMA"]}, "0-15", "0 8 101"),
    ({"strip": ["PCMA"]}, "0-15", "96 0 8 101"),
    ({"strip": ["opus"]}, "0-15", "96 0 8 101"),
    ({"strip": ["CN"]}, None, "0 8 101 13"),
    ({"strip": ["all"], "except": ["PCMU", "telephone-event"]}, None, "0 8 101"),
    ({"mask": ["PCMA"]}, None, "0 8 101"),
    ({"strip": ["GSM"]}, None, "0 8 101"),
    ({"strip": ["PCMA"]}, None, "8 101"),
]


@pytest.mark.parametrize("codec,answer_fmtp,answered", ANSWER_CASES, ids=str)
def test_strip_in_the_answer(default_pair, codec, answer_fmtp, answered):
    default_pair.compare([
        offer(body("198.51.100.1", 2000, "0 8 96 101 13")),
        {**answer(body("198.51.100.2", 3000, answered, answer_fmtp)), "codec": codec},
    ], "strip-in-answer")
