"""What query shows of SDES legs, as rtpengine 10.5 shows it (found by differential random
flows):

- A DTLS offerer sent on as SDES (``transport-protocol: RTP/SAVP``) whose answerer took one
  of our lines: the answerer's streams name that line's suite. rtpengined named none.
- A leg offered plain RTP again (its peer re-offers RTP/AVP) loses its ``SDES`` media flag
  (10.5 clears it whenever it sends a leg a protocol without SRTP; the re-offerer's own
  goes with our answer to it, not with its offer). rtpengined kept the first and cleared
  the second at once.

Not matched: the crypto suite query names on the streams of a party a plain re-offer moved
(10.5 keeps it on some and drops it on others; we drop it with the streams' new ports).
"""

from __future__ import annotations

import re

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)
from test_diff_sdes import PLAIN_A, SDES_A, SDES_B, SDES_B_32, _mask_keys

DTLS_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
             "m=audio 2000 UDP/TLS/RTP/SAVPF 0 8",
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass")
KEYS = {"AEAD_AES_256_GCM": "WxZ4HY0RQ2M5I4kqb8yHk1cd8gr1fhqgJvPAm5Br0wBmxJZGzVd9NyMJe9U=",
        "AES_CM_128_HMAC_SHA1_80": "QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c"}


def _answer_taking(daemon, call_id: str, suite: str) -> dict:
    """B's SDES answer taking our line of ``suite`` from the offer it got."""
    reply = daemon.request({**offer(DTLS_A, **{"transport-protocol": "RTP/SAVP"}),
                            "call-id": call_id})
    tag = re.search(rf"a=crypto:(\d+) {suite} ", reply["sdp"]).group(1)
    body = SDES_B.replace("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c",
                          f"a=crypto:{tag} {suite} inline:{KEYS[suite]}")
    return answer(body, _mask=_mask_keys)


@pytest.mark.parametrize("suite", list(KEYS))
def test_an_sdes_answer_to_a_dtls_offerer_names_its_suite(default_pair, suite):
    call = f"dtls-to-sdes-{suite}"
    # (the offer's tags are the same on both daemons: each answer takes its own)
    steps = [_answer_taking(default_pair.reference, call + "-probe", suite), query()]
    default_pair.compare([{**offer(DTLS_A, **{"transport-protocol": "RTP/SAVP"}),
                           "_mask": _mask_keys}, *steps], call)


@pytest.mark.parametrize("ice", [False, True], ids=["no-ice", "ice"])
def test_a_plain_answer_to_a_dtls_offerer_keeps_the_suite_offered(default_pair, ice):
    """A DTLS offerer (a browser) sent on with our SDES and DTLS, answered plain RTP: the
    answerer's streams still name the first suite we offered it, as after any plain answer
    to our SDES (10.5). rtpengined named none."""
    body = DTLS_A + ("a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
                     "a=candidate:1 1 UDP 2130706431 192.0.2.10 2000 typ host\r\n"
                     if ice else "")
    plain_b = sdp("v=0", "o=- 2 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                  "m=audio 3000 RTP/AVP 0 8")
    default_pair.compare([
        offer(body, _mask=_mask_keys), query(), answer(plain_b, _mask=_mask_keys), query(),
    ], f"dtls-offerer-plain-answer-{ice}")


@pytest.mark.parametrize("answer_protocol", ["RTP/AVP", "UDP/TLS/RTP/SAVPF"])
def test_an_sdes_offerer_turned_browser_keeps_its_suite(default_pair, answer_protocol):
    """An SDES offerer answered SDES re-offers as a DTLS offerer (no a=crypto), answered
    without keys: its streams keep naming the suite its SDES had (10.5 keeps a stream's
    SRTP context); rtpengined named none."""
    plain_b = sdp("v=0", "o=- 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                  f"m=audio 3000 {answer_protocol} 0 8")
    default_pair.compare([
        offer(SDES_A, _mask=_mask_keys), answer(SDES_B_32, _mask=_mask_keys), query(),
        offer(DTLS_A, **{"to-tag": "B"}, _mask=_mask_keys), query(),
        answer(plain_b, _mask=_mask_keys), query(),
    ], f"sdes-then-dtls-offerer-{answer_protocol}")


def _audio(origin: int, host: str, port: int, protocol: str, *lines: str) -> str:
    return sdp("v=0", f"o=- {origin} 1 IN IP4 {host}", "s=-", f"c=IN IP4 {host}", "t=0 0",
               f"m=audio {port} {protocol} 0", *lines)


_FINGERPRINT_B = "a=fingerprint:sha-256 " + ":".join(["CD"] * 32)
_CRYPTO_B = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e"
_PLAIN_ANSWER_A = _audio(9, "192.0.2.10", 2000, "RTP/AVP")


@pytest.mark.parametrize("reoffer", [
    ("RTP/SAVP", _CRYPTO_B), ("RTP/AVP",), ("UDP/TLS/RTP/SAVPF",),
    ("UDP/TLS/RTP/SAVPF", _FINGERPRINT_B, "a=setup:actpass")],
    ids=["sdes", "plain", "savpf-without-keys", "dtls-again"])
def test_a_dtls_answerer_that_reoffers_without_dtls_loses_it(default_pair, reoffer):
    """A party that answered DTLS re-offers without a fingerprint: its leg shows no DTLS
    from that offer on (10.5); rtpengined kept the settled role until the answer."""
    default_pair.compare([
        offer(_audio(1, "192.0.2.10", 2000, "RTP/AVP"), SDES=["off"],
              **{"transport-protocol": "UDP/TLS/RTP/SAVPF"}, _mask=_mask_keys),
        answer(_audio(2, "192.0.2.20", 3000, "UDP/TLS/RTP/SAVPF", _FINGERPRINT_B,
                      "a=setup:active"), _mask=_mask_keys),
        query(),
        offer(_audio(3, "192.0.2.20", 3000, *reoffer), **{"from-tag": "B", "to-tag": "A"},
              _mask=_mask_keys),
        query(),
        answer(_PLAIN_ANSWER_A, **{"from-tag": "B", "to-tag": "A"}, _mask=_mask_keys),
        query(),
    ], f"dtls-answerer-reoffers-{reoffer[0]}-{len(reoffer)}")


@pytest.mark.parametrize("dtls", [None, "off"])
@pytest.mark.parametrize("keys", [False, True], ids=["plain", "sdes"])
def test_a_refusing_party_that_offers_drops_what_we_offered_it(default_pair, dtls, keys):
    """A party we offered SRTP (SDES and DTLS, or SDES alone) that refused the media then
    sends an offer of its own: query shows none of our DTLS roles on its leg from then on
    (10.5 keeps them after the refusal, until that offer); rtpengined kept them."""
    options = {"DTLS": dtls} if dtls else {}
    reoffer = (_audio(3, "192.0.2.20", 5000, "RTP/SAVP", _CRYPTO_B) if keys
               else _audio(3, "192.0.2.20", 5000, "RTP/AVP"))
    default_pair.compare([
        offer(_audio(1, "192.0.2.10", 2000, "RTP/AVP"), **options,
              **{"transport-protocol": "RTP/SAVP"}, _mask=_mask_keys),
        answer(_audio(2, "192.0.2.20", 0, "RTP/SAVP"), _mask=_mask_keys),
        query(),
        offer(reoffer, **{"from-tag": "B", "to-tag": "A"}, _mask=_mask_keys),
        query(),
        answer(_audio(4, "192.0.2.10", 6000, "RTP/AVP"), **{"from-tag": "B", "to-tag": "A"},
               _mask=_mask_keys),
        query(),
    ], f"refused-then-offers-{dtls}-{keys}")


@pytest.mark.parametrize("who", ["A", "B"])
def test_a_leg_offered_plain_again_loses_sdes(default_pair, who):
    """(The suite is masked: see the module's docstring.)"""
    reoffer = (offer(PLAIN_A, **{"to-tag": "B"}) if who == "A"
               else offer(PLAIN_A.replace("192.0.2.10", "192.0.2.20"),
                          **{"from-tag": "B", "to-tag": "A"}))
    default_pair.compare([
        offer(SDES_A, _mask=_mask_keys), answer(SDES_B, _mask=_mask_keys), query(),
        {**reoffer, "_mask": _mask_keys}, query(_mask=_without_suites),
    ], f"sdes-then-plain-{who}")


def _without_suites(reply):
    """query without the streams' crypto suites."""
    if isinstance(reply, list):
        return [_without_suites(item) for item in reply if not (
            isinstance(item, tuple) and item[:1] == ("crypto suite",))]
    if isinstance(reply, tuple):
        return tuple(_without_suites(item) for item in reply)
    return reply
