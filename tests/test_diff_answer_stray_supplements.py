"""An answer's telephone-event/CN at a clock rate the offer's ``strip``/``mask`` touched,
our replies beside rtpengine 10.5's.

An offer of opus/48000, G.722 and PCMA (8 kHz) with telephone-event and CN at 8 kHz:
when ``strip`` or ``mask`` takes an 8 kHz codec and the answerer answers opus with
telephone-event/CN at 8 kHz, 10.5's codec tracker drops those from the answer to the
offerer (no codec it answers runs at 8 kHz); answered with PCMA beside them they stay.
A codec added by ``transcode`` touches nothing here, a removed telephone-event or ``all``
touches every rate; the answerer's media then shows "transcoding" in query. rtpengined
answered them all (found by differential random flows: a re-offer with ``mask`` answered
opus and telephone-event). And an offer's ``strip all`` with ``except`` keeping opus and
telephone-event/8000 gives the telephone-event to 48 kHz (rtpengined dropped it). Those
kept at a touched rate come after the answer's codecs, CN first (rtpengined kept the
answerer's order).
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

OFFER = sdp("v=0", "o=- 1 1 IN IP4 198.51.100.4", "s=-", "c=IN IP4 198.51.100.4", "t=0 0",
            "m=audio 5000 RTP/AVP 96 9 8 101 13", "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:9 G722/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16",
            "a=rtpmap:13 CN/8000")


def _answer_body(formats: str, *rtpmaps: str) -> str:
    return sdp("v=0", "o=- 2 1 IN IP4 198.51.100.9", "s=-", "c=IN IP4 198.51.100.9", "t=0 0",
               f"m=audio 6000 RTP/AVP {formats}", *rtpmaps)


OPUS_TE_CN = _answer_body("96 101 13", "a=rtpmap:96 opus/48000/2",
                          "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16",
                          "a=rtpmap:13 CN/8000")
PCMA_TE = _answer_body("8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000",
                       "a=fmtp:101 0-16")

SCENARIOS: dict[str, list[dict]] = {}
for codec in ({"mask": ["G722"]}, {"strip": ["G722"]}, {"mask": ["PCMA"]},
              {"mask": ["opus"]}, {"transcode": ["PCMU"]}, {"mask": ["telephone-event"]},
              {"mask": ["G722"], "transcode": ["G729"]}, {"mask": ["all"]}):
    name = ", ".join(f"{verb} {' '.join(names)}" for verb, names in codec.items())
    SCENARIOS[f"{name}: answered opus, telephone-event, CN"] = [
        offer(OFFER, codec=codec), answer(OPUS_TE_CN), query(), delete()]
    SCENARIOS[f"{name}: answered PCMA, telephone-event"] = [
        offer(OFFER, codec=codec), answer(PCMA_TE), query(), delete()]
# (the offer's own tracker: ``strip all`` touched every rate, so the telephone-event kept
# by ``except`` goes to opus's rate instead of its own)
SCENARIOS["strip all, except opus telephone-event: answered opus, telephone-event/48000"] = [
    offer(OFFER, codec={"strip": ["all"], "except": ["opus", "telephone-event"]}),
    answer(_answer_body("96 97", "a=rtpmap:96 opus/48000/2",
                        "a=rtpmap:97 telephone-event/48000", "a=fmtp:97 0-15")),
    query(), delete()]
SCENARIOS["re-offer from the answerer with mask G722, answered opus and telephone-event"] = [
    offer(_answer_body("3", "a=rtpmap:3 GSM/8000")),
    answer(_answer_body("3", "a=rtpmap:3 GSM/8000")),
    offer(OFFER, "B", codec={"mask": ["G722"]}, **{"to-tag": "A"}),
    answer(OPUS_TE_CN, "B", "A"), query(), delete()]


# The order: those at a touched rate follow the answer's codecs, for each codec its CN, then
# its telephone-event; those at another rate stay where the answerer listed them.
_BOTH_RATES = ("a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/48000",
               "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=rtpmap:13 CN/8000",
               "a=rtpmap:98 CN/48000")


def _both_rates(address: str, port: int, formats: str) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", *_BOTH_RATES)


for codec, offered, answered in (
        ({"strip": ["PCMA"]}, "0 8 101 13", "0 101 13"),
        ({"mask": ["PCMA"]}, "0 8 101 13", "0 101 13"),
        ({"strip": ["PCMA"]}, "0 8 101 13", "0 13 101"),
        ({"mask": ["G722"]}, "96 0 9 97 101 13", "96 0 97 101 13"),
        ({"strip": ["G722"]}, "96 0 8 9 97 101 13", "0 8 96 101 97 13"),
        ({"strip": ["G722"]}, "96 0 8 9 97 101 13 98", "0 96 101 97 98 13"),
        ({"strip": ["telephone-event/48000"]}, "96 0 8 97 101 13 98", "0 96 101 98 13"),
        ({"strip": ["G722"], "transcode": ["PCMA"]}, "96 0 9 97 101 13", "96 0 97 101 13"),
        ({"transcode": ["G722"]}, "0 8 101 13", "0 101 13")):
    name = ", ".join(f"{verb} {' '.join(names)}" for verb, names in codec.items())
    SCENARIOS[f"order: {name}, {offered} answered {answered}"] = [
        offer(_both_rates("198.51.100.1", 2000, offered), codec=codec),
        answer(_both_rates("198.51.100.2", 3000, answered)), query(), delete()]


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_answer_drops_stray_supplements(pair, name):
    pair.compare(SCENARIOS[name], name)
