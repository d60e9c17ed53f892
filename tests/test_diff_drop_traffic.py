"""Differential: ``drop-traffic`` beside rtpengine 10.5, with real packets on loopback.

``drop-traffic: start`` in an offer or answer drops every packet of the call as it
arrives (not relayed, not counted), until an offer or answer with ``stop``.
"""

from __future__ import annotations

import socket
import struct

import pytest
from differential import (  # noqa: F401  (default_pair_fixture registers default_pair)
    audio_port,
    default_pair_fixture,
    loopback_party,
    party_sdp,
)

RTP = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x4321) + b"\xd5" * 160



def _arrives(sender: socket.socket, receiver: socket.socket, port: int) -> bool:
    sender.sendto(RTP, ("127.0.0.1", port))
    receiver.settimeout(0.3)
    try:
        receiver.recv(2048)
    except TimeoutError:
        return False
    return True


def _run(daemon, call_id: str, rounds: list[tuple[dict, dict]]) -> list:
    """Per (offer options, answer options): an offer by A, B's answer, then whether one
    packet each way arrives; at the end the packet counts query gives per party."""
    a, b = loopback_party(), loopback_party()
    seen: list = []
    try:
        ids = {"call-id": call_id, "from-tag": "A"}
        for offer_options, answer_options in rounds:
            to_a = audio_port(daemon.request({"command": "offer", **ids, "sdp": party_sdp(a),
                                              **offer_options}))
            to_b = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                              "sdp": party_sdp(b), **answer_options}))
            seen.append((_arrives(a, b, to_b), _arrives(b, a, to_a)))
        reply = daemon.request({"command": "query", "call-id": call_id})
        seen.append({tag: [stream["stats"]["packets"] for media in party["medias"]
                           for stream in media["streams"]]
                     for tag, party in reply["tags"].items()})
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        a.close()
        b.close()
    return seen


START, STOP = {"drop-traffic": "start"}, {"drop-traffic": "stop"}
CASES = {
    "started by the offer, stopped by a re-offer": [(START, {}), ({}, {}), (STOP, {})],
    "started by the answer (spelt with a space), stopped by the next answer": [
        ({}, {"drop traffic": "start"}), ({}, STOP)],
    "an unknown value changes nothing": [(START, {}), ({"drop-traffic": "pause"}, {})],
}


@pytest.mark.parametrize("name", list(CASES))
def test_drop_traffic(default_pair, name):
    call_id = "drop-" + name.replace(" ", "-")
    want = _run(default_pair.reference, call_id, CASES[name])
    have = _run(default_pair.ours, call_id, CASES[name])
    assert have == want
