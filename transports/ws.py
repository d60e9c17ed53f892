"""WebSocket on the web port, sans-I/O: the upgrade decision and one session per connection.

``upgrade(routes, request)`` turns an HTTP upgrade request into either a refusal (401 without
the token, 403 for an unknown or missing subprotocol, 400 for a broken handshake) or the 101
reply and a ``WsSession``. The session is a state machine, bytes in, bytes out, every message
handed to the same core as the HTTP routes: complete, masked, unfragmented data frames (what
every ng client sends) are parsed here, anything else (control frames, fragments, protocol
errors, frames over 1 MiB) by wsproto, which then parses the rest of the connection. ``echo.rtpengine.com``
echoes, ``cli.rtpengine.com`` runs one command per message (no frame for empty output),
``ng.rtpengine.com`` answers each envelope with one binary frame (many in flight; the client
matches them by cookie), ``ng-plain.rtpengine.com`` the same without cookie. Replies are
binary frames, as rtpengine sends them. A protocol error closes with 1002/1007, a message over
1 MiB with 1009; the I/O shell closes idle sessions with 1000 and open ones on shutdown with
1001 (``close``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from .http_app import MAX_BODY, Request, Response, Routes, error, header, unauthorized

log = logging.getLogger("rtpengined.ws")

ECHO, CLI, NG, NG_PLAIN = ("echo.rtpengine.com", "cli.rtpengine.com", "ng.rtpengine.com",
                           "ng-plain.rtpengine.com")
JANUS = "janus-protocol"  # the Janus videoroom interface (rtpengined.janus)
SUBPROTOCOLS = (ECHO, CLI, NG, NG_PLAIN, JANUS)
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_TOO_BIG, CLOSE_INTERNAL = 1000, 1001, 1009, 1011
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def choose_subprotocol(requested: list[str]) -> str | None:
    """The first subprotocol the client offered that we serve."""
    for name in requested:
        if name.strip() in SUBPROTOCOLS:
            return name.strip()
    return None


def _answer(core: Any, subprotocol: str, message: bytes, source: tuple | None) -> bytes | None:
    """The reply frame for one message (``None``: send nothing)."""
    if subprotocol == NG:
        return core.handle_ng(message, source)
    if subprotocol == ECHO:
        return message
    if subprotocol == CLI:
        output = core.handle_cli(message.decode("utf-8", "surrogateescape"))
        return output.encode("utf-8", "surrogateescape") or None
    if subprotocol == JANUS:  # (without a connection: the reply alone, as over HTTP)
        return core.handle_janus(message, None)[-1]
    reply, _encoding = core.handle_ng_plain(message, source)
    return reply


def is_websocket_upgrade(request: Request) -> bool:
    upgrade = header(request.headers, b"upgrade")
    return upgrade is not None and b"websocket" in upgrade.lower()


def upgrade(routes: Routes, request: Request) -> tuple[Response | None, bytes, str]:
    """(refusal, b"", "") or (None, the 101 reply, subprotocol) for a WebSocket upgrade request.

    The token is required on every upgrade: the session serves ng and CLI whatever the path.
    """
    if not routes.authorized(request.headers):
        log.info("ws: refusing upgrade %r from %s: missing or wrong auth token", request.target[:200],
                 request.source)
        return unauthorized().closing(), b"", ""
    key = header(request.headers, b"sec-websocket-key")
    if request.method != b"GET" or not key or header(request.headers, b"sec-websocket-version") != b"13":
        log.info("ws: refusing a malformed upgrade request from %s", request.source)
        return error(400, b"bad websocket handshake\n"), b"", ""
    offered = b",".join(value for name, value in request.headers if name.lower() == b"sec-websocket-protocol")
    subprotocol = choose_subprotocol(offered.decode("latin-1").split(",")) if offered else None
    if subprotocol is None:
        log.info("ws: refusing upgrade, subprotocols offered: %r", offered[:200])
        return error(403, b"unsupported websocket subprotocol\n"), b"", ""
    accept = base64.b64encode(hashlib.sha1(key.strip() + _GUID).digest())
    reply = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: "
             + subprotocol.encode() + b"\r\n\r\n")
    return None, reply, subprotocol


def _frame(first: int, payload: bytes) -> bytes:
    """One unmasked, unfragmented frame (server to client) whose first byte is ``first``
    (FIN and the opcode), built without wsproto's general path."""
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def text_frame(payload: bytes) -> bytes:
    """A text frame (Janus JSON goes out as text, as rtpengine sends it)."""
    return _frame(0x81, payload)


class Pushes:
    """A Janus connection's events that no request of its own produced (``webrtcup``):
    queued as frames here; ``wake`` (set by the I/O shell) tells the shell to send them."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.wake: Any = None

    def push(self, message: bytes) -> None:
        self.frames.append(text_frame(message))
        if self.wake is not None:
            self.wake()

    def take(self) -> bytes:
        frames, self.frames = self.frames, []
        return b"".join(frames)


def binary_frame(payload: bytes) -> bytes:
    """A binary frame: every reply but Janus's."""
    return _frame(0x82, payload)


class WsSession:
    """One accepted WebSocket connection: ``receive(bytes) -> bytes to send``.

    ``closed`` turns true once a close frame is out (ours or the answer to the peer's); the
    shell then sends what it has and hangs up (after ``peer_may_still_send`` is drained).
    """

    def __init__(self, core: Any, subprotocol: str, source: tuple | None, trailing: bytes = b"") -> None:
        self.core = core
        self.subprotocol = subprotocol
        self.source = source
        self.connection = Connection(ConnectionType.SERVER)
        self.pending = bytearray()
        self.closed = False
        self.fast = True  # complete, masked, unfragmented data frames are parsed here
        self.buffer = bytearray(trailing)
        # Janus: where the session's asynchronous events wait for the shell to send them.
        self.pushes: Pushes | None = Pushes() if subprotocol == JANUS else None

    def process(self) -> bytes:
        """Answer whatever the bytes received so far (and the upgrade's leftover) hold."""
        return self.receive(b"")

    def receive(self, data: bytes) -> bytes:
        if not self.fast:
            if data:
                self.connection.receive_data(data)
            return self._wsproto_events()
        buffer = self.buffer
        buffer += data
        out: list[bytes] = []
        at, size = 0, len(buffer)
        slow = False  # the frame at ``at`` is one for wsproto: hand it everything from there on
        while not self.closed and size - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            opcode, length, start = first & 0x0F, second & 0x7F, at + 2
            if not second & 0x80 or first & 0x70 or opcode not in (1, 2, 8, 9, 10) \
                    or (opcode < 8 and not first & 0x80) or (opcode >= 8 and length > 125):
                slow = True  # unmasked, extension bits, fragments, bad opcodes: wsproto decides
                break
            if length == 126:
                if size - at < 4:
                    break
                length, start = int.from_bytes(buffer[at + 2:at + 4], "big"), at + 4
            elif length == 127:
                if size - at < 10:
                    break
                length, start = int.from_bytes(buffer[at + 2:at + 10], "big"), at + 10
            if length > MAX_BODY:
                slow = True  # wsproto streams it; 1009 once more than 1 MiB has arrived
                break
            end = start + 4 + length
            if end > size:
                break  # the rest of the frame has not arrived yet
            if opcode >= 8:  # ping, pong, close: complete, for wsproto
                self.connection.receive_data(bytes(buffer[at:end]))
                at = end
                out.append(self._wsproto_events())
                continue
            payload = _unmask(buffer[start + 4:end], buffer[start:start + 4])
            if opcode == 1:
                try:
                    payload.decode("utf-8")
                except UnicodeDecodeError:
                    slow = True  # wsproto closes with 1007
                    break
            at = end
            reply = self._message(payload)
            if reply:
                out.append(reply)
        if slow and not self.closed:
            self.fast = False
            self.connection.receive_data(bytes(buffer[at:]))
            buffer.clear()
            out.append(self._wsproto_events())
        else:
            del buffer[:at]
        return b"".join(out)

    def _message(self, payload: bytes) -> bytes | None:
        """The reply frame for one complete message; closes with 1011 on an internal error."""
        try:
            if self.pushes is not None:
                return b"".join(text_frame(m) for m in self.core.handle_janus(payload, self.pushes))
            reply = _answer(self.core, self.subprotocol, payload, self.source)
        except Exception:
            log.exception("ws %s: internal error", self.subprotocol)
            return self.close(CLOSE_INTERNAL)
        return binary_frame(reply) if reply is not None else None

    def ended(self) -> None:
        """The connection is gone: a Janus session's events no longer go to it."""
        if self.pushes is not None:
            self.core.janus.link_closed(self.pushes)

    def _wsproto_events(self) -> bytes:
        """Answer every event wsproto has parsed so far."""
        out: list[bytes] = []
        for event in self.connection.events():
            if self.closed:
                break
            if isinstance(event, (BytesMessage, TextMessage)):
                data = event.data
                chunk = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
                if not event.message_finished or self.pending:
                    self.pending += chunk
                    if len(self.pending) > MAX_BODY:
                        log.info("ws %s: closing with 1009: message too big", self.subprotocol)
                        out.append(self.close(CLOSE_TOO_BIG))
                        break
                    if not event.message_finished:
                        continue
                    chunk, self.pending = bytes(self.pending), bytearray()
                reply = self._message(chunk)
                if reply:
                    out.append(reply)
            elif isinstance(event, CloseConnection):
                if self.connection.state is ConnectionState.OPEN:  # wsproto's parse error
                    log.info("ws %s: closing with %d: %s", self.subprotocol, event.code, event.reason)
                    out.append(self.close(event.code))
                else:  # the peer's close: answer it
                    out.append(self.connection.send(event.response()))
                    self.closed = True
                break
            elif isinstance(event, Ping):
                out.append(self.connection.send(event.response()))
        return b"".join(out)

    @property
    def peer_may_still_send(self) -> bool:
        """We sent a close frame the peer has not answered: it may still be sending (a
        message we refused as too big, say). The shell drains it for a moment before
        hanging up, so the peer reads our close frame instead of a reset."""
        return self.connection.state is ConnectionState.LOCAL_CLOSING

    def close(self, code: int, reason: str = "") -> bytes:
        """Our close frame (once); nothing if the session is already closed."""
        if self.closed or self.connection.state is not ConnectionState.OPEN:
            self.closed = True
            return b""
        self.closed = True
        return self.connection.send(CloseConnection(code=code, reason=reason or None))


def _unmask(payload: bytearray, mask: bytearray) -> bytes:
    """XOR with the 4-byte mask, as one big integer operation."""
    if mask == b"\0\0\0\0" or not payload:
        return bytes(payload)
    size = len(payload)
    key = int.from_bytes(bytes(mask) * (size // 4 + 1), "little") & ((1 << (8 * size)) - 1)
    return (int.from_bytes(payload, "little") ^ key).to_bytes(size, "little")


def _as_bytes(message: bytes | str | None) -> bytes:
    if message is None:
        return b""
    if isinstance(message, str):
        return message.encode("utf-8", "surrogateescape")
    return message


# -- client -----------------------------------------------------------------------------


def client_ssl_context(insecure: bool = False, cacert: str | None = None,
                       client_cert: str | None = None, client_key: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cacert)
    if client_cert:
        context.load_cert_chain(client_cert, client_key)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class WsNgClient:
    """ng over ``ng.rtpengine.com``: replies matched by cookie, many requests in flight."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.waiting: dict[bytes, trio.MemorySendChannel] = {}

    async def read_replies(self) -> None:
        while True:
            try:
                message = await self.connection.get_message()
            except Exception:  # closed: wake every waiter with nothing
                for channel in self.waiting.values():
                    channel.close()
                return
            reply = _as_bytes(message)
            channel = self.waiting.pop(reply.split(b" ", 1)[0], None)
            if channel is not None:
                channel.send_nowait(reply)

    async def request(self, data: bytes) -> bytes:
        cookie = data.split(b" ", 1)[0]
        send, receive = trio.open_memory_channel[bytes](1)
        self.waiting[cookie] = send
        try:
            with trio.fail_after(self.timeout):
                await self.connection.send_message(data)
                try:
                    return await receive.receive()
                except trio.EndOfChannel:
                    raise ConnectionError("websocket closed by the daemon") from None
        finally:
            self.waiting.pop(cookie, None)


class WsCliClient:
    """CLI over ``cli.rtpengine.com``. Empty output sends no frame, so each command is
    followed by a marker command whose (unknown-command) reply closes the answer."""

    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.lock = trio.Lock()

    async def request(self, data: bytes) -> bytes:
        marker = ("#rtpctl-end-" + secrets.token_hex(8)).encode()
        async with self.lock:
            with trio.fail_after(self.timeout):
                await self.connection.send_message(data)
                await self.connection.send_message(marker)
                frames: list[bytes] = []
                while True:
                    frame = _as_bytes(await self.connection.get_message())
                    if marker in frame and frame.startswith(b"Unknown"):
                        return b"".join(frames)
                    frames.append(frame)


class WsEchoClient:
    def __init__(self, connection: Any, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout

    async def request(self, data: bytes) -> bytes:
        with trio.fail_after(self.timeout):
            await self.connection.send_message(data)
            return _as_bytes(await self.connection.get_message())


@asynccontextmanager
async def open_ws_client(url: str, kind: str = "ng", timeout: float = 5.0, insecure: bool = False,
                         cacert: str | None = None, *, auth_token: str | None = None,
                         client_cert: str | None = None,
                         client_key: str | None = None) -> AsyncIterator[Any]:
    """Connect to ``ws://`` or ``wss://`` with the subprotocol for ``kind`` (ng, cli, echo, ng-plain)."""
    from trio_websocket import open_websocket_url

    subprotocol = {"ng": NG, "cli": CLI, "echo": ECHO, "ng-plain": NG_PLAIN}[kind]
    context = client_ssl_context(insecure, cacert, client_cert, client_key) if url.startswith("wss:") else None
    headers = [(b"authorization", b"Bearer " + auth_token.encode())] if auth_token else None
    async with open_websocket_url(url, ssl_context=context, subprotocols=[subprotocol],
                                  extra_headers=headers, connect_timeout=timeout,
                                  disconnect_timeout=1.0) as connection:
        if kind == "ng":
            client = WsNgClient(connection, timeout)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.read_replies)
                yield client
                nursery.cancel_scope.cancel()
        elif kind == "cli":
            yield WsCliClient(connection, timeout)
        else:
            yield WsEchoClient(connection, timeout)
