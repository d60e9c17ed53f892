"""The TCP CLI port (``--listen-cli``), as ``rtpengine-ctl`` talks to it.

One command per connection (cli.md §1.1): no banner; the first complete line (LF, an
optional CR before it dropped, empty lines skipped) is run, the whole reply is written,
then the server half-closes. Later lines are ignored. A client that half-closes without
a LF gets its partial line run. Like 10.5, each read takes everything the socket holds and
looks for a LF in it before it looks at the length: a long line that arrives with its LF
(a 20 kB call-id) is run, and more than 1024 bytes held without a LF closes the connection
without a reply (a clean close: what the client sent after is read and dropped, so it sees
EOF, not a reset). ``CliLineReader`` is the sans-I/O framer; the rest is the trio shell.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from rtpengined.log_context import address_text

from . import Transport, register
from ._accept import peer_of, serve_tcp

log = logging.getLogger("rtpengined.cli")
MAX_LINE = 1024  # rtpengine closes a connection holding more than this without a LF
# One read takes up to this much (a segment on loopback is at most 64 KiB): 10.5 reads
# until the socket is empty before it looks for the line end.
READ_SIZE = 65536
# rtpengine keeps a silent connection open forever; we give up after this long.
IDLE_TIMEOUT = 300.0
# After replying, wait this long for the client to close before dropping it.
LINGER_TIMEOUT = 5.0


class LineTooLong(Exception):
    """More than ``MAX_LINE`` bytes arrived without a line end."""


class CliLineReader:
    """Feed bytes; ``feed`` returns the first command line once it is complete.

    The search for the line end resumes where the previous ``feed`` stopped, so the
    work is linear in the bytes received however they are split.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.buffer = bytearray()
        self.max_line = max_line
        self._searched = 0  # no LF before this offset

    def feed(self, data: bytes) -> bytes | None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n", self._searched)
            if end < 0:
                self._searched = len(self.buffer)
                break
            line = bytes(self.buffer[:end])
            del self.buffer[: end + 1]
            self._searched = 0
            if line.endswith(b"\r"):
                line = line[:-1]
            if line:
                return line
        if len(self.buffer) > self.max_line:
            raise LineTooLong(f"{len(self.buffer)} bytes without a line end")
        return None

    def at_eof(self) -> bytes | None:
        """The client half-closed: what it sent so far is the command (if anything)."""
        if not self.buffer:
            return None
        line = bytes(self.buffer)
        self.buffer.clear()
        self._searched = 0
        return line


def decode_line(line: bytes) -> str:
    return line.decode("utf-8", "surrogateescape")


def encode_reply(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


async def _read_command(stream: trio.SocketStream) -> bytes | None:
    reader = CliLineReader()
    while True:
        data = await stream.receive_some(READ_SIZE)
        if not data:
            return reader.at_eof()
        line = reader.feed(data)
        if line is not None:
            return line


async def _serve_connection(core, stream: trio.SocketStream) -> None:
    """Read one command, write its reply, wait for the client to close.

    Every stage has a deadline (``IDLE_TIMEOUT`` to send the command and again to take
    the reply, ``LINGER_TIMEOUT`` to close), so a client that stops reading holds its
    descriptor no longer than a silent one.
    """
    peer = peer_of(stream)
    if peer is None:  # reset before we got to it
        return
    log.info("New cli connection from %s", address_text(peer))  # (as 10.5)
    async with stream:
        try:
            line = None
            with trio.move_on_after(IDLE_TIMEOUT):
                line = await _read_command(stream)
            if line is None:
                return
            command = decode_line(line)
            log.info("Got CLI command: %s", command)
            reply = core.handle_cli(command)
            with trio.move_on_after(IDLE_TIMEOUT) as sending:
                if reply:
                    await stream.send_all(encode_reply(reply))
                await stream.send_eof()
            if sending.cancelled_caught:
                log.warning("CLI connection from %s: reply not read for %g s; closing",
                            address_text(peer), IDLE_TIMEOUT)
                return
            await _linger(stream)
        except LineTooLong as exc:
            log.warning("CLI connection from %s: %s; closing", address_text(peer), exc)
            try:
                await stream.send_eof()
                await _linger(stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass


async def _linger(stream: trio.SocketStream) -> None:
    """Let the client close first (``LINGER_TIMEOUT`` at most), dropping what it still
    sends: closing with unread input pending would reset the connection, and the client
    could lose the reply."""
    with trio.move_on_after(LINGER_TIMEOUT):
        while await stream.receive_some(READ_SIZE):
            pass


async def serve(core, address, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    await serve_tcp(address, "CLI", lambda stream: _serve_connection(core, stream), task_status)


class CliClient:
    """rtpengine-ctl's side: a fresh connection per command, reply read until EOF."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    async def request(self, line: bytes) -> bytes:
        with trio.fail_after(self.timeout):
            stream = await trio.open_tcp_stream(self.host, self.port)
            async with stream:
                await stream.send_all(line + b"\n")
                chunks = []
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        return b"".join(chunks)
                    chunks.append(data)

    async def aclose(self) -> None:
        return None


@asynccontextmanager
async def open_client(url: str, timeout: float = 3.0, **_):
    """``cli://HOST:PORT`` (default 127.0.0.1:9900)."""
    parts = urlsplit(url if "//" in url else "cli://" + url)
    yield CliClient(parts.hostname or "127.0.0.1", parts.port or 9900, timeout)


register(Transport("cli", "listen_cli", serve, ("cli",), open_client, frozenset({"cli"})))
