"""HTTP side of the web port against a real in-process daemon: rtpengine's routing, bytes and statuses."""

from __future__ import annotations

import os
import ssl

import httpx
import pytest
import trio
from http_helpers import (
    fresh_cookie,
    listen_error_in,
    make_self_signed,
    raw_exchange,
    read_response,
    server_socket_states,
    split_response,
    start_web_daemon,
    wait_for,
)

from rtpengined.config import ListenAddress
from rtpengined.daemon import run_daemon
from transports.http import HttpStatusError, cli_target, open_client

from conftest import FIXTURES, udp_request

HTTP_FIXTURES = os.path.join(FIXTURES, "http")
NG = "application/x-rtpengine-ng"


@pytest.fixture
def make_daemon(nursery):
    """Web-port tests run over a core with the null media plane (see ``start_web_daemon``)."""

    async def start(**overrides):
        return await start_web_daemon(nursery, **overrides)

    return start


@pytest.fixture
async def daemon(make_daemon):
    return await make_daemon()


def fixture_bytes(name: str) -> bytes:
    """A curl -si transcript turned back into wire bytes (headers CRLF, body as is)."""
    with open(os.path.join(HTTP_FIXTURES, name), "rb") as handle:
        data = handle.read()
    return data


def url(daemon, path: str = "") -> str:
    host, port = daemon.address("http")[:2]
    return f"http://{host}:{port}{path}"


async def test_ping_is_byte_identical_to_rtpengine(daemon):
    reply, _ = await raw_exchange(daemon.address("http"), b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
                                  until_close=False)
    assert reply == fixture_bytes("ping.txt")


async def test_not_found_and_trailing_slash_are_byte_identical(daemon):
    for target, name in ((b"/nonexistent", "unknown_path.txt"), (b"/metrics/", "metrics_trailing_slash.txt"),
                         (b"/cli", "cli_no_slash.txt")):
        reply, _ = await raw_exchange(daemon.address("http"),
                                      b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n", until_close=False)
        assert reply == fixture_bytes(name), target


# (raw request, expected reply as rtpengine sends it, command whose CLI output is the body or None)
PROBES = [
    (b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"pong\n", None),
    (b"GET /./ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"pong\n", None),
    (b"GET //ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"pong\n", None),
    (b"GET /cli/../ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"pong\n", None),
    (b"GET /ping?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"pong\n", None),
    (b"GET /cli/list+sessions+a/../b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None, "b"),
    (b"GET /cli/list+sessions+a%2Bb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list sessions a+b"),
    (b"GET /cli/list+sessions+a%3Fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list sessions a?b"),
    (b"GET /cli/list+sessions+x;y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list sessions x"),
    (b"GET /cli/list+sessions+x%3By HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list sessions x;y"),
    (b"GET /cli/list+sessions+caf%C3%A9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list sessions caf\u00e9"),
    (b"GET /cli/list+maxsessions?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list maxsessions"),
    (b"GET /cli/list%20numsessions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None,
     "list numsessions"),
    (b"GET /cli/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None, ""),
    (b"GET /cli/bogus HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", None, "bogus"),
    (b"GET /PING HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"not found\n", None),
]


@pytest.mark.parametrize("request_bytes,body,command", PROBES)
async def test_raw_probe_routing_and_decoding(daemon, request_bytes, body, command):
    reply, closed = await raw_exchange(daemon.address("http"), request_bytes)
    status, headers, got = split_response(reply)
    if command is not None:
        body = daemon.core.handle_cli(command).encode()
    expected_status = b"HTTP/1.1 404 Not Found" if body == b"not found\n" else b"HTTP/1.1 200 OK"
    assert status == expected_status
    # Connection: close makes h11 echo the header; the two rtpengine headers come first, in order.
    assert headers[:2] == [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    assert got == body
    assert closed


async def test_cli_over_http_equals_cli_port(daemon):
    from transports.cli_tcp import open_client as open_cli

    host, port = daemon.address("cli")[:2]
    async with httpx.AsyncClient() as http:
        for command in ("list totals", "list numsessions", "list maxsessions", "bogus", "list sessions a+b"):
            async with open_cli(f"tcp://{host}:{port}") as cli:
                expected = await cli.request(command.encode())
            reply = await http.get(url(daemon, cli_target(command)))
            assert reply.status_code == 200
            assert reply.content == expected, command


@pytest.mark.parametrize("target", [b"/cli/list%zz", b"/cli/list%2", b"/cli/a%00b",
                                    b"http://127.0.0.1/ping"])
async def test_bad_targets_are_forbidden_and_closed(daemon, target):
    reply, closed = await raw_exchange(daemon.address("http"),
                                       b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = split_response(reply)
    assert status == b"HTTP/1.1 403 Forbidden"
    assert headers[:2] == [(b"content-type", b"text/html"), (b"content-length", b"173")]
    assert body == fixture_bytes("cli_bad_escape.txt").split(b"\r\n\r\n", 1)[1]
    assert closed
    reply, _ = await raw_exchange(daemon.address("http"), b"GET /ping HTTP/1.0\r\n\r\n")
    assert reply.endswith(b"pong\n")


async def test_empty_cli_output_is_200_with_empty_body(daemon):
    daemon.core.handle_cli = lambda line: ""  # rtpengine 10.5 crashes here (D3)
    reply, _ = await raw_exchange(daemon.address("http"),
                                  b"GET /cli/params+diff HTTP/1.1\r\nHost: x\r\n\r\n", until_close=False)
    assert reply == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n"


async def test_keep_alive_and_pipelining(daemon):
    pipelined = (b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /cli/list+maxsessions HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /nonexistent HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    reply, closed = await raw_exchange(daemon.address("http"), pipelined)
    cli = daemon.core.handle_cli("list maxsessions").encode()
    first = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\npong\n"
    second = (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n" % len(cli)) + cli
    assert reply.startswith(first + second)
    assert reply.endswith(b"not found\n")
    assert closed


async def test_http_1_0_closes_after_the_reply(daemon):
    reply, closed = await raw_exchange(daemon.address("http"), b"GET /ping HTTP/1.0\r\n\r\n")
    assert reply.split(b"\r\n", 1)[0].endswith(b"200 OK")
    assert reply.endswith(b"\r\n\r\npong\n")
    assert closed


async def test_idle_connection_is_closed(make_daemon):
    daemon = await make_daemon(http_idle_timeout=1)
    reply, closed = await raw_exchange(daemon.address("http"), b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
                                       timeout=10)
    assert reply.endswith(b"pong\n")
    assert closed
    _, closed = await raw_exchange(daemon.address("http"), b"GET /pi", timeout=10)  # stalled request
    assert closed


async def test_ng_over_http_equals_udp(daemon):
    requests = [b"d7:command4:pinge", b'{"command":"ping"}', b"d7:command5:querye",
                b"d7:command5:query7:call-id7:nosuch1e", b"d7:command5:bogusee", b"l4:spame"]
    async with httpx.AsyncClient() as http:
        for payload in requests:
            udp_cookie, http_cookie = fresh_cookie("u"), fresh_cookie("h")
            udp = await udp_request(daemon.address("udp-ng"), udp_cookie + b" " + payload)
            reply = await http.post(url(daemon, "/ng"), content=http_cookie + b" " + payload,
                                    headers={"Content-Type": NG})
            assert reply.status_code == 200
            assert reply.headers["content-type"] == NG
            assert list(reply.headers.keys()) == ["content-type", "content-length"]
            assert reply.content.split(b" ", 1) == [http_cookie, udp.split(b" ", 1)[1]], payload


async def test_ng_content_type_is_case_insensitive_and_others_are_404(daemon):
    async with httpx.AsyncClient() as http:
        cookie = fresh_cookie()
        reply = await http.post(url(daemon, "/ng"), content=cookie + b" d7:command4:pinge",
                                headers={"Content-Type": "Application/X-RTPengine-NG"})
        assert reply.content == cookie + b" d6:result4:ponge"
        for path, ctype in (("/ng", "application/json"), ("/ng", "text/plain"), ("/ping", "text/plain"),
                            ("/metrics", NG), ("/cli/list+totals", NG), ("/nope", NG)):
            reply = await http.post(url(daemon, path), content=b"x d7:command4:pinge",
                                    headers={"Content-Type": ctype})
            assert (reply.status_code, reply.content) == (404, b"not found\n"), (path, ctype)
            assert reply.headers["content-type"] == "text/plain"


async def test_post_ping_text_plain_is_byte_identical(daemon):
    request = b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n"
    reply, _ = await raw_exchange(daemon.address("http"), request, until_close=False)
    assert reply == fixture_bytes("post_ping_text_plain.txt")


async def test_ng_without_cookie_is_status_600(daemon):
    async with httpx.AsyncClient() as http:
        reply = await http.post(url(daemon, "/ng"), content=b"nocookie", headers={"Content-Type": NG})
        assert (reply.status_code, reply.content) == (600, b"error\n")
        reply = await http.get(url(daemon, "/ping"))  # same connection still serves
        assert reply.content == b"pong\n"


async def test_ng_plain_reply_follows_request_encoding(daemon):
    async with httpx.AsyncClient() as http:
        reply = await http.post(url(daemon, "/ng-plain"), content=b"d7:command4:pinge",
                                headers={"Content-Type": NG})
        assert (reply.headers["content-type"], reply.content) == (NG, b"d6:result4:ponge")
        reply = await http.post(url(daemon, "/ng-plain"), content=b'{"command":"ping"}',
                                headers={"Content-Type": "application/json"})
        assert (reply.headers["content-type"], reply.content) == ("application/json", b'{"result":"pong"}')


async def test_other_methods_never_get_200(daemon):
    async with httpx.AsyncClient() as http:
        for method in ("HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"):
            reply = await http.request(method, url(daemon, "/ping"))
            assert reply.status_code == 405, method


async def test_bad_input_gets_an_error_and_the_daemon_keeps_serving(daemon):
    address = daemon.address("http")
    huge = b"x" * (2 * 1024 * 1024)
    reply, closed = await raw_exchange(
        address, b"POST /ng HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        % (NG.encode(), len(huge)) + huge)
    assert reply.startswith(b"HTTP/1.1 413 ")
    reply, closed = await raw_exchange(address, b"\x16\x03\x01garbage\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ") and closed
    reply, closed = await raw_exchange(address, b"GET /ping HTTP/1.1\r\n" + b"X: y\r\n" * 20000 + b"\r\n")
    assert closed
    reply, closed = await raw_exchange(address, b"GET /cli/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 4") and closed
    async with httpx.AsyncClient() as http:
        cookie = fresh_cookie()
        reply = await http.post(url(daemon, "/ng"), content=cookie + b" d7:command4:pinge\xff\xfe",
                                headers={"Content-Type": NG})
        assert reply.status_code == 200 and reply.content.startswith(cookie + b" ")
        assert (await http.get(url(daemon, "/ping"))).content == b"pong\n"


async def test_no_close_wait_left_after_clients_go(daemon):
    port = daemon.address("http")[1]
    streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(5)]
    for stream in streams:
        await stream.send_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(stream)).endswith(b"pong\n")
    for stream in streams:
        await stream.aclose()
    assert await wait_for(lambda: "CLOSE_WAIT" not in server_socket_states(port))
    assert await wait_for(lambda: server_socket_states(port).count("ESTABLISHED") == 0)


async def test_listen_error_is_clear_when_port_taken(make_daemon, daemon):
    taken = daemon.address("http")
    with pytest.raises(BaseException) as excinfo:
        await make_daemon(listen_http=[ListenAddress(taken[0], taken[1])])
    assert "HTTP/WS on 127.0.0.1:%d: Address already in use" % taken[1] in str(listen_error_in(excinfo))


async def test_shutdown_is_prompt_with_open_connections(nursery):
    from conftest import loopback_config

    config = loopback_config()
    scope = trio.CancelScope()

    async def run(task_status):
        with scope:
            await run_daemon(config, handle_signals=False, task_status=task_status)

    daemon = await nursery.start(run)
    port = daemon.address("http")[1]
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await read_response(stream)).endswith(b"pong\n")
    stalled = await trio.open_tcp_stream("127.0.0.1", port)
    await stalled.send_all(b"GET /pi")
    scope.cancel()
    with trio.fail_after(5):  # bound only; the server closes both without waiting for the idle timeout
        assert await stream.receive_some(1000) == b""
        assert await stalled.receive_some(1000) == b""


# -- HTTPS --------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path):
    return make_self_signed(str(tmp_path))


async def test_https_ng_cli_and_http2(make_daemon, certificate):
    cert, key = certificate
    daemon = await make_daemon(listen_https=[ListenAddress("127.0.0.1", 0)], https_cert=cert, https_key=key)
    host, port = daemon.address("https")[:2]
    context = ssl.create_default_context(cafile=cert)
    for http2 in (False, True):
        async with httpx.AsyncClient(verify=context, http2=http2) as http:
            reply = await http.get(f"https://{host}:{port}/ping")
            assert reply.content == b"pong\n"
            assert reply.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
            cookie = fresh_cookie()
            reply = await http.post(f"https://{host}:{port}/ng", content=cookie + b" d7:command4:pinge",
                                    headers={"Content-Type": NG})
            assert reply.content == cookie + b" d6:result4:ponge"
    async with open_client(f"https://{host}:{port}", kind="cli", cacert=cert) as client:
        assert await client.request(b"list maxsessions") == daemon.core.handle_cli("list maxsessions").encode()
    async with open_client(f"https://{host}:{port}", kind="ng", insecure=True) as client:
        cookie = fresh_cookie()
        assert await client.request(cookie + b" d7:command4:pinge") == cookie + b" d6:result4:ponge"
    with pytest.raises(ConnectionError, match="certificate verify failed"):
        async with open_client(f"https://{host}:{port}", kind="ng") as client:  # untrusted by default
            await client.request(fresh_cookie() + b" d7:command4:pinge")


async def test_https_without_certificate_is_a_listen_error(make_daemon):
    with pytest.raises(BaseException) as excinfo:
        await make_daemon(listen_https=[ListenAddress("127.0.0.1", 0)])
    assert "--https-cert and --https-key are required" in str(listen_error_in(excinfo))


async def test_https_with_unusable_certificate_is_a_listen_error(make_daemon, tmp_path):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(BaseException) as excinfo:
        await make_daemon(listen_https=[ListenAddress("127.0.0.1", 0)], https_cert=str(bogus),
                          https_key=str(bogus))
    assert "certificate or key unusable" in str(listen_error_in(excinfo))


# -- client side ----------------------------------------------------------------------------


async def test_http_client_ng_and_cli(daemon):
    async with open_client(url(daemon), kind="ng") as client:
        for _ in range(3):  # one kept-alive connection
            cookie = fresh_cookie()
            assert await client.request(cookie + b" d7:command4:pinge") == cookie + b" d6:result4:ponge"
        with pytest.raises(HttpStatusError) as error:
            await client.request(b"nocookie")
        assert error.value.status == 600
    async with open_client(url(daemon), kind="cli") as client:
        for command in ("list totals", "list sessions a+b", "x/../y", "caf\u00e9 %41;?#"):
            assert await client.request(command.encode()) == daemon.core.handle_cli(command).encode()


async def test_http_client_reconnects_after_idle_close(make_daemon):
    daemon = await make_daemon(http_idle_timeout=1)
    port = daemon.address("http")[1]
    async with open_client(url(daemon), kind="ng") as client:
        cookie = fresh_cookie()
        assert await client.request(cookie + b" d7:command4:pinge") == cookie + b" d6:result4:ponge"
        assert await wait_for(lambda: server_socket_states(port).count("ESTABLISHED") == 0, timeout=10)
        cookie = fresh_cookie()
        assert await client.request(cookie + b" d7:command4:pinge") == cookie + b" d6:result4:ponge"


async def test_ipv6_listener(make_daemon):
    from http_helpers import loopback_family_available

    if not loopback_family_available("::1"):
        pytest.skip("no IPv6 loopback here")
    daemon = await make_daemon(listen_http=[ListenAddress("::1", 0)])
    port = daemon.address("http")[1]
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://[::1]:{port}/ping")).content == b"pong\n"
