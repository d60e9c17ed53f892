"""Differential: the IP TOS of relayed media beside rtpengine 10.5, read from the packets
each party receives (``IP_RECVTOS``).

10.5 marks every media socket of a call with the call's TOS: ``--tos`` unless an offer's
``TOS`` key (0-255) says otherwise; a value above 255 is ``--tos`` again, and a later offer
changes the sockets the call already has.
"""

from __future__ import annotations

import socket
import struct

import pytest
from differential import DaemonPair, audio_port, loopback_party, party_sdp

RTP = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + b"\xff" * 160


@pytest.fixture(scope="module")
def tos_pair():
    """Both daemons with ``--tos=184`` (DSCP EF), as rtpengine's sample configuration has."""
    daemons = DaemonPair(extra=["--tos=184"], ranges=((25800, 25849), (25850, 25899)))
    yield daemons
    daemons.stop()



def _tos_of_relayed(sender: socket.socket, receiver: socket.socket, port: int) -> int:
    """Send one RTP packet to the daemon's ``port``; the TOS byte it reaches ``receiver``
    with."""
    sender.sendto(RTP, ("127.0.0.1", port))
    _, ancillary, _, _ = receiver.recvmsg(2048, socket.CMSG_SPACE(1))
    return next(data[0] for level, kind, data in ancillary
                if level == socket.IPPROTO_IP and kind == socket.IP_TOS)


def _tos_both_ways(daemon, call_id: str, offers: list[dict]) -> list[tuple[int, int]]:
    """A offers (once per entry of ``offers``, its options added), B answers each time;
    after every answer, the TOS of one packet each way."""
    a, b = loopback_party(), loopback_party()
    for sock in (a, b):
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        sock.settimeout(2)
    seen = []
    try:
        ids = {"call-id": call_id, "from-tag": "A"}
        for options in offers:
            to_a = audio_port(daemon.request({"command": "offer", **ids, "sdp": party_sdp(a),
                                              **options}))
            to_b = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                              "sdp": party_sdp(b)}))
            seen.append((_tos_of_relayed(a, b, to_b), _tos_of_relayed(b, a, to_a)))
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        a.close()
        b.close()
    return seen


CASES = {
    "--tos alone": [{}],
    "an offer's TOS": [{"TOS": 104}],
    "TOS above 255 is --tos": [{"TOS": 300}],
    "TOS as a string": [{"TOS": "72"}],
    "a re-offer changes it, the next without TOS goes back": [{}, {"TOS": 40}, {}],
    "a negative TOS leaves it": [{"TOS": 96}, {"TOS": -1}],
}


@pytest.mark.parametrize("name", list(CASES))
def test_media_tos(tos_pair, name):
    call_id = "tos-" + name.replace(" ", "-")
    want = _tos_both_ways(tos_pair.reference, call_id, CASES[name])
    have = _tos_both_ways(tos_pair.ours, call_id, CASES[name])
    assert have == want
