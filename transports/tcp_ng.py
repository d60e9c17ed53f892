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

from rtpengined.log_context import address_text
from rtpengined.protocol import bencode

from . import Transport, register
from ._accept import peer_of, serve_tcp

log = logging.getLogger("rtpengined.tcp")
MAX_PENDING = 1024 * 1024  # rtpengine closes past 1 KiB of partial message; we allow 1 MiB
# A reply the peer has not taken within this long closes the connection (it sends
# requests but does not read): no descriptor is held for a peer that stopped reading.
SEND_TIMEOUT = 30.0
# Bytes read (and scanned) per turn: scanning costs about 0.1-0.5 us per byte in Python,
# so 16 KiB keeps one connection's turn to a few ms, and other transports get theirs.
RECEIVE_SIZE = 16384
# With --dtmf-log-ng-tcp: messages (replies, notifications) a connection may have queued;
# past this a peer that does not read loses notifications and waits for its replies.
OUTBOX = 256


class FramingError(Exception):
    """The buffered bytes can never form a message; the connection should be closed."""


class TcpNgFramer:
    """Sans-I/O splitter: feed bytes, get complete ``COOKIE SP bencode`` messages back.

    The work is linear in the bytes received: the search for the cookie's space and the
    bencode scan (``bencode.ValueScanner``) both resume where the previous ``feed``
    stopped, so a peer trickling a large message one byte at a time costs one token per
    byte, not a rescan of the buffer.
    """

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.buffer = bytearray()
        self.max_pending = max_pending
        self._reset()

    def _reset(self) -> None:
        self._space = -1  # offset of the cookie's space, once found
        self._searched = 0  # no space before this offset (while looking for one)
        self._scanner: bencode.ValueScanner | None = None  # the value after the space

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self.buffer
        buffer += data
        messages: list[bytes] = []
        while True:
            if self._space < 0:
                space = buffer.find(b" ", self._searched)
                if space < 0:
                    self._searched = len(buffer)
                    break
                self._space = space
                self._scanner = bencode.ValueScanner(space + 1)
            try:
                end = self._scanner.scan(buffer)
            except bencode.BencodeError:
                log.warning("tcp ng: discarding %d bytes that are not bencode", len(buffer))
                buffer.clear()
                self._reset()
                break
            if end is None:
                break
            messages.append(bytes(buffer[:end]))
            del buffer[:end]
            self._reset()
        if len(buffer) > self.max_pending:
            raise FramingError(f"partial message larger than {self.max_pending} bytes")
        return messages


async def _serve_connection(core, stream: trio.SocketStream) -> None:
    """Answer the messages of one connection in order.

    Every reply must be taken by the peer within ``SEND_TIMEOUT``: a peer that sends
    requests and never reads the replies is closed then, instead of holding the
    connection (and its descriptor) forever. Errors from the peer end only this
    connection (``_accept`` keeps them here). With ``--dtmf-log-ng-tcp`` the connection
    also gets every key's ``onDTMF`` message (``_serve_notified``).
    """
    peer = peer_of(stream)
    if peer is None:  # reset before we got to it
        return
    async with stream:
        if core.config.dtmf_log_ng_tcp:
            await _serve_notified(core, stream, peer)
            return

        async def reply_now(reply: bytes) -> None:
            with trio.fail_after(SEND_TIMEOUT):
                await stream.send_all(reply)

        await _answer(core, stream, peer, reply_now)


async def _answer(core, stream: trio.SocketStream, peer, deliver) -> None:
    """Read the connection's requests and hand each reply to ``deliver`` until the peer
    closes, breaks the framing or stops reading."""
    framer = TcpNgFramer()
    try:
        while data := await stream.receive_some(RECEIVE_SIZE):
            for message in framer.feed(data):
                reply = core.handle_ng(message, peer)
                if reply is not None:
                    await deliver(reply)
    except FramingError as exc:
        log.warning("tcp ng from %s: %s; closing", address_text(peer), exc)
    except trio.TooSlowError:
        _not_reading(peer)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        pass


def _not_reading(peer) -> None:
    log.warning("tcp ng from %s: replies not read for %g s; closing", address_text(peer),
                SEND_TIMEOUT)


async def _serve_notified(core, stream: trio.SocketStream, peer) -> None:
    """``_answer`` for a daemon with ``--dtmf-log-ng-tcp``: replies and notifications go
    through one queue that a single writer empties, so that they never interleave. A
    notification finding the queue full (the peer does not read) is dropped, never
    waited for: the relay's news must not wait on a peer."""
    send, queued = trio.open_memory_channel(OUTBOX)
    dropped = 0

    def notify(message: bytes) -> None:
        nonlocal dropped
        try:
            send.send_nowait(message)
        except trio.WouldBlock:
            dropped += 1
            if dropped == 1:
                log.warning("tcp ng to %s: not reading; notifications dropped",
                            address_text(peer))
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async def write(done: trio.CancelScope) -> None:
        try:
            async for message in queued:
                with trio.fail_after(SEND_TIMEOUT):
                    await stream.send_all(message)
        except trio.TooSlowError:
            _not_reading(peer)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        done.cancel()  # (the reader too: the connection is of no more use)

    core.ng_notified.add(notify)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write, nursery.cancel_scope)
            with send:  # (closed once the peer is done: the writer sends what is left)
                await _answer(core, stream, peer, send.send)
    finally:
        core.ng_notified.discard(notify)


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
