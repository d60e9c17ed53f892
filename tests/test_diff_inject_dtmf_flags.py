"""``inject DTMF``, ``ptime`` and query's "transcoding" media flag, as rtpengine 10.5 shows
them.

10.5 sets up codec handlers for the party an offer or answer with ``inject DTMF`` goes to as
soon as it is sent, and for the callee of an offer that frames the media anew (``ptime``
other than the offerer's own, ``ptime-reverse``), so its media shows "transcoding" before
any answer: on a first offer's callee, on the other party of a re-offer from either side,
on an offerer whose answer refused the media, and still on the callee of an offer with
``inject DTMF`` once its answer refused the media. rtpengined showed it only once an
answer's conversions were set, and a refusing answer took it away (found by differential
random flows).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    mask_sdp_lines,
    offer,
    query,
    sdp,
)

INJECT = {"flags": ["inject-DTMF"]}


def body(host: str, port: int, formats: str = "0 101") -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", "a=rtpmap:101 telephone-event/8000")


SCENARIOS = {
    "first offer": [{**offer(body("198.51.100.1", 2000)), **INJECT}, query(),
                    answer(body("198.51.100.2", 3000)), query()],
    "answer refusing the media": [offer(body("198.51.100.1", 2000)),
                                  {**answer(body("198.51.100.2", 0)), **INJECT}, query()],
    # (the handlers the offer's inject DTMF set up stay on the callee's media)
    "offer injecting, answer refusing": [{**offer(body("198.51.100.1", 2000)), **INJECT},
                                         answer(body("198.51.100.2", 0)), query()],
    "re-offer injecting, answer refusing": [
        offer(body("198.51.100.1", 2000)), answer(body("198.51.100.2", 3000)),
        {**offer(body("198.51.100.2", 3000)), "from-tag": "B", "to-tag": "A", **INJECT},
        {**answer(body("198.51.100.1", 0)), "from-tag": "B", "to-tag": "A"}, query()],
    **{f"re-offer from {who}": [
        offer(body("198.51.100.1", 2000)), answer(body("198.51.100.2", 3000)),
        {**offer(body("198.51.100.4", 5000, "9")), "from-tag": who,
         "to-tag": "B" if who == "A" else "A", **INJECT}, query()]
       for who in ("A", "B")},
}


for _options, _own in (({"ptime": 40}, None), ({"ptime": 30}, "20"), ({"ptime": 20}, "20"),
                       ({"ptime-reverse": 30}, None)):
    SCENARIOS[f"offer with {_options}, own ptime {_own}"] = [
        {**offer(body("198.51.100.1", 2000).replace(
            "a=rtpmap:101", f"a=ptime:{_own}\r\na=rtpmap:101" if _own else "a=rtpmap:101")),
         **_options}, query(), answer(body("198.51.100.2", 3000)), query()]


def _with_video(host: str, port: int) -> str:
    return body(host, port) + f"m=video {port + 2} RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"


# (video has no codec handlers in 10.5: a changed ptime frames only the audio anew)
for _where in ("first offer", "re-offer"):
    _steps = [offer(_with_video("198.51.100.1", 2000)), answer(_with_video("198.51.100.2", 3000))]
    _options = {"ptime": 30}
    SCENARIOS[f"audio and video, ptime in the {_where}"] = (
        [{**_steps[0], **_options}, query(), _steps[1], query()] if _where == "first offer"
        else [*_steps, {**offer(_with_video("198.51.100.1", 2000)), "to-tag": "B", **_options},
              query(), _steps[1], query()])


# Without an a=ptime of the offerer's, ``ptime`` frames anew where it differs from a codec's
# default packet time (20 ms; G.723.1 30 ms): 10.5 shows no "transcoding" for 20 ms over
# PCMU or opus, and does for G.723.1 at 20 ms, or beside PCMU at 30 ms.
for _formats, _rtpmaps, _ptime in (("0 8", "", 20), ("96 0", "a=rtpmap:96 opus/48000/2", 20),
                                   ("4 0", "", 30), ("4 0", "", 20), ("4", "", 30),
                                   ("18", "", 20)):
    _offer = body("198.51.100.1", 2000, _formats).replace(
        "a=rtpmap:101 telephone-event/8000", _rtpmaps).replace("\r\n\r\n", "\r\n")
    SCENARIOS[f"ptime {_ptime} over {_formats}, no a=ptime"] = [
        {**offer(_offer), "ptime": _ptime}, query(),
        answer(body("198.51.100.2", 3000, _formats.split()[0])), query()]

# A media refused by the offer itself: a ``ptime`` that frames anew still sets up the
# handlers (both parties show "transcoding" once the answer refuses it too), and the
# refusing answer's list is narrowed to the offer's codecs (10.5).
for _ptime, _answered in ((30, "9 3"), (20, "0"), (30, "0 8")):
    SCENARIOS[f"refused offer with ptime {_ptime}, refused answer {_answered}"] = [
        {**offer(body("198.51.100.1", 0, "8 0 101")), "ptime": _ptime}, query(),
        answer(body("198.51.100.2", 0, _answered)), query()]

# ... and one refused after it was answered, whichever codec the refusing answer names;
# opus answered is framed anew like any codec.
for _codec in ("96", "8"):
    SCENARIOS[f"refused re-offer with ptime 30, refusing answer {_codec}"] = [
        offer(body("198.51.100.1", 2000, "9 8")), answer(body("198.51.100.2", 3000, "9")),
        {**offer(body("198.51.100.3", 0, "96 0 8 101").replace(
            "a=rtpmap:101", "a=rtpmap:96 opus/48000/2\r\na=rtpmap:101")), "to-tag": "B",
         "ptime": 30},
        answer(body("198.51.100.9", 0, _codec).replace(
            "a=rtpmap:101 telephone-event/8000", "a=rtpmap:96 opus/48000/2")), query()]
for _ptime in (30, 40, 60):
    SCENARIOS[f"opus offered with ptime {_ptime} and answered"] = [
        {**offer(body("198.51.100.1", 2000, "96 0").replace(
            "a=rtpmap:101 telephone-event/8000", "a=rtpmap:96 opus/48000/2")), "ptime": _ptime},
        answer(body("198.51.100.2", 3000, "96").replace(
            "a=rtpmap:101 telephone-event/8000", "a=rtpmap:96 opus/48000/2")), query()]

# A packet time ``ptime`` fixed stays: a re-offer without the option still frames the
# media anew for it (10.5 keeps the receiver's ptime; rtpengined went by the option alone).
SCENARIOS["ptime in the first offer, re-offer without"] = [
    {**offer(body("198.51.100.1", 2000)), "ptime": 40}, answer(body("198.51.100.2", 3000)),
    {**offer(body("198.51.100.3", 4000)), "to-tag": "B"}, query(),
    answer(body("198.51.100.2", 3000).replace("a=rtpmap:101", "a=ptime:30\r\na=rtpmap:101")),
    query()]
SCENARIOS["ptime in the first offer, re-offer from the callee"] = [
    {**offer(body("198.51.100.1", 2000).replace("a=rtpmap:101", "a=ptime:20\r\na=rtpmap:101")),
     "ptime": 40}, answer(body("198.51.100.2", 3000)),
    {**offer(body("198.51.100.2", 3000).replace("a=rtpmap:101", "a=ptime:30\r\na=rtpmap:101")),
     "from-tag": "B", "to-tag": "A"}, query(),
    {**answer(body("198.51.100.1", 2000)), "from-tag": "B", "to-tag": "A"}, query()]

# The media towards a party injecting DTMF shows "transcoding" once answered, also where
# the relay converts nothing: SDES passed end to end, or a codec it only passes on (10.5
# sets its handlers up all the same; rtpengined flagged only media it converted).
_KEYS = mask_sdp_lines("a=crypto:", "a=setup:", "a=fingerprint:")
_SDES = ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c",)


def _srtp(host: str, port: int) -> str:
    return body(host, port).replace("RTP/AVP", "RTP/SAVP") + _SDES[0] + "\r\n"


SCENARIOS["re-offer injecting, SDES end to end"] = [
    {**offer(_srtp("198.51.100.1", 2000)), "_mask": _KEYS},
    {**answer(_srtp("198.51.100.2", 3000)), "_mask": _KEYS},
    {**offer(_srtp("198.51.100.2", 3000)), "from-tag": "B", "to-tag": "A", **INJECT,
     "_mask": _KEYS},
    {**answer(_srtp("198.51.100.1", 2000)), "from-tag": "B", "to-tag": "A", "_mask": _KEYS},
    query()]
SCENARIOS["re-offer injecting, opus answered"] = [
    offer(body("198.51.100.1", 2000, "0 96").replace(
        "a=rtpmap:101 telephone-event/8000", "a=rtpmap:96 opus/48000/2")),
    answer(body("198.51.100.2", 3000, "0")),
    {**offer(body("198.51.100.2", 3000, "96 0 101") + "a=rtpmap:96 opus/48000/2\r\n"),
     "from-tag": "B", "to-tag": "A", **INJECT},
    {**answer(body("198.51.100.1", 2000, "96 101") + "a=rtpmap:96 opus/48000/2\r\n"),
     "from-tag": "B", "to-tag": "A", "flags": ["single-codec"]},
    query()]


# An offerer injecting DTMF is answered its own format parameters for the codecs the relay
# encodes for it (opus's useinbandfec=1, in place of the answerer's), as for a changed
# ptime; telephone-event keeps the answer's, and an answerer injecting changes nothing
# (rtpengined wrote the answerer's: found by differential random flows).
def _opus_offer(host: str, port: int) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               "m=audio 2000 RTP/AVP 96 0 9 101", "a=rtpmap:96 opus/48000/2",
               "a=fmtp:96 useinbandfec=1", "a=rtpmap:101 telephone-event/8000",
               "a=fmtp:101 0-16")


for _who, _formats, _lines in (
        ("offerer", "96", ("a=rtpmap:96 opus/48000/2",)),
        ("offerer", "96", ("a=rtpmap:96 opus/48000/2", "a=fmtp:96 useinbandfec=0; stereo=1")),
        ("offerer", "96 101", ("a=rtpmap:96 opus/48000/2", "a=rtpmap:101 telephone-event/8000")),
        ("offerer", "0 101", ("a=rtpmap:101 telephone-event/8000",)),
        ("answerer", "96", ("a=rtpmap:96 opus/48000/2",))):
    _answer = sdp("v=0", "o=- 2 1 IN IP4 198.51.100.2", "s=x", "c=IN IP4 198.51.100.2",
                  "t=0 0", f"m=audio 3000 RTP/AVP {_formats}", *_lines)
    SCENARIOS[f"{_who} injecting, answered {_formats} ({len(_lines)} lines)"] = [
        {**offer(_opus_offer("198.51.100.1", 2000)), **(INJECT if _who == "offerer" else {})},
        {**answer(_answer), **(INJECT if _who == "answerer" else {})}, query()]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_inject_dtmf_shows_transcoding(default_pair, name):
    default_pair.compare(SCENARIOS[name], f"inject-flags-{name}")
