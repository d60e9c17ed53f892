"""ng envelope conformance (spec §8 items 1–12 that need no calls) over real UDP and TCP sockets.

Expected bytes are the replies captured from rtpengine 10.5 (tests/fixtures/ng-captures.jsonl).
"""

from __future__ import annotations

import json
import re

import pytest
import trio

from conftest import NG_CAPTURES, udp_request

CAPTURES = NG_CAPTURES


def envelope_captures():
    """The UDP captures that involve no call state (ping, errors, empty list)."""
    cases = []
    with open(CAPTURES, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            if entry["transport"] != "udp":
                continue
            request = entry["request"].encode("utf-8", "surrogateescape")
            response = entry["response"]
            if response is not None:
                response = response.encode("utf-8", "surrogateescape")
            note = entry["note"]
            cookie = request.split(b" ", 1)[0]
            if not (re.fullmatch(rb"c\d+|\d+_1", cookie) or b" " not in request):
                continue
            if b"command4:ping" not in request and not re.fullmatch(rb"c\d+", cookie):
                continue
            cases.append(pytest.param(request, response, id=note))
    return cases


@pytest.mark.parametrize(("request_bytes", "expected"), envelope_captures())
async def test_udp_matches_capture(daemon, request_bytes, expected):
    timeout = 0.3 if expected is None else 2.0
    reply = await udp_request(daemon.address("udp-ng"), request_bytes, timeout)
    assert reply == expected


async def test_udp_json_in_json_out(daemon):
    reply = await udp_request(daemon.address("udp-ng"), b'j1 {"command":"ping"}')
    assert reply == b'j1 {"result":"pong"}'


async def test_cookie_bytes_are_echoed_verbatim(daemon):
    reply = await udp_request(daemon.address("udp-ng"), b"\n\x01odd\xff d7:command4:pinge")
    assert reply == b"\n\x01odd\xff d6:result4:ponge"


async def test_retransmission_returns_cached_reply_byte_for_byte(daemon):
    address = daemon.address("udp-ng")
    first = await udp_request(address, b"rt-1 d7:command7:unknowne")
    again = await udp_request(address, b"rt-1 d7:command4:pinge")
    assert again == first == b"rt-1 d6:result5:error12:error-reason20:Unrecognized commande"


async def test_keys_in_any_order_and_numeric_strings(daemon):
    address = daemon.address("udp-ng")
    assert await udp_request(address, b"ko-1 d3:fooi1e7:command4:pinge") == b"ko-1 d6:result4:ponge"


class TcpConnection:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def read_exactly(self, size: int, timeout: float = 2.0) -> bytes:
        with trio.fail_after(timeout):
            while len(self.buffer) < size:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    break
                self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    async def nothing_within(self, seconds: float) -> bool:
        with trio.move_on_after(seconds):
            chunk = await self.stream.receive_some(65536)
            return chunk == b""
        return True


async def tcp_connect(daemon) -> TcpConnection:
    host, port = daemon.address("tcp-ng")[:2]
    return TcpConnection(await trio.open_tcp_stream(host, port))


async def test_tcp_ping(daemon):
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"tcp1 d7:command4:pinge")
    assert await conn.read_exactly(19) == b"tcp1 d6:result4:ponge"[:19]


async def test_tcp_back_to_back_messages_get_back_to_back_replies(daemon):
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"tcp2 d7:command4:pingetcp3 d7:command4:pinge")
    expected = b"tcp2 d6:result4:pongetcp3 d6:result4:ponge"
    assert await conn.read_exactly(len(expected)) == expected


async def test_tcp_message_split_across_segments(daemon):
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"tcp4 d7:comm")
    assert await conn.nothing_within(0.2)
    await conn.stream.send_all(b"and4:pinge")
    assert await conn.read_exactly(21) == b"tcp4 d6:result4:ponge"


@pytest.mark.parametrize("first_chunk", [900, 1100, 2500])
async def test_tcp_large_message_split_anywhere(daemon, first_chunk):
    """rtpengine 10.5 closes the connection when >1024 bytes of a message are pending; we don't."""
    conn = await tcp_connect(daemon)
    message = b"big d7:command4:ping3:pad3000:" + b"x" * 3000 + b"e"
    await conn.stream.send_all(message[:first_chunk])
    await trio.sleep(0)  # let the daemon see the first part on its own
    await conn.stream.send_all(message[first_chunk:])
    assert await conn.read_exactly(20) == b"big d6:result4:ponge"


async def test_tcp_newline_between_messages_joins_the_next_cookie(daemon):
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"tcp8 d7:command4:pinge\ntcp9 d7:command4:pinge")
    expected = b"tcp8 d6:result4:ponge\ntcp9 d6:result4:ponge"
    assert await conn.read_exactly(len(expected)) == expected


async def test_tcp_json_gets_no_reply_and_connection_keeps_working(daemon):
    """As in rtpengine 10.5 (capture tcp5), JSON is not framed on TCP."""
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b'tcp5 {"command":"ping"}')
    assert await conn.nothing_within(0.3)
    await conn.stream.send_all(b"tcp6 d7:command4:pinge")
    assert await conn.read_exactly(21) == b"tcp6 d6:result4:ponge"


async def test_tcp_error_reply(daemon):
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"tcp7 d7:command6:nosuche")
    expected = b"tcp7 d6:result5:error12:error-reason20:Unrecognized commande"
    assert await conn.read_exactly(len(expected)) == expected


async def test_cache_is_shared_between_udp_and_tcp(daemon):
    await udp_request(daemon.address("udp-ng"), b"dupcookie-1 d7:command4:pinge")
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"dupcookie-1 d7:command7:nosuch1e")
    assert await conn.read_exactly(28) == b"dupcookie-1 d6:result4:ponge"


async def test_tcp_oversized_partial_message_closes_only_that_connection(daemon):
    conn = await tcp_connect(daemon)
    await conn.stream.send_all(b"huge d3:pad99999999:" + b"x" * (1024 * 1024 + 10))
    assert await conn.read_exactly(1) == b""  # closed
    reply = await udp_request(daemon.address("udp-ng"), b"after d7:command4:pinge")
    assert reply == b"after d6:result4:ponge"


async def test_ipv6_listeners(make_daemon):
    from rtpengined.config import ListenAddress

    daemon = await make_daemon(listen_ng=[ListenAddress("::1", 0)],
                               listen_tcp_ng=[ListenAddress("::1", 0)])
    reply = await udp_request(daemon.address("udp-ng"), b"v6 d7:command4:pinge")
    assert reply == b"v6 d6:result4:ponge"
    host, port = daemon.address("tcp-ng")[:2]
    stream = await trio.open_tcp_stream(host, port)
    await stream.send_all(b"v6t d7:command4:pinge")
    conn = TcpConnection(stream)
    assert await conn.read_exactly(20) == b"v6t d6:result4:ponge"
