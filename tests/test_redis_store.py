"""The call store in-process against a real redis-server: what it counts through an outage.

(The subprocess tests in ``test_redis_daemon`` check the behaviour from outside; here the
store's own counters are read: skipped writes while Redis is down, writes after it is back.)
"""

from __future__ import annotations

import trio

from tests.test_ng_calls_udp import ng, sdp_body


async def _wait(predicate, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.02)


async def test_outage_skips_writes_then_writes_the_latest_state(make_daemon, redis):
    daemon = await make_daemon(port_min=22000, port_max=22099, redis=redis.address(1), delete_delay=0,
                               redis_connect_timeout=200, redis_cmd_timeout=200)
    store = daemon.core.store
    await ng(daemon, command="offer", sdp=sdp_body(2000), **{"call-id": "s1", "from-tag": "a"})
    await _wait(lambda: store.counters.written >= 1)
    redis.kill()
    await ng(daemon, command="offer", sdp=sdp_body(2000), **{"call-id": "s2", "from-tag": "a"})
    await _wait(lambda: store.counters.errors >= 1)
    for n in range(3):  # noted while Redis is down: counted, kept pending (coalesced)
        await ng(daemon, command="offer", sdp=sdp_body(2000 + 2 * n),
                 **{"call-id": "s2", "from-tag": "a"})
    assert store.counters.skipped >= 1
    # A call that begins and ends during the outage leaves nothing pending (memory stays
    # bounded by the live calls however long Redis is away).
    await ng(daemon, command="offer", sdp=sdp_body(2000), **{"call-id": "s3", "from-tag": "a"})
    await ng(daemon, command="delete", **{"call-id": "s3"})
    assert "s3" not in store._pending
    written = store.counters.written
    await trio.to_thread.run_sync(redis.start)
    await _wait(lambda: store.counters.written > written)
    keys = await trio.to_thread.run_sync(redis.keys, 1)
    assert keys == {"s2"}  # the server came back empty; s2 changed during the outage
    doc = await trio.to_thread.run_sync(redis.document, 1, "s2")
    advertised = {v["advertised_endpoint"] for k, v in doc.items() if k.startswith("stream-")}
    assert "192.0.2.10:2004" in advertised  # the last offer's state, not the first


async def test_without_redis_the_store_is_the_null_one(make_daemon):
    daemon = await make_daemon(subscribe_keyspace=[4])
    assert type(daemon.core.store).__name__ == "NullCallStore"
    assert daemon.core.store.keyspaces() == [4]


async def test_cli_redis_settings_reach_the_store(make_daemon, redis):
    daemon = await make_daemon(port_min=22000, port_max=22099, redis=redis.address(1),
                               redis_allowed_errors=2)
    core = daemon.core
    assert "redis_allowed_errors = 2" in core.handle_cli("params start")
    assert core.handle_cli("set rediscmdtimeout 250") == "Success setting redis-cmd-timeout to 250\n"
    core.handle_cli("set redisdisabletime 3")
    settings = core.store.settings
    assert (settings.cmd_timeout_ms, settings.disable_time, settings.allowed_errors) == (250, 3, 2)
