"""The TCP CLI port's framing, over real loopback sockets (tcp/framing-probes.txt)."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from cli_helpers import cli_request, start_cli_server

from transports.cli_tcp import CliLineReader, LineTooLong, open_client

MAXSESSIONS = b"Maximum sessions configured on rtpengine: -1\n"


@pytest.fixture
async def cli_address(nursery):
    _, address = await start_cli_server(nursery)
    return address


@pytest.mark.parametrize("sent, reply", [
    (b"list maxsessions\n", MAXSESSIONS),
    (b"list maxsessions\r\n", MAXSESSIONS),
    (b"list maxsessions\nlist timeout\n", MAXSESSIONS),  # only the first line runs
    (b"\n\r\n\nlist timeout\n", b"TIMEOUT=60\n"),  # empty lines are skipped
    (b" \n", b"Unknown or incomplete command:: \n"),  # no trimming
    (b"params diff\n", b""),  # an empty reply is just EOF
])
async def test_one_line_one_reply(cli_address, sent, reply):
    assert await cli_request(cli_address, sent) == reply


async def open_stream(address) -> trio.SocketStream:
    return await trio.open_tcp_stream(address[0], address[1])


async def read_all(stream: trio.SocketStream) -> bytes:
    chunks = []
    while chunk := await stream.receive_some(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def test_line_split_over_segments_waits_for_its_end(cli_address):
    async with await open_stream(cli_address) as stream:
        await stream.send_all(b"list ti")
        await trio.testing.wait_all_tasks_blocked()
        await stream.send_all(b"meout\n")
        assert await read_all(stream) == b"TIMEOUT=60\n"


async def test_half_close_without_line_end_runs_the_partial_line(cli_address):
    async with await open_stream(cli_address) as stream:
        await stream.send_all(b"list maxsessions")
        await stream.send_eof()
        assert await read_all(stream) == MAXSESSIONS


async def test_second_line_after_the_reply_is_ignored(cli_address):
    async with await open_stream(cli_address) as stream:
        await stream.send_all(b"list maxsessions\n")
        assert await read_all(stream) == MAXSESSIONS
        await stream.send_all(b"list timeout\n")
        assert await stream.receive_some(100) == b""


async def test_1024_bytes_without_line_end_are_kept_1025_close(cli_address):
    async with await open_stream(cli_address) as stream:
        await stream.send_all(b"x" * 1024)
        await stream.send_all(b"\n")
        assert await read_all(stream) == b"Unknown or incomplete command::" + b"x" * 1024 + b"\n"
    assert await cli_request(cli_address, b"x" * 1025) == b""


async def test_long_line_with_its_end_is_accepted(cli_address):
    call_id = "c" * 2000
    reply = await cli_request(cli_address, f"list sessions {call_id}\n".encode())
    assert reply == f"\nCall ID not found ({call_id}).\n\n".encode()


@pytest.mark.parametrize("parts, reply", [
    # a line that arrives with its LF is run however long (10.5 reads the socket empty
    # before it looks at the length)
    ((b"list sessions " + b"c" * 20_000 + b"\n",),
     b"\nCall ID not found (" + b"c" * 20_000 + b").\n\n"),
    ((b"x" * 800, b"x" * 800 + b"\n"),  # 800 held, then the rest with the LF
     b"Unknown or incomplete command::" + b"x" * 1600 + b"\n"),
    ((b"x" * 5000,), b""),  # held without a LF: closed
], ids=["20-kB-line", "held-800-then-line-end", "5000-without-line-end"])
async def test_line_length_checked_as_rtpengine(cli_address, parts, reply):
    """(rtpengine 10.5 answers each of these so, measured over its CLI port.) A closed
    connection is a clean EOF, never a reset, whatever the client sent."""
    async with await open_stream(cli_address) as stream:
        for part in parts:
            await stream.send_all(part)
            await trio.testing.wait_all_tasks_blocked()
        assert await read_all(stream) == reply


async def test_command_runs_on_the_daemon_state(nursery):
    core, address = await start_cli_server(nursery)
    assert await cli_request(address, b"set maxsessions 3\n") == b"Success setting maxsessions to 3\n"
    assert core.config.max_sessions == 3


async def test_full_daemon_serves_the_cli_port(make_daemon):
    daemon = await make_daemon()
    assert await cli_request(daemon.address("cli"), b"list maxsessions\n") == MAXSESSIONS


async def test_client_side(cli_address):
    url = f"cli://{cli_address[0]}:{cli_address[1]}"
    async with open_client(url, timeout=5) as client:
        assert await client.request(b"list maxsessions") == MAXSESSIONS
        assert await client.request(b"list timeout") == b"TIMEOUT=60\n"


def test_line_reader():
    reader = CliLineReader()
    assert reader.feed(b"\r\n") is None
    assert reader.feed(b"abc") is None
    assert reader.feed(b"\r\nrest\n") == b"abc"
    assert CliLineReader().at_eof() is None
    with pytest.raises(LineTooLong):
        CliLineReader().feed(b"y" * 1025)
