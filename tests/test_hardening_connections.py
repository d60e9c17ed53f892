"""Connections that misbehave: half messages (slowloris), clients that vanish, thousands of
idle connections, oversized messages on every transport. The daemon keeps answering
others, frees what the bad clients held and bounds what it buffers for them."""

from __future__ import annotations

import select
import socket

import pytest
import trio
from hardening_helpers import count_fds, ping
from http_helpers import fresh_cookie, raw_exchange, split_response, start_web_daemon, wait_for
from trio_websocket import ConnectionClosed, open_websocket_url

import transports.cli_tcp
from rtpengined.config import ListenAddress
from transports.http_app import MAX_BODY
from transports.tcp_ng import MAX_PENDING

from conftest import udp_request

IDLE = 1  # seconds: --http-idle-timeout, and the CLI's idle limit, for these tests


@pytest.fixture
async def web(nursery, monkeypatch):
    """UDP ng, TCP ng, CLI and HTTP listeners over one core (null media plane)."""
    monkeypatch.setattr(transports.cli_tcp, "IDLE_TIMEOUT", float(IDLE))
    daemon = await start_web_daemon(nursery, http_idle_timeout=IDLE)
    tcp = transports.load_all()["tcp-ng"]
    daemon.addresses["tcp-ng"] = [await nursery.start(tcp.serve, daemon.core, ListenAddress("127.0.0.1", 0))]
    return daemon


async def closed_by_server(stream: trio.SocketStream, timeout: float = 10) -> bool:
    """Read until EOF/reset; True when the server closed (bounded wait, not a timing check)."""
    with trio.move_on_after(timeout):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


async def serves_everyone(daemon) -> None:
    """Ping over UDP and TCP ng, a CLI command and an HTTP request all answered."""
    assert await ping(daemon.address("udp-ng"))
    stream = await trio.open_tcp_stream(*daemon.address("tcp-ng")[:2])
    async with stream:
        await stream.send_all(b"t1 d7:command4:pinge")
        with trio.fail_after(5):
            assert await stream.receive_some(100) == b"t1 d6:result4:ponge"
    from cli_helpers import cli

    assert (await cli(daemon.address("cli"), "list numsessions")).startswith("Current sessions")
    host, port = daemon.address("http")[:2]
    raw, _ = await raw_exchange((host, port), b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert raw.endswith(b"pong\n")


HALF_MESSAGES = {
    "tcp-ng": b"h1 d7:command4:pi",
    "cli": b"list tot",
    "http": b"GET /cli/list+totals HTTP/1.1\r\nHost: x\r\n",
    "http-body": (b"POST /ng HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-rtpengine-ng\r\n"
                  b"Content-Length: 100\r\n\r\nh1 d7:comm"),
    "http-plain-body": (b"POST /ng-plain HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"comm"),
    "ws-upgrade": b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
}


def transport_of(kind: str) -> str:
    return {"tcp-ng": "tcp-ng", "cli": "cli"}.get(kind, "http")


@pytest.mark.parametrize("kind", [k for k in HALF_MESSAGES if k != "tcp-ng"])
async def test_half_message_then_silence_is_timed_out(web, kind):
    """CLI, HTTP and WS drop a client that sends part of a message and then nothing."""
    stream = await trio.open_tcp_stream(*web.address(transport_of(kind))[:2])
    async with stream:
        await stream.send_all(HALF_MESSAGES[kind])
        await serves_everyone(web)
        assert await closed_by_server(stream)


async def test_half_websocket_frame_then_silence_is_timed_out(web):
    host, port = web.address("http")[:2]
    async with open_websocket_url(f"ws://{host}:{port}/", subprotocols=["ng.rtpengine.com"]) as ws:
        stream = ws._stream  # write half a masked frame under the library
        await stream.send_all(b"\x82\x85\x00\x00\x00\x00ab")
        await serves_everyone(web)
        with trio.fail_after(10), pytest.raises(ConnectionClosed):
            await ws.get_message()


@pytest.mark.parametrize("kind", list(HALF_MESSAGES))
async def test_half_message_then_vanish_frees_the_connection(web, kind):
    """Every transport: clients that send half a message and disconnect leave nothing behind."""
    baseline = count_fds()
    streams = []
    for _ in range(20):
        stream = await trio.open_tcp_stream(*web.address(transport_of(kind))[:2])
        await stream.send_all(HALF_MESSAGES[kind])
        streams.append(stream)
    await serves_everyone(web)
    assert count_fds() >= baseline + 40  # our 20 ends and the daemon's 20
    for stream in streams:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")  # RST
        await stream.aclose()
    assert await wait_for(lambda: count_fds() <= baseline, timeout=10), (count_fds(), baseline)
    await serves_everyone(web)


async def test_tcp_ng_keeps_an_idle_half_message_but_bounds_it(web):
    """Like rtpengine, TCP ng keeps a silent connection; a partial message over 1 MiB closes it."""
    stream = await trio.open_tcp_stream(*web.address("tcp-ng")[:2])
    async with stream:
        await stream.send_all(HALF_MESSAGES["tcp-ng"])
        with trio.move_on_after(IDLE * 2):
            await stream.receive_some(100)
            raise AssertionError("the daemon answered or closed a silent TCP ng connection")
        await stream.send_all(b"ng\x65")  # completes "d7:command4:ping" + "e"
        with trio.fail_after(5):
            assert await stream.receive_some(100) == b"h1 d6:result4:ponge"
        await stream.send_all(b"h2 d7:padding%d:" % (2 * MAX_PENDING))
        try:
            for _ in range(MAX_PENDING // 65536 + 2):
                await stream.send_all(b"x" * 65536)
        except trio.BrokenResourceError:
            pass
        assert await closed_by_server(stream)
    await serves_everyone(web)


async def test_thousands_of_idle_connections_while_ping_answers(web):
    """2000 idle connections across TCP ng, CLI and HTTP (each end in this process)."""
    streams = []
    kinds = ["tcp-ng", "cli", "http"]
    for index in range(2000):
        streams.append(await trio.open_tcp_stream(*web.address(kinds[index % 3])[:2]))
        if index % 500 == 0:
            assert await ping(web.address("udp-ng"))
    await serves_everyone(web)
    for stream in streams:
        await stream.aclose()
    await serves_everyone(web)


@pytest.mark.parametrize("kind", ["tcp-ng", "cli", "http"])
async def test_a_burst_of_connections_waits_in_the_listen_backlog(web, kind):
    """A burst of 600 clients (a proxy's pool reconnecting) all get their connection from
    the kernel at once, none waits for a SYN retry a second later (a backlog of 128 let
    129 through), and all are then served."""
    host, port = web.address(kind)[:2]
    burst = []
    try:
        for _ in range(600):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex((host, port))
            burst.append(sock)
        # Nothing here yields to trio, so the daemon accepts none of them yet: every
        # connection the kernel completed waits in the listen backlog (on loopback the
        # handshake is done within the connect; a dropped SYN leaves it in SYN-SENT).
        select.select([], burst[-1:], [], 0.2)
        connected = 0
        for sock in burst:
            try:
                sock.getpeername()
                connected += 1
            except OSError:
                pass
        assert connected == len(burst)
    finally:
        for sock in burst:
            sock.close()
    await serves_everyone(web)


# -- size limits ---------------------------------------------------------------------------


async def test_udp_datagram_of_64k_is_answered(web):
    padding = 65507 - len(b"u1 d7:command4:ping7:padding65000:e") - 5
    message = b"u1 d7:command4:ping7:padding%d:%se" % (padding, b"p" * padding)
    assert len(message) <= 65507
    reply = await udp_request(web.address("udp-ng"), message)
    assert reply == b"u1 d6:result4:ponge"


async def test_cli_line_limit_closes_without_reply(web):
    raw, closed = await raw_exchange(web.address("cli"), b"list totals" + b" " * 2000)
    assert (raw, closed) == (b"", True)
    await serves_everyone(web)


async def test_http_body_over_1mib_is_refused(web):
    host, port = web.address("http")[:2]
    for target, content_type in ((b"/ng", b"application/x-rtpengine-ng"), (b"/ng-plain", b"application/json")):
        head = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                % (target, content_type, MAX_BODY + 1))
        raw, _ = await raw_exchange((host, port), head + b"c" * (MAX_BODY + 1))
        status, _, _ = split_response(raw)
        assert status.startswith(b"HTTP/1.1 413 "), (target, raw[:200])
    # chunked, no length given
    head = b"POST /ng HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-rtpengine-ng\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (65536, b"c" * 65536)
    raw, _ = await raw_exchange((host, port), head + chunk * (MAX_BODY // 65536 + 2) + b"0\r\n\r\n")
    assert split_response(raw)[0].startswith(b"HTTP/1.1 413 "), raw[:200]
    # a header block that never ends
    raw, closed = await raw_exchange((host, port), b"GET /ping HTTP/1.1\r\n" + b"X-A: b\r\n" * 20000)
    assert closed and not raw.endswith(b"pong\n")
    await serves_everyone(web)


async def test_websocket_message_over_1mib_is_closed_1009(web):
    host, port = web.address("http")[:2]
    async with open_websocket_url(f"ws://{host}:{port}/", subprotocols=["ng.rtpengine.com"],
                                  max_message_size=4 * MAX_BODY) as ws:
        cookie = fresh_cookie()
        await ws.send_message(cookie + b" d7:command4:ping7:padding%d:%se" % (MAX_BODY, b"p" * MAX_BODY))
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason.code == 1009
    await serves_everyone(web)
