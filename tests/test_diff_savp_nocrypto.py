"""Differential: an SDES-SRTP offer answered RTP/SAVP without an a=crypto line the daemon
can read (none at all, a key too short to be one such as ``inline:CRYPTO128``, a suite it
does not know), beside rtpengine 10.5.

10.5 answers the offerer with a line of its own (the offerer's first suite and tag, a new
key) and keys the offerer's leg; it sends the answerer SRTP in the first line offered to
it (the offerer's own key, passed on) and, having no key for the answerer, refuses
everything the answerer sends, counting each packet an error of the answerer's stream.
The same goes for rtpengine's later suites' "legacy OSRTP offer, control" (an RTP/SAVP
media beside an RTP/AVP one) and for an opportunistic offer (RTP/AVP with a=crypto)
answered RTP/SAVP without keys, whose answer goes back as RTP/AVP. What was already as
10.5 stays so: answers with keys, a plain answer, an opportunistic offer answered plain.

Both the signalling (keys masked) and the media (what each party gets and can decrypt,
with which line, and the streams' counters and suites in query) are compared.
"""

from __future__ import annotations

import re
import struct

import pytest
from differential import (
    answer,
    audio_port,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    rtp_rtcp_sockets,
    sdp,
)
from test_diff_sdes import _mask_keys

from rtpengined.offer_answer.sdes import SUPPORTED
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

KEY_A = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv"
KEY_B = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c"
BAD_KEY = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:CRYPTO128"
UNKNOWN_SUITE = "a=crypto:1 FOO_BAR inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c"
# (a suite we add to the offer, under the tag we give it there: an answer that keys)
ADDED_SUITE = "a=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7"
# (that suite under tag 1, which names another suite in the offer)
ANOTHER_SUITE = ADDED_SUITE.replace("a=crypto:8 ", "a=crypto:1 ")


def _party(address: str, *media: str) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {address}", "s=-", f"c=IN IP4 {address}", "t=0 0",
               *media)


def _a(body: str, **extra):
    return answer(body, _mask=_mask_keys, **extra)


def _o(body: str, **extra):
    return offer(body, _mask=_mask_keys, **extra)


SAVP_A = _party("192.0.2.10", "m=audio 2000 RTP/SAVP 0 8", KEY_A, "a=sendrecv")
SAVPF_A = SAVP_A.replace("RTP/SAVP ", "RTP/SAVPF ")
OSRTP_A = SAVP_A.replace("RTP/SAVP ", "RTP/AVP ")
LEGACY_OSRTP_A = _party("192.0.2.10", "m=audio 2002 RTP/SAVP 8", KEY_A, "m=audio 2000 RTP/AVP 8")


def _b(*lines: str, proto: str = "RTP/SAVP") -> str:
    return _party("192.0.2.20", f"m=audio 3000 {proto} 0", *lines, "a=sendrecv")


LEGACY_OSRTP_B = _party("192.0.2.20", "m=audio 3002 RTP/SAVP 8", BAD_KEY, "m=audio 0 RTP/AVP 8")

SCENARIOS: dict[str, list[dict]] = {
    "SAVP offer, SAVP answer without a=crypto": [_o(SAVP_A), _a(_b()), query(), delete()],
    "SAVP offer, SAVP answer with an unusable key": [_o(SAVP_A), _a(_b(BAD_KEY)), query(),
                                                     delete()],
    "SAVP offer, SAVP answer with an unknown suite": [_o(SAVP_A), _a(_b(UNKNOWN_SUITE)),
                                                      query(), delete()],
    "SAVPF offer, SAVPF answer without a=crypto": [_o(SAVPF_A), _a(_b(proto="RTP/SAVPF")),
                                                   query(), delete()],
    "SAVP offer, SAVP answer without a=crypto, answered again": [
        _o(SAVP_A), _a(_b()), _a(_b()), query(), delete()],
    "SAVP offer, SAVP answer without a=crypto, then re-offer and an answer with keys": [
        _o(SAVP_A), _a(_b()), _o(SAVP_A), _a(_b(KEY_B)), query(), delete()],
    "SAVP offer with SDES off, SAVP answer without a=crypto": [
        _o(SAVP_A, SDES=["off"]), _a(_b()), query(), delete()],
    "SAVP offer, SAVP answer with another suite under the offerer's tag": [
        _o(SAVP_A), _a(_b(ANOTHER_SUITE)), query(), delete()],
    "plain offer to SAVP, SAVP answer without a=crypto": [
        _o(_party("192.0.2.10", "m=audio 2000 RTP/AVP 0", "a=sendrecv"),
           **{"transport-protocol": "RTP/SAVP", "DTLS": "off"}), _a(_b()), query(), delete()],
    "legacy OSRTP offer, control": [_o(LEGACY_OSRTP_A), _a(LEGACY_OSRTP_B), query(), delete()],
    "OSRTP offer, SAVP answer without a=crypto": [_o(OSRTP_A), _a(_b()), query(), delete()],
    # (as before: answers that key, a plain answer, an opportunistic offer answered plain)
    "SAVP offer, SAVP answer with the offerer's line": [_o(SAVP_A), _a(_b(KEY_B)), query(),
                                                        delete()],
    "SAVP offer, SAVP answer with a suite we added": [_o(SAVP_A), _a(_b(ADDED_SUITE)),
                                                      query(), delete()],
    "SAVP offer, plain answer": [_o(SAVP_A), _a(_b(proto="RTP/AVP")), query(), delete()],
    "OSRTP offer, plain answer": [_o(OSRTP_A), _a(_b(proto="RTP/AVP")), query(), delete()],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_signalling_as_rtpengine(default_pair, name):
    default_pair.compare(SCENARIOS[name], name)


# --- media ---------------------------------------------------------------------------------

A_KEY = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
A_SSRC, B_SSRC = 0xAAAA, 0xBBBB
PAYLOAD = b"\xab" * 100


def _body(port: int, proto: str, lines: list[str]) -> str:
    return _party("127.0.0.1", f"m=audio {port} {proto} 0", *lines, "a=sendrecv")


def _rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + PAYLOAD


def _rr(ssrc: int) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def _lines(text: str) -> list[sdes.Crypto]:
    """The a=crypto lines of an SDP that parse."""
    out = []
    for line in text.splitlines():
        if line.startswith("a=crypto:"):
            try:
                out.append(sdes.parse(line[2:]))
            except sdes.SdesError:
                continue
    return out


def _seen(data: bytes, contexts: dict, rtcp: bool) -> str:
    """What a party makes of a packet: the line that decrypts it, or plain, or unreadable."""
    for name, context in contexts.items():
        try:
            plain = context.unprotect_rtcp(data) if rtcp else context.unprotect(data)
        except Exception:  # (pylibsrtp: not this key)
            continue
        return f"decrypted with {name}, {len(plain)} bytes"
    if data == (_rr(B_SSRC) if rtcp else None) or data[12:] == PAYLOAD:
        return f"plain, {len(data)} bytes"
    return f"unreadable, {len(data)} bytes"


def _figures(reply: dict) -> dict:
    """Per party and component: the counters and the suite query shows; per party its
    media's protocol and flags."""
    out = {}
    for tag, monologue in reply["tags"].items():
        for media in monologue.get("medias", []):
            out[(tag, media["index"])] = (media["protocol"], media["flags"])
            for stream in media.get("streams", []):
                stats = stream["stats"]
                out[(tag, media["index"], stream["local port"] % 2)] = (
                    stream.get("crypto suite"), stats["packets"], stats["bytes"],
                    stats["errors"])
    return out


def _exchange(daemon, call_id: str, a_proto: str, b_proto: str, b_lines: list[str],
              options: dict | None = None) -> list:
    """A offers ``a_proto`` with its key (none with ``options`` that send a plain offer on
    as SRTP), B answers ``b_proto`` with ``b_lines``; both send SRTP (with every key they
    know of), plain RTP and RTCP. What each packet became at the other party, the answer's
    shape, and query's figures."""
    (a_rtp, a_rtcp), (b_rtp, b_rtcp) = rtp_rtcp_sockets(), rtp_rtcp_sockets()
    ids = {"call-id": call_id, "from-tag": "A"}
    options = options or {}
    keyed = "transport-protocol" not in options and "OSRTP" not in options
    try:
        offered = daemon.request({"command": "offer", **ids, "ICE": "remove", **options,
                                  "sdp": _body(a_rtp.getsockname()[1], a_proto,
                                               [f"a={A_KEY.format()}"] if keyed else [])})
        answered = daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                   "sdp": _body(b_rtp.getsockname()[1], b_proto, b_lines)})
        protocol = re.search(r"m=audio \d+ (\S+)", answered["sdp"]).group(1)
        log = [("answer", protocol, [(c.tag, c.suite.name) for c in _lines(answered["sdp"])])]
        _media_both_ways(daemon, ids, ((a_rtp, a_rtcp), (b_rtp, b_rtcp)), offered, answered,
                         b_lines, keyed, log)
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
            sock.close()
    return log


def _media_both_ways(daemon, ids: dict, sockets: tuple, offered: dict, answered: dict,
                     b_lines: list[str], keyed: bool, log: list) -> list:
    """Through the call ``offered`` and ``answered`` set up on ``daemon``, both parties send
    SRTP (with every key they know of: A its own when ``keyed``, B every line offered or
    answered to it and its own ``b_lines``), plain RTP and RTCP; appends to ``log`` what
    each packet became at the other party and then query's figures, and deletes the call.
    (Shared with ``test_redis_savp_nocrypto``, which runs it after a restore.)"""
    (a_rtp, a_rtcp), (b_rtp, b_rtcp) = sockets
    to_a, to_b = audio_port(offered), audio_port(answered)
    lines_b, lines_a = _lines(offered["sdp"]), _lines(answered["sdp"])
    # B reads with the lines offered to it, A with the one it was answered
    reads_b = {f"offered line {c.tag}": SrtpContext.from_sdes(c, False) for c in lines_b
               if c.suite.name.startswith("AES_CM_128")}
    reads_a = {f"answered line {c.tag}": SrtpContext.from_sdes(c, False) for c in lines_a}
    a_out = SrtpContext.from_sdes(A_KEY, True) if keyed else None
    b_outs = {f"offered line {c.tag}": SrtpContext.from_sdes(c, True) for c in lines_b
              if c.suite.name.startswith("AES_CM_128")}
    b_outs.update({f"answered line {c.tag}": SrtpContext.from_sdes(c, True)
                   for c in lines_a})
    b_outs.update({f"its own line {c.tag}": SrtpContext.from_sdes(c, True)
                   for c in _lines("\n".join(b_lines)) if c.suite.name in SUPPORTED})

    def send(name, sock, port, data, receiver, contexts, rtcp=False):
        sock.sendto(data, ("127.0.0.1", port))
        log.append((name, [_seen(got, contexts, rtcp) for got in burst(receiver, 0.4)]))

    for seq in range(1, 4):
        packet = _rtp(seq, A_SSRC)
        send(f"A SRTP {seq}", a_rtp, to_b, a_out.protect(packet) if a_out else packet,
             b_rtp, reads_b)
    send("A plain RTP", a_rtp, to_b, _rtp(4, A_SSRC), b_rtp, reads_b)
    send("B plain RTP", b_rtp, to_a, _rtp(1, B_SSRC), a_rtp, reads_a)
    for seq, (name, context) in enumerate(sorted(b_outs.items()), start=2):
        send(f"B SRTP with {name}", b_rtp, to_a, context.protect(_rtp(seq, B_SSRC)),
             a_rtp, reads_a)
    report = _rr(A_SSRC)
    send("A SRTCP", a_rtcp, to_b + 1, a_out.protect_rtcp(report) if a_out else report,
         b_rtcp, reads_b, True)
    send("B plain RTCP", b_rtcp, to_a + 1, _rr(B_SSRC), a_rtcp, reads_a, True)
    log.append(("query", _figures(daemon.request({"command": "query",
                                                   "call-id": ids["call-id"]}))))
    daemon.request({"command": "delete", **ids})
    return log


TO_SAVP = {"transport-protocol": "RTP/SAVP"}
MEDIA = {
    "SAVP answer without a=crypto": ("RTP/SAVP", "RTP/SAVP", []),
    "SAVP answer with an unusable key": ("RTP/SAVP", "RTP/SAVP", [BAD_KEY]),
    "OSRTP offer, SAVP answer without a=crypto": ("RTP/AVP", "RTP/SAVP", []),
    # (SDES off: no line went on, so nothing goes to the answerer either)
    "SDES off, SAVP answer without a=crypto": ("RTP/SAVP", "RTP/SAVP", [], {"SDES": ["off"]}),
    # an answer naming another suite under a tag of ours: nothing to send it with
    "SAVP answer with another suite under the offerer's tag": (
        "RTP/SAVP", "RTP/SAVP", [ANOTHER_SUITE]),
    # a plain offer sent on as RTP/SAVP: the same two rules on the answerer's leg
    "plain offer to SAVP, SAVP answer without a=crypto": ("RTP/AVP", "RTP/SAVP", [], TO_SAVP),
    "plain offer to SAVP, SAVP answer with another suite under tag 1": (
        "RTP/AVP", "RTP/SAVP", [ANOTHER_SUITE], TO_SAVP),
    # (as before: the call stays plain; an answer that keys)
    "OSRTP offer, plain answer": ("RTP/AVP", "RTP/AVP", []),
    "SAVP answer with a suite we added": ("RTP/SAVP", "RTP/SAVP", [ADDED_SUITE]),
}


@pytest.mark.parametrize("name", list(MEDIA))
def test_media_as_rtpengine(default_pair, name):
    call_id = "savp-nocrypto-" + name.replace(" ", "-")
    want = _exchange(default_pair.reference, call_id, *MEDIA[name])
    have = _exchange(default_pair.ours, call_id, *MEDIA[name])
    assert have == want


def _answered_keys(daemon, call_id: str, b_lines: tuple[str, ...]) -> list[bool]:
    """Whether the offerer's answered line stays the same: on a second answer, and on the
    answer to a re-offer."""
    ids = {"call-id": call_id, "from-tag": "A"}
    lines = []
    for command in ("offer", "answer", "answer", "offer", "answer"):
        message = ({"command": "offer", **ids, "sdp": SAVP_A} if command == "offer" else
                   {"command": "answer", **ids, "to-tag": "B", "sdp": _b(*b_lines)})
        reply = daemon.request(message)
        if command == "answer":
            lines.append([line for line in reply["sdp"].splitlines()
                          if line.startswith("a=crypto:")])
    daemon.request({"command": "delete", **ids})
    return [lines[1] == lines[0], lines[2] == lines[0]]


@pytest.mark.parametrize("b_lines", [(), (ADDED_SUITE,)], ids=["no a=crypto", "added suite"])
def test_the_offerer_keeps_our_key_across_answers_as_rtpengine(default_pair, b_lines):
    call_id = f"savp-keeps-key-{len(b_lines)}"
    want = _answered_keys(default_pair.reference, call_id, b_lines)
    assert _answered_keys(default_pair.ours, call_id, b_lines) == want == [True, True]
