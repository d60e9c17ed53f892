"""Differential: re-INVITEs on an opportunistic SRTP call (RFC 8643, OSRTP), beside 10.5.

An OSRTP offerer (RTP/AVP with a=crypto) whose keys we took, by an answer with
``OSRTP: accept`` or an answerer that spoke SRTP itself, has an SRTP leg in RTP/AVP clothes
(10.5's OSRTP protocol). A re-offer to it that keeps its protocol (its peer's protocol the
same as before, no ``transport-protocol``) offers it SRTP again, whether or not the offer
says ``OSRTP: offer``: our line it was answered with first, tag and key unchanged, the
other suites after it (rtpengine mr13.0's suite, "OSRTP offer, reject w/ accept flag,
reverse reinvite"). One whose opportunistic offer was answered plain without accepting it
has a plain leg and is re-offered plain (the same suite's "OSRTP offer, reject, reinvite"),
and a plain leg a re-offer keeps so is not sent its peer's opportunistic a=crypto.
With SDES on both legs (OSRTP or RTP/SAVP), a re-offer carries on the line each party
already has from us after the offerer's own lines, key unchanged (10.5's sdes_out).
The media test runs the suite's scenario over real sockets on each daemon.

Keys are random on both daemons: each daemon's own keys become symbols by first
appearance over the whole conversation (so a key offered again shows as the same symbol);
the keys the test parties send stay as they are. Certificate fingerprints are masked.
"""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest
from differential import (
    Normaliser,
    answer,
    audio_port,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    describe_difference,
    loopback_party,
    offer,
    query,
    sdp,
)

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

KEY_A = "Qk0TvVeyfqfjFd/YebnyyklqSEhJntpVKV1KAhHa"
KEY_B = "Kl3GFJ5Gqz5x07xYkoyHODkVkSpiplZnXsQIw+Q7"
SENT_KEYS = {KEY_A, KEY_B}


class KeyNormaliser(Normaliser):
    """Ports as usual; the daemon's own SDES keys as symbols (K1, K2, ...) by first
    appearance in the conversation, the parties' keys kept; fingerprints masked."""

    def __init__(self, port_range: tuple[int, int]) -> None:
        super().__init__(port_range)
        self.keys: dict[str, str] = {}

    def sdp(self, text: str) -> str:
        def symbol(match: re.Match) -> str:
            key = match.group(1)
            if key in SENT_KEYS:
                return match.group()
            return "inline:" + self.keys.setdefault(key, f"K{len(self.keys) + 1}")

        text = re.sub(r"(a=fingerprint:\S+) [0-9A-F:]+", r"\1 FP", text)
        return super().sdp(re.sub(r"inline:([A-Za-z0-9+/=]+)", symbol, text))


def converse(daemon, steps: list[dict[str, Any]], call_id: str) -> list[Any]:
    normaliser = KeyNormaliser(daemon.port_range)
    return [normaliser.value(daemon.request({**step, "call-id": call_id})) for step in steps]


def _party(port: int, address: str, *lines: str, proto: str = "RTP/AVP") -> str:
    return sdp("v=0", "o=- 1545997027 1 IN IP4 198.51.100.1", "s=tester", "t=0 0",
               f"m=audio {port} {proto} 0", f"c=IN IP4 {address}", "a=sendrecv", *lines)


def _savp(body: str) -> str:
    return body.replace(" RTP/AVP ", " RTP/SAVP ")


A_LINE = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_A}"
A_OSRTP = _party(3324, "198.51.100.1", A_LINE)
A_PLAIN = _party(3324, "198.51.100.1")
B_PLAIN = _party(3326, "198.51.100.3")
B_AVPF = _party(3326, "198.51.100.3", proto="RTP/AVPF")
B_OSRTP_SAME = _party(3326, "198.51.100.3", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_B}")
B_OSRTP_DIFF = _party(3326, "198.51.100.3", f"a=crypto:8 AES_CM_128_HMAC_SHA1_32 inline:{KEY_B}")

OPTS = {"ICE": "remove", "replace": ["origin"], "DTLS": "off"}
ACCEPT = {"OSRTP": ["accept"]}
OFFER = {"OSRTP": ["offer"]}
REVERSE = {"from-tag": "B", "to-tag": "A"}


def _o(body: str, **extra) -> dict[str, Any]:
    return offer(body, **OPTS, **extra)


def _a(body: str, **extra) -> dict[str, Any]:
    return answer(body, **OPTS, **extra)


def _ro(body: str, **extra) -> dict[str, Any]:
    """B re-offers to A (a reverse re-INVITE)."""
    return offer(body, tag="B", **{"to-tag": "A"}, **OPTS, **extra)


def _ra(body: str, **extra) -> dict[str, Any]:
    """A answers B's re-offer."""
    return answer(body, from_tag="B", to_tag="A", **OPTS, **extra)


# The first offer and answer of each scenario: A offers OSRTP, B answers.
ACCEPTED = [_o(A_OSRTP), _a(B_PLAIN, **ACCEPT)]  # B plain, its answer accepts A's SRTP
REJECTED = [_o(A_OSRTP), _a(B_PLAIN)]  # B plain, A's SRTP declined
SAME_SUITE = [_o(A_OSRTP), _a(B_OSRTP_SAME)]  # B answers SRTP with A's suite
DIFF_SUITE = [_o(A_OSRTP), _a(B_OSRTP_DIFF)]  # B answers SRTP with a suite we added

SCENARIOS: dict[str, list[dict]] = {
    # -- mr13.0's "OSRTP offer, reject w/ accept flag, reverse reinvite"
    "accepted, reverse re-offer with OSRTP offer, A answers OSRTP with accept": [
        *ACCEPTED, _ro(B_PLAIN, **OFFER), _ra(A_OSRTP, **ACCEPT), query(), delete()],
    "accepted, reverse re-offer without OSRTP flags": [
        *ACCEPTED, _ro(B_PLAIN), _ra(A_OSRTP), query(), delete()],
    "accepted, reverse re-offer, A answers plain": [
        *ACCEPTED, _ro(B_PLAIN, **OFFER), _ra(A_PLAIN), query(), delete()],
    "accepted, reverse re-offer twice": [
        *ACCEPTED, _ro(B_PLAIN, **OFFER), _ra(A_OSRTP, **ACCEPT), _ro(B_PLAIN),
        _ra(A_OSRTP), delete()],
    "accepted, A re-offers, then B re-offers": [
        *ACCEPTED, _o(A_OSRTP, **{"to-tag": "B"}), _a(B_PLAIN, **ACCEPT),
        _ro(B_PLAIN), _ra(A_OSRTP), delete()],
    "accepted, A re-offers, B answers plain without the accept flag": [
        *ACCEPTED, _o(A_OSRTP, **{"to-tag": "B"}), _a(B_PLAIN), query(),
        _ro(B_PLAIN), delete()],
    "accepted, reverse re-offer with DTLS on": [
        *ACCEPTED, offer(B_PLAIN, tag="B", **{"to-tag": "A"}, ICE="remove",
                         replace=["origin"]), delete()],
    # (the protocol not kept: B changed its own, or the offer names one)
    "accepted, reverse re-offer as RTP/AVPF": [
        *ACCEPTED, _ro(B_AVPF), _ra(A_OSRTP), delete()],
    "accepted, reverse re-offer with transport-protocol RTP/AVP": [
        *ACCEPTED, _ro(B_PLAIN, **{"transport-protocol": "RTP/AVP"}), delete()],
    "accepted, reverse re-offer with transport-protocol RTP/SAVP": [
        *ACCEPTED, _ro(B_PLAIN, **{"transport-protocol": "RTP/SAVP"}), delete()],
    # -- OSRTP declined: A's leg is plain (mr13.0's "OSRTP offer, reject, reinvite")
    "rejected, reverse re-offer": [
        *REJECTED, _ro(B_PLAIN), _ra(A_OSRTP), delete()],
    "rejected, A answers a plain re-offer with OSRTP, B re-offers again": [
        *REJECTED, _ro(B_PLAIN), _ra(A_OSRTP), query(), _ro(B_PLAIN), _ra(A_OSRTP), query(),
        delete()],
    "rejected, reverse re-offer with OSRTP offer": [
        *REJECTED, _ro(B_PLAIN, **OFFER), _ra(A_OSRTP, **ACCEPT), delete()],
    # -- B answered SRTP itself (mr13.0's "OSRTP offer, accept, same/diff suite")
    "same suite, reverse re-offer plain": [
        *SAME_SUITE, _ro(B_PLAIN), delete()],
    "same suite, reverse re-offer OSRTP": [
        *SAME_SUITE, _ro(B_OSRTP_SAME), _ra(A_OSRTP), delete()],
    # (B chose a line we added: each leg has our keys, which a re-offer to it carries on
    # after the offerer's own lines, tag raised past them, key unchanged: 10.5's sdes_out)
    "diff suite, reverse re-offer OSRTP": [
        *DIFF_SUITE, _ro(B_OSRTP_DIFF), _ra(A_OSRTP), delete()],
    "diff suite, A re-offers": [
        *DIFF_SUITE, _o(A_OSRTP, **{"to-tag": "B"}), _a(B_OSRTP_DIFF), delete()],
    "diff suite, reverse re-offer OSRTP with the first suite": [
        *DIFF_SUITE, _ro(B_OSRTP_SAME), _ra(A_OSRTP), delete()],
    "SAVP, diff suite, reverse re-offer": [
        _o(_savp(A_OSRTP)), _a(_savp(B_OSRTP_DIFF)), _ro(_savp(B_OSRTP_DIFF)),
        _ra(_savp(A_OSRTP)), delete()],
    "SAVP, diff suite, A re-offers": [
        _o(_savp(A_OSRTP)), _a(_savp(B_OSRTP_DIFF)), _o(_savp(A_OSRTP), **{"to-tag": "B"}),
        _a(_savp(B_OSRTP_DIFF)), delete()],
    "SAVP, same suite, A re-offers": [
        _o(_savp(A_OSRTP)), _a(_savp(B_OSRTP_SAME)), _o(_savp(A_OSRTP), **{"to-tag": "B"}),
        _a(_savp(B_OSRTP_SAME)), delete()],
    "same suite, A re-offers": [
        *SAME_SUITE, _o(A_OSRTP, **{"to-tag": "B"}), _a(B_OSRTP_SAME), delete()],
    "SAVP, same suite, reverse re-offer": [
        _o(_savp(A_OSRTP)), _a(_savp(B_OSRTP_SAME)), _ro(_savp(B_OSRTP_SAME)),
        _ra(_savp(A_OSRTP)), delete()],
    "SAVP, answered plain, A re-offers": [
        _o(_savp(A_OSRTP)), _a(B_PLAIN), _o(_savp(A_OSRTP), **{"to-tag": "B"}),
        _a(_savp(B_OSRTP_DIFF)), delete()],
    "SAVP, A re-offers before the answer": [
        _o(_savp(A_OSRTP)), _o(_savp(A_OSRTP)), _a(_savp(B_OSRTP_DIFF)), delete()],
    "OSRTP, A re-offers before the answer": [
        _o(A_OSRTP), _o(A_OSRTP), _a(B_OSRTP_DIFF), delete()],
    "SAVP to plain, reverse re-offer": [
        _o(_savp(A_OSRTP), **{"transport-protocol": "RTP/AVP"}), _a(B_PLAIN),
        _ro(B_PLAIN), _ra(_savp(A_OSRTP)), delete()],
}


@pytest.fixture(name="pair")
def pair_fixture(default_pair):
    return default_pair


_scenarios = iter(range(1, 1000))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_osrtp_reinvite_as_rtpengine(pair, name):
    steps = SCENARIOS[name]
    call_id = f"osrtp-reinvite-{next(_scenarios)}"
    expected = converse(pair.reference, steps, call_id)
    got = converse(pair.ours, steps, call_id)
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want != have:
            raise AssertionError(f"step {index} ({steps[index]['command']}) differs:\n"
                                 + describe_difference(want, have))


def _rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + b"\x00" * 160


def _first_line(reply: dict) -> sdes.Crypto:
    return next(sdes.parse(line[2:]) for line in reply["sdp"].splitlines()
                if line.startswith("a=crypto:"))


def _local(body: str, sock) -> str:
    """``body`` for a party on loopback at ``sock``."""
    port = sock.getsockname()[1]
    text = re.sub(r"c=IN IP4 \S+", "c=IN IP4 127.0.0.1", body)
    return re.sub(r"m=audio \d+", f"m=audio {port}", text)


@pytest.mark.parametrize("which", ["reference", "ours"])
def test_osrtp_media_across_the_reverse_reinvite(pair, which):
    """mr13.0's scenario over real sockets: A sends SRTP in its own key and B gets it
    plain; B sends plain and A gets SRTP in the key of the line we answered it with, before
    and after B's re-INVITE (whose offer gives A that same line first), A's context built
    once and its sequence numbers going on."""
    daemon = getattr(pair, which)
    ids = {"call-id": f"osrtp-media-{which}"}
    a_sock, b_sock = loopback_party(), loopback_party()
    try:
        offered = daemon.request({**ids, **_o(_local(A_OSRTP, a_sock))})
        answered = daemon.request({**ids, **_a(_local(B_PLAIN, b_sock), **ACCEPT)})
        ours = _first_line(answered)
        a_sends = SrtpContext.from_sdes(sdes.parse(A_LINE[2:]), True)
        a_reads = SrtpContext.from_sdes(ours, False)
        to_b, to_a = audio_port(answered), audio_port(offered)
        for round_ in range(2):
            if round_:
                reoffer = daemon.request({**ids, **_ro(_local(B_PLAIN, b_sock), **OFFER)})
                assert _first_line(reoffer) == ours
                reanswer = daemon.request({**ids, **_ra(_local(A_OSRTP, a_sock), **ACCEPT)})
                assert "a=crypto" not in reanswer["sdp"]
                to_b, to_a = audio_port(reoffer), audio_port(reanswer)
            for seq in range(1 + 3 * round_, 4 + 3 * round_):
                a_sock.sendto(a_sends.protect(_rtp(seq, 0x1234)), ("127.0.0.1", to_b))
                assert burst(b_sock) == [_rtp(seq, 0x1234)]
                b_sock.sendto(_rtp(seq, 0x3456), ("127.0.0.1", to_a))
                got = burst(a_sock)
                assert len(got) == 1 and a_reads.unprotect(got[0]) == _rtp(seq, 0x3456)
        daemon.request({**ids, **delete()})
    finally:
        a_sock.close()
        b_sock.close()
