"""Issue 13: connections reset before they are served, slow framing attacks, slow readers.

Each test runs the daemon as a subprocess where survival is the point, attacks one
listener over real sockets, then checks the daemon still answers on every port and that
a call made before the attack still has its ports and relays media.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
import trio
from cli_helpers import cli
from hardening_helpers import call_shape, daemon_process, live_call, ng, ping

MEDIA = ["-m", "43100", "-M", "43199", "--relay-workers=1", "--delete-delay=0"]
RESETS = 1000  # the crash took about 130; rtpengine 10.5 survives 3,000 on every port


@pytest.fixture(scope="module")
def proc():
    daemon = daemon_process(*MEDIA)
    try:
        yield daemon
    finally:
        code, err = daemon.stop()
    assert code == 0 and "Traceback" not in err, err


@pytest.fixture
async def call(proc):
    address = ("127.0.0.1", proc.ng_port)
    live = await live_call(address, f"r2-{time.monotonic()}")
    live.shape = call_shape(await ng(address, {"command": "query", "call-id": live.call_id}))
    try:
        await live.relays(seq=1)
        yield live
    finally:
        live.close()
    if proc.proc.poll() is None:
        await ng(address, {"command": "delete", "call-id": live.call_id})


async def check_intact(proc, call) -> None:
    """The daemon lives, answers ng (UDP and TCP), CLI and HTTP; the call is unchanged."""
    address = ("127.0.0.1", proc.ng_port)
    assert proc.proc.poll() is None, "daemon died"
    assert await ping(address)
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", proc.ng_port)
        async with stream:
            await stream.send_all(b"t1 d7:command4:pinge")
            assert await stream.receive_some(100) == b"t1 d6:result4:ponge"
    assert (await cli(("127.0.0.1", proc.cli_port), "list numsessions")).startswith("Current")
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", proc.http_port)
        async with stream:
            await stream.send_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := await stream.receive_some(4096):
                reply += chunk
    assert reply.endswith(b"pong\n"), reply
    shape = call_shape(await ng(address, {"command": "query", "call-id": call.call_id}))
    assert shape == call.shape
    await call.relays(seq=100)


def connect_and_reset(port: int, count: int) -> int:
    """``count`` connections that reset at once (SO_LINGER 0, then close). Returns how many
    connected (the listen backlog may refuse some while the daemon is busy)."""
    linger = struct.pack("ii", 1, 0)
    connected = 0
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            sock.settimeout(5)
            sock.connect(("127.0.0.1", port))
            connected += 1
        except OSError:
            pass
        finally:
            sock.close()
    return connected


@pytest.mark.parametrize("listener", ["ng_port", "cli_port", "http_port"])
async def test_connections_reset_before_served_end_nothing(proc, call, listener):
    """Issue 13 item 1: a reset connection made getpeername() raise ENOTCONN in the TCP ng
    handler, outside any handler, and that ended the daemon."""
    port = getattr(proc, listener)
    connected = await trio.to_thread.run_sync(connect_and_reset, port, RESETS)
    assert connected > RESETS // 2
    await check_intact(proc, call)
