"""Differential: the SRTP/DTLS/ICE flags on offers and answers, against rtpengine 10.5.

``DTLS: passive|active`` on offers, ``DTLS-fingerprint`` hash selection, ``DTLS: off`` with
SDES on both legs. Our certificate and keys differ from 10.5's: fingerprint values and key
material are masked, hash names, key lengths and line order are compared.
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
from test_diff_webrtc import BROWSER_ANSWER, FIREFOX, PHONE, PLAIN, WEBRTC_BRIDGE, mask_fingerprint

SAVPF_OUT = {"transport protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"]}
SDES_OFFER = sdp(
    "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
    "m=audio 2000 RTP/SAVP 0 8", "a=sendrecv",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv",
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:VAzLKvoE3jG9cdH/AZsl/ZqWNXrUzyM4Gw6chrFr")
SDES_ANSWER = sdp(
    "v=0", "o=- 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
    "m=audio 3000 RTP/SAVP 0", "a=sendrecv",
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:dfgadgdfgdfgdfgd6AYjs3vKw7CeBdWZCj0isbJv")
SDES_256 = SDES_OFFER.replace(
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:VAzLKvoE3jG9cdH/AZsl/ZqWNXrUzyM4Gw6chrFr",
    "a=crypto:2 AES_256_CM_HMAC_SHA1_80 "
    "inline:8AbZePWwsKhLGX3GlXA+yHYPQ3cgraer/9DkFJYCOPZZy3o9wC0NIbIFYZfyHw==|2^20")
FIREFOX_SHA1 = FIREFOX.replace(
    "a=fingerprint:sha-256 0A:3B:16:5F:9A:2C:59:7E:6C:9B:4F:3E:8A:1C:2D:E7:55:10:9C:8B:"
    "4A:0E:D1:72:66:3F:51:AB:90:CD:12:34",
    "a=fingerprint:sha-1 0A:3B:16:5F:9A:2C:59:7E:6C:9B:4F:3E:8A:1C:2D:E7:55:10:9C:8B")
M = {"_mask": mask_fingerprint}

SCENARIOS: dict[str, list[dict]] = {}
for value in ("passive", "active", "actpass", "off"):
    SCENARIOS[f"plain offer to a browser, DTLS {value}"] = [
        offer(PLAIN, **SAVPF_OUT, DTLS=value, **M), answer(BROWSER_ANSWER, **M), query(),
        delete()]
    SCENARIOS[f"browser offer passed on, DTLS {value}"] = [
        offer(FIREFOX, DTLS=value, **M), delete()]
    SCENARIOS[f"plain offer as RTP/SAVP, DTLS {value}"] = [
        offer(PLAIN, **{"transport protocol": "RTP/SAVP"}, DTLS=value, **M), delete()]
for value in ("passive", "active", "actpass", "reverse"):
    # The answer's DTLS flag picks our role towards a browser that left it open (actpass):
    # passive makes us wait for its handshake, anything else is active.
    SCENARIOS[f"browser offer bridged, answer DTLS {value}"] = [
        offer(FIREFOX, **WEBRTC_BRIDGE), answer(PHONE, DTLS=value, **M), query(), delete()]
for value in ("sha-1", "SHA-1", "sha-224", "sha-256", "sha-384", "sha-512", "md5", "bogus"):
    SCENARIOS[f"DTLS-fingerprint {value} on an offer"] = [
        offer(PLAIN, **SAVPF_OUT, **{"DTLS-fingerprint": value}, **M),
        answer(BROWSER_ANSWER, **M), delete()]
    SCENARIOS[f"DTLS-fingerprint {value} answering a browser"] = [
        offer(FIREFOX, **WEBRTC_BRIDGE, **{"DTLS-fingerprint": value}),
        answer(PHONE, **{"DTLS-fingerprint": value}, **M), delete()]
SCENARIOS["DTLS-fingerprint kept from the offer for the answer"] = [
    offer(FIREFOX, **WEBRTC_BRIDGE, **{"DTLS-fingerprint": "sha-1"}), answer(PHONE, **M),
    delete()]
for sdes_flags in (["off"], ["no-AES_CM_128_HMAC_SHA1_32"], ["only-AES_CM_128_HMAC_SHA1_80"],
                   ["unencrypted_srtp"], ["pad"], ["static"], ["nonew"], ["prefer"]):
    # (query is compared too, except for SDES off: 10.5 then names the answer's suite on
    # the offerer's leg only when DTLS is off as well, which rtpengined does not copy.)
    SCENARIOS[f"SDES both legs, DTLS off, SDES {sdes_flags}"] = [
        offer(SDES_OFFER, DTLS="off", SDES=sdes_flags, **M), answer(SDES_ANSWER, **M),
        *([] if sdes_flags == ["off"] else [query()]), delete()]
    SCENARIOS[f"SDES both legs, SDES {sdes_flags}"] = [
        offer(SDES_OFFER, SDES=sdes_flags, **M), answer(SDES_ANSWER, **M), delete()]

SCENARIOS["SDES offer to plain, SDES no- of its first suite"] = [
    offer(SDES_OFFER, **{"transport protocol": "RTP/AVP"}, DTLS="off",
          SDES=["no-AES_CM_128_HMAC_SHA1_80"], **M), answer(PHONE, **M), query(), delete()]
SCENARIOS["SDES offer with a lifetime and padding, SDES pad and lifetime"] = [
    offer(SDES_256, SDES=["pad", "lifetime"], **M), delete()]
SCENARIOS["plain offer as RTP/SAVP, SDES lifetime"] = [
    offer(PLAIN, **{"transport protocol": "RTP/SAVP"}, SDES=["lifetime"], **M), delete()]
PLAIN_PTIME = PLAIN.replace("a=sendrecv", "a=ptime:20\r\na=sendrecv")
SCENARIOS["a=ptime after the security lines, before ICE"] = [
    offer(PLAIN_PTIME, **SAVPF_OUT, **M), answer(BROWSER_ANSWER.replace(
        "a=sendrecv", "a=ptime:20\r\na=sendrecv"), **M), delete()]
SCENARIOS["browser with a sha-1 fingerprint answered by us"] = [
    offer(FIREFOX_SHA1, **WEBRTC_BRIDGE), answer(PHONE, **M), delete()]
SCENARIOS["browser with a sha-1 fingerprint answered, DTLS-fingerprint sha-512"] = [
    offer(FIREFOX_SHA1, **WEBRTC_BRIDGE, **{"DTLS-fingerprint": "sha-512"}),
    answer(PHONE, **{"DTLS-fingerprint": "sha-384"}, **M), delete()]

SDES_ANSWER_OURS = SDES_ANSWER.replace(
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:dfgadgdfgdfgdfgd6AYjs3vKw7CeBdWZCj0isbJv",
    "a=crypto:3 AEAD_AES_256_GCM "
    "inline:53P5CsePy3hFUcuqsizkCnTE+4OKa1cOGa2WXHjoN19ifpweerTLaj+9vxc")
SCENARIOS["SDES both legs, the answer picks a suite we added: re-keyed"] = [
    offer(SDES_OFFER, DTLS="off", **M), answer(SDES_ANSWER_OURS, **M), query(), delete()]
SCENARIOS["SDES both legs, DTLS on, the answer picks a suite we added"] = [
    offer(SDES_OFFER, **M), answer(SDES_ANSWER_OURS, **M), query(), delete()]

# Opportunistic SRTP (RFC 8643): RTP/AVP with a=crypto, and the OSRTP list.
OSRTP_OFFER = SDES_OFFER.replace("RTP/SAVP", "RTP/AVP")
OSRTP_ANSWER = SDES_ANSWER.replace("RTP/SAVP", "RTP/AVP")
for dtls_flag in ({"DTLS": "off"}, {}):
    name = ", DTLS off" if dtls_flag else ""
    SCENARIOS[f"OSRTP offer, answer with the offerer's suite{name}"] = [
        offer(OSRTP_OFFER, **dtls_flag, **M), answer(OSRTP_ANSWER, **M), query(), delete()]
    SCENARIOS[f"OSRTP offer, answer with a suite we added{name}"] = [
        offer(OSRTP_OFFER, **dtls_flag, **M),
        answer(SDES_ANSWER_OURS.replace("RTP/SAVP", "RTP/AVP"), **M), query(), delete()]
    SCENARIOS[f"OSRTP offer, plain answer{name}"] = [
        offer(OSRTP_OFFER, **dtls_flag, **M), answer(PHONE, **M), query(), delete()]
    SCENARIOS[f"OSRTP offer, plain answer with OSRTP accept{name}"] = [
        offer(OSRTP_OFFER, **dtls_flag, **M), answer(PHONE, OSRTP=["accept"], **M), query(),
        delete()]
    SCENARIOS[f"plain offer with OSRTP offer, SDES answer{name}"] = [
        offer(PLAIN, OSRTP=["offer"], **dtls_flag, **M),
        answer(SDES_ANSWER_OURS.replace("RTP/SAVP", "RTP/AVP").replace("crypto:3", "crypto:2")
               .replace("AEAD_AES_256_GCM", "AEAD_AES_128_GCM")
               .replace("53P5CsePy3hFUcuqsizkCnTE+4OKa1cOGa2WXHjoN19ifpweerTLaj+9vxc",
                        "QAXb41skvhZaVzQgiJH+y+P9HCUSTnQWXcuieA"), **M), query(), delete()]
    SCENARIOS[f"plain offer with OSRTP offer, plain answer{name}"] = [
        offer(PLAIN, OSRTP=["offer"], **dtls_flag, **M), answer(PHONE, **M), query(),
        delete()]

for first in ("remove", "force", "default"):
    SCENARIOS[f"ICE optional on the answer, {first} on the offer"] = [
        offer(PLAIN, ICE=first), answer(PHONE, ICE="optional"), delete()]
SCENARIOS["ICE optional on an offer"] = [offer(PLAIN, ICE="optional"), delete()]
for first in ("remove", "force", "optional"):
    SCENARIOS[f"re-offers keep ICE {first}"] = [
        offer(PLAIN, ICE=first), answer(PHONE), offer(PLAIN), offer(PLAIN, ICE="default"),
        offer(PLAIN), delete()]


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_security_flags(pair, name):
    pair.compare(SCENARIOS[name], name)
