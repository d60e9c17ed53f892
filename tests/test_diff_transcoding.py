"""Differential: offers and answers that make the relay convert between codecs (the G.711
laws by table, G.722, G.723.1 and Opus through libavcodec, G.729 through bcg729 and GSM
encoded by libgsm).

``codec: {transcode}`` adds the codec to what the answerer is offered (its static payload
type, or the first free dynamic one; before telephone-event), with telephone-event and CN
at the clock rates a codec was added or masked at (10.5's supplemental codec tracker) and
without the codecs 10.5 cannot both decode and encode; ``accept``/``consume`` and
``always transcode`` choose what the offerer is answered, a masked codec may still be
answered to the offerer, and an answer with nothing in common gets the offerer's first codec
(and its telephone-event at that codec's rate). Our SDP and ``query`` beside rtpengine
10.5's, step by step; then the media, RFC 4733 events across clock rates included.
"""

from __future__ import annotations

import math
from array import array

import av
import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    media_exchange,
    offer,
    query,
    sdp,
)

from rtpengined.media import g711


def _audio(port: int, formats: str, *attributes: str, address: str = "192.0.2.10") -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", *attributes, "a=sendrecv")


def a(formats: str, *attributes: str) -> str:
    return _audio(2000, formats, *attributes)


def b(formats: str, *attributes: str) -> str:
    return _audio(3000, formats, *attributes, address="192.0.2.20")


TE = ("a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16")
TC_PCMA = {"codec": {"transcode": ["PCMA"]}}

SCENARIOS: dict[str, list[dict]] = {
    "transcode PCMA, answer takes both": [
        offer(a("0", "a=rtpmap:0 pcmu/8000"), **TC_PCMA),
        answer(b("0 8", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000")), query(), delete()],
    "transcode PCMA, answer takes only it": [
        offer(a("0"), **TC_PCMA), answer(b("8")), query(), delete()],
    "transcode PCMA, answer puts it first": [
        offer(a("0"), **TC_PCMA), answer(b("8 0")), delete()],
    "transcode PCMA lower case": [
        offer(a("0", "a=rtpmap:0 pcmu/8000"), codec={"transcode": ["pcma"]}),
        answer(b("0 8", "a=rtpmap:0 pcmu/8000", "a=rtpmap:8 pcma/8000")), delete()],
    "transcode PCMA goes before telephone-event": [
        offer(a("0 101", *TE), **TC_PCMA), answer(b("8 101", *TE)), query(), delete()],
    "transcode a codec the offer has": [
        offer(a("8 0"), codec={"transcode": ["PCMU"]}), answer(b("0")), query(), delete()],
    "transcode PCMA, the offer has both": [
        offer(a("0 8"), **TC_PCMA), answer(b("8")), delete()],
    "transcode PCMA, static type taken": [
        offer(a("0 8"), codec={"transcode": ["PCMA/8000"]}), answer(b("8")), delete()],
    "transcode PCMA after a dynamic codec": [
        offer(a("0 96", "a=rtpmap:96 opus/48000/2"), **TC_PCMA), answer(b("8")), delete()],
    "transcode PCMA as a flag": [
        offer(a("0"), flags=["codec-transcode-PCMA"]), answer(b("8")), delete()],
    # (10.5 takes ``transcode-X`` as ``codec-transcode-X``; rtpengine's own suites spell it
    # so from mr12.0 on, "codec reneg control"; we ignored it and offered what was left)
    "transcode PCMA as a flag without codec-": [
        offer(a("0"), flags=["transcode-PCMA"]), answer(b("8")), query(), delete()],
    "mask PCMU, transcode PCMA": [
        offer(a("0"), codec={"mask": ["PCMU"], "transcode": ["PCMA"]}), answer(b("8")),
        query(), delete()],
    "mask all, transcode PCMA, telephone-event": [
        offer(a("0 101", *TE), codec={"mask": ["all"], "transcode": ["PCMA"]}),
        answer(b("8 101", *TE)), delete()],
    "accept PCMU": [offer(a("0 8"), codec={"accept": ["PCMU"]}), answer(b("8")), query(),
                    delete()],
    "consume PCMU": [offer(a("0 8"), codec={"consume": ["PCMU"]}), answer(b("8")), delete()],
    "accept as a flag": [offer(a("0 8"), flags=["codec-accept-PCMU"]), answer(b("8")), delete()],
    "always transcode": [offer(a("0 8"), flags=["always-transcode"]), answer(b("8")), query(),
                         delete()],
    # (audio only: 10.5 has no video codec handlers, so a video answer keeps its codec)
    "always transcode with video": [
        offer(a("0 8") + "m=video 2002 RTP/AVP 98 97\r\na=rtpmap:98 VP8/90000\r\n"
              "a=rtpmap:97 H264/90000\r\n", flags=["always-transcode"]),
        answer(b("8") + "m=video 3002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"), query(),
        delete()],
    "transcode, answer has an unknown codec only": [
        offer(a("0"), **TC_PCMA), answer(b("18")), delete()],
    "transcode, then a re-INVITE without it": [
        offer(a("0"), **TC_PCMA), answer(b("8")),
        offer(a("0"), **{"to-tag": "B"}), answer(b("0")), query(), delete()],
    # without transcoding options: the answer's own spelling of a codec the offer has
    "answer spells the codec otherwise": [
        offer(a("0", "a=rtpmap:0 pcmu/8000")), answer(b("0", "a=rtpmap:0 PCMU/8000")),
        delete()],
    "answer spells a dynamic codec otherwise": [
        offer(a("96", "a=rtpmap:96 opus/48000/2")), answer(b("96", "a=rtpmap:96 OPUS/48000/2")),
        delete()],
    "answer without rtpmap for a static codec": [
        offer(a("8", "a=rtpmap:8 pcma/8000")), answer(b("8")), delete()],
    "answer with nothing in common keeps telephone-event only": [
        offer(a("0 101", *TE)), answer(b("8 101", *TE)), delete()],
}


# G.722 and Opus (converted through libavcodec)
SCENARIOS.update({
    "transcode G722 and opus, answer takes G722": [
        offer(a("0 8"), codec={"transcode": ["G722", "opus"]}), answer(b("9")), query(),
        delete()],
    "transcode opus, answer takes it": [
        offer(a("0"), codec={"transcode": ["opus"]}),
        answer(b("96", "a=rtpmap:96 opus/48000/2")), delete()],
    "transcode mono opus": [
        offer(a("0"), codec={"transcode": ["opus/48000/1"]}),
        answer(b("96", "a=rtpmap:96 opus/48000")), delete()],
    "WebRTC-style opus offer, transcode PCMU, answer PCMU": [
        offer(a("111 0", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1"),
              codec={"transcode": ["PCMU", "PCMA"]}),
        answer(b("8")), query(), delete()],
    "G722 offer, transcode PCMA, answer PCMA": [
        offer(a("9"), codec={"transcode": ["PCMA"]}), answer(b("8")), delete()],
    # G.723.1 (static payload type 4, 30 ms frames)
    "transcode G723 and G722, answer takes G723": [
        offer(a("0"), codec={"transcode": ["G723", "G722"]}), answer(b("4")), query(),
        delete()],
    "G723 offer, transcode PCMU, answer PCMU": [
        offer(a("4"), codec={"transcode": ["PCMU"]}), answer(b("0")), query(), delete()],
    # G.729 (bcg729, written with annexb=no when added) and GSM (libgsm)
    "transcode G729, answer takes it": [
        offer(a("0"), codec={"transcode": ["G729"]}), answer(b("18")), query(), delete()],
    "transcode GSM, answer takes it": [
        offer(a("0 101", *TE), codec={"transcode": ["GSM"]}), answer(b("3 101", *TE)),
        query(), delete()],
    "transcode G729 and GSM, answer takes GSM": [
        offer(a("0 8"), codec={"transcode": ["G729", "GSM"]}), answer(b("3")), query(),
        delete()],
    "G729 offer, transcode PCMU, answer PCMU": [
        offer(a("18"), codec={"transcode": ["PCMU"]}), answer(b("0")), query(), delete()],
    "GSM offer, transcode PCMA, answer PCMA": [
        offer(a("3 101", *TE), codec={"transcode": ["PCMA"]}), answer(b("8 101", *TE)),
        query(), delete()],
    # (the offerer's first codec is answered where the answer lists the added codec)
    "transcode G722, answer takes it first, then one in common": [
        offer(a("8 0"), codec={"transcode": ["G722"]}), answer(b("9 0")), query(), delete()],
    "transcode G722, answer takes one in common first": [
        offer(a("8 0 101", *TE), codec={"transcode": ["G722"]}),
        answer(b("0 9 101", *TE)), delete()],
    "transcode G722, answer takes it, then the offerer's first codec": [
        offer(a("0 8"), codec={"transcode": ["G722"]}), answer(b("9 8")), query(), delete()],
    # (rtpengine's main suite, "multi codec offer/answer" with single codec)
    "transcode opus, answer has the offerer's first codec before it, single codec": [
        offer(a("0 8 101", *TE), codec={"transcode": ["opus"]}),
        answer(b("0 8 96 101 98", "a=rtpmap:96 opus/48000/2", "a=rtpmap:101 telephone-event/8000",
                 "a=rtpmap:98 telephone-event/48000"), flags=["single-codec"]), delete()],
    "transcode G722 to a G.729 offer, answer takes it between others": [
        offer(a("8 0 18"), codec={"transcode": ["G722"]}), answer(b("18 9 0")), delete()],
    "G729 offer with annexb, transcode PCMA, answer takes both": [
        offer(a("18", "a=fmtp:18 annexb=yes"), codec={"transcode": ["PCMA"]}),
        answer(b("8 18")), delete()],
})


# A mask and codecs the transcode list brings back or makes anew (rtpengine's main suite,
# "dup codec number", run whole): a name with codec options or format parameters is a codec
# of its own (a fresh dynamic payload type) rather than the masked one; the offer's
# telephone-events, all masked, come back by clock rate; a list that only brings codecs
# back sends those alone.
DUP = ("a=rtpmap:111 opus/48000", "a=rtpmap:108 speex/16000", "a=rtpmap:8 PCMA/8000",
       "a=rtpmap:101 telephone-event/48000", "a=rtpmap:96 telephone-event/8000",
       "a=fmtp:96 0-15", "a=fmtp:101 0-15")
DUP_SWAPPED = tuple(line.replace(":101 ", ":XX ").replace(":96 ", ":101 ").replace(":XX ", ":96 ")
                    for line in DUP)


def _masked(names: list[str], mask: tuple[str, ...] = ("all",)) -> dict:
    return {"codec": {"mask": list(mask), "transcode": names}}


SCENARIOS.update({
    "mask all, transcode with codec options (dup codec number)": [
        offer(a("111 108 8 101 96", *DUP),
              **_masked(["G722", "opus/48000/1//test=1", "speex", "PCMA", "telephone-event"])),
        delete()],
    "mask all, transcode brings the masked ones back": [
        offer(a("111 108 8 101 96", *DUP),
              **_masked(["G722", "opus/48000/1", "speex", "PCMA", "telephone-event"])),
        delete()],
    "mask all, telephone-events at swapped payload types": [
        offer(a("111 108 8 96 101", *DUP_SWAPPED),
              **_masked(["G722", "opus/48000/1", "speex", "PCMA", "telephone-event"])),
        delete()],
    "mask all, transcode only brings PCMA back": [
        offer(a("111 108 8 101 96", *DUP), **_masked(["PCMA"])), delete()],
    "mask all, transcode brings PCMA and telephone-event back": [
        offer(a("111 108 8 101 96", *DUP), **_masked(["PCMA", "telephone-event"])),
        delete()],
    "mask opus, transcode opus brings it back": [
        offer(a("111 108 8 101 96", *DUP), **_masked(["opus"], ("opus",))), delete()],
    # strip all: the codecs named are all there is (a stripped one named comes back on its
    # own payload type); a telephone-event at a rate the offer had no codec at stays
    "strip all, transcode PCMU back and opus added": [
        offer(a("0 101", *TE), codec={"strip": ["all"], "transcode": ["PCMU", "opus/48000/1"]}),
        delete()],
    "strip all, transcode keeps the stripped opus's payload type": [
        offer(a("0 111 101", "a=rtpmap:111 opus/48000/2", *TE),
              codec={"strip": ["all"], "transcode": ["G722", "PCMA", "opus"]}),
        answer(b("111", "a=rtpmap:111 opus/48000/2")), query(), delete()],
    "strip all, transcode CN and G722": [
        offer(a("0 13"), codec={"strip": ["all"], "transcode": ["CN", "G722"]}), delete()],
    "strip all, transcode G723 and G722 from a G.711 offer": [
        offer(a("8 101", *TE), codec={"strip": ["all"], "transcode": ["G723", "G722"]}),
        delete()],
    "mask G723, transcode G722, a telephone-event without its codec rate stays": [
        offer(a("4 9 110 101", "a=rtpmap:110 telephone-event/48000", *TE),
              codec={"mask": ["G723"], "transcode": ["G722"]}), delete()],
    "strip CN, a telephone-event without its codec rate goes": [
        offer(a("0 110 13 101", "a=rtpmap:110 telephone-event/48000", *TE),
              codec={"strip": ["G723", "CN"], "transcode": ["PCMU"]}), delete()],
    "strip G722, a telephone-event without its codec rate stays": [
        offer(a("0 9 110 101", "a=rtpmap:110 telephone-event/48000", *TE),
              codec={"strip": ["G722"]}), delete()],
    "mask all, opus with format parameters is made anew": [
        offer(a("111 108 8 101 96", *DUP), **_masked(["opus/48000/1/useinbandfec=1"])),
        answer(b("97", "a=rtpmap:97 opus/48000")), query(), delete()],
})


# telephone-event and CN across clock rates (10.5's supplemental codec tracker), and the
# codecs a transcoding offer drops
TE48 = ("a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/48000")
SCENARIOS.update({
    "transcode opus adds telephone-event/48000": [
        offer(a("0 101", *TE), codec={"transcode": ["opus"]}),
        answer(b("96 97", *TE48)), query(), delete()],
    "opus offer, transcode PCMU adds telephone-event/8000": [
        offer(a("96 97", *TE48), codec={"transcode": ["PCMU"]}),
        answer(b("0 98", "a=rtpmap:98 telephone-event/8000")), query(), delete()],
    "mask opus, transcode PCMA drops telephone-event/48000": [
        offer(a("96 0 97 101", *TE48, *TE), codec={"mask": ["opus"], "transcode": ["PCMA"]}),
        answer(b("8 101", *TE)), query(), delete()],
    "mask PCMA, transcode opus, telephone-event at 97": [
        offer(a("8 97", "a=rtpmap:97 telephone-event/8000"),
              codec={"transcode": ["opus"], "mask": ["PCMA"]}),
        answer(b("96 98", "a=rtpmap:96 opus/48000/2", "a=rtpmap:98 telephone-event/48000")),
        delete()],
    "transcode opus adds CN/48000": [
        offer(a("0 13"), codec={"transcode": ["opus"]}),
        answer(b("96 97", "a=rtpmap:96 opus/48000/2", "a=rtpmap:97 CN/48000")), delete()],
    "transcode PCMA drops SILK": [
        offer(a("96 0", "a=rtpmap:96 SILK/8000"), **TC_PCMA), answer(b("8")), delete()],
    "transcode PCMA drops AMR, the answer picks it anyway": [
        offer(a("0 102", "a=rtpmap:102 AMR/8000"), **TC_PCMA),
        answer(b("102", "a=rtpmap:102 AMR/8000")), query(), delete()],
    "transcode PCMA keeps vorbis": [
        offer(a("96 0", "a=rtpmap:96 vorbis/48000"), **TC_PCMA), answer(b("8")), delete()],
    "mask full, transcode PCMA and telephone-event": [
        offer(a("96 120", "a=rtpmap:96 opus/48000/2", "a=rtpmap:120 telephone-event/48000"),
              codec={"mask": ["full"], "transcode": ["PCMA", "telephone-event"]}),
        answer(b("8 96", "a=rtpmap:96 telephone-event/8000")), query(), delete()],
})


# comfort noise (CN, RFC 3389): transcoded to, accepted, consumed, across clock rates
TE8 = "a=rtpmap:101 telephone-event/8000"
OPUS = "a=rtpmap:96 opus/48000/2"
SCENARIOS.update({
    # (rtpengine's mr12.0 suite, "codec reneg control": ``transcode-X`` flags)
    "mask all but telephone-event, transcode opus as a flag": [
        offer(a("101 0 8 9", *TE), flags=["codec-strip-telephone-event", "codec-mask-G722",
                                          "codec-mask-PCMA", "codec-mask-PCMU",
                                          "transcode-opus", "codec-offer-telephone-event"]),
        answer(b("96 97", OPUS, "a=rtpmap:97 telephone-event/48000")), delete()],
    "transcode opus with CN and telephone-event": [
        offer(a("0 13 101", TE8), codec={"transcode": ["opus"]}),
        answer(b("96 97", OPUS, "a=rtpmap:97 telephone-event/48000")), query(), delete()],
    "transcode PCMA with CN, answer takes the common codec": [
        offer(a("0 13"), **TC_PCMA), answer(b("0")), query(), delete()],
    "transcode PCMA with CN, answer takes PCMA": [
        offer(a("0 13"), **TC_PCMA), answer(b("8")), query(), delete()],
    "always transcode with CN and telephone-event": [
        offer(a("0 13 101", TE8), flags=["always transcode"]), answer(b("0")), query(),
        delete()],
    "accept PCMU with CN": [
        offer(a("0 8 13"), codec={"accept": ["PCMU"]}), answer(b("8")), query(), delete()],
    "consume CN only": [
        offer(a("8 0 13 101", TE8), codec={"consume": ["CN"]}), answer(b("8 101", TE8)),
        query(), delete()],
    # (SDP only: 10.5's query also flags A's media as transcoding here, because it adds
    # CN/48000 to B's side after the answer and re-encodes A's Opus for it; we do not)
    "transcode CN into an opus offer": [
        offer(a("96 0 101", OPUS, TE8), codec={"transcode": ["CN"]}),
        answer(b("96 13", OPUS)), delete()],
    "transcode CN goes before telephone-event": [
        offer(a("0 101", TE8), codec={"transcode": ["CN"]}), answer(b("0 13 101", TE8)),
        query(), delete()],
    "transcode opus with CN, no telephone-event": [
        offer(a("0 13"), codec={"transcode": ["opus"]}), answer(b("96", OPUS)), query(),
        delete()],
    "transcode CN, answer takes it": [
        offer(a("0"), codec={"transcode": ["CN"]}), answer(b("0 13")), query(), delete()],
    "transcode CN, answer takes the second codec without CN": [
        offer(a("8 0"), codec={"transcode": ["CN"]}), answer(b("0")), query(), delete()],
    "transcode PCMU and CN, answer takes both": [
        offer(a("8"), codec={"transcode": ["PCMU", "CN"]}), answer(b("0 13")), query(),
        delete()],
    "strip all, consume CN, offer codecs back": [
        offer(a("8 0 13 101", TE8),
              codec={"strip": ["all"], "consume": ["CN"],
                     "offer": ["PCMA", "PCMU", "telephone-event"]}),
        answer(b("8 101", TE8)), query(), delete()],
})


# ``mask: [all]`` with ``transcode`` names: the offer's own codecs a name matches (encoding,
# rate, channels; one channel when unsaid) come back in the list's order, the others are
# made; a converted answer lists the converted codec first and gives the offerer its own
# telephone-event fmtp.
TE_BOTH = ("a=rtpmap:102 telephone-event/48000", "a=rtpmap:101 telephone-event/8000")
SCENARIOS.update({
    "mask all, transcode names the offer's codecs": [
        offer(a("111 8 101 96", "a=rtpmap:111 opus/48000", "a=rtpmap:101 telephone-event/48000",
                "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15", "a=fmtp:101 0-15"),
              codec={"mask": ["all"],
                     "transcode": ["G722", "opus/48000/1", "PCMA", "telephone-event"]}),
        answer(b("8 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16")), query(),
        delete()],
    "mask all, transcode mono opus beside the offer's stereo one": [
        offer(a("96 8 102 101", OPUS, *TE_BOTH),
              codec={"mask": ["all"], "transcode": ["opus/48000/1", "PCMA", "telephone-event"]}),
        answer(b("97 102", "a=rtpmap:97 opus/48000", "a=rtpmap:102 telephone-event/48000"),
               flags=["single codec"]), query(), delete()],
    "transcode names a codec the offer has with other channels": [
        offer(a("96 0", OPUS), codec={"transcode": ["opus/48000/1"]}),
        answer(b("97", "a=rtpmap:97 opus/48000")), query(), delete()],
})


# ``transcode: [telephone-event]`` on an offer without any: one made at 8 kHz (or the rate
# named), then one at every other codec rate, placed before it; one left at a rate without
# codecs goes. An offer that has one gets none (upstream 14512).
SPEEX16 = "a=rtpmap:97 speex/16000"
SCENARIOS.update({
    "transcode telephone-event at every clock rate": [
        offer(a("0 96 8 97 9", "a=rtpmap:96 opus/48000", SPEEX16),
              codec={"transcode": ["telephone-event"]}),
        answer(b("0 99", "a=rtpmap:99 telephone-event/16000")), query(), delete()],
    "transcode telephone-event, G.711 only": [
        offer(a("0 8"), codec={"transcode": ["telephone-event"]}),
        answer(b("8 96", "a=rtpmap:96 telephone-event/8000")), query(), delete()],
    "transcode telephone-event, the offer has one": [
        offer(a("96 0 101", OPUS, TE8), codec={"transcode": ["telephone-event"]}),
        answer(b("0 101", TE8)), delete()],
    "transcode telephone-event, opus and PCMU": [
        offer(a("96 0", OPUS), codec={"transcode": ["telephone-event"]}),
        answer(b("96 98", OPUS, "a=rtpmap:98 telephone-event/48000")), query(), delete()],
    "transcode telephone-event, 16 kHz only": [
        offer(a("97", SPEEX16), codec={"transcode": ["telephone-event"]}), delete()],
    "transcode telephone-event at a named rate": [
        offer(a("0 96", OPUS), codec={"transcode": ["telephone-event/48000"]}), delete()],
    "transcode telephone-event and PCMA into an opus offer": [
        offer(a("96", OPUS), codec={"transcode": ["telephone-event", "PCMA"]}),
        answer(b("8 97", "a=rtpmap:97 telephone-event/8000")), query(), delete()],
})

# ``always transcode`` answered with a conversion stays with the offerer: its re-offer
# without the flag is answered the codec it was answered then (PCMU here), whatever it now
# lists first and the answerer chooses, as long as it still lists it; answered without a
# conversion, or re-offered by the answerer, nothing stays (rtpengined answered the
# re-offer as a plain one: found by differential random flows).
_ALWAYS = [offer(a("0 3"), flags=["always-transcode"]), answer(b("3 0"))]
SCENARIOS.update({
    "always transcode, re-offer GSM first, answered GSM": [
        *_ALWAYS, offer(a("3 0"), **{"to-tag": "B"}), answer(b("3")), query(), delete()],
    "always transcode, re-offer PCMA first, answered GSM and PCMA": [
        *_ALWAYS, offer(a("8 0 3"), **{"to-tag": "B"}), answer(b("3 8")), query(), delete()],
    "always transcode, re-offer unchanged, answered PCMU and GSM": [
        *_ALWAYS, offer(a("0 3"), **{"to-tag": "B"}), answer(b("0 3")), query(), delete()],
    "always transcode, re-offer without PCMU": [
        *_ALWAYS, offer(a("3 8"), **{"to-tag": "B"}), answer(b("8")), query(), delete()],
    "always transcode answered without a conversion, re-offer": [
        offer(a("0 3"), flags=["always-transcode"]), answer(b("0")),
        offer(a("0 8"), **{"to-tag": "B"}), answer(b("8")), query(), delete()],
    "always transcode, re-offer from the answerer": [
        *_ALWAYS, offer(b("3 0"), "B", **{"to-tag": "A"}), answer(a("0"), "B", "A"), query(),
        delete()],
})


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_transcoding_sdp(default_pair, name):
    default_pair.compare(SCENARIOS[name], name)


# -- media, over loopback sockets ---------------------------------------------------------

SILENCE = b"\x00" * 160
# Upstream case "one codec with one for transcoding" (t/auto-daemon-tests.pl): B may send
# PCMA, which A was not answered; everything B sends goes out under a new SSRC, a duplicate
# passes, and a sequence reset of converted packets keeps the output continuous.
RESET_SEQUENCE = [
    ("A", 0, 1000, 3000, 0x1234, SILENCE), ("A", 0, 1000, 3000, 0x1234, SILENCE),
    ("A", 0, 1001, 3160, 0x1234, SILENCE), ("A", 0, 1010, 4600, 0x1234, SILENCE),
    ("B", 0, 2000, 4000, 0x5678, SILENCE), ("B", 0, 2000, 4000, 0x5678, SILENCE),
    ("B", 0, 2001, 4160, 0x5678, SILENCE), ("B", 0, 2010, 5600, 0x5678, SILENCE),
    ("B", 8, 2011, 5760, 0x5678, SILENCE), ("B", 8, 62011, 5920, 0x5678, SILENCE),
    ("B", 8, 62012, 6080, 0x5678, SILENCE), ("B", 0, 62013, 6240, 0x5678, SILENCE),
    ("B", 8, 62013, 6400, 0x5678, SILENCE),  # (a duplicate of a converted packet: dropped)
    ("B", 8, 62014, 6560, 0x5678, bytes(range(160))),
]
# Converted audio is sent in 20 ms frames, on the encoder's clock (10.5).
FRAMING = [("A", 0x80, 1, 1000, 0x1111, b"\x01" * 80), ("A", 0, 2, 1080, 0x1111, b"\x02" * 80),
           ("A", 0, 3, 1160, 0x1111, b"\x03" * 240), ("A", 0, 4, 1400, 0x1111, b"\x04" * 240),
           ("A", 0, 5, 1640, 0x1111, b"\x05" * 160), ("A", 0, 6, 1800, 0x1111, b"\x06" * 400),
           ("A", 0x80, 9, 4000, 0x1111, b"\x07" * 160), ("A", 0, 3, 1160, 0x1111, b"\x08" * 160),
           ("A", 0, 30, 9000, 0x3333, b"\x09" * 160)]
# 10.5's packet sequencer: a packet ahead of a gap waits for the missing one, unless it is
# 60 ms past the last one decoded; then the missing ones are late duplicates.
REORDERED = [("A", 0, 1, 1000, 0x1111, SILENCE), ("A", 0, 3, 1320, 0x1111, SILENCE),
             ("A", 0, 2, 1160, 0x1111, SILENCE), ("A", 0, 4, 1480, 0x1111, SILENCE),
             ("A", 0, 7, 1960, 0x1111, SILENCE), ("A", 0, 5, 1640, 0x1111, SILENCE),
             ("A", 0, 6, 1800, 0x1111, SILENCE), ("A", 0, 8, 2120, 0x1111, SILENCE)]
# Upstream case "default ptime in, ptime=30 out, default response": A's packets go to B in
# the 30 ms it was offered, B's to A in 20 ms, through a sequence reset and reordering.
PTIME = [("A", 0, 1000, 3000, 0x1234, SILENCE), ("A", 0, 1001, 3160, 0x1234, SILENCE),
         ("A", 0, 1002, 3320, 0x1234, SILENCE), ("A", 0, 1003, 3480, 0x1234, SILENCE),
         ("A", 0, 1004, 3640, 0x1234, SILENCE), ("A", 0, 8000, 500000, 0x1234, b"\x00" * 480),
         ("B", 0, 4000, 5000, 0x4567, b"\x88" * 480), ("B", 0, 4001, 5480, 0x4567, b"\x88" * 480),
         ("B", 0, 4002, 5960, 0x4567, b"\x88" * 80), ("B", 0, 4003, 6040, 0x4567, b"\x88" * 80),
         ("B", 0, 4005, 6200, 0x4567, b"\x88" * 80), ("B", 0, 4004, 6120, 0x4567, b"\x88" * 80),
         ("B", 0, 4006, 6280, 0x4567, b"\x88" * 80), ("B", 0, 4007, 6360, 0x4567, b"\x88" * 80)]
# Nothing in common: PCMU one way, PCMA the other, both converted, every byte value.
BOTH_WAYS = [("A", 0, 5, 800, 0x1111, bytes(range(0, 160))),
             ("B", 8, 7, 900, 0x2222, bytes(range(96, 256))),
             ("A", 0, 6, 960, 0x1111, bytes(range(100, 256))),
             ("B", 8, 8, 1060, 0x2222, bytes(range(0, 160))),
             ("A", 0, 6, 960, 0x1111, bytes(range(100, 256)))]


PCMU_BOTH_WAYS = [(s, 0, *rest) for s, _, *rest in BOTH_WAYS]


def _event(seq: int, ts: int, step: int) -> tuple:
    """A's key 5 (RFC 4733): ``step`` 0 starts it, 2 and 3 end it (the end sent twice)."""
    payload = bytes((5, 0x8A if step >= 2 else 0x0A)) + (160 * min(step + 1, 3)).to_bytes(2, "big")
    return ("A", 101 | (0x80 if step == 0 else 0), seq, ts, 0x1234, payload)


# telephone-event passing through a direction whose audio is framed anew: 10.5 stamps it at
# the audio clock's position and moves the clock past it, even at the same payload type and
# rate. With ptime 30 the key comes while 80 samples wait for a frame (stamped 400, not
# 480); transcoded after a gap in A's audio, it is stamped where the clock is (640, not 1760).
EVENT_WHILE_PENDING = [("A", 0, 1, 160, 0x1234, b"\x81" * 160), ("A", 0, 2, 320, 0x1234, b"\x82" * 160),
                       *(_event(3 + k, 480, k) for k in range(4)),
                       *(("A", 0, 7 + j, 1280 + 160 * j, 0x1234, bytes((0x10 + j,)) * 160)
                         for j in range(4))]
EVENT_AFTER_GAP = [("A", 8, 1, 160, 0x1234, b"\xd5" * 160), ("A", 8, 2, 320, 0x1234, b"\xd5" * 160),
                   ("A", 8, 3, 1600, 0x1234, b"\xd5" * 160),
                   *(_event(4 + k, 1760, k) for k in range(4)),
                   *(("A", 8, 8 + j, 2240 + 160 * j, 0x1234, b"\xd5" * 160) for j in range(3))]

MEDIA = {
    "transcode, answer takes both, reset and duplicates": ({"codec": {"transcode": ["PCMA"]}},
                                                          "0", "0 8", RESET_SEQUENCE),
    "transcode, nothing in common": ({"codec": {"transcode": ["PCMA"]}}, "0", "8", BOTH_WAYS),
    # (B's first codec is the added one: A's PCMU, which B takes too, goes out as PCMA)
    "transcode, answer puts the added codec first": ({"codec": {"transcode": ["PCMA"]}}, "0",
                                                     "8 0", BOTH_WAYS),
    "transcode, framing and clock": ({"codec": {"transcode": ["PCMA"]}}, "0", "8", FRAMING),
    "transcode, reordered and late packets": ({"codec": {"transcode": ["PCMA"]}}, "0", "8",
                                              REORDERED),
    "ptime 30 towards the answerer": ({"ptime": 30}, "0", "0", PTIME),
    "ptime-reverse 40, ptime 30, with conversion": (
        {"ptime": 30, "ptime-reverse": 40, "codec": {"transcode": ["PCMA"]}}, "0", "8",
        [(s, 8 if s == "B" else pt, *rest) for s, pt, *rest in PTIME]),
    "accept PCMU": ({"codec": {"accept": ["PCMU"]}}, "0 8", "8", BOTH_WAYS),
    "always transcode": ({"flags": ["always-transcode"]}, "8 0", "0", [
        (s, 8 if s == "A" else 0, *rest) for s, _, *rest in BOTH_WAYS]),
    # (the answerer takes the offerer's codec: 10.5 passes the packets through untouched)
    "always transcode, the answer takes the offerer's codec": (
        {"flags": ["always-transcode"]}, "0 8", "0", PCMU_BOTH_WAYS),
    "accept PCMU, the answer takes PCMU": ({"codec": {"accept": ["PCMU"]}}, "0 8", "0",
                                           PCMU_BOTH_WAYS),
    "telephone-event while a new ptime's samples wait": (
        {"ptime": 30}, "0 101", "0 101", EVENT_WHILE_PENDING),
    "telephone-event after a gap, transcoded": (
        {"codec": {"transcode": ["PCMU"]}}, "8 101", "0 101", EVENT_AFTER_GAP),
}


@pytest.mark.parametrize("name", list(MEDIA))
def test_transcoded_media_as_rtpengine(default_pair, name):
    options, a_formats, b_formats, packets = MEDIA[name]
    call_id = f"media-{name}".replace(" ", "_")
    events = (TE[0],) if " 101" in a_formats else ()
    want = media_exchange(default_pair.reference, call_id, a_formats, b_formats, packets,
                          options, a_attributes=events, b_attributes=events)
    have = media_exchange(default_pair.ours, call_id, a_formats, b_formats, packets, options,
                          a_attributes=events, b_attributes=events)
    assert have == want


# Comfort noise (RFC 3389) from B for an A that did not take CN: each CN packet becomes one
# 20 ms frame of noise in A's codec (libavcodec's decoder gives 80 ms; the rest waits for the
# next CN packet), the audio around it goes through the same encoder clock.
CN_NOISE = b"\x12\x23\x23\x34\x56"
CN_STEPS = [("B", 0, 2000, 4000, 0x3456, SILENCE), ("B", 13, 2001, 4160, 0x3456, CN_NOISE),
            ("B", 0, 2002, 4320, 0x3456, SILENCE), ("B", 13, 2003, 4480, 0x3456, CN_NOISE),
            ("B", 0, 2004, 4640, 0x3456, SILENCE), ("B", 13, 2005, 4800, 0x3456, CN_NOISE)]


@pytest.mark.parametrize(("a_formats", "options"), [
    ("0", {"codec": {"transcode": ["CN"]}}),  # A is answered PCMU
    ("8 0", {"codec": {"transcode": ["CN"]}}),  # A is answered its second codec, PCMU
    ("8", {"codec": {"transcode": ["PCMU", "CN"]}}),  # A receives PCMA
], ids=["PCMU", "PCMU second", "PCMA out"])
def test_comfort_noise_becomes_audio_as_rtpengine(default_pair, a_formats, options):
    """B answers PCMU and CN; what A receives for B's PCMU and CN packets is 10.5's byte for
    byte: payload types, sequence numbers, timestamps, SSRCs and the noise itself."""
    call_id = f"cn-{a_formats.replace(' ', '_')}"
    want = media_exchange(default_pair.reference, call_id, a_formats, "0 13", CN_STEPS, options)
    have = media_exchange(default_pair.ours, call_id, a_formats, "0 13", CN_STEPS, options)
    assert have == want
    assert all(len(got) == 1 and len(got[0][3]) == 160 for got in have)


def _tone(frequency: int = 440, samples: int = 4000) -> bytes:
    return bytes(g711.linear_to_ulaw(int(8000 * math.sin(2 * math.pi * frequency * n / 8000)))
                 for n in range(samples))


def _decoded_frequency(codec: str, payloads: list[bytes]) -> float:
    """The frequency of what ``payloads`` (one codec's RTP payloads) decode to, by zero
    crossings."""
    decoder = av.CodecContext.create(codec, "r")
    if codec != "libopus":
        decoder.sample_rate, decoder.layout = 16000, "mono"
    rate = 16000
    mono = av.AudioResampler(format="s16", layout="mono", rate=rate)  # (no numpy needed)
    samples = array("h")
    for payload in payloads:
        for frame in decoder.decode(av.Packet(payload)):
            for resampled in mono.resample(frame):
                samples.frombytes(bytes(resampled.planes[0])[:resampled.samples * 2])
    rising = sum(1 for x, y in zip(samples, samples[1:], strict=False) if x < 0 <= y)
    return rising * rate / len(samples)


@pytest.mark.parametrize(("name", "decoder"), [("G722", "g722"), ("opus", "libopus")])
def test_libavcodec_conversions_frame_and_time_as_rtpengine(default_pair, name, decoder):
    """PCMU to G.722 or Opus and back: packet for packet what 10.5 sends (payload types,
    sequence numbers, timestamps, SSRCs); the payloads differ (each daemon's libavcodec and
    resampler), so the audio is checked instead: the tone sent is the tone that comes."""
    pt = "9" if name == "G722" else "96"
    attributes = () if name == "G722" else ("a=rtpmap:96 opus/48000/2",)
    tone = _tone()
    outward = [("A", 0, 10 + i, 1000 + 160 * i, 0x1111, tone[160 * i:160 * (i + 1)])
               for i in range(25)]
    results = {}
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        options = {"codec": {"transcode": [name]}}
        out = media_exchange(daemon, f"av-{name}-{which}", "0", pt, outward, options,
                             b_attributes=attributes)
        encoded = [got[0][3] for got in out if got]
        back = media_exchange(daemon, f"av-{name}-back-{which}", "0", pt,
                              [("B", int(pt), 50 + i, 5000 + 160 * i, 0x2222, payload)
                               for i, payload in enumerate(encoded)], options,
                              b_attributes=attributes)
        results[which] = (out, back, encoded)
    for ref, ours in zip(results["ref"][:2], results["ours"][:2], strict=True):
        assert [[g[:3] + g[4:] for g in got] for got in ours] == [
            [g[:3] + g[4:] for g in got] for got in ref]
    assert abs(_decoded_frequency(decoder, results["ours"][2]) - 440) < 25
    pcmu = b"".join(got[0][3] for got in results["ours"][1] if got)
    linear = [g711.ulaw_to_linear(code) for code in pcmu]
    rising = sum(1 for x, y in zip(linear, linear[1:], strict=False) if x < 0 <= y)
    assert abs(rising * 8000 / len(linear) - 440) < 25


@pytest.mark.parametrize(("name", "pt", "size"), [("G729", 18, 20), ("GSM", 3, 33)])
def test_native_coders_byte_for_byte_as_rtpengine(default_pair, name, pt, size):
    """PCMU to G.729 (bcg729) or GSM (libgsm) and back: every packet as 10.5 sends it,
    payloads included (the same libraries code the same samples). A G.729 packet is
    stamped with its last 10 ms frame's time, as 10.5 stamps it."""
    tone = _tone()
    steps = [("A", 0, 100 + i, 1000 + 160 * i, 0x1234, tone[160 * i:160 * (i + 1)])
             for i in range(8)]
    results = {}
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        results[which] = media_exchange(daemon, f"native-{name}-{which}", "0", str(pt), steps,
                                        {"codec": {"transcode": [name]}})
    assert results["ours"] == results["ref"]
    sent = [packet for got in results["ours"] for packet in got]
    assert [len(p[3]) for p in sent] == [size] * 8
    encoded = [p[3] for p in sent]
    back = [("B", pt, 500 + i, 9000 + 160 * i, 0x5678, payload)
            for i, payload in enumerate(encoded)]
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        results[which] = media_exchange(daemon, f"native-{name}-back-{which}", "0", str(pt),
                                        back, {"codec": {"transcode": [name]}})
    assert results["ours"] == results["ref"]
    pcmu = b"".join(got[0][3] for got in results["ours"] if got)
    linear = [g711.ulaw_to_linear(code) for code in pcmu]
    rising = sum(1 for x, y in zip(linear, linear[1:], strict=False) if x < 0 <= y)
    assert len(pcmu) == 8 * 160 and abs(rising * 8000 / len(linear) - 440) < 25


def test_g729_packet_time_as_rtpengine(default_pair):
    """G.729 at another packet time than the default 20 ms (the offer's ``ptime``): whole
    10 ms frames per packet, stamped as 10.5 stamps them."""
    tone = _tone()
    steps = [("A", 0, 100 + i, 1000 + 160 * i, 0x1234, tone[160 * i:160 * (i + 1)])
             for i in range(9)]
    results = {}
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        results[which] = media_exchange(daemon, f"g729-ptime-{which}", "0", "18", steps,
                                        {"codec": {"transcode": ["G729"]}, "ptime": 30})
    assert results["ours"] == results["ref"]
    assert [len(p[3]) for got in results["ours"] for p in got] == [30] * 6


def test_g723_conversion_byte_for_byte_as_rtpengine(default_pair):
    """PCMU to G.723.1 (30 ms frames from 20 ms packets) and G.723.1 back to PCMU: every
    packet as 10.5 sends it, payloads included (both encode with libavcodec's coder at
    6.3 kbit/s)."""
    tone = _tone()
    steps = [("A", 0, 100 + i, 1000 + 160 * i, 0x1234, tone[160 * i:160 * (i + 1)])
             for i in range(9)]
    steps += [("B", 4, 500 + i, 9000 + 240 * i, 0x5678, bytes(24)) for i in range(3)]
    results = {}
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        results[which] = media_exchange(daemon, f"g723-{which}", "0", "4", steps,
                                        {"codec": {"transcode": ["G723"]}})
    assert results["ours"] == results["ref"]
    sent = [packet for got in results["ours"] for packet in got]
    assert [len(p[3]) for p in sent if p[0] == 4] == [24] * 6  # (six 30 ms frames)
    assert [p[2] for p in sent if p[0] == 4] == [1000 + 240 * i for i in range(6)]


def _opus_silence(count: int) -> list[bytes]:
    """``count`` Opus payloads of 20 ms of silence (libopus, 48 kHz mono)."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "mono", "s16"
    encoder.bit_rate = 32000
    payloads: list[bytes] = []
    index = 0
    while len(payloads) < count:
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.sample_rate = 48000
        frame.planes[0].update(bytes(1920))
        frame.pts = index * 960
        index += 1
        payloads += [bytes(packet) for packet in encoder.encode(frame)]
    return payloads[:count]


def _dtmf_steps(sender: str, audio_pt: int, event_pt: int, step: int, seq: int, ts: int,
                ssrc: int, frames: list[bytes], durations: list[int]) -> list:
    """Three audio frames, an RFC 4733 event (key 8 from the A side, 5 from B, volume 10;
    marker on its first packet, all at one timestamp, the last ``durations`` ends), then
    the rest of ``frames``."""
    code = 8 if sender == "A" else 5
    packets = [(sender, audio_pt, seq + i, ts + step * i, ssrc, frames[i]) for i in range(3)]
    for i, duration in enumerate(durations):
        end = 0x80 if duration == durations[-1] else 0
        packets.append((sender, event_pt | (0x80 if i == 0 else 0), seq + 3 + i, ts + 3 * step,
                        ssrc, bytes([code, end | 10]) + duration.to_bytes(2, "big")))
    after = seq + 3 + len(durations)
    packets += [(sender, audio_pt, after + i, ts + step * (6 + i), ssrc, payload)
                for i, payload in enumerate(frames[3:])]
    return packets


@pytest.mark.parametrize("direction", ["A to B", "B to A"])
def test_dtmf_events_across_clock_rates_as_rtpengine(default_pair, direction):
    """A PCMU phone with telephone-event/8000, transcoded to an Opus party with
    telephone-event/48000: the events are carried across the clock rates as 10.5 carries
    them (payload type, marker, sequence numbers, the encoder clock's timestamp, durations
    scaled), packet for packet; the audio payloads are not compared (libopus builds)."""
    if direction == "A to B":
        steps = _dtmf_steps("A", 0, 101, 160, 1000, 3000, 0x1234, [b"\xff" * 160] * 5,
                            [160, 320, 480, 480, 480])
        event_in, event_out = 101, 97
    else:
        steps = _dtmf_steps("B", 96, 97, 960, 500, 90000, 0x5555, _opus_silence(6),
                            [960, 1920, 2880, 2880])
        event_in, event_out = 97, 101
    results = {}
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        results[which] = media_exchange(
            daemon, f"te-{direction.replace(' ', '_')}-{which}", "0 101", "96 97", steps,
            {"codec": {"transcode": ["opus"]}},
            a_attributes=("a=rtpmap:101 telephone-event/8000",),
            b_attributes=("a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/48000"))

    def seen(result: list) -> list:
        return [[(pt, seq, ts, payload if pt & 0x7F == event_out else None, kept, ssrc)
                 for pt, seq, ts, payload, kept, ssrc in got] for got in result]

    assert seen(results["ours"]) == seen(results["ref"])
    events = [got for packets in seen(results["ours"]) for got in packets if got[3]]
    sent = [step for step in steps if step[1] & 0x7F == event_in]
    assert len(events) == len(sent) and events[0][0] == 0x80 | event_out


def _g711_16k_steps(payloads_a: list[bytes], payloads_b: list[bytes]) -> list:
    """A at 16 kHz (PCMU/16000, 320 samples a packet) and B at 8 kHz (PCMA), each way,
    then A's key 8 (telephone-event/16000) and A's audio after it."""
    steps = [("A", 100, 1000 + i, 3000 + 320 * i, 0x1234, payload)
             for i, payload in enumerate(payloads_a)]
    steps += [("B", 8, 2000 + i, 5000 + 160 * i, 0x5678, payload)
              for i, payload in enumerate(payloads_b)]
    n = len(payloads_a)
    for i, duration in enumerate((320, 640, 960, 960, 960)):
        end = 0x80 if i >= 2 else 0
        steps.append(("A", 101 | (0x80 if i == 0 else 0), 1000 + n + i, 3000 + 320 * n, 0x1234,
                      bytes((8, end | 15)) + duration.to_bytes(2, "big")))
    steps += [("A", 100, 1005 + n + i, 3000 + 320 * (n + 3 + i), 0x1234, payload)
              for i, payload in enumerate(payloads_a)]
    return steps


@pytest.mark.parametrize("payloads", ["silence", "tone"])
def test_g711_at_16_khz_is_resampled_as_rtpengine(default_pair, payloads):
    """PCMU at a 16 kHz clock (rtpengine's "DTMF scaling" case) is another codec than
    PCMU/8000: converted to B's PCMA through the resampler (a frame of delay: the first
    packet waits for the second), its telephone-event scaled to 8 kHz, and B's audio
    upsampled to it; packet for packet, payloads included."""
    if payloads == "silence":
        a_frames, b_frames = [b"\x00" * 320] * 4, [b"\xd5" * 160] * 4
    else:
        linear = [int(9000 * math.sin(2 * math.pi * 700 * n / 16000)) for n in range(320 * 4)]
        a_frames = [bytes(g711.linear_to_ulaw(s) for s in linear[320 * i: 320 * (i + 1)])
                    for i in range(4)]
        b_frames = [bytes(g711.linear_to_alaw(s) for s in linear[::2][160 * i: 160 * (i + 1)])
                    for i in range(4)]
    steps = _g711_16k_steps(a_frames, b_frames)
    results = {}
    for which, daemon in (("ref", default_pair.reference), ("ours", default_pair.ours)):
        results[which] = media_exchange(
            daemon, f"g711-16k-{payloads}-{which}", "100 101", "8 96", steps,
            {"codec": {"transcode": ["PCMA", "telephone-event/8000"]},
             "flags": ["always transcode"]},
            a_attributes=("a=rtpmap:100 PCMU/16000", "a=rtpmap:101 telephone-event/16000",
                          "a=fmtp:101 0-15"),
            b_attributes=("a=rtpmap:8 PCMA/8000", "a=rtpmap:96 telephone-event/8000",
                          "a=fmtp:96 0-15"))
    assert results["ours"] == results["ref"]
    assert sum(len(got) for got in results["ref"]) >= 8
