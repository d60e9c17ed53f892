"""The supplemental codec tracker after a strip or mask of telephone-event or CN, our
replies beside rtpengine 10.5's.

An offer with both telephone-event and CN at 8 kHz and a codec at another rate (opus):
when ``strip`` or ``mask`` takes one of the two, 10.5 gives the other to that rate too
(``CN/48000`` for a stripped telephone-event, ``telephone-event/48000`` for a stripped
CN), under the first free dynamic payload type, before the offer's own. With only one of
them in the offer nothing is added. rtpengined added nothing (found by differential
random flows). The answers (taking the added codec or not) and ``query`` follow.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)


def _offer_body(formats: str) -> str:
    return sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0",
               f"m=audio 2000 RTP/AVP {formats}", "a=rtpmap:96 opus/48000/2",
               "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=rtpmap:13 CN/8000",
               "a=sendrecv")


def _answer_body(formats: str, *rtpmaps: str) -> str:
    return sdp("v=0", "o=- 2 1 IN IP4 198.51.100.2", "s=-", "c=IN IP4 198.51.100.2", "t=0 0",
               f"m=audio 3000 RTP/AVP {formats}", *rtpmaps, "a=sendrecv")


OPUS = "a=rtpmap:96 opus/48000/2"
CN48 = "a=rtpmap:97 CN/48000"
TE48 = "a=rtpmap:97 telephone-event/48000"
TE8 = "a=rtpmap:101 telephone-event/8000"
CN8 = "a=rtpmap:13 CN/8000"

SCENARIOS: dict[str, list[dict]] = {}
for verb in ("strip", "mask"):
    SCENARIOS[f"{verb} telephone-event, answered opus and CN/48000"] = [
        offer(_offer_body("96 0 101 13"), codec={verb: ["telephone-event"]}), query(),
        answer(_answer_body("96 97", OPUS, CN48)), query(), delete()]
    SCENARIOS[f"{verb} telephone-event, answered PCMU and CN/8000"] = [
        offer(_offer_body("96 0 101 13"), codec={verb: ["telephone-event"]}),
        answer(_answer_body("0 13", CN8)), query(), delete()]
    SCENARIOS[f"{verb} CN, answered opus and telephone-event/48000"] = [
        offer(_offer_body("96 0 101 13"), codec={verb: ["CN"]}), query(),
        answer(_answer_body("96 97", OPUS, TE48)), query(), delete()]
    SCENARIOS[f"{verb} CN, answered PCMU and telephone-event/8000"] = [
        offer(_offer_body("96 0 101 13"), codec={verb: ["CN"]}),
        answer(_answer_body("0 101", TE8)), query(), delete()]
    SCENARIOS[f"{verb} telephone-event, G.722 and PCMU only"] = [
        offer(_offer_body("9 0 101 13"), codec={verb: ["telephone-event"]}),
        answer(_answer_body("9 13", CN8)), query(), delete()]
    SCENARIOS[f"{verb} telephone-event, no CN offered"] = [
        offer(_offer_body("96 0 101"), codec={verb: ["telephone-event"]}),
        answer(_answer_body("96", OPUS)), query(), delete()]
SCENARIOS["strip telephone-event and PCMU"] = [
    offer(_offer_body("96 0 8 101 13"), codec={"strip": ["telephone-event", "PCMU"]}),
    answer(_answer_body("96 97", OPUS, CN48)), query(), delete()]
SCENARIOS["strip telephone-event, re-offer without options"] = [
    offer(_offer_body("96 0 101 13"), codec={"strip": ["telephone-event"]}),
    answer(_answer_body("96 97", OPUS, CN48)),
    offer(_offer_body("96 0 101 13"), **{"to-tag": "B"}),
    answer(_answer_body("96 101", OPUS, TE8)), query(), delete()]


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_tracker_after_strip(pair, name):
    pair.compare(SCENARIOS[name], name)
