"""Differential: a party back at a far address it had gets the ports it had there (10.5).

rtpengine 10.5 keeps, per media, the local ports it bound for every far RTP address a
re-offer or re-answer gave it (its endpoint maps), bound until the call ends. A party
that moves (a re-INVITE to sendonly from another port) gets new ports; one that comes
back to an address it had gets the earlier ports again, in the SDP, in ``query`` and on
the wire. The key is the RTP address and port alone (a=rtcp plays no part); a zero
address (hold) matches by port, and a zero-address key takes the first real address of
its port; ``port-latching`` keeps the ports in use. We used to bind new ports every time
(rtpengine's mr11.5+ "re-invite sendonly port change" test).
"""

from __future__ import annotations

import socket
import struct

import pytest
from differential import (
    answer,
    audio_port,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)

A, A2, B = "127.0.0.1", "127.0.0.2", "127.0.0.3"
DAEMON = "127.0.0.1"  # (the pair's one interface)


def _body(address: str, port: int, *extra: str, connection: str | None = None,
          video: int | None = None) -> str:
    return sdp("v=0", f"o=- 1 1 IN IP4 {address}", "s=-", f"c=IN IP4 {connection or address}",
               "t=0 0", f"m=audio {port} RTP/AVP 0", *extra,
               *([f"m=video {video} RTP/AVP 96", "a=rtpmap:96 VP8/90000"] if video else []))


def _from_b(body: str) -> dict:
    """A re-offer of B's to A."""
    return offer(body, tag="B", **{"to-tag": "A"})


def _to_b(body: str) -> dict:
    """A's answer to B's re-offer."""
    return answer(body, from_tag="B", to_tag="A")


SCENARIOS = {
    # rtpengine's "re-invite sendonly port change": A goes sendonly from another port, comes
    # back; then B re-offers from the address of its sendonly answer.
    "sendonly port change and back": [
        offer(_body(A, 2000)), answer(_body(B, 2010, "a=sendrecv")),
        offer(_body(A, 2002, "a=sendonly")), answer(_body(B, 2012, "a=recvonly")),
        offer(_body(A, 2000)), answer(_body(B, 2010, "a=sendrecv")), query(),
        _from_b(_body(B, 2012, "a=sendonly")), _to_b(_body(A, 2000, "a=recvonly")), query()],
    "another address and back": [
        offer(_body(A, 2000)), answer(_body(B, 2010)), offer(_body(A2, 2000)),
        answer(_body(B, 2010)), offer(_body(A, 2000)), answer(_body(B, 2010)), query()],
    "several addresses, back to each": [
        offer(_body(A, 2000)), answer(_body(B, 2010)), offer(_body(A, 2002)),
        offer(_body(A, 2004)), offer(_body(A, 2002)), offer(_body(A, 2000)),
        offer(_body(A, 2004)), query()],
    "the a=rtcp port is no part of the key": [
        offer(_body(A, 2000)), answer(_body(B, 2010)), offer(_body(A, 2000, "a=rtcp:2005")),
        offer(_body(A, 2002, "a=rtcp:2005")), offer(_body(A, 2000, "a=rtcp:2007")), query()],
    "hold on a zero address matches by port": [
        offer(_body(A, 2000)), answer(_body(B, 2010)),
        offer(_body(A, 2000, "a=sendonly", connection="0.0.0.0")),
        offer(_body(A, 3000, "a=sendonly", connection="0.0.0.0")), answer(_body(B, 2010)),
        offer(_body(A, 2000)), answer(_body(B, 2010)),
        offer(_body(A, 3000, connection="0.0.0.0")), offer(_body(A2, 3000)), query()],
    "a zero-address key takes the first real address of its port": [
        offer(_body(A, 2000)), answer(_body(B, 2010)),
        offer(_body(A, 3000, connection="0.0.0.0")), offer(_body(A2, 3000)),
        offer(_body(A, 3000)), offer(_body(A2, 3000)), query()],
    "each media has its own": [
        offer(_body(A, 2000, video=2100)), answer(_body(B, 2010, video=2110)),
        offer(_body(A, 2002, video=2100)), offer(_body(A, 2000, video=2102)),
        offer(_body(A, 2002, video=2100)), query()],
    "port-latching keeps the ports and their key": [
        offer(_body(A, 2000)), answer(_body(B, 2010)),
        offer(_body(A, 2002), flags=["port-latching"]), offer(_body(A, 2002)),
        offer(_body(A, 2000), flags=["port-latching"]), offer(_body(A, 2000)), query()],
}

# An answer's ICE option towards an offerer who moved (random flows, seed 710): "optional"
# and "force-relay" speak ICE there only if the answer has ICE or the offerer's leg an
# agent of ours, else 10.5 drops ICE on the leg, so its new address gets new ports;
# "force" speaks ICE, which keeps the ports. (The answerer moves too: which of the two gets
# its new ports first shows.)
ICE_ANSWER = ("a=ice-ufrag:efgh", "a=ice-pwd:zyxwvutsrqponmlkjihgfedc",
              f"a=candidate:1 1 UDP 2130706431 {B} 2020 typ host")
for _option in ("force-relay", "optional", "force"):
    for _ice in (False, True):
        SCENARIOS[f"the offerer moves, answered with ICE {_option}"
                  + (" and the answerer's ICE" if _ice else "")] = [
            offer(_body(A, 2000)), answer(_body(B, 2010)), offer(_body(A2, 2002)),
            answer(_body(B, 2020, *(ICE_ANSWER if _ice else ())), ICE=_option), query()]
SCENARIOS["the offerer moves, its leg with an agent, answered with ICE force-relay"] = [
    offer(_body(A, 2000), ICE="force"), answer(_body(B, 2010)), offer(_body(A2, 2002)),
    answer(_body(B, 2020), ICE="force-relay"), query()]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_earlier_ports_come_back_as_rtpengine(default_pair, name):
    default_pair.compare(SCENARIOS[name], name)


def _rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x5151) + b"\xd5" * 160


def _party(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    return sock


def _sendonly_and_back(daemon, call_id: str) -> list:
    """A and B on real sockets: A goes sendonly from a second socket (B answers recvonly
    from its second), then both come back. Which ports each side was given (as the first
    or a new one), then how many of 3 packets get through each way: over the ports given
    last, and over the ports of the sendonly re-INVITE (still bound, relaying as well)."""
    socks = {name: _party(A if name.startswith("A") else B) for name in ("A", "A'", "B", "B'")}
    try:
        def body(name: str, *extra: str) -> str:
            sock = socks[name]
            return _body(sock.getsockname()[0], sock.getsockname()[1], *extra)

        ids = {"call-id": call_id, "from-tag": "A"}

        def exchange(a: str, b: str, a_dir: str, b_dir: str) -> tuple[int, int]:
            to_b = audio_port(daemon.request({"command": "offer", **ids,
                                              "sdp": body(a, a_dir)}))
            to_a = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                              "sdp": body(b, b_dir)}))
            return to_a, to_b

        first = exchange("A", "B", "a=sendrecv", "a=sendrecv")
        held = exchange("A'", "B'", "a=sendonly", "a=recvonly")
        back = exchange("A", "B", "a=sendrecv", "a=sendrecv")
        seen: list = [back == first, held[0] in first, held[1] in first]
        for seq, (to_a, to_b) in enumerate((back, held)):
            for n in range(3):
                socks["A"].sendto(_rtp(10 * seq + n), (DAEMON, to_a))
            seen.append(len(burst(socks["B"])))
            for n in range(3):
                socks["B"].sendto(_rtp(10 * seq + n + 5), (DAEMON, to_b))
            seen.append(len(burst(socks["A"])))
        daemon.request({"command": "delete", "call-id": call_id})
        return seen
    finally:
        for sock in socks.values():
            sock.close()


def test_media_flows_through_the_ports_given_again_as_rtpengine(default_pair):
    want = _sendonly_and_back(default_pair.reference, "maps-media")
    # The first ports again both ways; media through them and through the ports of the
    # sendonly re-INVITE, which stay bound and relay too.
    assert want == [True, False, False, 3, 3, 3, 3]
    assert _sendonly_and_back(default_pair.ours, "maps-media") == want
