"""A short soak (the long one is ``bench/soak.py``): lifecycles leave no calls, no ports
and a bounded reply cache behind; the cache drops its entries once they have aged out."""

from __future__ import annotations

from hardening_helpers import ng, sdp

from rtpengined.model import Endpoint
from rtpengined.protocol.ngcodec import ReplyCache


async def test_lifecycles_leave_no_calls_and_no_ports(make_daemon):
    daemon = await make_daemon(port_min=43500, port_max=43599, delete_delay=0)
    address, core = daemon.address("udp-ng"), daemon.core
    for index in range(300):  # 300 × 4 ports: the 100-port range is reused many times over
        call_id = f"soak-{index}"
        offer = {"command": "offer", "call-id": call_id, "from-tag": "a",
                 "sdp": sdp(Endpoint("127.0.0.1", 2000))}
        # The previous call's ports are free as soon as its delete answered, even while the
        # relay worker still holds its copy of the sockets: no retry.
        reply = await ng(address, offer)
        assert reply["result"] == "ok", (index, reply)
        for message in ({"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
                         "sdp": sdp(Endpoint("127.0.0.1", 4000))},
                        {"command": "delete", "call-id": call_id, "from-tag": "a"}):
            reply = await ng(address, message)
            assert reply["result"] == "ok", (index, reply)
    assert core.calls.calls == {}
    assert sum(pool.used for pool in core.calls.port_pools) == 0
    assert "Ports used:     0 /" in core.handle_cli("list interfaces")
    assert len(core.cache) <= 1000  # this test's requests (and offer retries), nothing more


def test_reply_cache_returns_to_idle_after_two_lifetimes():
    now = [0.0]
    cache = ReplyCache(lifetime=30, clock=lambda: now[0])
    for index in range(10_000):
        cache.put(b"c%d" % index, b"d6:result2:oke")
    assert len(cache) == 10_000
    for _ in range(2):
        now[0] += 31
        cache.get(b"nothing")  # rotation happens on lookup
    assert len(cache) == 0


def test_reply_cache_bytes_are_bounded():
    cache = ReplyCache(max_bytes=100_000)
    for index in range(10_000):
        cache.put(b"c%d" % index, b"x" * 1000)
    assert len(cache) * 1000 <= 2 * 100_000 + 2000
