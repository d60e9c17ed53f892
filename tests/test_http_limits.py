"""The web server's limits and deadlines (issue 13): access decided by what is served, peers
that do not read, TLS handshakes that never finish, a WebSocket frame in the upgrade's
segment, Content-Length with Transfer-Encoding, the 64 KiB header block. Real sockets; a
subprocess daemon where surviving (or stopping) is the point."""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import ssl
import subprocess

import pytest
import trio
from hardening_helpers import count_fds, daemon_process
from http_helpers import make_self_signed, raw_exchange, split_response, start_web_daemon, wait_for

from rtpengined.config import ListenAddress

TOKEN = "s3cret-token"
IDLE = 1


def handshake(subprotocol: str, path: bytes = b"/", extra: bytes = b"") -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: " + subprotocol.encode() + b"\r\n" + extra + b"\r\n")


def frame(payload: bytes) -> bytes:
    """A masked client text frame (mask key 0: the payload bytes stay as they are)."""
    size = len(payload)
    head = bytes((0x81, 0x80 | size)) if size < 126 else bytes((0x81, 0xFE)) + size.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload


def no_tracebacks(caplog) -> None:
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert not tracebacks, [record.getMessage() for record in tracebacks]


# -- 2: the token exemption follows the route, not the path -------------------------------


@pytest.mark.parametrize("path", [b"/ping", b"/metrics", b"/ping/", b"/metrics?x=1", b"/%70ing"])
@pytest.mark.parametrize("subprotocol", ["cli.rtpengine.com", "ng.rtpengine.com"])
async def test_websocket_on_an_open_path_still_needs_the_token(nursery, path, subprotocol):
    daemon = await start_web_daemon(nursery, http_auth_token=TOKEN)
    address = daemon.address("http")
    reply, closed = await raw_exchange(address, handshake(subprotocol, path) + frame(b"list numsessions"),
                                       timeout=5)
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
    assert closed
    authorized = handshake(subprotocol, path, b"Authorization: Bearer " + TOKEN.encode() + b"\r\n")
    reply, _ = await raw_exchange(address, authorized, timeout=0.5)
    assert reply.startswith(b"HTTP/1.1 101 ")
    # and the open routes themselves stay open
    reply, _ = await raw_exchange(address, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.endswith(b"pong\n")


# -- 3: peers that do not read their replies ----------------------------------------------


async def fill_without_reading(stream: trio.SocketStream, chunk: bytes, seconds: float = 20) -> None:
    """Send ``chunk`` over and over, never reading, until the daemon stops taking it (or hangs up)."""
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with trio.move_on_after(seconds):
        try:
            while True:
                with trio.move_on_after(0.5) as stalled:
                    await stream.send_all(chunk)
                if stalled.cancelled_caught:
                    return  # both directions are full: the daemon waits on us
        except trio.BrokenResourceError:
            return


async def test_websocket_peer_that_never_reads_is_closed(nursery):
    daemon = await start_web_daemon(nursery, http_idle_timeout=IDLE)
    host, port = daemon.address("http")[:2]
    baseline = count_fds()
    stream = await trio.open_tcp_stream(host, port)
    await stream.send_all(handshake("ng.rtpengine.com"))
    batch = b"".join(frame(b"c%d d7:command4:pinge" % n) for n in range(2000))
    await fill_without_reading(stream, batch)
    # we keep our end open and never read: the daemon's end goes all the same
    assert await wait_for(lambda: count_fds() <= baseline + 1, timeout=10), (count_fds(), baseline)
    await stream.aclose()


async def test_pipelining_peer_that_never_reads_is_closed(nursery):
    daemon = await start_web_daemon(nursery, http_idle_timeout=IDLE)
    host, port = daemon.address("http")[:2]
    baseline = count_fds()
    stream = await trio.open_tcp_stream(host, port)
    await fill_without_reading(stream, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
    assert await wait_for(lambda: count_fds() <= baseline + 1, timeout=10), (count_fds(), baseline)
    await stream.aclose()


def stuffed_socket(port: int, request: bytes, count: int) -> socket.socket:
    """A blocking client that sends ``count`` requests and then never reads."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(0.5)
    try:
        for _ in range(count):
            sock.sendall(request)
    except (TimeoutError, OSError):
        pass  # the daemon stopped reading: its replies fill our buffer, as intended
    return sock


def test_sigterm_ends_the_daemon_whatever_slow_readers_do():
    proc = daemon_process("--relay-workers=1")  # default idle timeout (60 s): shutdown must not wait for it
    sockets = []
    try:
        sockets.append(stuffed_socket(proc.http_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 3000))
        ws = socket.create_connection(("127.0.0.1", proc.http_port))
        ws.sendall(handshake("ng.rtpengine.com"))
        ws.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws.settimeout(0.5)
        try:
            for index in range(200):
                ws.sendall(b"".join(frame(b"s%d_%d d7:command4:pinge" % (index, n)) for n in range(500)))
        except (TimeoutError, OSError):
            pass
        sockets.append(ws)
        proc.proc.send_signal(signal.SIGTERM)
        try:
            proc.proc.wait(timeout=15)  # a bound: shutdown takes about a second
        except subprocess.TimeoutExpired:
            proc.proc.kill()
            proc.proc.wait()
            raise AssertionError("SIGTERM did not end the daemon while peers did not read") from None
        assert proc.proc.returncode == 0, proc.stderr()
        assert "Traceback" not in proc.stderr()
    finally:
        for sock in sockets:
            sock.close()
        if proc.proc.poll() is None:
            proc.stop()


# -- 6: a TLS handshake that never finishes ------------------------------------------------


HALF_CLIENT_HELLO = bytes.fromhex("160301020001") + b"\x00" * 40  # record says 512 bytes; 40 follow


@pytest.mark.parametrize("first_bytes", [b"", HALF_CLIENT_HELLO])
async def test_tls_handshake_is_under_the_idle_deadline(nursery, tmp_path, first_bytes):
    cert, key = make_self_signed(str(tmp_path))
    daemon = await start_web_daemon(nursery, listen_https=[ListenAddress("127.0.0.1", 0)], https_cert=cert,
                                    https_key=key, http_idle_timeout=IDLE)
    host, port = daemon.address("https")[:2]
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        if first_bytes:
            await stream.send_all(first_bytes)
        with trio.fail_after(10):  # a bound, not a timing assertion: the daemon closes after IDLE
            try:
                while await stream.receive_some(4096):
                    pass
            except trio.BrokenResourceError:
                pass
    # the listener still serves a real client
    context = ssl.create_default_context(cafile=cert)
    tls = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context, https_compatible=True)
    async with tls:
        await tls.send_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        with trio.fail_after(10):
            while chunk := await tls.receive_some(4096):
                reply += chunk
    assert reply.endswith(b"pong\n")


# -- 7: a frame in the same segment as the upgrade ---------------------------------------


@pytest.mark.parametrize("subprotocol,message,expected", [
    ("echo.rtpengine.com", b"hello", b"hello"),
    ("ng.rtpengine.com", b"c1 d7:command4:pinge", b"c1 d6:result4:ponge"),
])
async def test_first_frame_in_the_upgrade_segment_is_served(nursery, caplog, subprotocol, message, expected):
    caplog.set_level(logging.INFO)
    daemon = await start_web_daemon(nursery)
    for _ in range(3):
        reply, _ = await raw_exchange(daemon.address("http"), handshake(subprotocol) + frame(message),
                                      timeout=0.5)
        head, _, frames = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        assert frames == b"\x82" + bytes((len(expected),)) + expected
    no_tracebacks(caplog)


async def test_no_peer_input_produces_a_traceback(nursery, caplog):
    caplog.set_level(logging.DEBUG)
    daemon = await start_web_daemon(nursery)
    address = daemon.address("http")
    for data in (b"\x16\x03\x01garbage\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01",
                 handshake("echo.rtpengine.com") + b"\xff" * 64,
                 handshake("echo.rtpengine.com") + b"\x81\x82\x00\x00\x00\x00\xff\xfe",
                 handshake("echo.rtpengine.com", extra=b"Sec-WebSocket-Version: 8\r\n"),
                 b"GET /cli/\xff HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                 b"POST /ng HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        await raw_exchange(address, data, timeout=2)
    no_tracebacks(caplog)


# -- 8: Content-Length and Transfer-Encoding together -------------------------------------


SMUGGLED = b"GET /cli/list+numsessions HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("framing", [
    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 52\r\n",
])
async def test_content_length_with_transfer_encoding_is_refused_and_closed(nursery, framing):
    daemon = await start_web_daemon(nursery)
    body = b"0\r\n\r\n"
    request = (b"POST /ng HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-rtpengine-ng\r\n" + framing
               + b"\r\n" + body + SMUGGLED)
    reply, closed = await raw_exchange(daemon.address("http"), request, timeout=5)
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert reply.count(b"HTTP/1.1 ") == 1, reply  # nothing served behind it
    assert b"Current sessions" not in reply
    assert closed


# -- 9: the header block limit ------------------------------------------------------------


async def test_header_block_over_64_kib_is_431(nursery):
    daemon = await start_web_daemon(nursery)
    address = daemon.address("http")
    many = b"".join(b"X-Filler-%05d: %s\r\n" % (n, b"v" * 100) for n in range(1200))  # ~141 KB
    reply, closed = await raw_exchange(address, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert split_response(reply)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert closed
    one_long = b"X-Long: " + b"v" * (70 * 1024) + b"\r\n"
    reply, closed = await raw_exchange(address, b"GET /ping HTTP/1.1\r\nHost: x\r\n" + one_long + b"\r\n")
    assert split_response(reply)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert closed
    target = b"/ping?" + b"q" * (70 * 1024)
    reply, closed = await raw_exchange(address, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert split_response(reply)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    # under the limit is served
    fits = b"".join(b"X-Filler-%05d: %s\r\n" % (n, b"v" * 100) for n in range(500))  # ~60 KB
    reply, _ = await raw_exchange(address, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                  + fits + b"\r\n")
    assert reply.endswith(b"pong\n")


async def test_http2_peer_that_keeps_its_window_shut_is_closed(nursery, tmp_path):
    import h2.config
    import h2.connection
    import h2.settings

    cert, key = make_self_signed(str(tmp_path))
    daemon = await start_web_daemon(nursery, listen_https=[ListenAddress("127.0.0.1", 0)], https_cert=cert,
                                    https_key=key, http_idle_timeout=IDLE)
    host, port = daemon.address("https")[:2]
    context = ssl.create_default_context(cafile=cert)
    context.set_alpn_protocols(["h2"])
    tls = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context, https_compatible=True)
    async with tls:
        await tls.do_handshake()
        assert tls.selected_alpn_protocol() == "h2"
        client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        client.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        client.initiate_connection()
        client.send_headers(1, [(":method", "GET"), (":path", "/metrics"), (":scheme", "https"),
                                (":authority", "x")], end_stream=True)
        await tls.send_all(client.data_to_send())
        with trio.fail_after(10):  # a bound: the daemon gives up after the send deadline (IDLE)
            try:
                while await tls.receive_some(65536):
                    pass  # never a WINDOW_UPDATE from us
            except trio.BrokenResourceError:
                pass
    reply, _ = await raw_exchange(daemon.address("http"), b"GET /ping HTTP/1.0\r\n\r\n")
    assert reply.endswith(b"pong\n")


async def test_expect_100_continue_is_answered_before_the_body(nursery):
    daemon = await start_web_daemon(nursery)
    body = b"c1 d7:command4:pinge"
    stream = await trio.open_tcp_stream(*daemon.address("http")[:2])
    async with stream:
        await stream.send_all(b"POST /ng HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-rtpengine-ng\r\n"
                              b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        with trio.fail_after(5):
            assert await stream.receive_some(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
            await stream.send_all(body)
            reply = b""
            while not reply.endswith(b"c1 d6:result4:ponge"):
                reply += await stream.receive_some(1000)
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("protocol", [b"h2c", b"foo"])
async def test_another_upgrade_is_answered_and_closed_leaving_ping_alone(nursery, protocol):
    """An upgrade to anything but WebSocket is answered as plain HTTP and the connection
    closed. That marked the shared pong reply itself to close: every /ping after it, on any
    connection, closed its connection and dropped what was pipelined behind it."""
    daemon = await start_web_daemon(nursery)
    address = daemon.address("http")
    ping = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    reply, closed = await raw_exchange(
        address, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: " + protocol
        + b"\r\n\r\n" + ping)
    assert reply.count(b"pong\n") == 1 and closed
    pipelined, _ = await raw_exchange(address, ping * 3, timeout=2)
    assert pipelined.count(b"pong\n") == 3
    assert b"connection: close" in reply.lower()  # (it says it closes)
