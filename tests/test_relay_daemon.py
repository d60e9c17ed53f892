"""Media relayed end to end through the daemon: ng offer/answer over UDP, RTP both ways."""

from __future__ import annotations

import os
import signal

import trio
from hardening_helpers import ng as ng_request
from relay_helpers import party, rtcp_packet, rtp_packet, wait_until

from rtpengined.model import Endpoint

PORTS = {"port_min": 42000, "port_max": 43999}


async def ng(daemon, message: dict) -> dict:
    return await ng_request(daemon.address("udp-ng"), message)


def sdp(endpoint: Endpoint, rtcp_port: int | None = None) -> str:
    lines = [
        "v=0", f"o=- 1 1 IN IP4 {endpoint.address}", "s=-", f"c=IN IP4 {endpoint.address}",
        "t=0 0", f"m=audio {endpoint.port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv",
    ]
    if rtcp_port is not None:
        lines.append(f"a=rtcp:{rtcp_port}")
    return "\r\n".join(lines) + "\r\n"


def media_port(text: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith("m=audio "))
    return int(line.split()[1])


def rtcp_port(text: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith("a=rtcp:"))
    return int(line.split(":")[1].split()[0])


async def establish(daemon, call_id: str, alice, bob, alice_rtcp=None, bob_rtcp=None, flags=()):
    """offer from alice, answer from bob; returns (port alice sends to, port bob sends to)."""
    offer = await ng(daemon, {
        "command": "offer", "call-id": call_id, "from-tag": "alice", "flags": list(flags),
        "sdp": sdp(alice.endpoint, alice_rtcp.endpoint.port if alice_rtcp else None),
    })
    assert offer["result"] == "ok", offer
    answer = await ng(daemon, {
        "command": "answer", "call-id": call_id, "from-tag": "alice", "to-tag": "bob",
        "flags": list(flags),
        "sdp": sdp(bob.endpoint, bob_rtcp.endpoint.port if bob_rtcp else None),
    })
    assert answer["result"] == "ok", answer
    return answer["sdp"], offer["sdp"]


def stream_stats(reply: dict, tag: str, rtcp: bool = False) -> dict:
    streams = reply["tags"][tag]["medias"][0]["streams"]
    return streams[1 if rtcp else 0]


async def test_offer_answer_relays_rtp_both_ways_and_query_counts_it(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    alice_rtcp, bob_rtcp = await party(), await party()
    to_alice_sdp, to_bob_sdp = await establish(daemon, "e2e-1", alice, bob, alice_rtcp, bob_rtcp)
    alice_target = Endpoint("127.0.0.1", media_port(to_alice_sdp))
    bob_target = Endpoint("127.0.0.1", media_port(to_bob_sdp))

    for seq in range(5):
        await alice.send(rtp_packet(seq), alice_target)
    for seq in range(5):
        data, source = await bob.receive()
        assert data == rtp_packet(seq) and source == bob_target
    for seq in range(3):
        await bob.send(rtp_packet(seq, ssrc=0x22222222), bob_target)
    for seq in range(3):
        data, source = await alice.receive()
        assert data == rtp_packet(seq, ssrc=0x22222222) and source == alice_target
    await alice_rtcp.send(rtcp_packet(), Endpoint("127.0.0.1", rtcp_port(to_alice_sdp)))
    data, source = await bob_rtcp.receive()
    assert data == rtcp_packet() and source.port == rtcp_port(to_bob_sdp)

    async def query() -> dict:
        return await ng(daemon, {"command": "query", "call-id": "e2e-1"})

    reply = await query()
    with trio.fail_after(10):
        while stream_stats(reply, "alice")["stats"]["packets"] < 5 or \
                stream_stats(reply, "bob")["stats"]["packets"] < 3 or \
                stream_stats(reply, "alice", rtcp=True)["stats"]["packets"] < 1:
            await trio.sleep(0.01)
            reply = await query()
    a_rtp = stream_stats(reply, "alice")
    assert a_rtp["stats"] == {"packets": 5, "bytes": 860, "errors": 0}
    assert a_rtp["SSRC"] == 0x11111111
    assert a_rtp["endpoint"]["port"] == alice.endpoint.port
    assert stream_stats(reply, "bob")["stats"] == {"packets": 3, "bytes": 516, "errors": 0}
    assert stream_stats(reply, "alice", rtcp=True)["stats"] == {"packets": 1, "bytes": 8, "errors": 0}
    assert reply["totals"]["RTP"] == {"packets": 8, "bytes": 1376, "errors": 0}
    assert reply["totals"]["RTCP"] == {"packets": 1, "bytes": 8, "errors": 0}

    deleted = await ng(daemon, {"command": "delete", "call-id": "e2e-1", "from-tag": "alice"})
    assert deleted["totals"]["RTP"] == {"packets": 8, "bytes": 1376, "errors": 0}


async def test_early_media_sent_right_after_the_offer_reaches_the_caller(make_daemon):
    """A fresh call's streams may reach their relay worker a moment after the offer's reply
    (they travel with the next urgent message): media the callee sends at once waits in
    the bound socket and is relayed, and so is media after the answer."""
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    offer = await ng(daemon, {"command": "offer", "call-id": "early-1", "from-tag": "alice",
                              "sdp": sdp(alice.endpoint)})
    assert offer["result"] == "ok", offer
    bob_target = Endpoint("127.0.0.1", media_port(offer["sdp"]))
    for seq in range(3):
        await bob.send(rtp_packet(seq, ssrc=0x22222222), bob_target)
    for seq in range(3):
        data, _ = await alice.receive()
        assert data == rtp_packet(seq, ssrc=0x22222222)
    answer = await ng(daemon, {"command": "answer", "call-id": "early-1", "from-tag": "alice",
                               "to-tag": "bob", "sdp": sdp(bob.endpoint)})
    assert answer["result"] == "ok", answer
    alice_target = Endpoint("127.0.0.1", media_port(answer["sdp"]))
    await alice.send(rtp_packet(7), alice_target)
    data, source = await bob.receive()
    assert data == rtp_packet(7) and source == bob_target


async def test_learning_through_the_daemon_follows_a_natted_caller(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    # alice's SDP names an address she does not send from (NAT)
    offer = await ng(daemon, {"command": "offer", "call-id": "e2e-nat", "from-tag": "alice",
                              "sdp": sdp(Endpoint("192.0.2.10", 2000))})
    answer = await ng(daemon, {"command": "answer", "call-id": "e2e-nat", "from-tag": "alice",
                               "to-tag": "bob", "sdp": sdp(bob.endpoint)})
    alice_target = Endpoint("127.0.0.1", media_port(answer["sdp"]))
    bob_target = Endpoint("127.0.0.1", media_port(offer["sdp"]))
    await alice.send(rtp_packet(1), alice_target)
    await bob.receive()
    await bob.send(rtp_packet(2), bob_target)
    data, source = await alice.receive()
    assert data == rtp_packet(2) and source == alice_target


async def test_worker_killed_mid_call_media_resumes_through_the_daemon(make_daemon):
    daemon = await make_daemon(**PORTS)
    plane = daemon.core.media
    alice, bob = await party(), await party()
    to_alice_sdp, to_bob_sdp = await establish(daemon, "e2e-kill", alice, bob)
    alice_target = Endpoint("127.0.0.1", media_port(to_alice_sdp))
    bob_target = Endpoint("127.0.0.1", media_port(to_bob_sdp))
    await alice.send(rtp_packet(1), alice_target)
    await bob.receive()
    pid = plane.worker_pids()[0]
    os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: plane.worker_pids()[0] not in (pid, None))
    await alice.send(rtp_packet(2), alice_target)
    assert (await bob.receive())[0] == rtp_packet(2)
    await bob.send(rtp_packet(3), bob_target)
    assert (await alice.receive())[0] == rtp_packet(3)
    reply = await ng(daemon, {"command": "list"})
    assert reply["calls"] == ["e2e-kill"]


async def test_media_timeout_ends_a_silent_call(make_daemon):
    daemon = await make_daemon(timeout=1, **PORTS)
    alice, bob = await party(), await party()
    to_alice_sdp, _ = await establish(daemon, "e2e-silent", alice, bob)
    await alice.send(rtp_packet(1), Endpoint("127.0.0.1", media_port(to_alice_sdp)))
    await bob.receive()
    with trio.fail_after(10):
        while (await ng(daemon, {"command": "list"}))["calls"]:
            await trio.sleep(0.1)
    assert daemon.core.stats.timeout_sessions == 1


async def test_nothing_is_relayed_once_delete_has_answered(make_daemon):
    """With ``--delete-delay=0`` a call's media stops with the delete: a packet that reaches
    its port right after the reply is not relayed (the worker hears of the removal before
    the reply leaves, not with some later message)."""
    daemon = await make_daemon(delete_delay=0, **PORTS)
    for round_ in range(5):
        alice, bob = await party(), await party()
        call_id = f"gone-{round_}"
        to_alice_sdp, _ = await establish(daemon, call_id, alice, bob)
        alice_target = Endpoint("127.0.0.1", media_port(to_alice_sdp))
        await alice.send(rtp_packet(1), alice_target)
        data, _ = await bob.receive()
        assert data == rtp_packet(1)
        deleted = await ng(daemon, {"command": "delete", "call-id": call_id, "from-tag": "alice"})
        assert deleted["result"] == "ok"
        await alice.send(rtp_packet(2), alice_target)
        with trio.move_on_after(0.3) as waited:
            data, _ = await bob.receive(timeout=1.0)
        assert waited.cancelled_caught, f"relayed after delete: {data!r}"
