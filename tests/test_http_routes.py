"""The web port's sans-I/O pieces without sockets: the route table, the WebSocket upgrade and
session, the HTTP/1.1 request parser and the HTTP/2 session."""

from __future__ import annotations

import pytest

from rtpengined.core import Core
from rtpengined.media import NullMediaPlane
from transports.http import H1Parser, encode_response
from transports.http_app import FORBIDDEN_PAGE, UNAUTHORIZED_BODY, Request, Routes
from transports.ws import CLI, ECHO, NG, WsSession, upgrade

from conftest import loopback_config

NG_TYPE = (b"Content-Type", b"application/x-rtpengine-ng")


def make_routes(**overrides) -> Routes:
    return Routes(Core(loopback_config(**overrides), media=NullMediaPlane()))


def get(routes: Routes, target: bytes, headers=()) -> tuple[int, bytes, bytes]:
    response = routes.handle(Request(b"GET", target, list(headers)))
    return response.status, response.content_type, response.body


def test_get_routes():
    routes = make_routes()
    assert get(routes, b"/ping") == (200, b"text/plain", b"pong\n")
    assert get(routes, b"/./ping?x=1") == (200, b"text/plain", b"pong\n")
    status, _, body = get(routes, b"/cli/list+maxsessions")
    assert (status, body) == (200, routes.core.handle_cli("list maxsessions").encode())
    status, content_type, body = get(routes, b"/metrics")
    assert status == 200 and b"# HELP" in body
    for target in (b"/PING", b"/metrics/", b"/cli", b"/nothing"):
        assert get(routes, target) == (404, b"text/plain", b"not found\n"), target
    for target in (b"/cli/a%00b", b"/cli/%zz", b"http://x/ping"):
        response = routes.handle(Request(b"GET", target, []))
        assert (response.status, response.body, response.close) == (403, FORBIDDEN_PAGE, True)


def test_post_routes_and_other_methods():
    routes = make_routes()
    response = routes.handle(Request(b"POST", b"/ng", [NG_TYPE], b"c1 d7:command4:pinge"))
    assert (response.status, response.content_type, response.body) == \
        (200, b"application/x-rtpengine-ng", b"c1 d6:result4:ponge")
    response = routes.handle(Request(b"POST", b"/ng", [NG_TYPE], b"nocookie"))
    assert (response.status, response.body) == (600, b"error\n")
    response = routes.handle(Request(b"POST", b"/ng-plain", [(b"content-type", b"application/json")],
                                     b'{"command":"ping"}'))
    assert (response.content_type, response.body) == (b"application/json", b'{"result":"pong"}')
    response = routes.handle(Request(b"POST", b"/ng", [(b"content-type", b"text/plain")], b"c1 x"))
    assert response.status == 404
    assert routes.handle(Request(b"PUT", b"/ping", [])).status == 405


def test_auth_follows_the_route():
    routes = make_routes(http_auth_token="tok")
    assert get(routes, b"/ping")[0] == 200
    assert get(routes, b"/metrics")[0] == 200
    response = routes.handle(Request(b"GET", b"/cli/list+totals", []))
    assert (response.status, response.body) == (401, UNAUTHORIZED_BODY)
    assert (b"www-authenticate", b'Bearer realm="rtpengined"') in response.header_list()
    assert get(routes, b"/cli/list+totals", [(b"Authorization", b"Bearer tok")])[0] == 200
    assert get(routes, b"/cli/list+totals", [(b"Authorization", b"Bearer nope")])[0] == 401
    assert routes.handle(Request(b"POST", b"/ping", [])).status == 401  # nothing open is served
    protected = make_routes(http_auth_token="tok", http_auth_metrics=True)
    assert get(protected, b"/ping")[0] == 401
    assert get(protected, b"/metrics", [(b"authorization", b"bearer tok")])[0] == 200


@pytest.mark.parametrize("path", [b"/ping", b"/metrics", b"/ping/", b"/metrics?x=1", b"/%70ing", b"/"])
def test_websocket_upgrade_always_needs_the_token(path):
    routes = make_routes(http_auth_token="tok")
    headers = [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
               (b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Protocol", CLI.encode())]
    refusal, _, _ = upgrade(routes, Request(b"GET", path, headers))
    assert refusal is not None and refusal.status == 401
    refusal, reply, subprotocol = upgrade(routes, Request(b"GET", path,
                                                         headers + [(b"Authorization", b"Bearer tok")]))
    assert refusal is None and subprotocol == CLI
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in reply  # RFC 6455's example


def test_websocket_upgrade_refusals():
    routes = make_routes()
    base = [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Key", b"a2V5a2V5a2V5a2V5a2V5aw==")]
    refusal, _, _ = upgrade(routes, Request(b"GET", b"/", base + [(b"Sec-WebSocket-Version", b"13")]))
    assert refusal.status == 403  # no subprotocol
    refusal, _, _ = upgrade(routes, Request(b"GET", b"/", base + [(b"Sec-WebSocket-Version", b"8")]))
    assert refusal.status == 400
    refusal, _, subprotocol = upgrade(routes, Request(b"GET", b"/", base + [
        (b"Sec-WebSocket-Version", b"13"), (b"Sec-WebSocket-Protocol", b"janus, ng.rtpengine.com")]))
    assert refusal is None and subprotocol == NG


def masked(payload: bytes, opcode: int = 1, key: bytes = b"\x01\x02\x03\x04", fin: bool = True) -> bytes:
    size = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    head += bytes((0x80 | size,)) if size < 126 else bytes((0xFE,)) + size.to_bytes(2, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def session(subprotocol: str = NG, trailing: bytes = b"") -> WsSession:
    return WsSession(Core(loopback_config(), media=NullMediaPlane()), subprotocol, ("127.0.0.1", 1), trailing)


def test_session_answers_in_order_however_the_bytes_are_split():
    frames = b"".join(masked(b"c%d d7:command4:pinge" % n) for n in range(5))
    expected = b"".join(b"\x82\x13c%d d6:result4:ponge" % n for n in range(5))
    assert session().receive(frames) == expected
    one_by_one = session()
    assert b"".join(one_by_one.receive(frames[i:i + 1]) for i in range(len(frames))) == expected
    assert session(trailing=frames[:30]).receive(frames[30:]) == expected  # the upgrade's leftover


def test_session_control_frames_fragments_and_errors():
    echo = session(ECHO)
    assert echo.receive(masked(b"ping!", opcode=9)) == b"\x8a\x05ping!"  # pong
    fragmented = masked(b"hel", fin=False) + masked(b"lo", opcode=0)
    assert echo.receive(fragmented + masked(b"again")) == b"\x82\x05hello\x82\x05again"
    assert session(ECHO).receive(masked(b"\xff\xfe")) == b"\x88\x02\x03\xef"  # bad UTF-8: 1007
    assert session(ECHO).receive(b"\x81\x05hello") == b"\x88\x02\x03\xea"  # unmasked: 1002
    closing = session(ECHO)
    assert closing.receive(masked(b"\x03\xe8", opcode=8)) == b"\x88\x02\x03\xe8" and closing.closed
    big = session(ECHO)
    out = big.receive(masked(b"", opcode=2)[:1] + b"\xff" + (2 * 1024 * 1024).to_bytes(8, "big") + b"\0" * 4)
    out += big.receive(b"x" * (1024 * 1024 + 10))
    assert out == b"\x88\x02\x03\xf1" and big.closed  # 1009
    assert session(ECHO).close(1001, "bye") == b"\x88\x05\x03\xe9bye"


def test_session_cli_empty_output_sends_nothing():
    cli = session(CLI)
    cli.core.handle_cli = lambda line: ""
    assert cli.receive(masked(b"params diff")) == b""


def parse(data: bytes) -> tuple[H1Parser, Exception | None]:
    parser = H1Parser(("127.0.0.1", 1))
    try:
        parser.parser.feed_data(data)
    except Exception as exc:  # noqa: BLE001 - what the shell turns into a reply
        return parser, exc
    return parser, None


def test_parser_pipelined_requests_and_limits():
    parser, failure = parse(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"POST /ng HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                            b"GET /x HTTP/1.0\r\n\r\n")
    assert failure is None
    requests = [(r.method, r.target, r.body, keep) for r, keep, _ in parser.ready]
    assert requests == [(b"GET", b"/ping", b"", True), (b"POST", b"/ng", b"abc", True),
                        (b"GET", b"/x", b"", False)]
    parser, failure = parse(b"POST /ng HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert failure is not None and not parser.ready
    parser, failure = parse(b"GET / HTTP/1.1\r\n" + b"X: " + b"v" * 70000 + b"\r\n\r\n")
    assert failure is not None and parser.refusal.status == 431
    parser, failure = parse(b"POST /ng HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n")
    assert failure is not None and parser.refusal.status == 413


def test_response_bytes_match_rtpengine():
    response = make_routes().handle(Request(b"GET", b"/ping", []))
    assert encode_response(response) == \
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\npong\n"
    assert encode_response(response, head_only=True).endswith(b"content-length: 5\r\n\r\n")


def test_http2_session_over_the_same_routes():
    import h2.config
    import h2.connection
    import h2.events

    from transports.h2conn import H2Session

    server = H2Session(make_routes(), ("127.0.0.1", 1))
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.receive_data(server.start())
    client.send_headers(1, [(b":method", b"POST"), (b":path", b"/ng"), (b":scheme", b"https"),
                            (b":authority", b"x"), NG_TYPE], end_stream=False)
    client.send_data(1, b"h1 d7:command4:pinge", end_stream=True)
    client.send_headers(3, [(b":method", b"GET"), (b":path", b"/ping"), (b":scheme", b"https"),
                            (b":authority", b"x")], end_stream=True)
    events = client.receive_data(server.receive(client.data_to_send()))
    bodies = {event.stream_id: event.data for event in events if isinstance(event, h2.events.DataReceived)}
    assert bodies == {1: b"h1 d6:result4:ponge", 3: b"pong\n"}


def test_http2_head_announces_the_length_only():
    import h2.config
    import h2.connection
    import h2.events

    from transports.h2conn import H2Session

    server = H2Session(make_routes(), ("127.0.0.1", 1))
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.initiate_connection()
    client.receive_data(server.start())
    client.send_headers(1, [(b":method", b"HEAD"), (b":path", b"/ping"), (b":scheme", b"https"),
                            (b":authority", b"x")], end_stream=True)
    events = client.receive_data(server.receive(client.data_to_send()))
    response = next(event for event in events if isinstance(event, h2.events.ResponseReceived))
    assert (b":status", b"405") in response.headers and (b"content-length", b"19") in response.headers
    assert not [event for event in events if isinstance(event, h2.events.DataReceived)]
