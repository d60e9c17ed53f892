"""A refused media (port 0): its keys and DTLS lines stay behind, and it is written in the
protocol its receiver uses, as rtpengine 10.5 writes it.

Found by a differential run of random offer/answer flows. rtpengined passed a refused
media's ``a=crypto``, ``a=fingerprint`` and ``a=setup`` lines on to the other party
(the sender's keys, for a media nobody will key) and kept the sender's protocol where
10.5 writes an offer's ``transport-protocol`` and, in an answer, the protocol the
offerer offered. Other attributes (``a=tls-id``, unknown ones, ``a=ssrc``, ``a=mid``)
pass as before, on both.
"""

from __future__ import annotations

import re

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    sdp,
)

FINGERPRINT = "a=fingerprint:sha-256 " + ":".join(["AB"] * 32)
CRYPTO = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"


def MASK(reply):
    """Keys and fingerprints of accepted media are each daemon's own: their values go,
    the lines stay (so a refused media's lines still count)."""
    if not isinstance(reply, list):
        return reply
    out = []
    for key, value in reply:
        if key == "sdp" and isinstance(value, str):
            value = re.sub(r"inline:\S+", "inline:KEY", value)
            value = re.sub(r"(a=fingerprint:\S+) \S+", r"\1 DIGEST", value)
        out.append((key, value))
    return out


def body(second_port: int, protocol: str, *attributes: str, host: str = "198.51.100.1") -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
               "m=audio 2000 RTP/AVP 0", f"m=audio {second_port} {protocol} 8 0", *attributes)


REFUSED_IN_OFFER = {
    "SDES keys": ("RTP/SAVP", [CRYPTO, "a=x-foo:bar", "a=ptime:20", "a=mid:1", "a=ssrc:1 cname:x"]),
    "DTLS and ICE": ("UDP/TLS/RTP/SAVPF", [
        FINGERPRINT, "a=setup:actpass", "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
        "a=candidate:1 1 UDP 2130706431 198.51.100.1 2000 typ host", "a=rtcp-fb:8 nack",
        "a=rtpmap:8 PCMA/8000", "a=fmtp:8 x=1", "a=rtcp:2001", "a=rtcp-mux", "a=sendonly"]),
    "both on RTP/AVP": ("RTP/AVP", [CRYPTO, FINGERPRINT, "a=setup:actpass", "a=tls-id:abc"]),
}
OPTIONS = {"plain": {}, "transport-protocol": {"transport-protocol": "RTP/SAVP"},
           "ICE force": {"ICE": "force"}}


@pytest.mark.parametrize("options", list(OPTIONS))
@pytest.mark.parametrize("case", list(REFUSED_IN_OFFER))
def test_a_media_refused_in_the_offer(default_pair, case, options):
    protocol, attributes = REFUSED_IN_OFFER[case]
    default_pair.compare([{**offer(body(0, protocol, *attributes)), **OPTIONS[options],
                           "_mask": MASK}], f"refused-offer-{case}-{options}")


ANSWERER = {"RTP/SAVP": [CRYPTO], "UDP/TLS/RTP/SAVP": [FINGERPRINT, "a=setup:active"],
            "RTP/AVP": [CRYPTO, FINGERPRINT, "a=setup:active"]}
OFFERED = {"SDES": ("RTP/SAVP", [CRYPTO]), "DTLS": ("UDP/TLS/RTP/SAVP", [FINGERPRINT, "a=setup:actpass"]),
           "plain with both": ("RTP/AVP", [CRYPTO, FINGERPRINT, "a=setup:actpass"])}


@pytest.mark.parametrize("plain_to_answerer", [False, True])
@pytest.mark.parametrize("case", list(OFFERED))
def test_a_media_refused_in_the_answer(default_pair, case, plain_to_answerer):
    protocol, attributes = OFFERED[case]
    extra = {"transport-protocol": "RTP/AVP"} if plain_to_answerer else {}
    # What the answerer got: the offerer's protocol, or plain RTP with the option.
    answered = "RTP/AVP" if plain_to_answerer else protocol
    default_pair.compare([
        {**offer(body(2002, protocol, *attributes)), **extra, "_mask": MASK},
        {**answer(body(0, answered, *ANSWERER[answered], host="198.51.100.2")), "_mask": MASK},
    ], f"refused-answer-{case}-{plain_to_answerer}")


# An opportunistic offer (RTP/AVP with a=crypto, RFC 8643) sent on with a plain
# ``transport-protocol`` named, as proxies use it to keep the callee plain: 10.5 offers
# the callee plain RTP (no keys, no DTLS lines); rtpengined offered it SDES and DTLS.
# (With DTLS lines beside the keys the offer goes on plain as well, but 10.5 then answers
# the offerer DTLS where rtpengined answers its keys, as with `OSRTP: accept`: not done.)
OPPORTUNISTIC = {
    "keys": [CRYPTO],
}


@pytest.mark.parametrize("protocol", ["RTP/AVP", "RTP/AVPF"])
@pytest.mark.parametrize("case", list(OPPORTUNISTIC))
def test_an_opportunistic_offer_sent_on_as_plain_rtp(default_pair, case, protocol):
    caller = sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=x", "c=IN IP4 198.51.100.1", "t=0 0",
                 "m=audio 2000 RTP/AVP 0", *OPPORTUNISTIC[case])
    callee = sdp("v=0", "o=- 2 1 IN IP4 198.51.100.2", "s=x", "c=IN IP4 198.51.100.2", "t=0 0",
                 f"m=audio 3000 {protocol} 0")
    default_pair.compare([
        {**offer(caller), "transport-protocol": protocol, "_mask": MASK},
        {**answer(callee), "_mask": MASK},
        {"command": "query"},
    ], f"osrtp-plain-{case}-{protocol}")
