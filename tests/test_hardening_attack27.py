"""An outside attacker's pass (attack27): what the earlier hardening modules did not cover.

HTTP pipelining amplification: one 64 KiB read can hold hundreds of tiny pipelined
requests whose replies are each far larger (ng ``statistics``, CLI output). The daemon
used to parse and answer every request of a read into one buffer before writing any of it,
so a peer that never reads made it build and hold megabytes per connection until the send
deadline. Now a read is parsed a slice at a time and replies are written as they pile up:
a peer that does not read stops the answering at once.
"""

from __future__ import annotations

import socket

import trio
from hardening_helpers import ping
from http_helpers import start_web_daemon

from rtpengined.stats import NG_COMMAND_INDEX

IDLE = 2  # seconds: --http-idle-timeout (and so the send deadline) for these tests


def statistics_answered(core) -> int:
    return sum(entry.counts[NG_COMMAND_INDEX["statistics"]] for entry in core.stats.proxies.values())


async def test_pipelined_requests_of_a_peer_that_never_reads_are_not_all_answered(nursery):
    daemon = await start_web_daemon(nursery, http_idle_timeout=IDLE)
    host, port = daemon.address("http")[:2]
    body = b"d7:command10:statisticse"
    requests = b"".join(
        b"POST /ng-plain HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-rtpengine-ng\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body) for _ in range(400))
    assert len(requests) < 65536  # one read of the daemon's
    reply_size = len(daemon.core.handle_ng_plain(body, ("127.0.0.1", 9))[0])
    assert reply_size > 3000  # 400 replies: over a megabyte held for a peer that never reads
    before = statistics_answered(daemon.core)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    try:
        sock.connect((host, port))
        sock.sendall(requests)
        await trio.sleep(IDLE + 1)  # past the send deadline: the connection is given up
        answered = statistics_answered(daemon.core) - before
        # What fits in the sockets' buffers is answered, not the whole read.
        assert 0 < answered < 200, answered
        assert await ping(daemon.address("udp-ng"))
    finally:
        sock.close()


async def test_pipelined_requests_over_several_slices_then_an_upgrade_in_one_send(nursery):
    """Parsing a read a slice at a time loses nothing: requests across slice ends, and the
    WebSocket frames that follow an upgrade in the same read, are all answered."""
    daemon = await start_web_daemon(nursery, http_idle_timeout=IDLE)
    host, port = daemon.address("http")[:2]
    pings = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n" * 300
    assert len(pings) > 8192
    upgrade = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Protocol: ng.rtpengine.com\r\n\r\n")
    payload = b"w1 d7:command4:pinge"
    key = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | len(payload)]) + key + bytes(
        byte ^ key[index % 4] for index, byte in enumerate(payload))
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(pings + upgrade + frame + frame)
        got = b""
        with trio.fail_after(5):
            while got.count(b"w1 d6:result4:ponge") < 2:
                data = await stream.receive_some(65536)
                assert data, got[-200:]
                got += data
    assert got.count(b"\r\n\r\npong\n") == 300
    assert b"101 Switching Protocols" in got


def masked_text(payload: bytes) -> bytes:
    key = b"\x01\x02\x03\x04"
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + key + bytes(
        byte ^ key[index % 4] for index, byte in enumerate(payload))


async def test_websocket_requests_of_a_peer_that_never_reads_are_not_all_answered(nursery):
    """As over HTTP: 1,500 ng ``statistics`` frames of ~34 bytes in one read asked for ~11 MB of
    replies, all built before the first was written (12 MiB of RSS per such peer)."""
    daemon = await start_web_daemon(nursery, http_idle_timeout=IDLE)
    host, port = daemon.address("http")[:2]
    upgrade = (b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Protocol: ng.rtpengine.com\r\n\r\n")
    def frames(round: int) -> bytes:  # cookies of their own: a repeated one is answered from the cache
        return b"".join(masked_text(b"s%d_%d d7:command10:statisticse" % (round, index))
                        for index in range(1500))[:60000]

    before = statistics_answered(daemon.core)
    for first, rest in ((upgrade + frames(1), b""), (upgrade, frames(2))):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        try:
            sock.connect((host, port))
            sock.sendall(first)  # the frames in the upgrade's read, then in reads of their own
            if rest:
                await trio.sleep(0.2)
                sock.sendall(rest)
            await trio.sleep(IDLE + 1)  # past the send deadline: the connection is given up
            answered = statistics_answered(daemon.core) - before
            assert 0 < answered < 400, answered
            before += answered
            assert await ping(daemon.address("udp-ng"))
        finally:
            sock.close()
