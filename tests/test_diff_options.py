"""Differential: the offer/answer options a SIP proxy sets, on plain RTP calls.

Flag spellings (dashes, spaces), ``replace`` variants, rtcp-mux and ICE in offers and
answers, SDES/OSRTP/DTLS keys given for plain RTP, ptime, TOS, labels, recording, and the
address options (media address, received from, SIP source address).
"""

from __future__ import annotations

import pytest
from differential import (
    DaemonPair,
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    mask_sdp_lines,
    offer,
    query,
    sdp,
)

A = sdp("v=0", "o=alice 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
        "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
        "a=ptime:20", "a=sendrecv")
B = sdp("v=0", "o=bob 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
        "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
        "a=sendrecv")
A_MUX = A.replace("a=sendrecv", "a=sendrecv\r\na=rtcp-mux")
OSRTP_KEY = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Qk0TvVeyfqfjFd/YebnyyklqSEhJntpVKV1KAhHa\r\n"
KEYS = mask_sdp_lines("a=crypto:")  # (our own keys are random)
B_MUX = B.replace("a=sendrecv", "a=sendrecv\r\na=rtcp-mux")
A_ICE = A.replace("a=sendrecv", "a=sendrecv\r\na=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g"
                  "\r\na=candidate:1 1 UDP 2130706431 192.0.2.10 2000 typ host"
                  "\r\na=candidate:1 2 UDP 2130706430 192.0.2.10 2001 typ host")
B_ICE = B.replace("a=sendrecv", "a=sendrecv\r\na=ice-ufrag:8hhY\r\na=ice-pwd:asd88fgpdd777uzjYhagZg"
                  "\r\na=candidate:1 1 UDP 2130706431 192.0.2.20 3000 typ host")
_VIDEO = "m=video 3002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\na=sendrecv\r\n"


def _reverse(step: dict) -> dict:
    """``step`` sent by B to A (a re-offer by the callee, or the answer to one)."""
    return {**step, "from-tag": "B", "to-tag": "A"}


A_RTCP_ATTR = A.replace("a=sendrecv", "a=sendrecv\r\na=rtcp:2001")
A_RTCP_FAR = A.replace("a=sendrecv", "a=sendrecv\r\na=rtcp:5555 IN IP4 192.0.2.99")

CRYPTO_MASK = mask_sdp_lines("a=crypto:", "a=setup:", "a=fingerprint:", "a=tls-id:")
# Codec lines of every kind, one of them among other attributes: a filter that leaves an
# empty format list leaves all of them where they are (10.5).
A_CODECS = sdp("v=0", "o=alice 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
               "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
               "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15",
               "a=rtcp-fb:0 nack", "a=rtcp-fb:* trr-int 100", "a=ptime:20")
B_PCMU_ONLY = sdp("v=0", "o=bob 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                  "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
                  "a=rtpmap:101 telephone-event/8000", "a=sendrecv", "a=fmtp:101 0-16")

SCENARIOS: dict[str, list[dict]] = {
    # -- flag spellings
    "flags with spaces": [offer(A, flags=["trust address", "no rtcp attribute", "loop protect"]),
                          delete()],
    "flags mixed case unknown": [offer(A, flags=["Trust-Address", "NO-RTCP-ATTRIBUTE"]), delete()],
    "replace with spaces": [offer(A, replace=["session connection", "origin"]), delete()],
    "replace-origin as a flag is ignored": [
        offer(A, flags=["replace-origin", "replace-session-connection"]), delete()],
    "replace zero-address without hold": [offer(A, replace=["zero-address"]), delete()],
    "replace force-increment-sdp-ver": [offer(A, replace=["force-increment-sdp-ver"]),
                                        offer(A, replace=["force-increment-sdp-ver"]), delete()],
    "replace SDP-version unchanged re-offer": [offer(A, replace=["SDP-version"]),
                                               offer(A, replace=["SDP-version"]), delete()],
    "original-sendrecv with sendonly": [
        offer(A.replace("sendrecv", "sendonly"), flags=["original-sendrecv"]), delete()],
    "symmetric and asymmetric flags": [offer(A, flags=["asymmetric"]),
                                       answer(B, flags=["symmetric"]), query(), delete()],
    "strict source and media handover": [offer(A, flags=["strict-source", "media-handover"]),
                                         answer(B), query(), delete()],
    "port latching flag": [offer(A, flags=["port-latching"]), answer(B), delete()],
    "no-rtcp-attribute in answer": [offer(A), answer(B, flags=["no-rtcp-attribute"]), delete()],
    "full-rtcp-attribute in answer": [offer(A), answer(B, flags=["full-rtcp-attribute"]),
                                      delete()],
    "a=rtcp in the offer": [offer(A_RTCP_ATTR), answer(B), query(), delete()],
    "a=rtcp with another address": [offer(A_RTCP_FAR), query(), delete()],
    # -- rtcp-mux
    "rtcp-mux offer, answer accepts": [offer(A, **{"rtcp-mux": ["offer"]}), answer(B_MUX), query(),
                                       delete()],
    "rtcp-mux offered by caller, demux": [offer(A_MUX, **{"rtcp-mux": ["demux"]}), answer(B),
                                          query(), delete()],
    "rtcp-mux accept in answer": [offer(A_MUX), answer(B_MUX, **{"rtcp-mux": ["accept"]}),
                                  delete()],
    "rtcp-mux reject in answer": [offer(A_MUX), answer(B_MUX, **{"rtcp-mux": ["reject"]}),
                                  delete()],
    "rtcp-mux require in answer": [offer(A), answer(B, **{"rtcp-mux": ["require"]}), delete()],
    "rtcp-mux as flags": [offer(A, flags=["rtcp-mux-offer"]), answer(B_MUX), delete()],
    "rtcp-mux require then re-offer": [offer(A, **{"rtcp-mux": ["require"]}), answer(B_MUX),
                                       offer(A, **{"rtcp-mux": ["require"]}), query(), delete()],
    "rtcp-mux given as a string": [offer(A_MUX, **{"rtcp-mux": "demux"}), delete()],
    # -- ICE
    "ICE force on both": [offer(A, ICE="force"), answer(B, ICE="force"), query(), delete()],
    "ICE remove in answer": [offer(A_ICE), answer(B_ICE, ICE="remove"), query(), delete()],
    "ICE default both sides": [offer(A_ICE), answer(B_ICE), query(), delete()],
    "ICE offered, plain answer": [offer(A_ICE), answer(B), delete()],
    "ICE optional": [offer(A, ICE="optional"), delete()],
    "ICE lite given": [offer(A_ICE, **{"ICE-lite": "forward"}), delete()],
    # ICE-lite is an offer option that stays: backward shows in the answer to the offerer
    # (given or not there), forward in re-offers, until an offer's option changes it.
    "ICE lite backward kept for the answer": [
        offer(A_ICE, ICE="remove", **{"ICE-lite": "backward"}), answer(B, ICE="force"),
        offer(A_ICE, ICE="remove"), answer(B, ICE="force", **{"ICE-lite": "off"}),
        offer(A_ICE, ICE="force", **{"ICE-lite": "forward"}), answer(B_ICE),
        offer(A_ICE, ICE="force"), answer(B_ICE), query(),
        offer(A_ICE, **{"ICE-lite": "off"}), answer(B_ICE), delete()],
    "ICE unknown value": [offer(A_ICE, ICE="sometimes"), delete()],
    # -- crypto keys on plain RTP
    "SDES off on plain RTP": [offer(A, SDES=["off"]), answer(B), delete()],
    "SDES suites on plain RTP": [offer(A, SDES=["no-AES_CM_128_HMAC_SHA1_32", "unencrypted_srtcp"]),
                                 delete()],
    "OSRTP accept on plain RTP": [offer(A, OSRTP=["accept"]), answer(B), delete()],
    "DTLS off on plain RTP": [offer(A, DTLS="off"), answer(B, DTLS="passive"), delete()],
    "DTLS-fingerprint key": [offer(A, **{"DTLS-fingerprint": "sha-256"}), delete()],
    # -- ptime, TOS, labels, recording
    "ptime forced in offer": [offer(A, ptime=30), answer(B), query(), delete()],
    "ptime forced in answer": [offer(A), answer(B, ptime=30), delete()],
    "ptime as string": [offer(A, ptime="40"), delete()],
    "ptime zero": [offer(A, ptime=0), delete()],
    "ptime-reverse": [offer(A, **{"ptime-reverse": 30}), answer(B), delete()],
    # -- the a=ptime each party is shown stays with its media (10.5's media ptime): a
    # re-offer from the answerer shows the offerer the a=ptime:20 it offered
    "answerer re-offers without a=ptime": [
        offer(A), answer(B), offer(B, tag="B", **{"to-tag": "A"}),
        answer(A, from_tag="B", to_tag="A"), delete()],
    "offerer re-offers without a=ptime after the answer's": [
        offer(A), answer(B.replace("a=sendrecv", "a=ptime:30\r\na=sendrecv")),
        offer(A.replace("a=ptime:20\r\n", ""), **{"to-tag": "B"}), answer(B), delete()],
    "answerer re-offers with an a=ptime, then the offerer without": [
        offer(A), answer(B), offer(B.replace("a=sendrecv", "a=ptime:40\r\na=sendrecv"),
                                  tag="B", **{"to-tag": "A"}),
        answer(A.replace("a=ptime:20\r\n", ""), from_tag="B", to_tag="A"),
        offer(A.replace("a=ptime:20\r\n", ""), **{"to-tag": "B"}), answer(B), delete()],
    "ptime option, then the answerer re-offers": [
        offer(A, ptime=30), answer(B.replace("a=sendrecv", "a=ptime:40\r\na=sendrecv")),
        offer(A, **{"to-tag": "B"}), answer(B), offer(B, tag="B", **{"to-tag": "A"}),
        answer(A, from_tag="B", to_tag="A"), delete()],
    "ptime-reverse, then re-offers both ways": [
        offer(A, **{"ptime-reverse": 40}), answer(B), offer(A, **{"to-tag": "B"}), answer(B),
        offer(B, tag="B", **{"to-tag": "A"}), answer(A, from_tag="B", to_tag="A"), delete()],
    "ptime options in an answer change nothing": [
        offer(A), answer(B, ptime=30, **{"ptime-reverse": 40}),
        offer(A, **{"to-tag": "B"}), answer(B), offer(B, tag="B", **{"to-tag": "A"}),
        answer(A, from_tag="B", to_tag="A"), delete()],
    "TOS": [offer(A, TOS=184), answer(B, TOS=184), query(), delete()],
    "TOS out of range": [offer(A, TOS=300), delete()],
    "label and set-label": [offer(A, label="caller"), answer(B, **{"set-label": "callee"}),
                            query(), delete()],
    "label changes on re-offer": [offer(A, label="one"), offer(A, label="two"), query(), delete()],
    "record call yes": [offer(A, **{"record call": "yes"}), answer(B), query(), delete()],
    "record-call flag": [offer(A, flags=["record-call"]), delete()],
    "metadata and output destination": [offer(A, metadata="k1:v1|k2:v2",
                                              **{"output-destination": "/tmp/x"}), delete()],
    # -- addresses
    "media address in answer": [offer(A), answer(B, **{"media address": "203.0.113.9"}),
                                delete()],
    "media-address spelt with a dash": [offer(A, **{"media-address": "203.0.113.9"}), delete()],
    "media address IPv6": [offer(A, **{"media address": "2001:db8::5"}), delete()],
    "received from with trust-address": [
        offer(A, flags=["trust-address"], **{"received from": ["IP4", "198.51.100.7"]}), query(),
        delete()],
    "received from IPv6": [offer(A, flags=["SIP-source-address"],
                                 **{"received from": ["IP6", "2001:db8::7"]}), query(), delete()],
    "received from malformed": [offer(A, flags=["SIP-source-address"],
                                      **{"received from": "198.51.100.7"}), query(), delete()],
    "address family IP4": [offer(A, **{"address family": "IP4"}), delete()],
    "address family IP6 without IPv6 interface": [offer(A, **{"address family": "IP6"}),
                                                  delete()],
    # 10.5 adds its own SDES keys and a DTLS fingerprint here; rtpengined does no SRTP, so
    # only the rest of the SDP is compared (see the conformance report).
    "transport protocol RTP/SAVP": [offer(A, **{"transport protocol": "RTP/SAVP"},
                                          _mask=CRYPTO_MASK), delete()],
    "transport protocol accept": [offer(A, **{"transport protocol": "accept"}), delete()],
    "transport protocol in answer": [offer(A), answer(B, **{"transport-protocol": "RTP/AVPF"}),
                                     delete()],
    # -- codecs
    "codec mask": [offer(A, codec={"mask": ["PCMA"]}), delete()],
    "codec strip all": [offer(A, codec={"strip": ["all"]}), delete()],
    "codec strip by payload type": [offer(A, codec={"strip": ["8"]}), delete()],
    "codec strip in answer": [offer(A), answer(B, codec={"strip": ["PCMU"]}), delete()],
    "codec consume and accept": [offer(A, codec={"consume": ["PCMA"], "accept": ["PCMU"]}),
                                 delete()],
    "codec offer unknown codec": [offer(A, codec={"offer": ["G729"]}), delete()],
    "codec strip given as string": [offer(A, codec={"strip": "PCMA"}), delete()],
    "codec strip all but telephone-event": [offer(A, codec={"strip": ["PCMU", "PCMA"]}),
                                            delete()],
    "codec strip everything": [offer(A, codec={"strip": ["PCMU", "PCMA", "telephone-event"]}),
                               delete()],
    "codec strip all except": [offer(A, codec={"strip": ["all"], "except": ["PCMA"]}), delete()],
    "codec strip lower case and with rate": [offer(A, codec={"strip": ["pcma"]}),
                                             offer(A, codec={"strip": ["PCMA/8000"]}), delete()],
    "codec except alone": [offer(A, codec={"except": ["PCMA"]}), delete()],
    "codec mask and strip": [offer(A, codec={"mask": ["PCMU"], "strip": ["PCMA"]}), delete()],
    "codec-strip flags": [offer(A, flags=["codec-strip-PCMU"]), answer(B), delete()],
    "codec-strip-all flag alone": [offer(A, flags=["codec-strip-all"]), delete()],
    "codecs stripped to telephone-event: the codec lines stay": [
        offer(A_CODECS, flags=["codec-strip-PCMU", "codec-strip-PCMA"]), delete()],
    "codecs masked to telephone-event: the codec lines stay": [
        offer(A_CODECS, codec={"mask": ["PCMU", "PCMA"]}), delete()],
    "answer left with telephone-event: its codec lines stay": [
        offer(A_CODECS, flags=["codec-strip-PCMU"]), answer(B_PCMU_ONLY), delete()],
    "single codec flag": [offer(A), answer(B, flags=["single-codec"]), delete()],
    "always transcode": [offer(A, flags=["always-transcode"]), answer(B), delete()],
    # (the answerer took the offerer's codec: nothing converts, query says so; 10.5)
    "always transcode in both, query": [offer(A, flags=["always-transcode"]),
                                        answer(B, flags=["always-transcode"]), query(), delete()],
    # inject DTMF: what is sent to a party whose message carried it is converted (query:
    # "transcoding" on the other party's media), for the rest of the call (10.5)
    "inject-DTMF in the offer only": [offer(A, flags=["inject-DTMF"]), answer(B), query(),
                                      delete()],
    "inject-DTMF in the answer only": [offer(A), answer(B, flags=["inject-DTMF"]), query(),
                                       delete()],
    "inject-DTMF in both, then a re-INVITE without": [
        offer(A, flags=["inject-DTMF"]), answer(B, flags=["inject-DTMF"]), query(),
        offer(A), answer(B), query(), delete()],
    "codec-accept of the answerer's codec, query": [
        offer(A, flags=["codec-accept-PCMU"]), answer(B), query(), delete()],
    # -- SIP source address without a received-from: no address for the media (10.5's
    # error, a media address notwithstanding); of it and trust-address the later counts
    "SIP source address without received from": [
        offer(A, flags=["SIP-source-address"]), query(), delete()],
    "SIP source address and a media address, no received from": [
        offer(A, flags=["sip-source-address"], **{"media address": "192.0.2.77"}), delete()],
    "trust-address then SIP-source-address": [
        offer(A, flags=["trust-address", "SIP-source-address"]), delete()],
    # (the SDP is trusted from the first media with ICE on: no received-from needed then)
    "SIP source address with ICE, no received from": [
        offer(A_ICE, flags=["SIP-source-address"]), answer(B_ICE, flags=["SIP-source-address"]),
        query(), delete()],
    "SIP source address, plain media then ICE media": [
        offer(A + "m=video 2004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
              "a=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n"
              "a=candidate:1 1 UDP 2130706431 192.0.2.10 2004 typ host\r\n",
              flags=["SIP-source-address"], **{"received from": ["IP4", "198.51.100.7"]}),
        query(), delete()],
    "SIP source address, ICE media then plain media": [
        offer(A_ICE + "m=video 2004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
              flags=["SIP-source-address"], **{"received from": ["IP4", "198.51.100.7"]}),
        query(), delete()],
    "SIP-source-address then trust-address": [
        offer(A, flags=["SIP-source-address", "trust-address"],
              **{"received from": ["IP4", "198.51.100.7"]}), query(), delete()],
    # -- the other spellings 10.5 takes for some flags (case matters for the rest)
    "flag aliases: trickle-ice, no-RTCP-attribute": [
        offer(A_ICE, flags=["trickle-ice", "no-RTCP-attribute"]), answer(B_ICE), delete()],
    "flag aliases: full-RTCP-attribute, ICE-reject": [
        offer(A_ICE, flags=["full-RTCP-attribute", "ICE-reject"]), answer(B_ICE), query(),
        delete()],
    # -- the other spellings 10.5 takes for some keys
    "key aliases: from-label, RTCP-mux, reverse ptime": [
        offer(A, **{"from-label": "caller", "RTCP-mux": ["offer"], "reverse ptime": 30}),
        answer(B, **{"from-label": "callee"}), query(), delete()],
    "key aliases: ice lite, dtls-reverse, dtls fingerprint": [
        offer(A_ICE, ICE="force", **{"ice lite": "forward", "transport-protocol": "RTP/SAVP",
                                     "dtls-reverse": "passive",
                                     "dtls fingerprint": "sha-1"}, _mask=CRYPTO_MASK),
        answer(B_ICE, _mask=CRYPTO_MASK), query(_mask=CRYPTO_MASK), delete()],
    # (we are ICE-lite towards the answerer: its leg is not ICE controlling, 10.5)
    "ICE-lite forward, then a re-offer": [
        offer(A_ICE, ICE="force", **{"ICE-lite": "forward"}), answer(B_ICE), query(),
        offer(A_ICE, ICE="force"), answer(B_ICE), query(), delete()],
    "ICE-lite fwd": [offer(A_ICE, ICE="force", **{"ICE-lite": "fwd"}), answer(B_ICE), query(),
                     delete()],
    "ICE-lite answer (backward)": [offer(A_ICE, ICE="force", **{"ICE-lite": "answer"}),
                                   answer(B_ICE), query(), delete()],
    "ICE-lite bk, then none": [offer(A_ICE, ICE="force", **{"ICE-lite": "bk"}), answer(B_ICE),
                               offer(A_ICE, ICE="force", **{"ICE-lite": "none"}),
                               answer(B_ICE), query(), delete()],
    "DTLS disabled, replace sdp-version": [
        offer(A, DTLS="disabled", replace=["sdp-version"], **{"transport-protocol": "RTP/SAVP"},
              _mask=CRYPTO_MASK), offer(A.replace("1 1 IN", "1 2 IN"), DTLS="no",
                                        replace=["sdp-version"], _mask=CRYPTO_MASK), delete()],
    "ICE-lite both": [offer(A_ICE, ICE="force", **{"ICE-lite": "both"}), answer(B_ICE), query(),
                      delete()],
    # (the roles of the first offer stay: the leg we were lite towards stays controlled)
    "ICE-lite forward, then backward": [
        offer(A_ICE, ICE="force", **{"ICE-lite": "forward"}), answer(B_ICE), query(),
        offer(A_ICE, ICE="force", **{"ICE-lite": "backward"}), answer(B_ICE), query(),
        delete()],
    "ICE-lite forward, then off": [
        offer(A_ICE, ICE="force", **{"ICE-lite": "forward"}), answer(B_ICE), query(),
        offer(A_ICE, ICE="force", **{"ICE-lite": "off"}), answer(B_ICE), query(), delete()],
    "ICE-lite forward, then the answerer re-offers": [
        offer(A_ICE, ICE="force", **{"ICE-lite": "forward"}), answer(B_ICE), query(),
        offer(B_ICE, tag="B", ICE="force", **{"to-tag": "A"}),
        answer(A_ICE, from_tag="B", to_tag="A"), query(), delete()],
    # -- trickle-ICE counts in offers only
    "trickle-ICE in an answer": [offer(A_ICE), answer(B_ICE, flags=["trickle-ICE"]), query(),
                                 delete()],
    # -- reject ICE: the offerer's ICE declined (its answer has none), or the answerer's
    "reject-ICE in an offer": [offer(A_ICE, flags=["reject-ICE"]), answer(B_ICE), query(),
                               offer(A_ICE), answer(B_ICE), query(), delete()],
    "reject-ICE in an answer": [offer(A_ICE), answer(B_ICE, flags=["reject-ICE"]), query(),
                                offer(A_ICE), answer(B_ICE), delete()],
    "reject-ICE with ICE force in the answer": [
        offer(A_ICE, flags=["reject-ICE"]), answer(B_ICE, ICE="force"), query(), delete()],
    # -- unidirectional: a flag of the party whose SDP carried it (query), until its next SDP
    "unidirectional in the offer, then not": [
        offer(A, flags=["unidirectional"]), answer(B, flags=["unidirectional"]), query(),
        offer(A), answer(B), query(), delete()],
    # -- passthrough: the ICE passthrough on both legs, and no-passthrough to end it
    "passthrough flag, plain and ICE": [offer(A_ICE, flags=["passthrough"]), answer(B_ICE),
                                        query(), offer(A), answer(B), query(), delete()],
    "no-passthrough after ICE optional": [
        offer(A_ICE, ICE="optional"), answer(B_ICE), query(),
        offer(A_ICE, flags=["no-passthrough"]), answer(B_ICE), query(), delete()],
    "passthrough key, then passthru off": [
        offer(A_ICE, passthrough="yes"), answer(B_ICE), query(),
        offer(A_ICE, passthru="off"), answer(B_ICE), query(), delete()],
    "ICE force relay spelt with a space or an underscore": [
        offer(A_ICE, ICE="force relay"), answer(B_ICE), offer(A_ICE, ICE="force_relay"),
        answer(B_ICE), delete()],
    "passthrough flag with ICE force": [offer(A_ICE, ICE="force", flags=["passthrough"]),
                                        answer(B_ICE), query(), delete()],
    # -- ICE roles of a passthrough leg (10.5 sets a media's roles when it first sees it
    #    or its agent restarts, not with the passthrough flags, not without an agent)
    "a media added by a re-offer with the passthrough flag": [
        offer(A_ICE, ICE="force"), answer(B_ICE),
        _reverse(offer(B + _VIDEO, flags=["passthrough"])),
        _reverse(answer(A + _VIDEO, flags=["no-passthrough"])), query(), delete()],
    "a media added by a re-offer with no-passthrough": [
        offer(A), answer(B, ICE="optional"),
        _reverse(offer(B + _VIDEO, flags=["no-passthrough"])),
        _reverse(answer(A + _VIDEO)), query(), delete()],
    "an answer with ICE remove after passthrough flags": [
        offer(A, flags=["passthrough"]), answer(B, flags=["passthrough"]),
        _reverse(offer(B + _VIDEO)), _reverse(answer(A + _VIDEO, ICE="remove")), query(),
        delete()],
    "a media refused from the first offer, accepted by a re-offer": [
        offer(A.replace("m=audio 2000", "m=audio 0")),
        answer(B.replace("m=audio 3000", "m=audio 0"), ICE="remove", flags=["no-passthrough"]),
        _reverse(offer(B, ICE="remove")), _reverse(answer(A, flags=["no-passthrough"])),
        query(), delete()],
    "new ICE credentials on a force-relay passthrough": [
        offer(A_ICE, ICE="force-relay"), answer(B_ICE),
        _reverse(offer(B_ICE.replace("8hhY", "9jjZ"))), _reverse(answer(A_ICE)), query(),
        delete()],
    # -- the answer goes back in the offerer's protocol (rtpengine's mr12.5 suite,
    #    "rtcp-fb with RTP/AVP")
    "RTP/AVPF offered on as RTP/AVP, answered RTP/AVP": [
        offer(A.replace("RTP/AVP", "RTP/AVPF") + "a=rtcp-fb:0 foobar\r\n",
              **{"transport-protocol": "RTP/AVP"}),
        answer(B + "a=rtcp-fb:* foobar\r\n"), query(), delete()],
    "RTP/AVP offered, answered RTP/AVPF": [
        offer(A), answer(B.replace("RTP/AVP", "RTP/AVPF")), query(), delete()],
    # -- an OSRTP answer to a plain re-offer: its a=crypto is not copied on (mr13.0's suite,
    #    "OSRTP offer, reject, reinvite")
    "OSRTP answer to a plain re-offer": [
        offer(A + OSRTP_KEY, DTLS="off", _mask=KEYS),
        answer(B, DTLS="off", _mask=KEYS),
        offer(B, tag="B", **{"to-tag": "A"}, DTLS="off", _mask=KEYS),
        # (its query then still shows SDES on A's media, as 10.5's)
        answer(A + OSRTP_KEY, from_tag="B", to_tag="A", DTLS="off"), query(), delete()],
    # -- which party a command names: by label first, then address, then from-tag (10.5)
    "a label naming nobody beside a from-tag that names a party": [
        offer(A, label="caller"), answer(B),
        {"command": "block media", "label": "nosuch", "from-tag": "A"},
        {"command": "block DTMF", "label": "caller", "from-tag": "B"},
        {"command": "silence media", "label": "caller", "address": "192.0.2.20"}, query(),
        delete()],
    "an address beside a from-tag": [
        offer(A), answer(B),
        {"command": "block media", "address": "192.0.2.20", "from-tag": "A"},
        {"command": "block DTMF", "address": "not-an-address", "from-tag": "A"},
        {"command": "unblock media", "address": "198.51.100.99", "from-tag": "A"}, query(),
        delete()],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_option(pair, name):
    pair.compare(SCENARIOS[name], name)


SIP_SOURCE_SCENARIOS: dict[str, list[dict]] = {
    "received from used": [offer(A, **{"received from": ["IP4", "198.51.100.7"]}), query(),
                           delete()],
    "no received from": [offer(A), query(), delete()],
    "trust-address instead": [offer(A, flags=["trust-address"]), query(), delete()],
}


@pytest.fixture(scope="module")
def sip_source_pair():
    """Both daemons with ``--sip-source``: media addresses from ``received from``."""
    daemons = DaemonPair(extra=["--sip-source"], ranges=((25700, 25749), (25750, 25799)))
    yield daemons
    daemons.stop()


@pytest.mark.parametrize("name", list(SIP_SOURCE_SCENARIOS))
def test_sip_source_default(sip_source_pair, name):
    sip_source_pair.compare(SIP_SOURCE_SCENARIOS[name], name)
