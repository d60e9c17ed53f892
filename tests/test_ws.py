"""WebSocket subprotocols on the HTTP port, with trio-websocket and the `websockets` package as clients."""

from __future__ import annotations

import base64
import os
import ssl
import sys

import pytest
import trio
from http_helpers import (
    fresh_cookie,
    make_self_signed,
    raw_exchange,
    server_socket_states,
    start_web_daemon,
    wait_for,
)
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from rtpengined.config import ListenAddress
from transports.http import open_client

from conftest import udp_request


@pytest.fixture
def make_daemon(nursery):
    """Web-port tests run over a core with the null media plane (see ``start_web_daemon``)."""

    async def start(**overrides):
        return await start_web_daemon(nursery, **overrides)

    return start


@pytest.fixture
async def daemon(make_daemon):
    return await make_daemon()


def ws_url(daemon, path: str = "/", scheme: str = "ws", transport: str = "http") -> str:
    host, port = daemon.address(transport)[:2]
    return f"{scheme}://{host}:{port}{path}"


def handshake(subprotocol: str | None, path: bytes = b"/") -> bytes:
    key = base64.b64encode(os.urandom(16))
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: x", b"Upgrade: websocket", b"Connection: Upgrade",
             b"Sec-WebSocket-Key: " + key, b"Sec-WebSocket-Version: 13"]
    if subprotocol:
        lines.append(b"Sec-WebSocket-Protocol: " + subprotocol.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def test_cli_subprotocol_replies_as_binary_frames(daemon):
    core = daemon.core
    async with open_websocket_url(ws_url(daemon, "/any/path"), subprotocols=["cli.rtpengine.com"]) as ws:
        assert ws.subprotocol == "cli.rtpengine.com"
        for command in ("list maxsessions", "list numsessions", "bogus", "", "list+maxsessions"):
            await ws.send_message(command)
            reply = await ws.get_message()
            assert isinstance(reply, bytes)
            assert reply == core.handle_cli(command).encode()
        # binary frames carry commands too; no URL decoding over WebSocket
        await ws.send_message(b"list sessions a%2Bb")
        assert await ws.get_message() == core.handle_cli("list sessions a%2Bb").encode()


async def test_cli_empty_output_sends_no_frame(daemon):
    daemon.core.handle_cli = lambda line: "" if line == "params diff" else f"out:{line}\n"
    async with open_websocket_url(ws_url(daemon), subprotocols=["cli.rtpengine.com"]) as ws:
        await ws.send_message("params diff")
        await ws.send_message("next")
        assert await ws.get_message() == b"out:next\n"  # the empty output produced no frame


async def test_handshake_reply_names_the_subprotocol(daemon):
    reply, _ = await raw_exchange(daemon.address("http"), handshake("cli.rtpengine.com"), timeout=0.5)
    head = reply.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 101 ")
    assert b"\r\nsec-websocket-protocol: cli.rtpengine.com" in head
    assert b"\r\nupgrade: websocket" in head


@pytest.mark.parametrize("subprotocol", [None, "janus-protocol-v2", "bogus.rtpengine.com"])
async def test_unknown_or_missing_subprotocol_is_refused_with_http_error(daemon, subprotocol):
    reply, closed = await raw_exchange(daemon.address("http"), handshake(subprotocol), timeout=5)
    assert reply.startswith(b"HTTP/1.1 403 ")
    with pytest.raises(ConnectionRejected):
        async with open_websocket_url(ws_url(daemon), subprotocols=[subprotocol] if subprotocol else []):
            pass
    reply, _ = await raw_exchange(daemon.address("http"), b"GET /ping HTTP/1.0\r\n\r\n")
    assert reply.endswith(b"pong\n")


async def test_echo_replies_binary_even_for_text_and_empty(daemon):
    async with open_websocket_url(ws_url(daemon), subprotocols=["echo.rtpengine.com"]) as ws:
        for message, expected in (("hello", b"hello"), (b"\x00\xffbin", b"\x00\xffbin"), (b"", b""),
                                  ("caf\u00e9", "caf\u00e9".encode())):
            await ws.send_message(message)
            assert await ws.get_message() == expected


async def test_ng_over_websocket_equals_udp(daemon):
    requests = [b"d7:command4:pinge", b'{"command":"ping"}', b"d7:command5:query7:call-id6:nosuche",
                b"d7:command5:bogusee", b"l4:spame", b""]
    async with open_websocket_url(ws_url(daemon), subprotocols=["ng.rtpengine.com"]) as ws:
        for payload in requests:
            udp_cookie, ws_cookie = fresh_cookie("u"), fresh_cookie("w")
            udp = await udp_request(daemon.address("udp-ng"), udp_cookie + b" " + payload)
            await ws.send_message((ws_cookie + b" " + payload).decode())  # a text frame
            reply = await ws.get_message()
            assert isinstance(reply, bytes)
            assert reply.split(b" ", 1) == [ws_cookie, udp.split(b" ", 1)[1]], payload


async def test_twenty_pipelined_ng_requests_all_answered(daemon):
    cookies = [fresh_cookie("p") for _ in range(20)]
    async with open_websocket_url(ws_url(daemon), subprotocols=["ng.rtpengine.com"]) as ws:
        for cookie in cookies:
            await ws.send_message(cookie + b" d7:command4:pinge")
        replies = [await ws.get_message() for _ in cookies]
    assert sorted(replies) == sorted(cookie + b" d6:result4:ponge" for cookie in cookies)


WEBSOCKETS_CLIENT = """
import asyncio, json, sys
import websockets

async def main(url, cli_expected):
    async with websockets.connect(url, subprotocols=["ng.rtpengine.com"]) as ws:
        assert ws.subprotocol == "ng.rtpengine.com"
        cookies = [b"wsp%d" % i for i in range(5)]
        for cookie in cookies:
            await ws.send(cookie + b" d7:command4:pinge")
        for cookie in cookies:
            assert await ws.recv() == cookie + b" d6:result4:ponge"
    async with websockets.connect(url, subprotocols=["cli.rtpengine.com"]) as ws:
        await ws.send("list maxsessions")
        assert await ws.recv() == cli_expected.encode()
    try:
        async with websockets.connect(url, subprotocols=["nope"]):
            raise SystemExit("unknown subprotocol accepted")
    except websockets.exceptions.InvalidStatus as exc:
        assert exc.response.status_code == 403
    print("ok")

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_ng_and_cli_with_the_websockets_package(daemon):
    # `websockets` is asyncio-only: it runs in its own interpreter against our daemon.
    result = await trio.run_process(
        [sys.executable, "-c", WEBSOCKETS_CLIENT, ws_url(daemon), daemon.core.handle_cli("list maxsessions")],
        capture_stdout=True, capture_stderr=True, check=False)
    assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr.decode()


async def test_ng_plain_subprotocol(daemon):
    async with open_websocket_url(ws_url(daemon), subprotocols=["ng-plain.rtpengine.com"]) as ws:
        await ws.send_message(b"d7:command4:pinge")
        assert await ws.get_message() == b"d6:result4:ponge"
        await ws.send_message('{"command":"ping"}')
        assert await ws.get_message() == b'{"result":"pong"}'


async def test_client_close_is_answered_with_1000(daemon):
    async with open_websocket_url(ws_url(daemon), subprotocols=["cli.rtpengine.com"]) as ws:
        await ws.aclose(1000)
        assert ws.closed.code == 1000


async def frames_after_handshake(address: tuple, subprotocol: str, frames: bytes) -> tuple[bytes, bool]:
    """Handshake, wait for the 101, send raw frame bytes; return what followed and whether it closed."""
    stream = await trio.open_tcp_stream(address[0], address[1])
    async with stream:
        await stream.send_all(handshake(subprotocol))
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(4096)
        assert head.startswith(b"HTTP/1.1 101 ")
        rest = head.split(b"\r\n\r\n", 1)[1]
        await stream.send_all(frames)
        with trio.move_on_after(5):
            while chunk := await stream.receive_some(4096):
                rest += chunk
            return rest, True
    return rest, False


async def test_bad_frames_close_the_connection_and_the_daemon_keeps_serving(daemon):
    address = daemon.address("http")
    # invalid UTF-8 in a text frame (masked with a zero key) → close 1007
    reply, closed = await frames_after_handshake(address, "cli.rtpengine.com",
                                                 b"\x81\x82\x00\x00\x00\x00\xff\xfe")
    assert closed and reply.startswith(b"\x88\x02\x03\xef")
    # unmasked client frame, reserved opcode, junk → close 1002 (protocol error)
    for garbage in (b"\x81\x05hello", b"\x83\x80\x00\x00\x00\x00", b"\xff" * 64):
        reply, closed = await frames_after_handshake(address, "echo.rtpengine.com", garbage)
        assert closed and reply.startswith(b"\x88\x02\x03\xea"), garbage
    # a bad frame in the same segment as the handshake: 101, then close 1002 (a good one is
    # served: tests/test_http_limits.py)
    reply, closed = await raw_exchange(address, handshake("echo.rtpengine.com") + b"\x81\x05hello")
    assert closed and reply.startswith(b"HTTP/1.1 101 ") and reply.endswith(b"\r\n\r\n\x88\x02\x03\xea")
    # a message above the 1 MiB cap → close 1009
    async with open_websocket_url(ws_url(daemon), subprotocols=["echo.rtpengine.com"],
                                  max_message_size=4 * 1024 * 1024) as ws:
        with pytest.raises(ConnectionClosed) as closed_info:  # the close may beat the end of sending
            await ws.send_message(b"x" * (2 * 1024 * 1024))
            await ws.get_message()
        assert closed_info.value.reason.code == 1009
    async with open_websocket_url(ws_url(daemon), subprotocols=["echo.rtpengine.com"]) as ws:
        await ws.send_message(b"still here")
        assert await ws.get_message() == b"still here"


async def test_idle_websocket_is_closed(make_daemon):
    daemon = await make_daemon(http_idle_timeout=1)
    async with open_websocket_url(ws_url(daemon), subprotocols=["cli.rtpengine.com"]) as ws:
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed_info:
            await ws.get_message()
        assert closed_info.value.reason.code == 1000
    port = daemon.address("http")[1]
    assert await wait_for(lambda: "CLOSE_WAIT" not in server_socket_states(port))


async def test_shutdown_sends_close_frames(nursery):
    scope = trio.CancelScope()

    async def run(task_status):
        with scope:
            async with trio.open_nursery() as servers:
                task_status.started(await start_web_daemon(servers))

    daemon = await nursery.start(run)
    async with open_websocket_url(ws_url(daemon), subprotocols=["ng.rtpengine.com"]) as ws:
        cookie = fresh_cookie()
        await ws.send_message(cookie + b" d7:command4:pinge")
        assert await ws.get_message() == cookie + b" d6:result4:ponge"
        scope.cancel()
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed_info:
            await ws.get_message()
        assert closed_info.value.reason.code == 1001


async def test_wss_with_self_signed_certificate(make_daemon, tmp_path):
    cert, key = make_self_signed(str(tmp_path))
    daemon = await make_daemon(listen_https=[ListenAddress("127.0.0.1", 0)], https_cert=cert, https_key=key)
    context = ssl.create_default_context(cafile=cert)
    async with open_websocket_url(ws_url(daemon, scheme="wss", transport="https"), ssl_context=context,
                                  subprotocols=["ng.rtpengine.com"]) as ws:
        cookie = fresh_cookie()
        await ws.send_message(cookie + b" d7:command4:pinge")
        assert await ws.get_message() == cookie + b" d6:result4:ponge"
    async with open_client(ws_url(daemon, scheme="wss", transport="https"), kind="cli", cacert=cert) as client:
        assert await client.request(b"list maxsessions") == daemon.core.handle_cli("list maxsessions").encode()


# -- client side ----------------------------------------------------------------------------


async def test_ws_ng_client_matches_replies_by_cookie_with_many_in_flight(daemon):
    async with open_client(ws_url(daemon), kind="ng") as client:
        results: dict[bytes, bytes] = {}

        async def one(cookie: bytes) -> None:
            results[cookie] = await client.request(cookie + b" d7:command4:pinge")

        cookies = [fresh_cookie("c") for _ in range(20)]
        async with trio.open_nursery() as requests:
            for cookie in cookies:
                requests.start_soon(one, cookie)
    assert results == {cookie: cookie + b" d6:result4:ponge" for cookie in cookies}


async def test_ws_cli_client_handles_empty_output(daemon):
    core = daemon.core
    real = core.handle_cli
    core.handle_cli = lambda line: "" if line == "params diff" else real(line)
    async with open_client(ws_url(daemon), kind="cli") as client:
        assert await client.request(b"params diff") == b""
        assert await client.request(b"list maxsessions") == real("list maxsessions").encode()
