"""Whose format parameters an answer gives the offerer, our SDP beside rtpengine 10.5's.

10.5 answers a codec the relay encodes into for the offerer (what the answerer sends in
another codec, converted into it; every codec when the offer changed the packet time; the
offerer's codec at the clock rate of a telephone-event the offer made and the answer took,
for the tones) from the offerer's own codec, with its ``a=fmtp``; a codec that passes as
the answerer sends it keeps the answerer's, also under ``always transcode`` and
``accept``. rtpengined wrote the answerer's in the first case and the offerer's in the
last (found by differential random flows: opus's ``useinbandfec=1``).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    sdp,
)

OFFER = sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0",
            "m=audio 2000 RTP/AVP 96 0", "a=rtpmap:96 opus/48000/2",
            "a=fmtp:96 useinbandfec=1", "a=sendrecv")


def _answer(formats: str, *extra: str) -> str:
    return sdp("v=0", "o=- 2 1 IN IP4 198.51.100.2", "s=-", "c=IN IP4 198.51.100.2", "t=0 0",
               f"m=audio 3000 RTP/AVP {formats}", "a=rtpmap:96 opus/48000/2", *extra,
               "a=sendrecv")


OWN_FMTP = "a=fmtp:96 maxplaybackrate=16000"
CASES = {
    "no options": ({}, "96 0", ()),
    "no options, answerer's fmtp": ({}, "96", (OWN_FMTP,)),
    "transcode PCMA, opus answered": ({"codec": {"transcode": ["PCMA"]}}, "96 0", ()),
    "transcode PCMA, opus with its fmtp": ({"codec": {"transcode": ["PCMA"]}}, "96",
                                           (OWN_FMTP,)),
    "transcode PCMA, PCMA answered first": ({"codec": {"transcode": ["PCMA"]}}, "8 96",
                                            ("a=rtpmap:8 PCMA/8000",)),
    "transcode PCMA, PCMA alone": ({"codec": {"transcode": ["PCMA"]}}, "8",
                                   ("a=rtpmap:8 PCMA/8000",)),
    "made telephone-event at 48 kHz taken": (
        {"codec": {"transcode": ["telephone-event"]}}, "96 0 98",
        ("a=rtpmap:98 telephone-event/48000",)),
    "made telephone-event at 8 kHz taken": (
        {"codec": {"transcode": ["telephone-event"]}}, "96 0 101",
        ("a=rtpmap:101 telephone-event/8000",)),
    "ptime 30": ({"ptime": 30}, "96", ()),
    "ptime 30, answerer's fmtp": ({"ptime": 30}, "96", (OWN_FMTP,)),
    "always transcode, opus answered": ({"flags": ["always-transcode"]}, "96", ()),
    "always transcode, opus with its fmtp": ({"flags": ["always-transcode"]}, "96",
                                             (OWN_FMTP,)),
    "always transcode, PCMU first": ({"flags": ["always-transcode"]}, "0 96", ()),
    "accept opus, opus answered": ({"codec": {"accept": ["opus"]}}, "96", ()),
    "accept PCMU, opus answered": ({"codec": {"accept": ["PCMU"]}}, "96", (OWN_FMTP,)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_answer_fmtp(default_pair, name):
    options, formats, extra = CASES[name]
    default_pair.compare([offer(OFFER, **options), answer(_answer(formats, *extra)), delete()],
                         name)
