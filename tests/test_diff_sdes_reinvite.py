"""Differential: SDES re-INVITEs and RTCP on the RTP port, our SDP beside rtpengine 10.5's.

Once an SRTP answerer we keyed has chosen one of our a=crypto lines, a re-offer to it
offers that line first, its tag and key unchanged, and fresh lines for the other suites,
tags counting on from it (upstream case 7618: a call switched from RTP to SRTP, then
re-INVITEd). An ``a=rtcp`` naming the RTP port itself offers rtcp-mux, as ``a=rtcp-mux``
does (upstream case 7875), unless it is trickle ICE's 0.0.0.0:9. Keys are random on both
daemons: the comparisons mask them, and the key carried over is checked on each daemon.
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
from test_diff_sdes import PLAIN_A, PLAIN_B, SDES_A, SDES_B, SDES_B_32, _a, _mask_keys, _o

SAVP = {"transport-protocol": "RTP/SAVP"}
AVP = {"transport-protocol": "RTP/AVP"}


def _sdes_b(tag: int, suite: str, key: str = "QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c") -> str:
    """B answering (or offering) SRTP with one a=crypto line."""
    return SDES_B.replace("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJ"
                          "kjOhTZK2dvOwo6c", f"a=crypto:{tag} {suite} inline:{key}")


B_TAG7 = _sdes_b(7, "AES_CM_128_HMAC_SHA1_80")
B_TAG1_GCM = _sdes_b(1, "AEAD_AES_256_GCM",
                     "vhyCWOXaXwDEMwQqSvXhnfixmPr5LjIqzh7p9jwPkVTlKAPDnvcwwTjHD5k")
B_TAG8_32 = _sdes_b(8, "AES_CM_128_HMAC_SHA1_32")
B_OTHER_TAG_80 = _sdes_b(3, "AES_CM_128_HMAC_SHA1_80")  # tag 3 named another suite

# RTCP on the RTP port, said with a=rtcp only (no a=rtcp-mux).
A_RTCP_SAME = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
                  "m=audio 2000 RTP/AVP 0 8", "a=rtcp:2000", "a=sendrecv")
A_RTCP_SAME_ADDR = A_RTCP_SAME.replace("a=rtcp:2000", "a=rtcp:2000 IN IP4 192.0.2.99")
A_RTCP_NEXT = A_RTCP_SAME.replace("a=rtcp:2000", "a=rtcp:2001")
A_TRICKLE = sdp("v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
                "m=audio 9 RTP/AVP 0 8", "a=rtcp:9", "a=sendrecv")
A_HELD_RTCP = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
                  "m=audio 2000 RTP/AVP 0 8", "a=rtcp:2008", "a=sendrecv")
A_HELD_RTCP_SAME = A_HELD_RTCP.replace("a=rtcp:2008", "a=rtcp:2000")
A_SDES_MUX = SDES_A.replace("a=sendrecv", "a=rtcp-mux\r\na=sendrecv")
A_SDES_RTCP_SAME = SDES_A.replace("a=sendrecv", "a=rtcp:2000 IN IP4 192.0.2.10\r\na=sendrecv")
DTLS_B = sdp("v=0", "o=- 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
             "m=audio 3000 UDP/TLS/RTP/SAVPF 0", "a=setup:actpass",
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=sendrecv")
DTLS_A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
             "m=audio 2000 UDP/TLS/RTP/SAVPF 0 8", "a=setup:actpass",
             "a=fingerprint:sha-256 " + ":".join(["CD"] * 32), "a=sendrecv")
OSRTP_B = PLAIN_B.replace("a=sendrecv", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                          "inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c\r\na=sendrecv")
DEMUX = {"rtcp-mux": ["demux"]}
OFF = {"DTLS": "off", "ICE": "remove"}

SCENARIOS: dict[str, list[dict]] = {
    # -- re-offers after an SDES answer chose one of our lines
    "RTP to SRTP, answer picks tag 7, re-offer": [
        _o(PLAIN_A, **SAVP, **OFF), _a(B_TAG7, **OFF), query(),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), _a(B_TAG7, **OFF), query(), delete()],
    "RTP to SRTP with DTLS offered, answer picks tag 7, re-offer": [
        _o(PLAIN_A, **SAVP), _a(B_TAG7), _o(PLAIN_A, **SAVP, **{"to-tag": "B"}), delete()],
    "answer picks the first suite, re-offer": [
        _o(PLAIN_A, **SAVP, **OFF), _a(B_TAG1_GCM, **OFF),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), delete()],
    "answer picks tag 8, re-offer, re-answer with it": [
        _o(PLAIN_A, **SAVP, **OFF), _a(B_TAG8_32, **OFF),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), _a(B_TAG8_32, **OFF), query(),
        delete()],
    "answer names a suite by another tag, re-offer": [
        _o(PLAIN_A, **SAVP, **OFF), _a(B_OTHER_TAG_80, **OFF),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), delete()],
    "re-offer twice keeps the chosen line": [
        _o(PLAIN_A, **SAVP, **OFF), _a(B_TAG7, **OFF),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), _a(B_TAG7, **OFF),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), delete()],
    "re-offer before any answer keeps every line": [
        _o(PLAIN_A, **SAVP, **OFF), _o(PLAIN_A, **SAVP, **OFF), delete()],
    "answer plain, re-offer": [
        _o(PLAIN_A, **SAVP, **OFF), _a(PLAIN_B, **OFF),
        _o(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}), delete()],
    "SRTP callee re-INVITEs the plain caller (upstream 7618's last offer)": [
        _o(PLAIN_A, **SAVP, **OFF, **DEMUX), _a(B_TAG7, **OFF, **DEMUX),
        _o(PLAIN_A, **SAVP, **OFF, **DEMUX, **{"to-tag": "B"}), _a(B_TAG7, **OFF, **DEMUX),
        _o(B_TAG7, tag="B", **SAVP, **OFF, **DEMUX, **{"to-tag": "A"}), query(), delete()],
    "SDES on both legs, answer picks a line we added, re-offer": [
        _o(SDES_A, **OFF), _a(_sdes_b(3, "AEAD_AES_256_GCM",
                                      "vhyCWOXaXwDEMwQqSvXhnfixmPr5LjIqzh7p9jwPkVTlKAPDnvcwwTjHD5k"),
                              **OFF),
        _o(SDES_A, **OFF, **{"to-tag": "B"}), delete()],
    "SRTP callee re-INVITEs the plain caller without transport-protocol: it stays plain": [
        _o(PLAIN_A, **SAVP, **OFF), _a(B_TAG7, **OFF),
        _o(B_TAG7, tag="B", **OFF, **{"to-tag": "A"}), query(), _a(PLAIN_A, to_tag="A",
                                                                  from_tag="B", **OFF),
        query(), delete()],
    "SRTP callee re-INVITEs the plain caller, DTLS on": [
        _o(PLAIN_A, **SAVP), _a(B_TAG7), _o(B_TAG7, tag="B", **SAVP, **{"to-tag": "A"}),
        query(), delete()],
    # -- each side re-INVITEs in turn: the line we answered an SDES offerer with is our
    # line for it from then on (a re-offer to it starts with it, tag and key unchanged)
    "SDES caller to a plain callee, both re-INVITE": [
        _o(SDES_A, **AVP), _a(PLAIN_B), query(),
        _o(PLAIN_B, tag="B", **{"to-tag": "A"}), _a(SDES_A, from_tag="B", to_tag="A"), query(),
        _o(SDES_A, **{"to-tag": "B"}), _a(PLAIN_B), query(),
        _o(PLAIN_B, tag="B", **{"to-tag": "A"}), delete()],
    "plain caller to an SDES callee, both re-INVITE": [
        _o(PLAIN_A, **SAVP), _a(B_TAG7), query(),
        _o(SDES_B_32, tag="B", **{"to-tag": "A"}), _a(PLAIN_A, from_tag="B", to_tag="A"),
        query(), _o(PLAIN_A, **{"to-tag": "B"}), _a(SDES_B_32), query(),
        _o(SDES_B_32, tag="B", **{"to-tag": "A"}), delete()],
    # -- what query shows while an SRTP offer waits for its answer
    "SDES on both legs, query before the answer": [_o(SDES_A), query(), delete()],
    "SDES on both legs, DTLS off, query before the answer": [
        _o(SDES_A, **OFF), query(), _a(SDES_B, **OFF), query(), delete()],
    "SDES on both legs, answered plain": [
        _o(SDES_A, **OFF), query(), _a(PLAIN_B, **OFF), query(), delete()],
    "plain to SRTP, DTLS off, query before the answer": [
        _o(PLAIN_A, **SAVP, **OFF), query(), delete()],
    # -- a=rtcp on the RTP port
    "a=rtcp on the RTP port, no options": [
        offer(A_RTCP_SAME), query(), answer(PLAIN_B), query(), delete()],
    "a=rtcp on the RTP port, demux both ways (upstream 7875, plain)": [
        offer(A_RTCP_SAME, **DEMUX), query(), answer(PLAIN_B, **DEMUX), query(), delete()],
    "a=rtcp on the RTP port with another address, demux": [
        offer(A_RTCP_SAME_ADDR, **DEMUX), answer(PLAIN_B, **DEMUX), query(), delete()],
    "a=rtcp on the next port is no rtcp-mux": [
        offer(A_RTCP_NEXT, **DEMUX), answer(PLAIN_B, **DEMUX), query(), delete()],
    "trickle ICE's 0.0.0.0:9 is no rtcp-mux": [
        offer(A_TRICKLE, **DEMUX), answer(PLAIN_B, **DEMUX), query(), delete()],
    "SDES with a=rtcp on the RTP port, demux both ways (upstream 7875)": [
        _o(A_SDES_RTCP_SAME, **SAVP, **OFF, **DEMUX, **{"replace": ["origin"]}),
        _a(_sdes_b(1, "AES_CM_128_HMAC_SHA1_80", "cdDuBSOp/rX/7ikmU1Tnuu337gXUUMFAhkARhB/j"),
           **OFF, **DEMUX, **{"replace": ["origin"]}), query(), delete()],
    "held offer with a=rtcp on another port": [
        offer(A_HELD_RTCP), query(), answer(PLAIN_B), query(), delete()],
    "held offer with a=rtcp on the RTP port": [
        offer(A_HELD_RTCP_SAME, **DEMUX), query(), answer(PLAIN_B, **DEMUX), query(),
        delete()],
    "SDES offer with a=rtcp-mux, demux both ways": [
        _o(A_SDES_MUX, **SAVP, **OFF, **DEMUX), query(),
        _a(_sdes_b(1, "AES_CM_128_HMAC_SHA1_80", "cdDuBSOp/rX/7ikmU1Tnuu337gXUUMFAhkARhB/j"),
           **OFF, **DEMUX), query(), delete()],
    "a=rtcp on the RTP port, rtcp-mux offer and accept": [
        offer(A_RTCP_SAME, **{"rtcp-mux": ["offer"]}),
        answer(PLAIN_B, **{"rtcp-mux": ["accept"]}), query(), delete()],
    # -- the SRTP answerer re-INVITEs with plain RTP: its leg is plain from then on (no
    # SDES in query), and a later re-offer to it without a transport-protocol offers it
    # the plain RTP it last said, not the SRTP we first offered it (10.5)
    "SRTP answerer re-offers plain RTP, then the offerer re-offers": [
        _o(PLAIN_A, **SAVP), _a(B_TAG7), _o(PLAIN_B, **{"from-tag": "B", "to-tag": "A"}),
        _a(PLAIN_A, **{"from-tag": "B", "to-tag": "A"}), query(_mask=_mask_keys),
        _o(PLAIN_A, **{"to-tag": "B"}), _a(PLAIN_B), query(_mask=_mask_keys), delete()],
    # -- SDES end to end (B took A's own line), then B re-offers without keys sent on as
    # SRTP: A is offered the line it has (the one its answer passed on) and fresh ones for
    # the other suites (10.5's sdes_out); rtpengined offered A RTP/SAVP without a key
    "SDES end to end, then a plain re-offer from B sent on as SRTP": [
        _o(SDES_A), _a(SDES_B), _o(PLAIN_B, **SAVP, **{"from-tag": "B", "to-tag": "A"}),
        query(_mask=_mask_keys), delete()],
    # -- a DTLS offerer (never offered SDES) re-offered to with B's SDES: DTLS alone
    # (10.5 keeps the leg's DTLS-only choice); rtpengined added our a=crypto lines
    "DTLS both ways, then an SDES re-offer from B": [
        _o(DTLS_A), _a(DTLS_B), _o(SDES_B, **{"from-tag": "B", "to-tag": "A"}), delete()],
    "DTLS offerer answered plain, then an SDES re-offer from B": [
        _o(DTLS_A, **AVP), _a(PLAIN_B), _o(SDES_B, **{"from-tag": "B", "to-tag": "A"}),
        delete()],
    # -- a DTLS offerer sent on as plain RTP, then its peer re-offers OSRTP: it is offered
    # RTP/AVP with DTLS alone and answers that way; an RTP/AVP answer with DTLS lines is
    # no plain answer, so the OSRTP offerer gets our SDES key (10.5); rtpengined passed the
    # answerer's a=fingerprint and a=setup on to it
    "DTLS offerer sent on as RTP/AVP, then an OSRTP re-offer answered with DTLS": [
        _o(DTLS_A, **AVP), _a(PLAIN_B),
        _o(OSRTP_B, **{"from-tag": "B", "to-tag": "A"}),
        _a(PLAIN_A.replace("a=sendrecv", "a=setup:active\r\n"
                           "a=fingerprint:sha-256 " + ":".join(["EF"] * 32)
                           + "\r\na=sendrecv"), **{"from-tag": "B", "to-tag": "A"}),
        query(_mask=_mask_keys), delete()],
    # -- an offerer of DTLS beside its keys answered SDES is still answered DTLS (10.5
    # prefers it; media: test_diff_sdes_to_dtls)
    "DTLS and SDES offerer answered SDES": [
        _o(SDES_A.replace("a=sendrecv", "a=setup:actpass\r\na=fingerprint:sha-256 "
                          + ":".join(["CD"] * 32) + "\r\na=sendrecv")),
        _a(SDES_B), query(_mask=_mask_keys), delete()],
    "DTLS and SDES offerer answered SRTP without a key": [
        _o(SDES_A.replace("a=sendrecv", "a=setup:actpass\r\na=fingerprint:sha-256 "
                          + ":".join(["CD"] * 32) + "\r\na=sendrecv")),
        _a(SDES_B.replace("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPU"
                          "plJkjOhTZK2dvOwo6c\r\n", "")),
        query(_mask=_mask_keys), delete()],
    "SDES end to end, then a DTLS re-offer from B sent on as SDES": [
        _o(SDES_A), _a(SDES_B),
        _o(DTLS_B, **SAVP, **{"from-tag": "B", "to-tag": "A"}), query(_mask=_mask_keys),
        delete()],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sdes_reinvite_as_rtpengine(default_pair, name):
    default_pair.compare(SCENARIOS[name], name)


def _sender(daemon, call_id: str):
    """A function sending one message of call ``call_id`` to ``daemon``, asserting ``ok``."""

    def send(message):
        reply = daemon.request({**message, "call-id": call_id})
        assert reply["result"] == "ok", reply
        return reply

    return send


def _crypto(text: str) -> list[tuple[int, str, str]]:
    return [(int(tag), suite, key) for tag, suite, key in
            re.findall(r"^a=crypto:(\d+) (\S+) inline:([^\s|]+)", text, re.M)]


@pytest.mark.parametrize("answer_sdp", [B_TAG7, B_TAG8_32, B_TAG1_GCM],
                         ids=["tag 7", "tag 8", "tag 1"])
@pytest.mark.parametrize("which", ["reference", "ours"])
def test_reoffer_carries_the_chosen_key(default_pair, which, answer_sdp):
    """The key in the re-offer's first line is the one the first offer gave that suite."""
    daemon = getattr(default_pair, which)
    call_id = f"sdes-rekey-{which}-{answer_sdp.count('8')}-{len(answer_sdp)}"
    send = _sender(daemon, call_id)

    first = _crypto(send(offer(PLAIN_A, **SAVP, **OFF))["sdp"])
    send(answer(answer_sdp, **OFF))
    again = _crypto(send(offer(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}))["sdp"])
    chosen_suite = _crypto(answer_sdp)[0][1]
    ours = next(line for line in first if line[1] == chosen_suite)
    assert again[0] == ours
    assert [line[0] for line in again] == list(range(ours[0], ours[0] + len(first)))
    assert sorted(line[1] for line in again) == sorted(line[1] for line in first)
    assert all(line[2] != old[2] for line in again[1:] for old in first)  # fresh keys
    send(delete())


@pytest.mark.parametrize("which", ["reference", "ours"])
def test_answer_naming_a_suite_by_another_tag_leaves_no_line_to_keep(default_pair, which):
    """The answer's tag named another suite of ours: none of our lines is kept (10.5 keeps
    the one of the answer's tag and suite), so the re-offer is a fresh list, tags from 1."""
    daemon = getattr(default_pair, which)
    call_id = f"sdes-other-tag-{which}"
    send = _sender(daemon, call_id)

    first = _crypto(send(offer(PLAIN_A, **SAVP, **OFF))["sdp"])
    send(answer(B_OTHER_TAG_80, **OFF))
    again = _crypto(send(offer(PLAIN_A, **SAVP, **OFF, **{"to-tag": "B"}))["sdp"])
    assert [line[:2] for line in again] == [line[:2] for line in first]
    assert all(line[2] != old[2] for line in again for old in first)
    send(delete())


def _sdes_offer(lines: list[str]) -> str:
    return sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=tester", "c=IN IP4 198.51.100.1",
               "t=0 0", "m=audio 4370 RTP/SAVP 0", *lines, "a=sendrecv")


KEY_1 = "QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c"
KEY_2 = "dSKhsDW5dlgtDrixZLm/eXJKJNRr4YzOwUDVk/6n"


@pytest.mark.parametrize(("second", "kept"), [
    ([f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}"], True),
    ([f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_2}"], True),
    ([f"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY_1}"], False),
], ids=["same offer", "offerer re-keyed", "other suite"])
@pytest.mark.parametrize("which", ["reference", "ours"])
def test_answer_to_an_sdes_reoffer_keeps_our_key(default_pair, which, second, kept):
    """An SDES offerer re-offers (sent on as plain RTP): our answer keeps the key it had
    while the suite stays, whatever key the offerer now sends (10.5), so the relay's
    context and its rollover counter go on."""
    daemon = getattr(default_pair, which)
    call_id = f"sdes-keep-{which}-{second[0][-6:]}-{kept}"
    send = _sender(daemon, call_id)

    avp = {"transport-protocol": "RTP/AVP"}
    first_lines = [f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}"]
    send(offer(_sdes_offer(first_lines), **avp))
    before = _crypto(send(answer(PLAIN_B))["sdp"])
    send(offer(_sdes_offer(second), **avp))
    after = _crypto(send(answer(PLAIN_B))["sdp"])
    assert (after[0][2] == before[0][2]) is kept
    send(delete())


async def test_srtp_party_keeps_its_context_across_the_reinvite(make_daemon):
    """Over real sockets: the SRTP callee builds its receiving context once, from the first
    offer; after a re-INVITE and its answer it still decrypts what the plain caller sends
    (the re-offer gave it the same key), and its own stream goes on under its first key."""
    import trio
    from test_secure_sdes_relay import body, bound_pair, cryptos, ng, port_of, rtp

    from rtpengined.secure import sdes as sdes_lines
    from rtpengined.secure.srtp import SrtpContext

    daemon = await make_daemon(port_min=48300, port_max=48399)
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    keys = {"call-id": "srtp-keeps", "from-tag": "a"}
    offer1 = await ng(daemon, command="offer", **keys, **SAVP, **OFF, sdp=body(a_port))
    ours = next(c for c in cryptos(offer1["sdp"]) if c.suite.name == "AES_CM_128_HMAC_SHA1_80")
    theirs = sdes_lines.generate(ours.tag, ours.suite)
    sender = SrtpContext.from_sdes(theirs, outbound=True)
    receiver = SrtpContext.from_sdes(ours, outbound=False)  # built once, never again
    seq = 0
    for round_ in range(2):
        if round_:
            offer = await ng(daemon, command="offer", **keys, **SAVP, **OFF,
                             **{"to-tag": "b"}, sdp=body(a_port))
            assert cryptos(offer["sdp"])[0] == ours
        answer = await ng(daemon, command="answer", **keys, **OFF, **{"to-tag": "b"},
                          sdp=body(b_port, "RTP/SAVP", [theirs.format()]))
        with trio.fail_after(10):
            for _ in range(5):
                seq += 1
                sent = rtp(seq, 0x5157A001)
                await b_rtp.sendto(sender.protect(sent), ("127.0.0.1", port_of(offer1["sdp"])))
                data, _ = await a_rtp.recvfrom(2048)
                assert data == sent
                back = rtp(seq, 0x9A1A0002)
                await a_rtp.sendto(back, ("127.0.0.1", port_of(answer["sdp"])))
                data, _ = await b_rtp.recvfrom(2048)
                assert receiver.unprotect(data) == back
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()


def _b_choosing(first_offer: list[tuple[int, str, str]], suite: str, key: str) -> str:
    """B's SDES answer taking the line of ``suite`` from the offer it got, with ``key``."""
    tag = next(line[0] for line in first_offer if line[1] == suite)
    return SDES_B.replace("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c",
                          f"a=crypto:{tag} {suite} inline:{key}")


GCM_256_KEY = "WxZ4HY0RQ2M5I4kqb8yHk1cd8gr1fhqgJvPAm5Br0wBmxJZGzVd9NyMJe9U="  # 44 bytes
SHORT_KEY = "QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c"  # 30 bytes: too short for GCM-256


@pytest.mark.parametrize("case", ["A's own line", "a line we added", "a keyless answer"])
@pytest.mark.parametrize("which", ["reference", "ours"])
def test_a_plain_reoffer_sent_on_as_srtp_keeps_the_partys_line(default_pair, which, case):
    """SDES on both legs, then the other party re-offers plain RTP, sent on as RTP/SAVP: the
    re-offer starts with the line the party has, tag and key unchanged (10.5's sdes_out).
    Found by differential random flows; rtpengined offered a fresh list.

    - B took A's own line (keys end to end); A re-offers: B's first line is A's line.
    - B took a suite we added (the legs bridged), or answered a line whose key is too short
      for its suite (keyless): we answered A our own line; B re-offers: A's first line is
      the one we answered it."""
    daemon = getattr(default_pair, which)
    call_id = f"sdes-plain-reoffer-{which}-{case}"
    send = _sender(daemon, call_id)
    first = _crypto(send(offer(SDES_A))["sdp"])
    if case == "A's own line":
        send(answer(SDES_B))
        again = _crypto(send(offer(PLAIN_A, **SAVP, **{"to-tag": "B"}))["sdp"])
        kept = first[0]  # A's line, passed on to B
        assert kept == (1, "AES_CM_128_HMAC_SHA1_80", "cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv")
    else:
        key = GCM_256_KEY if case == "a line we added" else SHORT_KEY
        answered = _crypto(send(answer(_b_choosing(first, "AEAD_AES_256_GCM", key)))["sdp"])
        assert len(answered) == 1 and answered[0][1] == "AES_CM_128_HMAC_SHA1_80"
        kept = answered[0]  # our line for A
        again = _crypto(send(offer(PLAIN_B, **SAVP, **{"from-tag": "B", "to-tag": "A"}))["sdp"])
    assert again[0] == kept
    assert len({line[1] for line in again}) == len(again)  # then one line per other suite
    send(delete())
