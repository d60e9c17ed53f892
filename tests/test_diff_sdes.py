"""Differential: SDES-SRTP bridged to plain RTP, our SDP beside rtpengine 10.5's.

Keys and the certificate fingerprint are random on both daemons, so they are replaced by
symbols before comparing; the lines, their order, suites, tags and parameters must match.
"""

from __future__ import annotations

import re

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)

PLAIN_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
              "m=audio 2000 RTP/AVP 0 8", "a=sendrecv")
PLAIN_B = sdp("v=0", "o=- 2 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
              "m=audio 3000 RTP/AVP 0", "a=sendrecv")
SDES_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
             "m=audio 2000 RTP/SAVP 0 8",
             "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
             "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7"
             "|2^31|1:4", "a=sendrecv")
SDES_GCM_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
                 "m=audio 2000 RTP/SAVP 0",
                 "a=crypto:7 AEAD_AES_128_GCM inline:RLFAOYuWKg7NYOEKXszDrVKN5k4vW/RlBA4JOQ",
                 "a=sendrecv")
SDES_B = sdp("v=0", "o=- 2 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
             "m=audio 3000 RTP/SAVP 0",
             "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c",
             "a=sendrecv")
DTLS_B = sdp("v=0", "o=- 2 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
             "m=audio 3000 RTP/SAVP 0", "a=setup:active",
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=sendrecv")
SDES_B_TAG7 = SDES_B.replace("a=crypto:1 ", "a=crypto:7 ")
SDES_B_SAVPF = SDES_B.replace("RTP/SAVP ", "RTP/SAVPF ")
SDES_B_32 = SDES_B.replace("a=crypto:1 AES_CM_128_HMAC_SHA1_80 ", "a=crypto:2 AES_CM_128_HMAC_SHA1_32 ")

_KEY = re.compile(r"inline:[A-Za-z0-9+/=]+")
_FINGERPRINT = re.compile(r"(a=fingerprint:\S+) [0-9A-F:]+")


def _mask_keys(reply):
    """Random key material and certificate fingerprints become symbols."""
    if not isinstance(reply, list):
        return reply
    out = []
    for key, value in reply:
        if key == "sdp" and isinstance(value, str):
            value = _FINGERPRINT.sub(r"\1 FP", _KEY.sub("inline:KEY", value))
        out.append((key, value))
    return out


def _o(body, **extra):
    return offer(body, _mask=_mask_keys, **extra)


def _a(body, **extra):
    return answer(body, _mask=_mask_keys, **extra)


SAVP = {"transport-protocol": "RTP/SAVP"}
AVP = {"transport-protocol": "RTP/AVP"}

SCENARIOS: dict[str, list[dict]] = {
    "plain offer sent on as RTP/SAVP": [_o(PLAIN_A, **SAVP), delete()],
    "plain offer sent on as RTP/SAVPF": [_o(PLAIN_A, **{"transport-protocol": "RTP/SAVPF"}),
                                         delete()],
    "plain offer to SAVP, SDES answer": [_o(PLAIN_A, **SAVP), _a(SDES_B), delete()],
    "plain offer to SAVP, query after offer and answer": [_o(PLAIN_A, **SAVP), query(),
                                                          _a(SDES_B), query(), delete()],
    "SDES offer to plain, query after offer and answer": [_o(SDES_A, **AVP), query(),
                                                          _a(PLAIN_B), query(), delete()],
    "SDES on both legs, answer picks the offerer's line": [_o(SDES_A), _a(SDES_B), query(),
                                                           delete()],
    "SDES on both legs, SDES off": [_o(SDES_A, SDES=["off"]), _a(SDES_B), delete()],
    "GCM SDES offer to plain, query": [_o(SDES_GCM_A, **AVP), _a(PLAIN_B), query(), delete()],
    "plain offer to SAVP, answer with another tag": [_o(PLAIN_A, **SAVP), _a(SDES_B_TAG7),
                                                     delete()],
    "plain offer to SAVP, SDES session flags": [
        _o(PLAIN_A, SDES=["unencrypted_srtp", "unencrypted_srtcp", "unauthenticated_srtp"],
           **SAVP), delete()],
    "plain offer to SAVP, no-suite": [
        _o(PLAIN_A, SDES=["no-AES_CM_128_HMAC_SHA1_32", "no-AEAD_AES_256_GCM"], **SAVP),
        delete()],
    "plain offer to SAVP, only-suite": [_o(PLAIN_A, SDES=["only-AEAD_AES_128_GCM"], **SAVP),
                                        delete()],
    "plain offer to SAVP, SDES off": [_o(PLAIN_A, SDES=["off"], **SAVP), delete()],
    "SDES offer sent on as RTP/AVP, plain answer": [_o(SDES_A, **AVP), _a(PLAIN_B), delete()],
    "GCM SDES offer to plain": [_o(SDES_GCM_A, **AVP), _a(PLAIN_B), delete()],
    "SDES offer to plain, re-answer keeps the shape": [_o(SDES_A, **AVP), _a(PLAIN_B),
                                                       _a(PLAIN_B), delete()],
    # The answer's transport-protocol reaches a plain offerer whose answerer speaks SDES:
    # an override, or the answerer's own protocol with accept.
    "plain offer to SAVP, answer's protocol overridden": [
        _o(PLAIN_A, **SAVP), _a(SDES_B_SAVPF, **{"transport-protocol": "RTP/AVPF"}), query(),
        delete()],
    "plain offer to SAVP, answer's protocol accepted": [
        _o(PLAIN_A, **SAVP), _a(SDES_B_SAVPF, **{"transport-protocol": "accept"}), query(),
        delete()],
    # SDES: static keeps the line answered before while the offer still carries it.
    "SDES on both legs, re-answer with SDES static": [
        _o(SDES_A), _a(SDES_B), _o(SDES_A), _a(SDES_B_32, SDES=["static"]), query(),
        _o(SDES_A), _a(SDES_B_32), delete()],
    # The SDES and OSRTP options given as flags ("SDES-<option>", "SDES-no-<suite>",
    # "OSRTP-<option>") add to the lists, as 10.5 reads them; "no", "disable" and
    # "disabled" are "off".
    "plain offer to SAVP, SDES options as flags": [
        _o(PLAIN_A, flags=["SDES-no-AES_CM_128_HMAC_SHA1_32", "SDES-unencrypted_srtcp",
                           "SDES-pad"], **SAVP), delete()],
    "plain offer to SAVP, no-suite in the list and as a flag": [
        _o(PLAIN_A, SDES=["no-AEAD_AES_256_GCM"], flags=["SDES-no-AES_256_CM_HMAC_SHA1_80",
                                                         "SDES no-AES_256_CM_HMAC_SHA1_32"],
           **SAVP), delete()],
    "SDES on both legs, SDES-off flag": [_o(SDES_A, flags=["SDES-off"]), _a(SDES_B), delete()],
    "plain offer to SAVP, SDES disabled": [_o(PLAIN_A, SDES=["disabled"], **SAVP), delete()],
    "plain offer to SAVP, SDES-disable flag": [_o(PLAIN_A, flags=["SDES-disable"], **SAVP),
                                               delete()],
    "plain offer to SAVP, SDES no": [_o(PLAIN_A, SDES=["no"], **SAVP), delete()],
    "plain offer, OSRTP-offer flag": [_o(PLAIN_A, flags=["OSRTP-offer"]), _a(SDES_B), query(),
                                      delete()],
    # `SDES: off` in a re-offer: a leg that has SDES keeps it (ours or its own lines),
    # one offered SDES off stays without; 10.5 reads the option for a leg not yet keyed.
    "SDES on both legs, re-offer with SDES off": [
        _o(SDES_A), _o(SDES_A, SDES=["off"]), query(), delete()],
    "SDES on both legs answered, re-offer with SDES off": [
        _o(SDES_A), _a(SDES_B), _o(SDES_A, SDES=["off"]), _a(SDES_B), query(), delete()],
    "plain offer to SAVP, re-offer with SDES off": [
        _o(PLAIN_A, **SAVP), _o(PLAIN_A, SDES=["off"], **SAVP), query(), delete()],
    "plain offer to SAVP answered, re-offer with SDES off": [
        _o(PLAIN_A, **SAVP), _a(SDES_B), _o(PLAIN_A, SDES=["off"], **SAVP), _a(SDES_B),
        query(), delete()],
    "plain offer to SAVP with SDES off, re-offer without": [
        _o(PLAIN_A, SDES=["off"], **SAVP), _o(PLAIN_A, **SAVP), query(), delete()],
    "SDES on both legs with SDES off, re-offer without": [
        _o(SDES_A, SDES=["off"]), _o(SDES_A), query(), delete()],
    "SDES on both legs, re-offer with SDES off and no-suite": [
        _o(SDES_A), _o(SDES_A, SDES=["off", "no-AEAD_AES_256_GCM"]), delete()],
    "plain offer to SAVP answered DTLS, re-offer with SDES off": [
        _o(PLAIN_A, **SAVP), _a(DTLS_B), _o(PLAIN_A, SDES=["off"], **SAVP), query(), delete()],
    "plain offer to SAVP answered DTLS, re-offer": [
        _o(PLAIN_A, **SAVP), _a(DTLS_B), _o(PLAIN_A, **SAVP), query(), delete()],
    "SDES on both legs answered DTLS, re-offer with SDES off": [
        _o(SDES_A), _a(DTLS_B), _o(SDES_A, SDES=["off"]), query(), delete()],
    "plain offer to plain, re-offer to SAVP with SDES off": [
        _o(PLAIN_A), _a(PLAIN_B), _o(PLAIN_A, SDES=["off"], **SAVP), delete()],
    # (a value that starts with "crypto:" again has no tag: 10.5 skips the line, and so the
    # answer back gets no keys; we took it for tag 1)
    "a=crypto:crypto:1 in an offer sent on plain": [
        _o(SDES_B.replace("a=crypto:1 ", "a=crypto:crypto:1 "), **AVP), _a(PLAIN_A), query(),
        delete()],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sdes_bridge(pair, name):
    pair.compare(SCENARIOS[name], name)
