"""Helpers for the CLI tests: talk to a CLI port, read fixtures, mask volatile fields."""

from __future__ import annotations

import os
import re
import socket

import trio

from conftest import FIXTURES

CAPTURE_SCRIPT = os.path.join(FIXTURES, "tools", "capture.sh")


async def cli_request(address: tuple, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` raw on a fresh connection; every reply byte until EOF."""
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream(address[0], address[1])
        async with stream:
            await stream.send_all(data)
            chunks = []
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)


async def cli(address: tuple, command: str) -> str:
    """One command the way rtpengine-ctl sends it (command + LF)."""
    reply = await cli_request(address, command.encode() + b"\n")
    return reply.decode("utf-8", "surrogateescape")


def fixture(path: str) -> str:
    with open(os.path.join(FIXTURES, path), "rb") as handle:
        return handle.read().decode()


def capture_list(marker: str) -> list[tuple[str, str]]:
    """The ``name|command`` heredoc that follows ``marker`` in tools/capture.sh."""
    with open(CAPTURE_SCRIPT) as handle:
        text = handle.read()
    start = text.index(marker)
    body = text[text.index("<<'EOF'\n", start) + 8 : text.index("\nEOF\n", start)]
    pairs = []
    for line in body.splitlines():
        if line.strip():
            name, _, command = line.partition("|")
            pairs.append((name, command))
    return pairs


_MASKS = [
    (re.compile(r"(Uptime of rtpengine\s*:)\d+"), r"\1N"),
    (re.compile(r'("uptime":)\d+'), r"\1N"),
    (re.compile(r"(configured on rtpengine: )(\d+|infinite)(; cat /proc/)\d+"), r"\1N\3PID"),
    (re.compile(r"(created: *)\d+"), r"\1T"),
    (re.compile(r"(last_signal: )\d+"), r"\1T"),
    (re.compile(r"\d+ ts$", re.M), "T ts"),
    (re.compile(r"(callduration )\d+\.\d{6}"), r"\1D"),
    (re.compile(r"(proxy: ?127\.0\.0\.1:)\d+"), r"\1P"),
    (re.compile(r"(127\.0\.0\.1:)\d+( <> )"), r"\1PORT\2"),
    (re.compile(r"(duration\":)\d+\.\d{6}"), r"\1D"),
    (re.compile(r"(Last port used: *)\d+"), r"\1L"),
    (re.compile(r'("last":)\d+'), r"\1L"),
    (re.compile(r"^(listen-(?:ng|cli) = ).+$", re.M), r"\1ADDR"),
    (re.compile(r"^(num-threads = )\d+$", re.M), r"\1N"),
    (re.compile(r"^(port-m(?:in|ax) = )\d+$", re.M), r"\1N"),
]


def mask(text: str) -> str:
    """Hide what legitimately differs between two runs (fixtures README)."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def sorted_lines(text: str) -> list[str]:
    """``list sessions all`` lines are in hash order: compare as a set."""
    return sorted(text.splitlines(keepends=True))


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
