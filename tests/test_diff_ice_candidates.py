"""Differential: ICE passthrough and ``ICE: force-relay``, against rtpengine 10.5.

With ``ICE: optional`` or ``force-relay`` towards a party whose SDP has ICE, 10.5 keeps the
party's ICE attributes (and DTLS/SDES) where they are and appends candidates of its own,
without credentials, at priorities below the party's lowest host candidate (32-bit
arithmetic: 4294967295 for the second address); ``force-relay`` leaves m=, c=, o= and the
a=rtcp lines alone and writes relay candidates. Probed beyond the four upstream cases
(11364, 11403, 11551, 9942): answers, re-offers, the candidate walk (srflx, tcp, mDNS
names, case), the address family, the party's own relay candidates, browser offers.

Both daemons run in a namespace with one logical interface of two addresses (203.0.113.1,
2001:db8:4321::1). 10.5 tends to take the same port number on both addresses, rtpengined
does not, so the ports of candidates on the address the section's c= does not name are
masked before normalising; every other port is compared as usual. A last test sends
STUN, DTLS and RTP through a passthrough leg to both daemons: relayed untouched. With
``--save-interface-ports`` (``-S``) every scenario again: no candidates on the second address.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from differential import Normaliser, answer, delete, describe_difference, offer, query, sdp
from netns_helpers import NetNamespace, NsDaemonPair, namespaces_available
from test_diff_webrtc import BROWSER_ANSWER, CHROME, FIREFOX, PLAIN

pytestmark = pytest.mark.skipif(namespaces_available() is not None,
                                reason=namespaces_available() or "")

INTERFACES = ("203.0.113.1", "2001:db8:4321::1")
HEAD = ["v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=x", "t=0 0"]
ICE_A = sdp(*HEAD, "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1", "a=sendrecv",
            "a=ice-ufrag:asbsdfds", "a=ice-pwd:sfhwsrgyergws45ujhsrthsrhH",
            "a=candidate:sfthqw45hdfgdfsb 1 UDP 2130706431 198.51.100.3 2002 typ host",
            "a=candidate:ujksdfghfdfgdfsb 1 UDP 2130706175 2001:db8:abcd::3 2002 typ host",
            "a=candidate:sfthqw45hdfgdfsb 2 UDP 2130706430 198.51.100.3 2003 typ host",
            "a=candidate:ujksdfghfdfgdfsb 2 UDP 2130706174 2001:db8:abcd::3 2003 typ host")
PLAIN_A = sdp(*HEAD, "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1", "a=sendrecv")
B_HEAD = ["v=0", "o=- 2 1 IN IP4 198.51.100.3", "s=x", "t=0 0", "m=audio 2002 RTP/AVP 0",
          "c=IN IP4 198.51.100.3", "a=sendrecv"]
PLAIN_B = sdp(*B_HEAD)
# An answerer with its own relay candidate (dropped by force-relay) before its host one.
ICE_B = sdp(*B_HEAD, "a=ice-ufrag:bmnhkfdf", "a=ice-pwd:jetyhsdfgsdtjhtyjktrthsrhH",
            "a=candidate:k1 1 UDP 16777215 198.51.100.3 2002 typ relay raddr 198.51.100.3 "
            "rport 2002",
            "a=candidate:k2 1 UDP 2130706431 198.51.100.3 2002 typ host",
            "a=candidate:k2 2 UDP 2130706430 198.51.100.3 2003 typ host")
# Session-level ICE, srflx and relay candidates, a separate RTCP port, end-of-candidates.
RELAYS = sdp(*HEAD, "a=ice-ufrag:sessufrg", "a=ice-pwd:sfhwsrgyergws45ujhsrthsrhH",
             "a=candidate:s1 1 UDP 16777215 192.0.2.9 4000 typ relay raddr 192.0.2.8 "
             "rport 4001",
             "m=audio 2000 RTP/AVP 0 8", "c=IN IP4 198.51.100.1", "a=rtcp:2001", "a=sendrecv",
             "a=candidate:h1 1 UDP 2130706431 198.51.100.3 2002 typ host",
             "a=candidate:x1 1 UDP 1694498815 192.0.2.7 3000 typ srflx raddr 198.51.100.3 "
             "rport 2002",
             "a=candidate:r1 1 UDP 16777215 192.0.2.9 4000 typ relay raddr 192.0.2.8 rport 4001",
             "a=candidate:r2 1 UDP 16776959 192.0.2.9 4002 typ relay raddr 192.0.2.8 rport 4003",
             "a=candidate:h1 2 UDP 2130706430 198.51.100.3 2003 typ host",
             "a=end-of-candidates")
# The candidate walk: a srflx first (not our type), host candidates lower and lower, one
# whose type is upper case, one over TCP and one with an mDNS name (10.5 parses none of
# the last three, so they do not count).
WALK = sdp(*HEAD, "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1",
           "a=ice-ufrag:asbsdfds", "a=ice-pwd:sfhwsrgyergws45ujhsrthsrhH",
           "a=candidate:x1 1 UDP 1694498815 192.0.2.7 3000 typ srflx raddr 198.51.100.3 "
           "rport 2002",
           "a=candidate:h1 1 UDP 2130706175 198.51.100.3 2002 typ host",
           "a=candidate:h2 1 udp 2130705919 198.51.100.4 2002 typ host",
           "a=candidate:h3 1 UDP 2130706174 198.51.100.5 2002 typ HOST",
           "a=candidate:h4 1 tcp 2130705663 198.51.100.6 9 typ host tcptype active",
           "a=candidate:h5 1 UDP 2130705407 5d3c5a0e-7d9b.local 2002 typ host")
_ICE = ["a=ice-ufrag:asbsdfds", "a=ice-pwd:sfhwsrgyergws45ujhsrthsrhH",
        "a=candidate:a 1 UDP 2130706431 198.51.100.1 2000 typ host"]
SDES_A = sdp(*HEAD, "m=audio 2000 RTP/SAVP 0", "c=IN IP4 198.51.100.1", "a=sendrecv", *_ICE,
             "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv")
SDES_B = sdp(*B_HEAD[:4], "m=audio 2002 RTP/SAVP 0", *B_HEAD[5:],
             "a=ice-ufrag:bmnhkfdf", "a=ice-pwd:jetyhsdfgsdtjhtyjktrthsrhH",
             "a=candidate:b 1 UDP 2130706431 198.51.100.3 2002 typ host",
             "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:dfgadgdfgdfgdfgd6AYjs3vKw7CeBdWZCj0isbJv")
PLAIN_ICE_A = sdp(*HEAD, "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1", "a=sendrecv", *_ICE)
_UPSTREAM = json.loads((Path(__file__).parent / "fixtures" / "upstream"
                        / "auto-daemon-tests.json").read_text())
_GH850 = next(case for case in _UPSTREAM["cases"] if case["line"] == 9942)["steps"]
GH850_OFFER, GH850_ANSWER = _GH850[0]["request"]["sdp"], _GH850[1]["request"]["sdp"]
OPTIONAL, RELAY = {"ICE": "optional"}, {"ICE": "force-relay"}

SCENARIOS: dict[str, list[dict[str, Any]]] = {
    # Passthrough from the offer on: the answerer's plain SDP gets no ICE back, its ICE
    # SDP is passed back with our candidates below its own (with and without the option).
    "optional offer with ICE, plain answer": [
        offer(ICE_A, **OPTIONAL), answer(PLAIN_B, **OPTIONAL), query(), delete()],
    "optional offer with ICE, ICE answer without option": [
        offer(ICE_A, **OPTIONAL), answer(ICE_B), query(), delete()],
    "optional offer with ICE, plain answer without option": [
        offer(ICE_A, **OPTIONAL), answer(PLAIN_B), delete()],
    "optional offer with media address and the full a=rtcp": [
        offer(ICE_A, **OPTIONAL, flags=["full-rtcp-attribute"],
              **{"media-address": "3.4.5.6"}), answer(ICE_B, **OPTIONAL), delete()],
    "optional offer towards IPv6": [
        offer(WALK, **OPTIONAL, **{"address-family": "IP6"}), answer(PLAIN_B, **OPTIONAL),
        delete()],
    # Passthrough decided by the answer, whatever the offer did.
    **{f"{first} offer, ICE answer optional": [
        offer(ICE_A, ICE=first), answer(ICE_B, **OPTIONAL), query(), delete()]
       for first in ("force", "default", "remove")},
    # It lasts: the offerer's ICE stays on every re-offer, ours follows the option and
    # what the answerer's leg last had.
    "re-offers after passthrough": [
        offer(ICE_A, **OPTIONAL), answer(PLAIN_B, **OPTIONAL), offer(ICE_A, ICE="force"),
        offer(ICE_A), offer(ICE_A, ICE="remove"), delete()],
    "the candidate walk, optional": [offer(WALK, **OPTIONAL), delete()],
    "the candidate walk, force-relay": [offer(WALK, **RELAY), delete()],
    "a WebRTC offer with TCP candidates, optional": [
        offer(GH850_OFFER, **OPTIONAL), answer(GH850_ANSWER, **OPTIONAL), delete()],
    # force-relay towards a plain party: our credentials and relay candidates, the rest
    # as it was (no a=rtcp of ours either); its plain answer gets no ICE.
    "force-relay plain offer, plain answer": [
        offer(PLAIN_A, **RELAY), answer(PLAIN_B, **RELAY), query(), delete()],
    "force-relay plain offer, ICE answer": [
        offer(PLAIN, **RELAY), answer(ICE_B, **RELAY), query(), delete()],
    "force-relay plain offer, answer without option": [
        offer(PLAIN_A, **RELAY), answer(PLAIN_B), delete()],
    "force-relay: the party's relay candidates go, session-level ICE stays": [
        offer(RELAYS, **RELAY), answer(ICE_B, **RELAY), delete()],
    "optional: relay candidates and session-level ICE stay": [
        offer(RELAYS, **OPTIONAL), answer(ICE_B, **OPTIONAL), query(), delete()],
    # A leg already on rtcp-mux keeps it on its one port: force-relay keeps our a=rtcp and
    # a=rtcp-mux there (10.5); rtpengined dropped them
    "force-relay re-offer to a party using rtcp-mux": [
        offer(PLAIN_A.replace("a=sendrecv", "a=rtcp-mux\r\na=sendrecv")),
        answer(PLAIN_B.replace("a=sendrecv", "a=rtcp-mux\r\na=sendrecv")),
        {**offer(PLAIN_A, **RELAY), "to-tag": "B"}, delete()],
    # ``ICE: default`` is no option at all (10.5): a re-offer keeps ICE towards a party as
    # its leg last had it; rtpengined took it as a request and followed the offerer's SDP
    **{f"re-offer with ICE default, {who} re-offers": [
        offer(ICE_A), answer(PLAIN_B),
        {**offer(ICE_A if who == "A" else PLAIN_B, ICE="default"), "from-tag": who,
         "to-tag": "B" if who == "A" else "A"}, delete()]
       for who in ("A", "B")},
    "re-offer with ICE default from a plain party to an ICE leg": [
        offer(ICE_A), answer(ICE_B),
        {**offer(PLAIN_B, ICE="default"), "from-tag": "B", "to-tag": "A"}, delete()],
    "force-relay with rtcp-mux require": [
        offer(GH850_OFFER, **RELAY, **{"rtcp-mux": ["require"]}),
        answer(GH850_ANSWER, **RELAY), delete()],
    "force-relay ignores media address and replace": [
        offer(GH850_OFFER, **RELAY, replace=["origin", "session-connection"],
              **{"media-address": "3.4.5.6"}), delete()],
    # SDES end to end, no keys of ours; an answer goes back in the protocol offered.
    "SDES offer and answer, optional": [
        offer(SDES_A, **OPTIONAL), answer(SDES_B, **OPTIONAL), delete()],
    "SDES offer sent on as RTP/AVP, plain answer": [
        offer(SDES_A, **OPTIONAL, **{"transport-protocol": "RTP/AVP"}),
        answer(PLAIN_B, **OPTIONAL), delete()],
    "plain offer sent on as RTP/SAVP, SDES answer": [
        offer(PLAIN_ICE_A, **OPTIONAL, **{"transport-protocol": "RTP/SAVP"}),
        answer(SDES_B, **OPTIONAL), delete()],
    # The offerer's leg keeps its own protocol through a passthrough answer: a re-offer
    # with it unchanged keeps the answerer's (10.5); we sent the offerer's own instead.
    "plain offer sent on as RTP/SAVP, SDES answer, re-offers": [
        offer(PLAIN_ICE_A, **OPTIONAL, **{"transport-protocol": "RTP/SAVP"}),
        answer(SDES_B, **OPTIONAL), query(), offer(PLAIN_A), query(),
        offer(PLAIN_ICE_A), delete()],
    # An offer that makes a leg a passthrough keys it as any SRTP leg offered to, so query
    # shows its SDES, suite and DTLS until the next offer or the answer (10.5), though the
    # SDP keeps the parties' own lines; a leg offered DTLS alone before gets no SDES. We
    # showed the suite alone.
    "passthrough offer sent on as RTP/SAVP, re-offer, answer": [
        offer(PLAIN_ICE_A, flags=["passthrough"], **{"transport-protocol": "RTP/SAVP"}),
        query(), offer(PLAIN_ICE_A, flags=["passthrough"],
                       **{"transport-protocol": "RTP/SAVP"}),
        query(), answer(SDES_B), query(), delete()],
    "passthrough re-offer to a leg offered DTLS alone": [
        offer(PLAIN_ICE_A, SDES=["off"], **{"transport-protocol": "RTP/SAVP"}), query(),
        offer(PLAIN_ICE_A, flags=["passthrough"], **{"transport-protocol": "RTP/SAVP"}),
        query(), delete()],
    "passthrough re-offer to a leg offered neither SDES nor DTLS": [
        offer(PLAIN_ICE_A, SDES=["off"], DTLS="off", **{"transport-protocol": "RTP/SAVP"}),
        offer(PLAIN_ICE_A, flags=["passthrough"], **{"transport-protocol": "RTP/SAVP"}),
        query(), delete()],
    "a session-level direction stays with the session's attributes": [
        offer(sdp(*HEAD, "a=sendonly", "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1",
                  *_ICE), **OPTIONAL), delete()],
    "only the media with ICE passes through": [
        offer(sdp(*HEAD, "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1", *_ICE,
                  "m=video 2004 RTP/AVP 96", "c=IN IP4 198.51.100.1",
                  "a=rtpmap:96 VP8/90000"), **OPTIONAL), delete()],
    # Browsers: BUNDLE, session-level fingerprint, DTLS and extmap passed through.
    "Firefox offer, optional": [offer(FIREFOX, **OPTIONAL), answer(BROWSER_ANSWER), delete()],
    "Chrome offer, force-relay": [
        offer(CHROME, **RELAY), answer(BROWSER_ANSWER, **RELAY), delete()],
    "Chrome offer, optional, strip-extmap": [
        offer(CHROME, **OPTIONAL, flags=["strip-extmap"]), delete()],
}

_OURS = set(INTERFACES)
_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ (\S+) )(\d+)( typ \S+)"
                        r"(?:( raddr \S+ rport )(\d+))?", re.M)


def mask_other_address_ports(text: str) -> str:
    """Ports of our candidates on the interface's other addresses (not the one the
    section's c= names): 10.5 and rtpengined pick those port numbers differently, each
    address from a pool of its own (both are in range; 10.5's agree while its per-address
    free lists happen to be in step, ours by chance). With ``media-address`` every
    candidate of ours shows that one address: then the first of each component is the
    media's own socket and the others are on the other addresses."""
    out = []
    session_address = ""
    for number, section in enumerate(re.split(r"(?=^m=)", text, flags=re.M)):
        conn = re.search(r"^c=IN IP[46] (\S+)", section, re.M)
        here = conn.group(1) if conn else session_address
        if number == 0:
            session_address = here
        components_seen: set[str] = set()  # of our candidates on ``here``

        def mask(m: re.Match, here: str = here, seen: set[str] = components_seen) -> str:
            address = m.group(2)
            if address == here:
                component = m.group(1).split()[1]
                if component not in seen:
                    seen.add(component)
                    return m.group(0)  # the media's own socket
                if here in _OURS:  # no media-address: all on c='s address compared, as ever
                    return m.group(0)
            elif address not in _OURS:
                return m.group(0)  # the party's
            related = f"{m.group(5)}PORT" if m.group(5) else ""
            return f"{m.group(1)}PORT{m.group(4)}{related}"

        out.append(_CANDIDATE.sub(mask, section))
    return "".join(out)


def converse(daemon, steps: list[dict[str, Any]], call_id: str) -> list[Any]:
    # (ours: the interfaces' addresses and a media-address the steps advertise instead)
    advertised = {step.get(key) for step in steps for key in ("media-address", "media address")}
    normaliser = Normaliser(daemon.port_range, _OURS | {a for a in advertised if a})
    replies = []
    for step in steps:
        reply = daemon.request({**step, "call-id": call_id})
        if isinstance(reply, dict) and isinstance(reply.get("sdp"), str):
            # (our certificate's fingerprint differs from 10.5's: its hash stays compared)
            reply["sdp"] = re.sub(r"^(a=fingerprint:\S+ )\S+", r"\1FINGERPRINT",
                                  mask_other_address_ports(reply["sdp"]), flags=re.M)
        replies.append(normaliser.value(reply))
    return replies


def _pair_in_own_namespace(extra: tuple[str, ...] = ()):
    namespace = NetNamespace()
    try:
        daemons = NsDaemonPair(namespace, extra, interfaces=INTERFACES)
        try:
            yield daemons
        finally:
            daemons.stop()
    finally:
        namespace.delete()


@pytest.fixture(scope="module")
def pair():
    yield from _pair_in_own_namespace()


@pytest.fixture(scope="module")
def saving_pair():
    """Both with ``--save-interface-ports``: ports on the first address only."""
    yield from _pair_in_own_namespace(("-S",))


def _same_conversation(pair: NsDaemonPair, name: str) -> list[Any]:
    steps = SCENARIOS[name]
    call_id = re.sub(r"\W+", "_", name)
    expected = converse(pair.reference, steps, call_id)
    got = converse(pair.ours, steps, call_id)
    for index, (step, want, have) in enumerate(zip(steps, expected, got, strict=True)):
        if want != have:
            raise AssertionError(f"step {index} ({step['command']}) differs:\n"
                                 + describe_difference(want, have))
    return got


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_ice_candidates(pair, name):
    _same_conversation(pair, name)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_ice_candidates_with_save_interface_ports(saving_pair, name):
    for reply in _same_conversation(saving_pair, name):
        if isinstance(reply, dict) and isinstance(reply.get("sdp"), str):
            ours = {line.split()[4] for line in reply["sdp"].splitlines()
                    if line.startswith("a=candidate:") and line.split()[4] in INTERFACES}
            assert len(ours) <= 1, reply["sdp"]  # (none on the other address)


def test_without_save_interface_ports_both_addresses_are_candidates(pair):
    reply = pair.ours.request({**offer(PLAIN_A, ICE="force"), "call-id": "both-addresses"})
    ours = {line.split()[4] for line in reply["sdp"].splitlines()
            if line.startswith("a=candidate:")}
    assert ours == set(INTERFACES)
    pair.ours.request({**delete(), "call-id": "both-addresses"})


def test_passthrough_priorities_as_upstream(pair):
    """The figures the upstream case shows, spelled out: 10.5's local preference wraps."""
    reply = pair.ours.request({**offer(ICE_A, **OPTIONAL), "call-id": "priorities"})
    ours = [line.split()[3] for line in reply["sdp"].splitlines()
            if line.startswith("a=candidate:") and line.split()[4] in _OURS]
    assert ours == ["2097152255", "4294967295", "2097152254", "4294967294"]
    assert reply["sdp"].count("a=ice-ufrag:") == 1  # the offerer's, none of ours
    pair.ours.request({**delete(), "call-id": "priorities"})


STUN_REQUEST = (struct.pack("!HHI", 0x0001, 8, 0x2112A442) + bytes(range(12))
                + struct.pack("!HH", 0x0024, 4) + b"\x6e\x7f\x00\xff")
DTLS_HELLO = bytes([22, 0xFE, 0xFD]) + bytes(8) + struct.pack("!H", 4) + b"\x01\x00\x00\x00"
RTP = struct.pack("!BBHII", 0x80, 0, 7, 1120, 0x1234) + bytes(160)


@pytest.mark.parametrize("which", ["reference", "ours"])
def test_passthrough_relays_stun_and_dtls_untouched(pair, which):
    """A passthrough leg is no ICE or DTLS peer of ours: what a party sends (its checks,
    its handshake, its media) reaches the other party as it was, both ways."""
    daemon = getattr(pair, which)
    ns = pair.reference.namespace
    a, b = ns.udp_socket("198.51.100.1"), ns.udp_socket("198.51.100.3")
    try:
        for sock in (a, b):
            sock.settimeout(2)
        a_port, b_port = a.getsockname()[1], b.getsockname()[1]
        call = f"passthrough-media-{which}"
        ice = ["a=ice-ufrag:asbsdfds", "a=ice-pwd:sfhwsrgyergws45ujhsrthsrhH",
               "a=rtcp-mux"]
        offered = daemon.request({**offer(sdp(
            *HEAD, f"m=audio {a_port} RTP/AVP 0", "c=IN IP4 198.51.100.1", "a=sendrecv",
            *ice, f"a=candidate:1 1 UDP 2130706431 198.51.100.1 {a_port} typ host"),
            **OPTIONAL), "call-id": call})
        answered = daemon.request({**answer(sdp(
            *B_HEAD[:4], f"m=audio {b_port} RTP/AVP 0", "c=IN IP4 198.51.100.3",
            "a=sendrecv", *ice, f"a=candidate:1 1 UDP 2130706431 198.51.100.3 {b_port} "
            "typ host"), **OPTIONAL), "call-id": call})
        to_b = int(re.search(r"^m=audio (\d+)", offered["sdp"], re.M).group(1))
        to_a = int(re.search(r"^m=audio (\d+)", answered["sdp"], re.M).group(1))
        for packet in (STUN_REQUEST, DTLS_HELLO, RTP):
            a.sendto(packet, ("203.0.113.1", to_a))
            assert b.recvfrom(2048)[0] == packet
            b.sendto(packet, ("203.0.113.1", to_b))
            assert a.recvfrom(2048)[0] == packet
        daemon.request({**delete(), "call-id": call})
    finally:
        a.close()
        b.close()
