"""Relay behaviour after signalling changes, through the daemon over UDP ng (as 10.5):
ports replaced by a re-INVITE keep relaying into the same stream, and query names the
codec of the payload type actually received."""

from __future__ import annotations

import socket
import struct

import pytest
import trio
from relay_helpers import party, rtp_packet
from test_relay_daemon import establish, media_port, ng, sdp, stream_stats

from rtpengined.model import Endpoint

PORTS = {"port_min": 45000, "port_max": 45999}


async def query_until(daemon, call_id: str, done) -> dict:
    """Query until ``done(reply)`` holds (counters are read from shared memory)."""
    with trio.fail_after(10):
        while True:
            reply = await ng(daemon, {"command": "query", "call-id": call_id})
            if done(reply):
                return reply
            await trio.sleep(0.01)


async def test_ports_replaced_by_a_reinvite_keep_relaying_into_the_same_stream(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob, bob2 = await party(), await party(), await party()
    to_alice_sdp, to_bob_sdp = await establish(daemon, "reinvite-1", alice, bob)
    old_target = Endpoint("127.0.0.1", media_port(to_alice_sdp))
    bob_target = Endpoint("127.0.0.1", media_port(to_bob_sdp))
    await alice.send(rtp_packet(1), old_target)
    assert (await bob.receive())[0] == rtp_packet(1)

    # bob moves (re-INVITE from bob): alice gets fresh ports, the old ones stay bound.
    reoffer = await ng(daemon, {"command": "offer", "call-id": "reinvite-1", "from-tag": "bob",
                                "sdp": sdp(bob2.endpoint)})
    reanswer = await ng(daemon, {"command": "answer", "call-id": "reinvite-1", "from-tag": "bob",
                                 "to-tag": "alice", "sdp": sdp(alice.endpoint)})
    assert reoffer["result"] == reanswer["result"] == "ok"
    new_target = Endpoint("127.0.0.1", media_port(reoffer["sdp"]))
    assert new_target != old_target
    assert media_port(reanswer["sdp"]) == bob_target.port

    await alice.send(rtp_packet(2), old_target)  # late packet to the replaced port
    data, source = await bob2.receive()
    assert data == rtp_packet(2) and source == bob_target
    await alice.send(rtp_packet(3), new_target)
    data, source = await bob2.receive()
    assert data == rtp_packet(3) and source == bob_target
    await bob2.send(rtp_packet(4, ssrc=0x22222222), bob_target)
    data, source = await alice.receive()  # back from the new port
    assert data == rtp_packet(4, ssrc=0x22222222) and source == new_target

    reply = await query_until(daemon, "reinvite-1",
                              lambda r: stream_stats(r, "alice")["stats"]["packets"] >= 3
                              and stream_stats(r, "bob")["stats"]["packets"] >= 1)
    alice_rtp = stream_stats(reply, "alice")
    assert alice_rtp["local port"] == new_target.port
    assert alice_rtp["stats"] == {"packets": 3, "bytes": 516, "errors": 0}
    deleted = await ng(daemon, {"command": "delete", "call-id": "reinvite-1", "from-tag": "alice"})
    assert deleted["totals"]["RTP"]["packets"] == 4


def _unbound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_a_party_back_at_its_first_address_gets_its_first_ports_again(make_daemon):
    """Endpoint maps (10.5): bob moves and comes back; alice is offered her first port
    again, media relays through it (the worker took the socket back from the stream that
    had it), the port of the move keeps relaying too, and every port is unbound once the
    call is deleted."""
    daemon = await make_daemon(delete_delay=0, **PORTS)
    alice, bob, bob2 = await party(), await party(), await party()
    to_alice_sdp, _to_bob_sdp = await establish(daemon, "maps-1", alice, bob)
    first = Endpoint("127.0.0.1", media_port(to_alice_sdp))

    async def reinvite(bob_now) -> Endpoint:
        reoffer = await ng(daemon, {"command": "offer", "call-id": "maps-1",
                                    "from-tag": "bob", "sdp": sdp(bob_now.endpoint)})
        reanswer = await ng(daemon, {"command": "answer", "call-id": "maps-1",
                                     "from-tag": "bob", "to-tag": "alice",
                                     "sdp": sdp(alice.endpoint)})
        assert reoffer["result"] == reanswer["result"] == "ok"
        return Endpoint("127.0.0.1", media_port(reoffer["sdp"]))

    moved = await reinvite(bob2)
    assert await reinvite(bob) == first != moved
    for seq, target in enumerate((first, moved)):
        await alice.send(rtp_packet(seq), target)
        assert (await bob.receive())[0] == rtp_packet(seq)
    ports = [first.port, first.port + 1, moved.port, moved.port + 1]
    assert not any(_unbound(port) for port in ports)
    deleted = await ng(daemon, {"command": "delete", "call-id": "maps-1"})
    assert deleted["result"] == "ok"
    with trio.fail_after(5):  # (a worker closes its copies when it gets to the removal)
        while not all(_unbound(port) for port in ports):
            await trio.sleep(0.02)


def _pcma(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 0x33333333) + bytes(160)


async def test_query_names_the_codec_of_the_payload_type_received(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    body = sdp(alice.endpoint).replace("RTP/AVP 0", "RTP/AVP 0 8") + "a=rtpmap:8 PCMA/8000\r\n"
    offer = await ng(daemon, {"command": "offer", "call-id": "pt-1", "from-tag": "alice",
                              "sdp": body})
    answer = await ng(daemon, {"command": "answer", "call-id": "pt-1", "from-tag": "alice",
                               "to-tag": "bob", "sdp": sdp(bob.endpoint).replace(
                                   "RTP/AVP 0", "RTP/AVP 0 8") + "a=rtpmap:8 PCMA/8000\r\n"})
    assert offer["result"] == answer["result"] == "ok"
    target = Endpoint("127.0.0.1", media_port(answer["sdp"]))

    def codec(reply: dict) -> str | None:
        return reply["tags"]["alice"]["medias"][0].get("codec")

    await alice.send(rtp_packet(1), target)
    await bob.receive()
    reply = await query_until(daemon, "pt-1", lambda r: codec(r) is not None)
    assert codec(reply) == "PCMU/8000"
    await alice.send(_pcma(2), target)  # the caller switches codec
    await bob.receive()
    reply = await query_until(daemon, "pt-1", lambda r: codec(r) != "PCMU/8000")
    assert codec(reply) == "PCMA/8000"


@pytest.mark.parametrize("loop", ["c", "pure-python"])
async def test_a_settled_call_shows_a_new_codec_and_ssrc_to_the_next_query_and_stops_on_delete(
        make_daemon, monkeypatch, loop):
    """Immediate learning: from the second packet on, the streams are settled (relayed by
    the worker's C loop when it is built, else by the pure-Python loop; both are run). A
    codec and SSRC change mid-call is in the very next query once the packet has arrived
    (counted before sent, no polling), and a delete stops relaying at once."""
    if loop == "pure-python":
        monkeypatch.setenv("RTPENGINED_PURE_RELAY", "1")
    else:
        monkeypatch.delenv("RTPENGINED_PURE_RELAY", raising=False)
    daemon = await make_daemon(endpoint_learning="immediate", delete_delay=0, **PORTS)
    alice, bob = await party(), await party()
    body = sdp(alice.endpoint).replace("RTP/AVP 0", "RTP/AVP 0 8") + "a=rtpmap:8 PCMA/8000\r\n"
    offer = await ng(daemon, {"command": "offer", "call-id": "settled-1", "from-tag": "alice",
                              "sdp": body})
    answer = await ng(daemon, {"command": "answer", "call-id": "settled-1", "from-tag": "alice",
                               "to-tag": "bob", "sdp": sdp(bob.endpoint).replace(
                                   "RTP/AVP 0", "RTP/AVP 0 8") + "a=rtpmap:8 PCMA/8000\r\n"})
    assert offer["result"] == answer["result"] == "ok"
    target = Endpoint("127.0.0.1", media_port(answer["sdp"]))

    async def relayed(packet: bytes) -> dict:
        await alice.send(packet, target)
        assert (await bob.receive())[0] == packet
        reply = await ng(daemon, {"command": "query", "call-id": "settled-1"})
        return reply["tags"]["alice"]["medias"][0]

    for seq in range(1, 4):
        media = await relayed(rtp_packet(seq))
    assert media["codec"] == "PCMU/8000" and media["streams"][0]["stats"]["packets"] == 3
    switched = bytearray(rtp_packet(4, ssrc=0x77777777))
    switched[1] = 8
    media = await relayed(bytes(switched))
    assert media["codec"] == "PCMA/8000"
    assert media["streams"][0]["stats"]["packets"] == 4
    assert media["streams"][0]["SSRC"] == 0x77777777
    deleted = await ng(daemon, {"command": "delete", "call-id": "settled-1", "from-tag": "alice"})
    assert deleted["result"] == "ok"
    await alice.send(rtp_packet(5), target)
    with trio.move_on_after(0.3) as waited:
        data, _ = await bob.receive(timeout=1.0)
    assert waited.cancelled_caught, f"relayed after delete: {data!r}"
