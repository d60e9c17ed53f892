"""Calls in Redis against a real redis-server: crash and restore, outages, standby, interop.

Every test starts its own ``redis-server`` (``tests.redis_helpers.RedisServer``) and its
daemons, and stops all of them whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time

import pytest

from tests.conftest import FIXTURES_ROOT, free_port, free_udp_port_block
from tests.differential import start_ours
from tests.redis_helpers import (
    HungRedis,
    MediaCall,
    RedisServer,
    _audio_port,
    cli,
    kill9,
    local_ports,
    ours,
    reference,
    sdp,
)


def _stopped(daemon):
    """Context callback: stop ``daemon`` at the end of the test (a killed one too)."""
    return lambda *exc: daemon.stop()


def test_kill9_restart_restores_every_call_with_its_ports_and_media(redis, cleanup):
    daemon = ours(redis, 1, 23000, 23099)
    cleanup.push(_stopped(daemon))
    calls = [MediaCall(daemon, f"crash-{i}") for i in range(3)]
    for call in calls:
        cleanup.callback(call.close)
        assert call.relays()
    before = {c.call_id: local_ports(daemon.request({"command": "query", "call-id": c.call_id}))
              for c in calls}
    redis.wait_for(1, lambda keys: keys >= set(before))
    kill9(daemon)

    daemon = ours(redis, 1, 23000, 23099)
    cleanup.push(_stopped(daemon))
    for call in calls:
        query = daemon.request({"command": "query", "call-id": call.call_id})
        assert query["result"] == "ok", query
        assert local_ports(query) == before[call.call_id]
        assert call.relays()
    listed = daemon.request({"command": "list"})
    assert set(listed["calls"]) == set(before)


def test_deleted_call_leaves_redis_and_is_not_restored(redis, cleanup):
    daemon = ours(redis, 1, 23100, 23199)
    cleanup.push(_stopped(daemon))
    kept, gone = MediaCall(daemon, "kept"), MediaCall(daemon, "gone")
    cleanup.callback(kept.close)
    cleanup.callback(gone.close)
    redis.wait_for(1, lambda keys: keys == {"kept", "gone"})
    assert daemon.request({"command": "delete", "call-id": "gone", "from-tag": "A"})[
        "result"] == "ok"
    redis.wait_for(1, lambda keys: keys == {"kept"})
    kill9(daemon)
    daemon = ours(redis, 1, 23100, 23199)
    cleanup.push(_stopped(daemon))
    assert set(daemon.request({"command": "list"})["calls"]) == {"kept"}


def test_unrestorable_call_is_dropped_and_its_key_removed(redis, cleanup):
    redis.command(1, "SET", "broken", "{not json")
    redis.command(1, "SET", "no-ports", '{"json": {"created": "1"}}')
    daemon = ours(redis, 1, 23200, 23299)
    cleanup.push(_stopped(daemon))
    assert daemon.request({"command": "list"})["calls"] == []
    redis.wait_for(1, lambda keys: not keys)


def test_redis_down_at_start_refused_unless_not_required(redis, cleanup):
    redis.kill()
    with pytest.raises(RuntimeError, match="Cannot start up without running Redis"):
        ours(redis, 1, 23300, 23399)
    daemon = ours(redis, 1, 23300, 23399, "--no-redis-required")
    cleanup.push(_stopped(daemon))
    call = MediaCall(daemon, "no-redis")
    cleanup.callback(call.close)
    assert call.relays()


def test_redis_killed_and_restarted_under_load(redis, cleanup):
    """Offers keep being answered while Redis is gone; once it is back, changes are
    written again (including calls changed during the outage)."""
    daemon = ours(redis, 1, 23400, 23599, "--redis-connect-timeout=200",
                  "--redis-cmd-timeout=200")
    cleanup.push(_stopped(daemon))
    first = MediaCall(daemon, "before")
    cleanup.callback(first.close)
    redis.wait_for(1, lambda keys: "before" in keys)
    redis.kill()
    during = []
    for i in range(20):
        call = MediaCall(daemon, f"during-{i}")  # each offer/answer must still be answered
        cleanup.callback(call.close)
        during.append(call)
    assert during[-1].relays()
    redis.start()  # empty: the server keeps nothing
    after = MediaCall(daemon, "after")
    cleanup.callback(after.close)
    wanted = {"after"} | {c.call_id for c in during}
    redis.wait_for(1, lambda keys: keys >= wanted)


def test_hung_redis_does_not_block_offers(cleanup):
    hung = HungRedis()
    cleanup.callback(hung.close)
    # No command timeout (the default): the handshake is bounded by the connect timeout,
    # and writes wait in the background.
    daemon = start_ours(23600, 23699, [f"--redis=127.0.0.1:{hung.port}/1",
                                       "--no-redis-required", "--redis-connect-timeout=300"])
    cleanup.push(_stopped(daemon))
    started = time.monotonic()
    calls = [MediaCall(daemon, f"hung-{i}") for i in range(5)]
    for call in calls:
        cleanup.callback(call.close)
    # NgProcess waits 3 s for each reply; every offer and answer was answered.
    assert time.monotonic() - started < 30
    assert calls[-1].relays()


def test_standby_follows_active_and_takes_over(redis, cleanup):
    active = ours(redis, 1, 23700, 23799)
    cleanup.push(_stopped(active))
    standby = ours(redis, 2, 23700, 23799, "--subscribe-keyspace=1", "--timeout=1",
                   interface="127.0.0.2")
    cleanup.push(_stopped(standby))
    call = MediaCall(active, "followed")
    cleanup.callback(call.close)
    redis.wait_for(1, lambda keys: "followed" in keys)
    want = local_ports(active.request({"command": "query", "call-id": "followed"}))
    deadline = time.monotonic() + 10
    while local_ports(_wait_query(standby, "followed")) != want:  # offer, then answer
        assert time.monotonic() < deadline, _wait_query(standby, "followed")
        time.sleep(0.05)
    # Foreign calls do not time out for lack of media (their media goes to the active).
    time.sleep(2.5)
    assert standby.request({"command": "query", "call-id": "followed"})["result"] == "ok"
    # The active node dies; the standby relays the call on its own address.
    kill9(active)
    assert call.relays(relay_address="127.0.0.2")
    # A foreign call is never written back into the standby's own DB.
    assert redis.keys(2) == set()
    # A delete on the active side's DB ends the foreign call.
    redis.command(1, "DEL", "followed")
    _wait_gone(standby, "followed")


def test_interop_rtpengine_writes_rtpengined_restores(redis, cleanup):
    ref = reference(redis, 3, 23800, 23899)
    cleanup.push(_stopped(ref))
    call = MediaCall(ref, "from-rtpengine")
    cleanup.callback(call.close)
    want = local_ports(ref.request({"command": "query", "call-id": "from-rtpengine"}))
    redis.wait_for(3, lambda keys: "from-rtpengine" in keys)
    kill9(ref)
    daemon = ours(redis, 3, 23800, 23899)
    cleanup.push(_stopped(daemon))
    query = daemon.request({"command": "query", "call-id": "from-rtpengine"})
    assert query["result"] == "ok", query
    assert local_ports(query) == want
    assert call.relays()


def test_interop_rtpengined_writes_rtpengine_restores(redis, cleanup):
    daemon = ours(redis, 4, 23900, 23999)
    cleanup.push(_stopped(daemon))
    call = MediaCall(daemon, "from-rtpengined")
    cleanup.callback(call.close)
    want = local_ports(daemon.request({"command": "query", "call-id": "from-rtpengined"}))
    redis.wait_for(4, lambda keys: "from-rtpengined" in keys)
    kill9(daemon)
    ref = reference(redis, 4, 23900, 23999)
    cleanup.push(_stopped(ref))
    query = ref.request({"command": "query", "call-id": "from-rtpengined"})
    assert query["result"] == "ok", query
    assert local_ports(query) == want
    assert call.relays()


def _wait_query(daemon, call_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        query = daemon.request({"command": "query", "call-id": call_id})
        if query["result"] == "ok":
            return query
        if time.monotonic() > deadline:
            raise AssertionError(f"{call_id} never appeared: {query}")
        time.sleep(0.05)


def _wait_gone(daemon, call_id: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while daemon.request({"command": "query", "call-id": call_id})["result"] == "ok":
        if time.monotonic() > deadline:
            raise AssertionError(f"{call_id} was not removed")
        time.sleep(0.05)


def test_media_driven_change_is_written(redis, cleanup):
    """Once the relay confirms a party's endpoint from its packets, Redis has it too."""
    daemon = ours(redis, 1, 22900, 22999)
    cleanup.push(_stopped(daemon))
    call = MediaCall(daemon, "learned")
    cleanup.callback(call.close)
    redis.wait_for(1, lambda keys: "learned" in keys)

    def confirmed() -> int:
        doc = redis.document(1, "learned")
        return sum(1 for key, value in doc.items() if key.startswith("stream-")
                   and int(value["ps_flags"]) & 0x00200000)

    assert confirmed() == 0
    assert call.relays()
    deadline = time.monotonic() + 15
    while confirmed() < 2:  # both RTP streams (A's and B's)
        assert time.monotonic() < deadline, redis.document(1, "learned")
        call.relays(tries=1)
        time.sleep(0.1)


def test_cli_keyspaces_and_active_take_over_foreign_calls(redis, cleanup):
    active = ours(redis, 1, 22800, 22899)
    cleanup.push(_stopped(active))
    cli_port = free_port()
    standby = ours(redis, 2, 22800, 22899, f"--listen-cli=127.0.0.1:{cli_port}",
                   interface="127.0.0.2")
    cleanup.push(_stopped(standby))
    assert cli(cli_port, "ksadd 1") == "Success adding keyspace 1 to redis notifications.\n"
    assert cli(cli_port, "kslist") == "\nSubscribed-on keyspaces:\n1 \n"
    first = MediaCall(active, "first")
    cleanup.callback(first.close)
    _wait_query(standby, "first")
    assert "| redis_keyspace:1 | foreign:yes" in cli(cli_port, "list sessions all")
    # ksrm ends the keyspace's foreign calls; ksadd again follows it, and picks up the
    # calls already stored there.
    assert "Successfully unsubscribed from keyspace 1" in cli(cli_port, "ksrm 1")
    _wait_gone(standby, "first")
    cli(cli_port, "ksadd 1")
    second = MediaCall(active, "second")
    cleanup.callback(second.close)
    _wait_query(standby, "second")
    _wait_query(standby, "first")
    # The active node dies; "active" on the standby makes its calls own, stored in its DB.
    kill9(active)
    assert cli(cli_port, "active") == "Ok, all calls set to 'owned (active)'\n"
    assert "foreign:yes" not in cli(cli_port, "list sessions all")
    redis.wait_for(2, lambda keys: keys == {"first", "second"})
    assert second.relays(relay_address="127.0.0.2")


def test_active_switchover_takes_over_on_signalling(redis, cleanup):
    active = ours(redis, 1, 22700, 22799)
    cleanup.push(_stopped(active))
    standby = ours(redis, 2, 22700, 22799, "--subscribe-keyspace=1", "--active-switchover",
                   interface="127.0.0.2")
    cleanup.push(_stopped(standby))
    call = MediaCall(active, "switch")
    cleanup.callback(call.close)
    _wait_query(standby, "switch")
    kill9(active)
    assert redis.keys(2) == set()
    # A re-offer reaching the standby makes the call its own: stored in its DB.
    reply = standby.request({"command": "offer", "call-id": "switch", "from-tag": "A",
                             "sdp": sdp("127.0.0.1", call.a.getsockname()[1])})
    assert reply["result"] == "ok", reply
    redis.wait_for(2, lambda keys: keys == {"switch"})


def test_call_restored_after_the_offer_takes_its_answer(redis, cleanup):
    daemon = ours(redis, 1, 22600, 22699)
    cleanup.push(_stopped(daemon))
    offer = daemon.request({"command": "offer", "call-id": "half", "from-tag": "A",
                            "sdp": sdp("127.0.0.1", 5000)})
    assert offer["result"] == "ok"
    redis.wait_for(1, lambda keys: "half" in keys)
    kill9(daemon)
    daemon = ours(redis, 1, 22600, 22699)
    cleanup.push(_stopped(daemon))
    answer = daemon.request({"command": "answer", "call-id": "half", "from-tag": "A",
                             "to-tag": "B", "sdp": sdp("127.0.0.1", 6000)})
    assert answer["result"] == "ok", answer
    ports = local_ports(daemon.request({"command": "query", "call-id": "half"}))
    assert ports["B"][0] == _audio_port(offer["sdp"])  # the port the offer handed out
    assert ports["A"][0] == _audio_port(answer["sdp"])

    def tags() -> list[str]:
        stored = redis.document(1, "half")
        return sorted(v.get("tag", "") for k, v in stored.items() if k.startswith("tag-"))

    deadline = time.monotonic() + 10
    while tags() != ["A", "B"]:  # the answer is written in the background
        assert time.monotonic() < deadline, tags()
        time.sleep(0.05)


def test_restore_waits_briefly_for_ports_still_held(redis, cleanup):
    """A dead daemon's relay workers may hold its ports a moment longer: restore retries."""
    daemon = ours(redis, 1, 22500, 22599)
    cleanup.push(_stopped(daemon))
    call = MediaCall(daemon, "busy")
    cleanup.callback(call.close)
    redis.wait_for(1, lambda keys: "busy" in keys)
    kill9(daemon)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", call.port_a))
    timer = threading.Timer(0.5, holder.close)
    timer.start()
    cleanup.callback(timer.cancel)
    cleanup.callback(holder.close)
    daemon = ours(redis, 1, 22500, 22599)
    cleanup.push(_stopped(daemon))
    assert daemon.request({"command": "query", "call-id": "busy"})["result"] == "ok"
    assert call.relays()


def test_restored_call_with_old_signalling_does_not_time_out_at_once(redis, cleanup):
    """Streams get a fresh last-packet time: a call last signalled long ago (rtpengine's
    capture, 20 minutes old) lives on for the media timeout, and keeps its counters."""
    doc = json.load(open(os.path.join(FIXTURES_ROOT, "redis-rtpengine-10.5-call.json")))
    doc["json"]["last_signal"] = str(int(time.time()) - 1200)
    doc["stream-0"]["stats-packets"] = "7"
    # The capture's ports (42300-42317) are in the kernel's ephemeral range, where any
    # socket of the machine may hold one at the moment of the restore (which then drops
    # the call): moved to a block checked free below that range.
    base = free_udp_port_block(32)
    for key, value in doc.items():
        if key.startswith("sfd-"):
            value["localport"] = str(int(value["localport"]) - 42300 + base)
    redis.command(1, "SET", "old", json.dumps(doc))
    daemon = ours(redis, 1, base, base + 99, "--timeout=30")
    cleanup.push(_stopped(daemon))
    time.sleep(2.5)  # two timer ticks
    query = daemon.request({"command": "query", "call-id": "old"})
    assert query["result"] == "ok", query
    assert query["totals"]["RTP"]["packets"] == 7


def test_active_switchover_takes_over_on_media(redis, cleanup):
    active = ours(redis, 1, 22400, 22499)
    cleanup.push(_stopped(active))
    standby = ours(redis, 2, 22400, 22499, "--subscribe-keyspace=1", "--active-switchover",
                   interface="127.0.0.2")
    cleanup.push(_stopped(standby))
    call = MediaCall(active, "media-switch")
    cleanup.callback(call.close)
    redis.wait_for(1, lambda keys: "media-switch" in keys)
    want = local_ports(active.request({"command": "query", "call-id": "media-switch"}))
    deadline = time.monotonic() + 10
    while local_ports(_wait_query(standby, "media-switch")) != want:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kill9(active)
    assert redis.keys(2) == set()
    assert call.relays(relay_address="127.0.0.2")  # media now reaches the standby
    redis.wait_for(2, lambda keys: keys == {"media-switch"})


def test_password_as_rtpengine_spells_it(cleanup):
    server = RedisServer(password="s3cret")
    cleanup.callback(server.stop)
    daemon = ours(server, 1, 22200, 22299)
    cleanup.push(_stopped(daemon))
    call = MediaCall(daemon, "authed")
    cleanup.callback(call.close)
    server.wait_for(1, lambda keys: keys == {"authed"})
    server.password = "wrong"
    with pytest.raises(RuntimeError, match="Cannot start up without running Redis"):
        ours(server, 2, 22200, 22299)


def test_rtpengined_standby_follows_rtpengine_active(redis, cleanup):
    """A mixed cluster: rtpengine 10.5 active, rtpengined standby on another address."""
    ref = reference(redis, 5, 22100, 22199)
    cleanup.push(_stopped(ref))
    standby = ours(redis, 6, 22100, 22199, "--subscribe-keyspace=5", interface="127.0.0.2")
    cleanup.push(_stopped(standby))
    call = MediaCall(ref, "mixed")
    cleanup.callback(call.close)
    want = local_ports(ref.request({"command": "query", "call-id": "mixed"}))
    deadline = time.monotonic() + 10
    while local_ports(_wait_query(standby, "mixed")) != want:
        assert time.monotonic() < deadline, _wait_query(standby, "mixed")
        time.sleep(0.05)
    kill9(ref)
    assert call.relays(relay_address="127.0.0.2")
    assert redis.keys(6) == set()


def test_graceful_restart_keeps_the_calls(redis, cleanup):
    """SIGTERM releases the media but leaves the stored calls: a restart gets them back."""
    daemon = ours(redis, 1, 22000, 22099)
    cleanup.push(_stopped(daemon))
    call = MediaCall(daemon, "kept-over-restart")
    cleanup.callback(call.close)
    redis.wait_for(1, lambda keys: keys == {"kept-over-restart"})
    daemon.stop()
    assert redis.keys(1) == {"kept-over-restart"}
    daemon = ours(redis, 1, 22000, 22099)
    cleanup.push(_stopped(daemon))
    assert daemon.request({"command": "query", "call-id": "kept-over-restart"})["result"] == "ok"
    assert call.relays()


def _te_sdp(port: int) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")


def _te_call(daemon, call_id: str):
    """A and B with telephone-event 101; returns their sockets and the ports they send to."""
    a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for sock in (a, b):
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.3)
    ids = {"call-id": call_id, "from-tag": "A"}
    offer = daemon.request({"command": "offer", **ids, "sdp": _te_sdp(a.getsockname()[1])})
    answer = daemon.request({"command": "answer", **ids, "to-tag": "B",
                             "sdp": _te_sdp(b.getsockname()[1])})
    return a, b, _audio_port(answer["sdp"]), _audio_port(offer["sdp"])


def _blocks(document: dict) -> tuple:
    return (document["json"]["block_dtmf"], document["json"]["block_media"],
            *((document[f"tag-{i}"]["block_dtmf"], document[f"tag-{i}"]["block_media"])
              for i in range(2)))


def test_blocks_are_stored_as_rtpengine_stores_them(redis, cleanup):
    """``block DTMF`` (with its mode as 10.5's number) and ``block media`` of the call and
    of each party, in the document 10.5 writes after the next answer."""
    stored = []
    for start, db, low in ((reference, 7, 52600), (ours, 8, 52700)):
        daemon = start(redis, db, low, low + 99)
        cleanup.push(_stopped(daemon))
        a, b, _, _ = _te_call(daemon, "blocks")
        cleanup.callback(a.close)
        cleanup.callback(b.close)
        ids = {"call-id": "blocks", "from-tag": "A"}
        for message in ({"command": "block DTMF", **ids, "DTMF-security": "tone"},
                        {"command": "block media", "call-id": "blocks", "from-tag": "B"},
                        {"command": "block DTMF", "call-id": "blocks", "DTMF-security": "zero"},
                        {"command": "answer", **ids, "to-tag": "B",
                         "sdp": _te_sdp(b.getsockname()[1])}):
            assert daemon.request(message)["result"] == "ok"
        deadline = time.monotonic() + 10
        while (document := redis.document(db, "blocks")) is None or (
                _blocks(document)[2] == "0" and time.monotonic() < deadline):
            time.sleep(0.05)
        stored.append(_blocks(document))
        daemon.stop()
    assert stored[1] == stored[0] == ("5", "0", ("3", "0"), ("0", "1"))


def test_restored_call_keeps_its_dtmf_block(redis, cleanup):
    """A party's DTMF blocked before a crash stays blocked in the restored call: its
    telephone-event goes nowhere, its audio and the other party's events pass."""
    daemon = ours(redis, 9, 52800, 52899)
    cleanup.push(_stopped(daemon))
    a, b, to_b, to_a = _te_call(daemon, "blocked")
    cleanup.callback(a.close)
    cleanup.callback(b.close)
    assert daemon.request({"command": "block DTMF", "call-id": "blocked",
                           "from-tag": "A"})["result"] == "ok"
    redis.wait_for(9, lambda keys: "blocked" in keys)
    deadline = time.monotonic() + 10
    while redis.document(9, "blocked")["tag-0"]["block_dtmf"] != "1":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kill9(daemon)
    daemon = ours(redis, 9, 52800, 52899)
    cleanup.push(_stopped(daemon))
    event = struct.pack("!BBHII", 0x80 | 0x80, 101, 7, 960, 0x1234) + b"\x05\x0a\x00\xa0"
    audio = struct.pack("!BBHII", 0x80, 0, 8, 1120, 0x1234) + b"\xff" * 160
    reply = struct.pack("!BBHII", 0x80 | 0x80, 101, 9, 960, 0x4321) + b"\x06\x0a\x00\xa0"
    for _ in range(50):  # (the restored relay may need a moment)
        a.sendto(audio, ("127.0.0.1", to_b))
        try:
            if b.recv(2048) == audio:
                break
        except TimeoutError:
            pass
    else:
        raise AssertionError("the restored call does not relay")
    a.sendto(event, ("127.0.0.1", to_b))
    a.sendto(audio, ("127.0.0.1", to_b))
    assert b.recv(2048) == audio  # the event before it went nowhere
    b.sendto(reply, ("127.0.0.1", to_a))
    assert a.recv(2048) == reply


def _mid_sdp(port: int, mid: str | None) -> str:
    return _te_sdp(port) + (f"a=mid:{mid}\r\n" if mid else "")


def _media_ids(document: dict) -> dict:
    return {key: value.get("media_id") for key, value in document.items()
            if key.startswith("media-")}


def test_media_ids_are_stored_and_restored_as_rtpengine_does(redis, cleanup):
    """The a=mid each party's media keeps (10.5's ``media_id``: the offerer's, copied to
    the other side) is in the document as 10.5 writes it; rtpengined restoring rtpengine's
    document keeps it, so a re-offer from the other side without one still shows the
    offerer its own mid."""
    stored = []
    for start, db, low in ((reference, 9, 53000), (ours, 10, 53100)):
        daemon = start(redis, db, low, low + 99)
        cleanup.push(_stopped(daemon))
        ids = {"call-id": "mids", "from-tag": "A"}
        assert daemon.request({"command": "offer", **ids,
                               "sdp": _mid_sdp(2000, "a1")})["result"] == "ok"
        assert daemon.request({"command": "answer", **ids, "to-tag": "B",
                               "sdp": _mid_sdp(3000, None)})["result"] == "ok"
        deadline = time.monotonic() + 10
        while (document := redis.document(db, "mids")) is None or (
                "media-1" not in document and time.monotonic() < deadline):
            time.sleep(0.05)
        stored.append(_media_ids(document))
        if start is reference:
            kill9(daemon)
            daemon = ours(redis, db, low, low + 99)
            cleanup.push(_stopped(daemon))
        reoffer = daemon.request({"command": "offer", "call-id": "mids", "from-tag": "B",
                                  "to-tag": "A", "sdp": _mid_sdp(3000, None)})
        assert reoffer["result"] == "ok", reoffer
        assert "a=mid:a1\r\n" in reoffer["sdp"], reoffer["sdp"]
        daemon.stop()
    assert stored[1] == stored[0] == {"media-0": "a1", "media-1": "a1"}
