"""Differential: the SDP and option edges an attack pass found answered unlike 10.5.

Each scenario here once got another reply from rtpengined than from rtpengine 10.5:

- an RTP media's formats are payload types: one that is no number or above 127 makes the
  SDP incomplete, and a number is read as C's ``strtoul`` reads it, cut to 32 bits ("+8",
  "08" and "8x" are 8, 4294967296 is 0);
- a payload type without an ``a=rtpmap`` that is not a static one is written
  ``a=rtpmap:<pt> /0`` (no encoding, no clock rate);
- an answer without media sections comes back as it is, with or without a c=;
- an empty label names no party (an error, not the first party without a label);
- an RTP/SAVP offer without a=crypto we can take is sent on with our keys and DTLS, as a
  plain offer sent on as SRTP; an SRTP answer to a plain offerer it did not get our keys
  from goes back in the offerer's own protocol;
- ``ptime`` and ``ptime-reverse`` are C ints: 2^32 + 20 is 20, 2^31 + 20 negative (none);
- the telephone-event and CN a ``transcode`` offer makes take no number of the codecs it
  dropped (iLBC, AMR, unknown ones: they stay in 10.5's codec store), where they took the
  first of those free.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    mask_own_values,
    offer,
    query,
    sdp,
)

HEAD = ("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0")


def media(formats: str, protocol: str = "RTP/AVP", *attributes: str, port: int = 2000) -> str:
    return sdp(*HEAD, f"m=audio {port} {protocol} {formats}", *attributes)


B = media("0 8", port=3000).replace("192.0.2.10", "192.0.2.20")
SESSION_ONLY = sdp("v=0", "o=- 2 2 IN IP4 192.0.2.20", "s=-", "t=0 0")
KEY = "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
CRYPTO = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 {KEY}"


def masked(step: dict) -> dict:
    """A step whose reply carries our own keys and fingerprint (each daemon's own)."""
    return {**step, "_mask": mask_own_values}


SCENARIOS: dict[str, list[dict]] = {
    "payload types above 127 or not numbers": [
        offer(media(formats)) for formats in (
            "0 8 128", "0 200", "0 999", "0 abc", "0 -1", "abc 0", "0 18446744073709551616")
    ] + [offer(media("0 200", protocol)) for protocol in ("RTP/AVPF", "UDP/TLS/RTP/SAVPF")],
    "payload types as strtoul reads them": [
        offer(media(formats)) for formats in ("0 +8", "0 08", "0 8x", "0 0x8", "0 4294967296",
                                              "0 4294967423", "0 -4294967295")
    ] + [delete()],
    "formats of other protocols are free": [
        offer(media("0 200", protocol)) for protocol in ("RTP/AVP/TCP", "udp", "RTP/FOO")
    ] + [delete()],
    "dynamic payload types without rtpmap": [
        offer(media("0 96")), offer(media("0 8 96 97 101", "RTP/AVP", "a=rtpmap:97 opus/48000/2")),
        offer(media("0 35 127")), answer(media("0 96", port=3000)), query(), delete()],
    "an answer without media sections": [
        offer(media("0 8")), answer(SESSION_ONLY), answer(SESSION_ONLY), answer(B),
        answer(SESSION_ONLY), answer(SESSION_ONLY.replace("t=0", "c=IN IP4 192.0.2.20\r\nt=0")),
        query(), delete()],
    "an offer and answer without media sections": [
        offer(SESSION_ONLY), answer(SESSION_ONLY), delete()],
    "an empty label": [offer(media("0 8")), answer(B)] + [
        {"command": command, key: ""}
        for command in ("block DTMF", "unblock DTMF", "block media", "silence media",
                        "stop forwarding", "start forwarding", "play media", "stop media",
                        "play DTMF", "pause recording")
        for key in ("label", "from-label")] + [query(), delete()],
    "an RTP/SAVP offer without keys we can take": [
        masked(offer(media("0 8", "RTP/SAVP", *lines))) for lines in (
            (), ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!",),
            (f"a=crypto:1 FOO_SUITE {KEY}",))
    ] + [masked(answer(media("0 8", "RTP/SAVP", port=3000))), masked(query()), delete()],
    "an SRTP answer to a plain offerer": [
        offer(media("0 8")), answer(media("0 8", "RTP/SAVP", CRYPTO, port=3000)),
        answer(media("0 8", "RTP/SAVPF", CRYPTO, port=3000)),
        answer(media("0 8", "UDP/TLS/RTP/SAVP", port=3000)), answer(media("0 8", port=3000)),
        delete()],
    "supplements made beside codecs a transcode offer dropped": [
        offer(media("0 8 9 18 3 97 98 99 100 101 96 13", "RTP/AVP", "a=rtpmap:97 speex/8000",
                    "a=rtpmap:98 iLBC/8000", "a=rtpmap:99 AMR/8000", "a=rtpmap:100 G7221/16000",
                    "a=rtpmap:101 telephone-event/8000"), codec={"transcode": ["opus"]}),
        delete()],
    "ptime beyond a C int": [
        step for value in (2**32 + 20, 2**31 + 20, 99999999999999999999, str(2**32 + 20))
        for step in (offer(media("0 8"), ptime=value),
                     answer(B, **{"ptime-reverse": value}), delete())],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sdp_edge(pair, name):
    pair.compare(SCENARIOS[name], name)
