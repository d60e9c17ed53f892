"""Differential: the crypto suite ``query`` names on a party's streams once it moves or goes
plain, our replies beside rtpengine 10.5's.

10.5 names the suite of a stream's own SRTP context. That context lives as long as the
stream: new local ports (rtcp-mux taken up or dropped) do not touch it. An SDP that moves
the stream's endpoint (no ICE on the leg, no DTLS in that SDP) resets it, and it is set up
again, from our first line for the party, only while the leg still has SDES; a leg that
goes plain keeps SDES until the answer to its re-offer, so its streams keep naming the
suite they had when they moved. rtpengined named none there, or the old one on a party
that had moved to plain RTP (found by ``tests/fuzz/diff_flows.py``: 21 of 32 flows that
differed).
"""

from __future__ import annotations

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    query,
    sdp,
)
from test_diff_sdes import _a, _mask_keys, _o

SDES_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
             "m=audio 2000 RTP/SAVP 0 8",
             "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
             "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7",
             "a=sendrecv")
SDES_B_32 = sdp("v=0", "o=- 2 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                "m=audio 3000 RTP/SAVP 0",
                "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c",
                "a=sendrecv")
SDES_B_GCM = sdp("v=0", "o=- 2 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                 "m=audio 3000 RTP/SAVPF 0",
                 "a=crypto:2 AEAD_AES_128_GCM inline:AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wA==",
                 "a=sendrecv")
PLAIN_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
              "m=audio 2000 RTP/AVP 0 8", "a=sendrecv")


def _plain(address: str, port: int, *extra: str, version: int = 2) -> str:
    return sdp("v=0", f"o=- 9 {version} IN IP4 {address}", "s=-", f"c=IN IP4 {address}",
               "t=0 0", f"m=audio {port} RTP/AVP 0 8", *extra, "a=sendrecv")


def _dtls_ice(address: str, port: int, setup: str, fingerprint: str, ufrag: str) -> str:
    return sdp("v=0", f"o=- 5 1 IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0",
               f"m=audio {port} UDP/TLS/RTP/SAVPF 0", f"a=setup:{setup}",
               "a=fingerprint:sha-256 " + ":".join([fingerprint] * 32),
               f"a=ice-ufrag:{ufrag}", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
               f"a=candidate:1 1 UDP 2130706431 {address} {port} typ host", "a=sendrecv")


B_MOVED = _plain("192.0.2.40", 5000)
B_SAME = _plain("192.0.2.20", 3000)
B_MOVED_MUX = _plain("192.0.2.40", 5000, "a=rtcp-mux")
A_MOVED = _plain("192.0.2.90", 6000)
A_MOVED_MUX = _plain("192.0.2.90", 6000, "a=rtcp-mux")
A_SAME = _plain("192.0.2.10", 2000)
SDES_A_MOVED = SDES_A.replace("192.0.2.10", "192.0.2.11").replace("audio 2000", "audio 2100")
BACK = {"from-tag": "B", "to-tag": "A"}
REANSWER = {"from_tag": "B", "to_tag": "A"}
Q = query(_mask=_mask_keys)

SCENARIOS: dict[str, list[dict]] = {
    # -- the SDES answerer re-offers plain RTP
    "answerer re-offers plain from another address": [
        _o(SDES_A), _a(SDES_B_32), _o(B_MOVED, **BACK), Q, _a(A_SAME, **REANSWER), Q,
        delete()],
    "answerer re-offers plain from the same address": [
        _o(SDES_A), _a(SDES_B_32), _o(B_SAME, **BACK), Q, _a(A_SAME, **REANSWER), Q,
        delete()],
    "answerer re-offers plain with rtcp-mux from another address": [
        _o(SDES_A), _a(SDES_B_32), _o(B_MOVED_MUX, **BACK, **{"rtcp-mux": ["offer"]}), Q,
        _a(A_MOVED_MUX, **REANSWER), Q, delete()],
    "answerer re-offers plain, the offerer answers from another address": [
        _o(SDES_A), _a(SDES_B_32), _o(B_MOVED, **BACK), _a(A_MOVED, **REANSWER), Q,
        delete()],
    "answerer re-offers plain, the offerer answers moved, with rtcp-mux": [
        _o(SDES_A), _a(SDES_B_32), _o(B_MOVED, **BACK, **{"rtcp-mux": ["offer"]}),
        _a(A_MOVED_MUX, **REANSWER), Q, delete()],
    # -- the SDES offerer moves, still speaking SDES
    "offerer re-offers SDES from another address": [
        _o(SDES_A), _a(SDES_B_32), _o(SDES_A_MOVED, **{"to-tag": "B"}), Q, _a(SDES_B_32), Q,
        delete()],
    "offerer answered with our key re-offers SDES from another address": [
        _o(SDES_A), _a(B_SAME), _o(SDES_A_MOVED, **{"to-tag": "B"}), Q, _a(B_SAME), Q,
        delete()],
    "offerer answered with our key re-offers plain from another address": [
        _o(SDES_A), _a(B_SAME), _o(A_MOVED, **{"to-tag": "B"}), Q, _a(B_SAME), Q,
        delete()],
    # -- a plain offer sent on as SRTP, its SDES answerer re-offers plain (sent on as RTP)
    "SRTP answerer of a plain offer re-offers plain, moved": [
        _o(PLAIN_A, **{"transport-protocol": "RTP/SAVPF"}), _a(SDES_B_GCM),
        _o(B_MOVED, **BACK, **{"transport-protocol": "RTP/AVP"}), Q,
        _a(A_SAME, **REANSWER, **{"ICE": "remove"}), Q, delete()],
    # -- a browser (DTLS, ICE), its DTLS answerer re-offers plain from another address
    "DTLS answerer re-offers plain, moved": [
        _o(_dtls_ice("192.0.2.10", 2000, "actpass", "AB", "abcd")),
        _a(_dtls_ice("192.0.2.20", 3000, "active", "CD", "efgh")),
        _o(B_MOVED, **BACK), _a(A_SAME, **REANSWER), Q, delete()],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_crypto_suite_after_moves(pair, name):
    pair.compare(SCENARIOS[name], name)
