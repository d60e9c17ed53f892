"""SIP forking: deleting one branch by its via-branch, against rtpengine 10.5 and for real.

A forked INVITE is offered once per branch (``via-branch``); each branch gets its own
untagged party until it answers. ``delete`` naming a via-branch (or the tag of an answered
branch) ends that branch only: its ports go, ``query`` still lists it, and the call goes on
for the other branches; with a delete delay the branch keeps its ports until then, unless
signalling on its dialogue comes first. Differential scenarios compare every reply with
10.5's (plain RTP with an RTCP port, rtcp-mux, the delete reply's statistics, ``list``);
the other tests relay media over loopback sockets and read the call back from Redis.
"""

from __future__ import annotations

import time

import pytest
import trio
from differential import (
    Normaliser,
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    describe_difference,
    offer,
    query,
    sdp,
)
from relay_helpers import party, rtp_packet
from test_diff_sequences import A, B, C
from test_relay_daemon import media_port, ng
from test_relay_daemon import sdp as party_sdp

from rtpengined.model import Endpoint

V1, V2 = "z9hG4bK-fork.1", "z9hG4bK-fork.2"
A_MUX = sdp("v=0", "o=alice 100 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
            "m=audio 2000 RTP/AVP 0 8", "a=rtcp-mux", "a=sendrecv")
B_MUX = sdp("v=0", "o=bob 100 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
            "m=audio 3000 RTP/AVP 0", "a=rtcp-mux", "a=sendrecv")


def branch(body: str, via: str, **extra) -> dict:
    return offer(body, **{"via-branch": via}, **extra)


def on(via: str, body: str = B, to_tag: str = "B", **extra) -> dict:
    """An answer from the branch ``via``."""
    return answer(body, to_tag=to_tag, **{"via-branch": via}, **extra)


def drop(via: str, **extra) -> dict:
    """The proxy ends one branch: from-tag and via-branch, no to-tag (a CANCEL or a 4xx)."""
    return delete(**{"from-tag": "A", "via-branch": via}, **extra)


LISTED = {"command": "list"}
PTIME_OFFER = sdp("v=0", "o=alice 100 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                  "t=0 0", "m=audio 2000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000",
                  "a=fmtp:101 0-15", "a=sendrecv", "a=ptime:20")
B_TE = sdp("v=0", "o=bob 100 1 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
           "m=audio 3000 RTP/AVP 8 101", "a=rtpmap:101 telephone-event/8000",
           "a=fmtp:101 0-16", "a=sendrecv")

SCENARIOS = {
    "two forks, one deleted before any answer, the other answers": [
        branch(A, V1), branch(A, V2), query(), drop(V2), query(), LISTED, on(V1), query(),
        query(**{"from-tag": "A"}), delete()],
    "deleted fork is kept until its delay, an answer on the other fork keeps it": [
        branch(A, V1), branch(A, V2), drop(V2, **{"delete-delay": 30}), query(), on(V1),
        query(), delete()],
    "answered fork deleted by via-branch, the unanswered one stays": [
        branch(A, V1), branch(A, V2), on(V1), drop(V1), query(), LISTED, delete()],
    "unanswered fork deleted after the other answered": [
        branch(A, V1), branch(A, V2), on(V1), drop(V2), query(), delete()],
    "both forks deleted: the call ends with the last": [
        branch(A, V1), branch(A, V2), drop(V2), query(), drop(V1), query(), LISTED],
    "deleted fork offered again gets ports again": [
        branch(A, V1), branch(A, V2), drop(V2), branch(A, V2), query(), on(V2, C, "C"),
        query(), delete()],
    "answered fork deleted by its to-tag": [
        branch(A, V1), branch(A, V2), on(V1), delete(**{"from-tag": "A", "to-tag": "B"}),
        query(), delete()],
    "unknown to-tag with two forks deletes nothing": [
        branch(A, V1), branch(A, V2), delete(**{"from-tag": "A", "to-tag": "X"}), query(),
        delete()],
    "unknown via-branch on a plain call ends it": [
        offer(A), delete(**{"from-tag": "A", "via-branch": "z9hG4bK-other"}), query()],
    "three forks, the middle one deleted, the last answers": [
        branch(A, V1), branch(A, V2), branch(A, "z9hG4bK-fork.3"), drop(V2), query(),
        on("z9hG4bK-fork.3", C, "C"), query(), delete()],
    "a deleted branch is found by no tag: query and delete naming it": [
        branch(A, V1), branch(A, V2), on(V1), drop(V1), query(**{"from-tag": "B"}),
        query(**{"from-tag": "A", "to-tag": "B"}), delete(**{"from-tag": "B"}), query(),
        delete()],
    "a fork deleted twice": [
        branch(A, V1), branch(A, V2), drop(V2), drop(V2), query(), delete()],
    "another to-tag answers after one fork did, without via-branch": [
        branch(A, V1), branch(A, V2), on(V1), answer(C, to_tag="C"), query(), delete()],
    "query: the to-tag decides, an empty one does not count": [
        offer(A), answer(B), query(**{"from-tag": "A", "to-tag": "X"}),
        query(**{"from-tag": "X", "to-tag": "B"}), query(**{"from-tag": "A", "to-tag": ""}),
        delete()],
    "rtcp-mux forks, one demuxed, deleted before the answer (upstream 7376)": [
        branch(A_MUX, V1, **{"rtcp-mux": ["offer"]}),
        branch(A_MUX, V2, **{"rtcp-mux": ["demux"]}), drop(V2, **{"delete-delay": 30}),
        on(V1, B_MUX, **{"rtcp-mux": ["demux"]}), query(), delete()],
    "rtcp-mux forks, delete-delay=0 (upstream 7494)": [
        branch(A_MUX, V1, **{"rtcp-mux": ["offer"]}),
        branch(A_MUX, V2, **{"rtcp-mux": ["demux"]}), drop(V2), query(),
        on(V1, B_MUX, **{"rtcp-mux": ["demux"]}), query(), delete()],
    # The call deleted with a delay, offered again (it goes to the party that answered) and
    # answered from a new to-tag: that answer answers the offer, with the offerer's
    # a=ptime and codecs (upstream 15095, media playback after a delete).
    "revived by a re-offer, answered by a new to-tag": [
        offer(PTIME_OFFER, **{"via-branch": V1}), on(V1, to_tag="B"),
        delete(**{"from-tag": "A", "delete-delay": 30}),
        offer(PTIME_OFFER, **{"via-branch": V1, "transport-protocol": "transparent"}),
        on(V1, B_TE, to_tag="B2"), query(), delete()],
    # The same without via-branch: a new party answers (the one before stays listed).
    "revived, answered by a new to-tag without via-branch": [
        offer(PTIME_OFFER), answer(B), delete(**{"from-tag": "A", "delete-delay": 30}),
        offer(PTIME_OFFER), answer(B_TE, to_tag="B2"), query(), delete()],
    # No delete: a re-offer answered from another to-tag on the same via-branch.
    "a re-offer answered by a new to-tag on the same via-branch": [
        branch(A, V1), on(V1), branch(A, V1), on(V1, to_tag="B2"), query(), delete()],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_branch_delete_as_rtpengine(default_pair, name):
    default_pair.compare(SCENARIOS[name], name)


def _converse_until_gone(daemon, steps, call_id, gone_tag_key):
    """Run ``steps``, then query until the party listed as ``gone_tag_key`` has no ports
    (the delete delay fired) and return every normalised reply."""
    normaliser = Normaliser(daemon.port_range)
    replies = []
    for step in steps:
        replies.append(normaliser.value(daemon.request({**step, "call-id": call_id})))
    deadline = time.monotonic() + 20
    while True:
        reply = daemon.request({"command": "query", "call-id": call_id})
        party = reply.get("tags", {}).get(gone_tag_key, {})
        streams = [s for m in party.get("medias", []) for s in m["streams"]]
        if streams and all("local port" not in s for s in streams):
            break
        assert time.monotonic() < deadline, f"branch still has its ports: {reply}"
        time.sleep(0.2)
    replies.append(normaliser.value(reply))
    replies.append(normaliser.value(daemon.request({"command": "list"})))
    return replies


def test_delayed_branch_delete_fires_as_rtpengine(default_pair):
    """A fork deleted with a delay loses its ports when the delay is over, and only it."""
    steps = [branch(A, V1), branch(A, V2), drop(V2, **{"delete-delay": 1}), query()]
    want = _converse_until_gone(default_pair.reference, steps, "fork-delay-r", "<untagged 2>")
    have = _converse_until_gone(default_pair.ours, steps, "fork-delay-o", "<untagged 2>")
    assert "fork-delay-r" in dict(want[-1])["calls"]  # the call goes on without the fork
    assert "fork-delay-o" in dict(have[-1])["calls"]
    for index, (w, h) in enumerate(zip(want[:-1], have[:-1], strict=True)):
        assert w == h, f"reply {index} differs:\n" + describe_difference(w, h)
    for daemon in (default_pair.reference, default_pair.ours):
        daemon.request({"command": "delete", "call-id": f"fork-delay-{'r' if daemon is default_pair.reference else 'o'}"})


# -- over real sockets ------------------------------------------------------------------


async def _forked_call(daemon, call_id, alice, fork1, fork2):
    """alice's INVITE forked to two callees; returns the SDP each fork was offered."""
    offered = []
    for via in (V1, V2):
        reply = await ng(daemon, {"command": "offer", "call-id": call_id, "from-tag": "alice",
                                  "via-branch": via, "sdp": party_sdp(alice.endpoint)})
        assert reply["result"] == "ok", reply
        offered.append(reply["sdp"])
    return offered


async def test_deleted_fork_stops_relaying_the_other_fork_carries_the_call(make_daemon):
    daemon = await make_daemon(port_min=48000, port_max=48099)
    alice, fork1, fork2 = await party(), await party(), await party()
    to_fork1, to_fork2 = await _forked_call(daemon, "fork-media", alice, fork1, fork2)
    port2 = media_port(to_fork2)
    deleted = await ng(daemon, {"command": "delete", "call-id": "fork-media",
                                "from-tag": "alice", "via-branch": V2, "delete-delay": 0})
    assert deleted["result"] == "ok" and "warning" not in deleted, deleted
    answered = await ng(daemon, {"command": "answer", "call-id": "fork-media",
                                 "from-tag": "alice", "to-tag": "bob", "via-branch": V1,
                                 "sdp": party_sdp(fork1.endpoint)})
    assert answered["result"] == "ok", answered
    to_alice = Endpoint("127.0.0.1", media_port(answered["sdp"]))
    to_bob = Endpoint("127.0.0.1", media_port(to_fork1))
    for seq in range(1, 4):
        await alice.send(rtp_packet(seq), to_alice)
        data, _ = await fork1.receive()
        assert data == rtp_packet(seq)
        await fork1.send(rtp_packet(100 + seq, ssrc=2), to_bob)
        data, _ = await alice.receive()
        assert data == rtp_packet(100 + seq, ssrc=2)
    # The deleted fork's port is closed: what the second callee sends reaches nobody.
    await fork2.send(rtp_packet(50, ssrc=3), Endpoint("127.0.0.1", port2))
    with trio.move_on_after(0.3) as waited:
        data, _ = await alice.receive(timeout=1.0)
    assert waited.cancelled_caught, f"relayed from a deleted fork: {data!r}"
    listed = await ng(daemon, {"command": "query", "call-id": "fork-media"})
    tags = listed["tags"]
    assert set(tags) == {"alice", "bob", "<untagged 2>"}
    gone = [s for m in tags["<untagged 2>"]["medias"] for s in m["streams"]]
    assert gone and all("local port" not in s for s in gone)
    assert tags["bob"]["via-branch"] == V1
    assert tags["bob"]["medias"][0]["streams"][0]["stats"]["packets"] == 3
    assert daemon.core.calls.port_pools[0].used == 4  # alice's and bob's RTP and RTCP


async def test_branch_deletes_reach_redis(make_daemon, redis):
    """A fork deleted at once, and one deleted by its delay (a timer, no command), are
    both written: the stored call keeps the deleted forks' parties, without ports."""
    daemon = await make_daemon(port_min=48100, port_max=48199, redis=redis.address(1))
    store = daemon.core.store
    alice, fork1, fork2 = await party(), await party(), await party()
    await _forked_call(daemon, "fork-redis", alice, fork1, fork2)
    await ng(daemon, {"command": "offer", "call-id": "fork-redis", "from-tag": "alice",
                      "via-branch": "z9hG4bK-fork.3", "sdp": party_sdp(alice.endpoint)})

    async def stored_streams() -> set[str]:
        doc = await trio.to_thread.run_sync(redis.document, 1, "fork-redis")
        return {v["local_port"] if "local_port" in v else k for k, v in doc.items()
                if k.startswith("stream-")}

    async def wait_for_streams(count: int) -> None:
        with trio.fail_after(15):
            while True:
                keys = await trio.to_thread.run_sync(redis.keys, 1)
                if "fork-redis" in keys and len(await stored_streams()) == count:
                    return
                await trio.sleep(0.05)

    await wait_for_streams(8)  # alice and three forks, RTP and RTCP each
    await ng(daemon, {"command": "delete", "call-id": "fork-redis", "from-tag": "alice",
                      "via-branch": V2, "delete-delay": 0})
    await wait_for_streams(6)
    written = store.counters.written
    await ng(daemon, {"command": "delete", "call-id": "fork-redis", "from-tag": "alice",
                      "via-branch": V1, "delete-delay": 1})
    await wait_for_streams(4)  # the delay fired on a tick: written without a command
    assert store.counters.written > written
    doc = await trio.to_thread.run_sync(redis.document, 1, "fork-redis")
    branches = sorted(v.get("via-branch", "") for k, v in doc.items() if k.startswith("tag-"))
    assert branches == ["", "z9hG4bK-fork.1", "z9hG4bK-fork.2", "z9hG4bK-fork.3"]


def test_fork_deleted_with_a_delay_goes_after_a_restart_too(redis, cleanup):
    """Redis keeps a branch's pending delete (its tag's ``deleted``, as 10.5 writes and
    reads it): a daemon restored after a crash still ends that fork, and only it."""
    from redis_helpers import kill9, ours

    daemon = ours(redis, 1, 48200, 48299)
    cleanup.push(lambda *exc: daemon.stop())
    for via in (V1, V2):
        reply = daemon.request({"command": "offer", "call-id": "fork-restart",
                                "from-tag": "A", "via-branch": via, "sdp": A})
        assert reply["result"] == "ok", reply
    reply = daemon.request({"command": "delete", "call-id": "fork-restart", "from-tag": "A",
                            "via-branch": V2, "delete-delay": 3})
    assert reply["result"] == "ok" and "warning" not in reply, reply

    def pending(doc) -> bool:
        return doc is not None and any(v.get("via-branch") == V2 and v.get("deleted", "0") != "0"
                                       for k, v in doc.items() if k.startswith("tag-"))

    deadline = time.monotonic() + 10
    while not pending(redis.document(1, "fork-restart")):
        assert time.monotonic() < deadline, redis.document(1, "fork-restart")
        time.sleep(0.05)
    kill9(daemon)
    daemon = ours(redis, 1, 48200, 48299)
    cleanup.push(lambda *exc: daemon.stop())
    deadline = time.monotonic() + 20
    while True:
        reply = daemon.request({"command": "query", "call-id": "fork-restart"})
        assert reply["result"] == "ok", reply
        ports = {key: [s.get("local port") for m in tag["medias"] for s in m["streams"]]
                 for key, tag in reply["tags"].items()}
        if ports.get("<untagged 2>") == [None, None]:
            break
        assert time.monotonic() < deadline, ports
        time.sleep(0.2)
    assert all(ports["<untagged 1>"]) and all(ports["A"])
    assert daemon.request({"command": "list"})["calls"] == ["fork-restart"]
