"""T.38 gateway signalling beside rtpengine 10.5: every reply compared (SDP byte for byte
but ports, ``query``'s media types, protocols and flags), for the ``T.38`` list's shapes.

``decode`` shows a T.38 party's ``m=image`` to the other party as G.711 audio, ``force`` an
audio party's RTP as T.38; the gateway stays through later offers and answers of either
party until ``stop``. The media through the gateway (a real fax) is in ``test_t38_daemon``.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    mask_sdp_lines,
    offer,
    query,
    sdp,
)

HEAD = ("v=0", "o=- 1545997027 1 IN IP4 198.51.100.1", "s=tester", "t=0 0")
T38_LINES = ("a=sendrecv", "a=T38FaxVersion:0", "a=T38MaxBitRate:14400",
             "a=T38FaxRateManagement:transferredTCF", "a=T38FaxMaxBuffer:262",
             "a=T38FaxMaxDatagram:300")


def image(port: int = 6000, ec: str = "t38UDPRedundancy", *extra: str,
          address: str = "198.51.100.1") -> str:
    return sdp(*HEAD, f"m=image {port} udptl t38", f"c=IN IP4 {address}", *T38_LINES,
               f"a=T38FaxUdpEC:{ec}", *extra)


def audio(formats: str = "8 0", port: int = 6000, *extra: str, address: str = "198.51.100.3"
          ) -> str:
    return sdp(*HEAD, f"m=audio {port} RTP/AVP {formats}", f"c=IN IP4 {address}", "a=sendrecv",
               *extra)


T38 = "T.38"


def back(body: str, from_tag: str = "B", to_tag: str = "A", **extra) -> dict:
    """A re-offer from the called party."""
    return offer(body, tag=from_tag, **{"to-tag": to_tag}, **extra)


def back_answer(body: str, **extra) -> dict:
    return answer(body, from_tag="B", to_tag="A", **extra)


SCENARIOS = {
    "decode: image offered, audio answered": [
        offer(image(), **{T38: ["decode"], "ICE": "remove"}),
        answer(audio("0 8", 6002, "a=ptime:20"), **{"ICE": "remove"}),
        query(), delete()],
    "force: audio offered, image answered, first G.711 codec and ptime back": [
        offer(audio("96 0 8 101", 6000, "a=rtpmap:96 foobar/8000",
                    "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20",
                    "a=foo:bar"), **{T38: ["force"], "ICE": "remove"}),
        answer(image(6002, "t38UDPRedundancy", "a=foo:baz"), **{"ICE": "remove"}),
        query(), delete()],
    "decode with codec transcode naming G.711": [
        offer(image(), **{T38: ["decode"], "codec": {"transcode": ["PCMA"]}}),
        answer(audio("8", 6002)), delete()],
    "image without the list passes as it is": [
        offer(image()), answer(image(6002)), query(), delete()],
    "a rejected T.38 answer": [
        offer(audio(), **{T38: ["force"]}),
        answer(sdp(*HEAD, "m=image 0 udptl t38", "c=IN IP4 198.51.100.9")),
        query(), delete()],
    "stop: back to audio": [
        offer(audio(), **{T38: ["force"]}),
        answer(image(6002)),
        offer(audio(), **{T38: ["stop"]}),
        answer(audio("8", 7000, address="198.51.100.9")),
        query(), delete()],
    "the gateway stays for re-offers of both parties": [
        offer(audio(), **{T38: ["force", "FEC", "no-ECM"]}),
        answer(image(6002)),
        offer(audio()),
        answer(image(6002)),
        back(image(6002)),
        back_answer(audio()),
        query(), delete()],
    "re-INVITE of an audio call into fax, either way": [
        offer(audio()), answer(audio("8 0", 6002)),
        back(image(6002, address="198.51.100.3"), **{T38: ["decode"]}),
        back_answer(audio("8")),
        offer(audio("8"), **{T38: ["stop"]}),
        answer(audio("8", 6002)),
        delete()],
    "flags spelt as T38- and T.38- flags": [
        offer(audio(), flags=["T38-force", "T.38-FEC"]), delete()],
    "decode and force together on an image: decode": [
        offer(image(), **{T38: ["decode", "force"]}), delete()],
    "decode on audio, force on image: nothing to convert": [
        offer(audio(), **{T38: ["decode"]}), delete(),
        offer(image(), **{T38: ["force"]}), delete()],
    "unknown names ignored, the list not a list ignored": [
        offer(image(), **{T38: ["bogus", "no V.17", "decode"]}), delete(),
        offer(image(), **{T38: "decode"}), delete()],
    "force in an answer": [
        offer(audio()), answer(audio("8", 7000, address="198.51.100.9"), **{T38: ["force"]}),
        delete()],
    "decode towards SRTP": [
        offer(image(), **{T38: ["decode"], "transport-protocol": "RTP/SAVP"}), delete()],
    "no error correction and local TCF in the T.38 party's SDP": [
        offer(image(6000, "t38UDPNoEC", "a=T38FaxRateManagement:localTCF"),
              **{T38: ["decode"]}),
        answer(audio("8", 6002)), delete()],
    "the session's c=, one-way directions": [
        offer(sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0",
                  "m=image 6000 udptl t38", "a=T38FaxVersion:0", "a=recvonly"),
              **{T38: ["decode"]}),
        answer(sdp("v=0", "o=- 1 1 IN IP4 198.51.100.3", "s=-", "c=IN IP4 198.51.100.3", "t=0 0",
                   "m=audio 7000 RTP/AVP 8", "a=sendonly")),
        delete()],
    "T.38 as a second media beside a rejected audio one": [
        offer(sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0",
                  "m=audio 0 RTP/AVP 0", "m=image 6000 udptl t38", "a=T38FaxVersion:0"),
              **{T38: ["decode"]}),
        answer(sdp("v=0", "o=- 1 1 IN IP4 198.51.100.3", "s=-", "c=IN IP4 198.51.100.3", "t=0 0",
                   "m=audio 0 RTP/AVP 0", "m=audio 7000 RTP/AVP 8")),
        delete(),
        offer(sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0",
                  "m=audio 6000 RTP/AVP 0", "m=image 6002 udptl t38", "a=T38FaxVersion:0"),
              **{T38: ["force"]}),
        delete()],
    "FEC with a span from the T.38 party": [
        offer(image(6000, "t38UDPFEC", "a=T38FaxUdpFECMaxSpan:5"), **{T38: ["decode"]}),
        answer(audio("8", 6002)), delete()],
}


# SDES keys and our DTLS fingerprint are each daemon's own.
_mask_crypto = mask_sdp_lines("a=crypto:", "a=fingerprint:")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_t38_signalling_beside_10_5(default_pair, name):
    steps = [dict(step, _mask=_mask_crypto) for step in SCENARIOS[name]]
    default_pair.compare(steps, name)
