"""ng over TCP: no framing of its own, so messages are found by scanning bencode.

A message is ``COOKIE SP`` followed by one complete bencode value. Several messages may
share a segment and one may be split over many; replies are written back to back the
same way. As in rtpengine, JSON is not framed on TCP: such a message gets no reply.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from rtpengined import bencode

from . import Transport, register
from ._accept import serve_tcp
from ._net import format_address

log = logging.getLogger("rtpengined.tcp")
MAX_PENDING = 1024 * 1024  # rtpengine closes past 1 KiB of partial message; we allow 1 MiB


class FramingError(Exception):
    """The buffered bytes can never form a message; the connection should be closed."""


class TcpNgFramer:
    """Sans-I/O splitter: feed bytes, get complete ``COOKIE SP bencode`` messages back."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.buffer = bytearray()
        self.max_pending = max_pending

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        messages: list[bytes] = []
        while True:
            space = self.buffer.find(b" ")
            if space < 0:
                break
            try:
                end = bencode.scan_value(self.buffer, space + 1)
            except bencode.BencodeError:
                log.warning("tcp ng: discarding %d bytes that are not bencode", len(self.buffer))
                self.buffer.clear()
                break
            if end is None:
                break
            messages.append(bytes(self.buffer[:end]))
            del self.buffer[:end]
        if len(self.buffer) > self.max_pending:
            raise FramingError(f"partial message larger than {self.max_pending} bytes")
        return messages


async def _serve_connection(core, stream: trio.SocketStream) -> None:
    peer = stream.socket.getpeername()[:2]
    framer = TcpNgFramer()
    async with stream:
        try:
            async for data in stream:
                for message in framer.feed(data):
                    reply = core.handle_ng(message, peer, "tcp")
                    if reply is not None:
                        await stream.send_all(reply)
        except FramingError as exc:
            log.warning("tcp ng from %s: %s; closing", format_address(peer), exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass


async def serve(core, address, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    await serve_tcp(address, "ng (TCP)", lambda stream: _serve_connection(core, stream), task_status)


class TcpClient:
    """One connection; requests are sent in turn and replies framed like the server's."""

    def __init__(self, stream: trio.SocketStream, timeout: float) -> None:
        self.stream = stream
        self.timeout = timeout
        self.framer = TcpNgFramer()
        self.pending: list[bytes] = []

    async def request(self, data: bytes) -> bytes:
        cookie = data.split(b" ", 1)[0]
        await self.stream.send_all(data)
        with trio.fail_after(self.timeout):
            while True:
                for index, message in enumerate(self.pending):
                    if message.split(b" ", 1)[0] == cookie:
                        return self.pending.pop(index)
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    raise ConnectionError("connection closed by the daemon")
                self.pending.extend(self.framer.feed(chunk))

    async def aclose(self) -> None:
        await self.stream.aclose()


@asynccontextmanager
async def open_client(url: str, timeout: float = 5.0, **_):
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 22222
    with trio.fail_after(timeout):
        stream = await trio.open_tcp_stream(host, port)
    client = TcpClient(stream, timeout)
    try:
        yield client
    finally:
        await client.aclose()


register(Transport("tcp-ng", "listen_tcp_ng", serve, ("tcp",), open_client, frozenset({"ng"})))
