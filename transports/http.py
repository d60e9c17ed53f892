"""HTTP/HTTPS and WS/WSS on one port: a lean trio server over the sans-I/O route table.

One task per connection, nothing spawned per request: the task reads, feeds httptools (the
llhttp C parser; h11 costs four times as much per request), answers every complete request
through ``Routes.handle`` (pipelined requests in one write), and on a WebSocket upgrade
switches to a ``WsSession`` in the same task, bytes left over from the upgrade's segment
included. HTTPS is ``trio.SSLStream``; ALPN ``h2`` hands the connection to ``h2conn``.

Every wait has a deadline: the TLS handshake and each request (head and body) must arrive
within the idle timeout (``--http-idle-timeout``, at most 30 s for a started request), an idle
connection is closed after it, and every write must finish within it, so a peer that does not
read its replies is hung up on rather than kept. Limits: header block 64 KiB (431), body
1 MiB (413), WebSocket message 1 MiB (close 1009); a request with both Content-Length and
Transfer-Encoding is refused (400) and the connection closed, so nothing smuggled behind it is
served. Shutdown is bounded: listeners close, idle connections are dropped, WebSockets get a
close frame (1001), and whatever is still open after ``SHUTDOWN_SECONDS`` is cut.

Client side: ``open_client(url, kind=...)`` speaks ``POST /ng`` / ``GET /cli/<command>``
over a kept-alive HTTP/1.1 connection (h11), or the ng/cli WebSocket subprotocols.

Why one module of this size: the connection loop, its deadlines and the direct socket I/O
are one state machine over one connection; the sans-I/O parts (routes, WebSocket session,
HTTP/2) already live in ``http_app``, ``ws`` and ``h2conn``.
"""

from __future__ import annotations

import http
import logging
import os
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus, urlsplit

import h11
import httptools
import trio

from rtpengined.log_context import address_text

from . import ListenError, Transport, register
from ._accept import LISTEN_BACKLOG, serve_listener
from ._net import bind_socket
from .http_app import MAX_BODY, MAX_HEADER_BLOCK, NG_CONTENT_TYPE, Request, Response, Routes, error, header
from .ws import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    WsSession,
    client_ssl_context,
    is_websocket_upgrade,
    open_ws_client,
    upgrade,
)

log = logging.getLogger("rtpengined.http")
SHUTDOWN_SECONDS = 1.0
MAX_REQUEST_SECONDS = 30.0  # a started request (head and body) must be complete within this
LINGER_SECONDS = 1.0  # after an error reply, read and drop what the peer still sends, so it sees the reply
LINGER_BYTES = 4 * MAX_BODY
RECEIVE_SIZE = 65536
# Pipelined replies are written out once this much is waiting: one 64 KiB read can hold
# a thousand small requests whose replies (CLI output) are each much larger, and a peer
# that never reads would otherwise have all of them built and held until the send deadline.
FLUSH_BYTES = 65536
# A read is parsed this much at a time, and what it completed answered before the next
# slice is parsed: so a read of many tiny pipelined requests never holds them all parsed.
FEED_BYTES = 8192
# WebSocket frames are smaller still (a 34-byte ng ``statistics`` frame asks for 7 kB), so
# their reads are answered in smaller slices.
WS_FEED_BYTES = 2048
# A read's deadline is moved only when the wanted one is outside [wanted, wanted + slack]:
# moving it re-sorts trio's deadline heap, once per request otherwise. Timeouts end at
# most this much later than asked, never earlier.
DEADLINE_SLACK = 0.05


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""  # 600, rtpengine's ng error status, has no phrase
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


_HEADS: dict[tuple[int, bytes], bytes] = {}


def encode_response(response: Response, head_only: bool = False) -> bytes:
    """Status line, headers, body (none for a HEAD request: its length is announced only).

    The bytes up to the content length are kept per status and content type: most
    replies are a handful of kinds, and this is on every request's path."""
    if response.extra_headers:
        head = _status_line(response.status) + b"".join(b"%s: %s\r\n" % pair for pair in response.header_list())
        return head + b"\r\n" + (b"" if head_only else response.body)
    key = (response.status, response.content_type)
    start = _HEADS.get(key)
    if start is None:
        if len(_HEADS) > 64:  # content types come from our own routes, but stay bounded anyway
            _HEADS.clear()
        start = _HEADS[key] = _status_line(response.status) + b"content-type: " + response.content_type \
            + b"\r\ncontent-length: "
    body = response.body
    return b"%b%d\r\n\r\n%b" % (start, len(body), b"" if head_only else body)


class _Refusal(Exception):
    """Raised from a parser callback (after setting ``H1Parser.refusal``) to stop parsing."""


class H1Parser:
    """httptools callbacks that collect complete requests and enforce the limits.

    Completed header lines are counted exactly here; a single line still being received is
    counted by the shell (``head_fed``), so the buffered head stays bounded either way.
    """

    def __init__(self, source: tuple[str, int] | None) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.source = source
        self.ready: deque[tuple[Request, bool, bool]] = deque()  # request, keep-alive, upgrade
        self.in_head = False
        self.in_message = False
        self.began = False  # a message began during the current feed
        self.head_size = 0
        self.wants_continue = False
        self.refusal: Response | None = None
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: bytearray | None = None

    def refuse(self, response: Response) -> None:
        self.refusal = response
        raise _Refusal

    def on_message_begin(self) -> None:
        self.in_head = self.in_message = self.began = True
        self.url, self.headers, self.body, self.head_size = b"", [], None, 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_size += len(url)
        if self.head_size > MAX_HEADER_BLOCK:
            self.refuse(error(431, b"request header fields too large\n"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEADER_BLOCK:
            self.refuse(error(431, b"request header fields too large\n"))

    def on_headers_complete(self) -> None:
        self.in_head = False
        length = transfer = None
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                if length is not None and length != value:
                    self.refuse(error(400, b"bad request\n"))
                length = value
            elif lowered == b"transfer-encoding":
                transfer = value
        if length is not None and transfer is not None:  # RFC 9112 6.3: never trust the framing
            self.refuse(error(400, b"bad request\n"))
        if length is not None and length.strip().isdigit() and int(length) > MAX_BODY:
            self.refuse(error(413, b"request entity too large\n"))
        if length not in (None, b"0") or transfer is not None:
            expect = header(self.headers, b"expect")
            self.wants_continue = expect is not None and expect.lower() == b"100-continue"

    def on_body(self, body: bytes) -> None:
        if self.body is None:
            self.body = bytearray(body)
        else:
            self.body += body
        if len(self.body) > MAX_BODY:
            self.refuse(error(413, b"request entity too large\n"))

    def on_message_complete(self) -> None:
        self.in_message = self.wants_continue = False
        parser = self.parser
        request = Request(parser.get_method(), self.url, self.headers,
                          bytes(self.body) if self.body is not None else b"", self.source)
        self.ready.append((request, parser.should_keep_alive(), parser.should_upgrade()))


class Conn:
    """One connection's I/O under a single cancel scope whose deadline follows what it waits for.

    Entering a fresh cancel scope for every read and write cost more than parsing the
    request; instead ``receive`` and ``send`` move this scope's deadline, and the handler
    learns from ``waiting`` whether a cancellation hit a read (idle, slow request,
    shutdown) or a write (a peer that does not read). TLS goes through the ``SSLStream``.

    Plain TCP reads and writes the socket's descriptor directly: trio's socket methods try
    the call first and yield to the scheduler around it, which made a request/reply three
    scheduler turns and a ``recv`` that fails with EAGAIN (the next request is never there
    right after a reply went out). Here a reply that fits the socket buffer is one
    ``write`` with no turn, and a read first waits for readability unless the last read
    filled the buffer (then more is probably waiting, and a checkpoint keeps it fair).
    """

    __slots__ = ("stream", "fd", "scope", "server", "waiting", "partial", "on_close", "pending")

    def __init__(self, server: WebServer, stream: trio.abc.Stream) -> None:
        self.server = server
        self.stream = stream
        self.fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self.scope = trio.CancelScope()
        self.waiting = False
        self.partial = False  # a request has started but not completed
        self.on_close: Any = None  # WebSocket/HTTP2: ``on_close(closing) -> bytes`` to send at the end
        self.pending = True  # bytes may be waiting already (a new connection, a full last read)

    async def receive(self, deadline: float) -> bytes:
        """The next bytes; b"" when the peer closed (or broke) the connection."""
        scope = self.scope
        current = scope.deadline
        if not deadline <= current <= deadline + DEADLINE_SLACK:
            scope.deadline = deadline + DEADLINE_SLACK
        self.waiting = True
        if self.server.closing:
            scope.cancel()
            await trio.lowlevel.checkpoint()
        fd = self.fd
        if fd < 0:
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            self.waiting = False
            return data
        if self.pending:
            await trio.lowlevel.checkpoint()
        while True:
            if not self.pending:
                await trio.lowlevel.wait_readable(fd)
            try:
                data = os.read(fd, RECEIVE_SIZE)
            except BlockingIOError:
                self.pending = False
                continue
            except OSError:
                data = b""
            break
        self.pending = len(data) == RECEIVE_SIZE
        self.waiting = False
        return data

    async def send(self, data: bytes) -> None:
        """Write everything within the send deadline (else the handler hangs up)."""
        fd = self.fd
        if fd < 0:
            self.scope.deadline = trio.current_time() + self.server.send_seconds
            await self.stream.send_all(data)
            return
        try:
            sent = os.write(fd, data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
        self.scope.deadline = trio.current_time() + self.server.send_seconds
        view = memoryview(data)[sent:]
        while view:
            await trio.lowlevel.wait_writable(fd)
            try:
                sent = os.write(fd, view)
            except BlockingIOError:
                continue
            view = view[sent:]


class WebServer:
    """One listener's connections: their handler, idle/send deadlines and shutdown."""

    def __init__(self, core: Any, ssl_context: ssl.SSLContext | None) -> None:
        self.core = core
        self.routes = Routes(core)
        self.ssl_context = ssl_context
        self.idle = float(getattr(core.config, "http_idle_timeout", 0) or 0) or float("inf")
        self.request_seconds = min(self.idle, MAX_REQUEST_SECONDS)
        self.send_seconds = min(self.idle, MAX_REQUEST_SECONDS)
        self.closing = False
        self.connections: set[Conn] = set()

    def answer(self, request: Request) -> Response:
        """The route table's response; 500 (logged once) if it fails, which is a bug of ours."""
        try:
            return self.routes.handle(request)
        except Exception:
            log.exception("http: internal error answering %s %r", request.method.decode("latin-1"),
                          request.target[:200])
            return error(500, b"internal error\n")

    def begin_shutdown(self) -> None:
        """Wake every connection waiting for its peer; each then closes (WebSockets with 1001).
        Connections busy writing notice at their next read, or are cut by the server's deadline."""
        self.closing = True
        for conn in list(self.connections):
            if conn.waiting:
                conn.scope.cancel()

    async def handle(self, stream: trio.abc.Stream) -> None:
        """One connection, start to end; no peer input escapes as an exception."""
        source = _peer(stream)
        if self.ssl_context is not None:
            stream = trio.SSLStream(stream, self.ssl_context, server_side=True, https_compatible=True)
        conn = Conn(self, stream)
        self.connections.add(conn)
        try:
            with conn.scope:
                if isinstance(stream, trio.SSLStream):
                    if not await self._handshake(conn, stream, source):
                        return
                    if stream.selected_alpn_protocol() == "h2":
                        from .h2conn import serve_h2

                        await serve_h2(self, conn, source)
                        return
                await self.serve_h1(conn, source)
            if conn.scope.cancelled_caught:
                await self._cancelled(conn, source)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the peer went away
        except Exception:  # a bug of ours: this connection ends, the listener and daemon go on
            log.exception("http: connection from %s failed", _where(source))
        finally:
            self.connections.discard(conn)

    async def _cancelled(self, conn: Conn, source: Any) -> None:
        """A deadline passed or the server is closing: say goodbye where the protocol has a way."""
        if not conn.waiting:
            log.info("http: closing a connection to %s whose peer does not read its replies", _where(source))
            return
        if conn.on_close is not None:
            with trio.move_on_after(SHUTDOWN_SECONDS):
                await conn.stream.send_all(conn.on_close(self.closing))
        elif conn.partial and not self.closing:
            log.info("http: request from %s not complete in time; closing", _where(source))

    async def _handshake(self, conn: Conn, stream: trio.SSLStream, source: Any) -> bool:
        """The TLS handshake, under the request deadline (half a ClientHello is not kept)."""
        conn.scope.deadline = trio.current_time() + self.request_seconds
        conn.waiting = True
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError as exc:
            log.info("https: TLS handshake with %s failed: %s", _where(source), exc.__cause__ or exc)
            return False
        except trio.Cancelled:
            if not self.closing:
                log.info("https: TLS handshake with %s not complete in time; closing", _where(source))
            raise
        conn.waiting = False
        return True

    async def serve_h1(self, conn: Conn, source: Any) -> None:
        state = H1Parser(source)
        parser = state.parser
        head_fed = 0
        request_deadline = float("inf")
        received, fed = b"", 0
        while True:
            if fed >= len(received):
                now = trio.current_time()
                conn.partial = state.in_message
                received, fed = await conn.receive(
                    request_deadline if state.in_message else now + self.idle), 0
                if not received:
                    return
                if not state.in_message:
                    request_deadline = now + self.request_seconds
            data = received[fed:fed + FEED_BYTES] if fed or len(received) > FEED_BYTES else received
            fed += len(data)
            state.began = False
            refusal: Response | None = None
            leftover: bytes | None = None
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade as exc:
                leftover = (data[exc.args[0]:] if exc.args else b"") + received[fed:]
            except httptools.HttpParserCallbackError:
                refusal = state.refusal or error(400, b"bad request\n")
            except httptools.HttpParserError as exc:
                log.info("http: bad request from %s: %s", _where(source), exc)
                refusal = error(400, b"bad request\n")
            if state.in_head and refusal is None:
                head_fed = 0 if state.began else head_fed + len(data)
                if max(head_fed, state.head_size) > MAX_HEADER_BLOCK:
                    refusal = error(431, b"request header fields too large\n")
            elif not state.in_head:
                head_fed = 0
            out: list[bytes] = []
            pending = 0
            close = False
            while state.ready:
                request, keep_alive, upgrading = state.ready.popleft()
                if upgrading and leftover is not None and not state.ready:
                    if out:
                        await conn.send(b"".join(out))
                    await self._upgrade(conn, request, leftover, source)
                    return
                response = self.answer(request)
                out.append(encode_response(response, request.method == b"HEAD"))
                pending += len(out[-1])
                if response.close or not keep_alive or upgrading:
                    close = True
                    break
                if pending >= FLUSH_BYTES:
                    await conn.send(b"".join(out))
                    out.clear()
                    pending = 0
            if refusal is not None and not close:
                log.info("http: refusing a request from %s with %d", _where(source), refusal.status)
                out.append(encode_response(refusal))
                close = True
            elif state.wants_continue and state.in_message and not close:
                state.wants_continue = False
                out.append(b"HTTP/1.1 100 Continue\r\n\r\n")
            if out:
                await conn.send(b"".join(out))
            if close:
                if refusal is not None:
                    await self._linger(conn)
                return

    async def _linger(self, conn: Conn) -> None:
        """After an error reply (or a WebSocket close frame of ours): stop writing, drop what
        the peer still sends for a moment, so that it reads our reply instead of a reset."""
        conn.partial = False
        if isinstance(conn.stream, trio.SocketStream):
            await conn.stream.send_eof()
        received = 0
        deadline = trio.current_time() + LINGER_SECONDS
        while received < LINGER_BYTES:
            data = await conn.receive(deadline)
            if not data:
                return
            received += len(data)

    async def _upgrade(self, conn: Conn, request: Request, leftover: bytes, source: Any) -> None:
        if not is_websocket_upgrade(request):  # e.g. h2c: answered as plain HTTP, then closed
            response = self.routes.handle(request).closing()
            await conn.send(encode_response(response))
            return
        refusal, reply, subprotocol = upgrade(self.routes, request)
        if refusal is not None:
            await conn.send(encode_response(refusal))
            return
        session = WsSession(self.core, subprotocol, source)
        await self.serve_ws(conn, session, reply, leftover)

    async def serve_ws(self, conn: Conn, session: WsSession, out: bytes, unfed: bytes = b"") -> None:
        """Answer frames (first those in ``unfed``, what came after the upgrade request) until
        either side closes; idle timeout and shutdown close with a frame."""

        def goodbye(closing: bool) -> bytes:
            if closing:
                return session.close(CLOSE_GOING_AWAY, "server shutting down")
            log.info("ws %s: closing idle connection", session.subprotocol)
            return session.close(CLOSE_NORMAL, "idle timeout")

        conn.on_close = goodbye
        if session.pushes is None:
            await self._answer_frames(conn, session, out, conn.send, unfed)
            return
        try:
            await self._serve_pushing(conn, session, out, unfed)
        finally:
            session.ended()

    async def _answer_frames(self, conn: Conn, session: WsSession, out: bytes, send: Any,
                             unfed: bytes = b"") -> None:
        """Send what is due with ``send``, then answer the peer's frames until either side
        closes. A read is answered a slice at a time, each slice's replies sent before the
        next is parsed: a peer that sends many small requests and never reads the replies
        (each can be far larger than its request) makes us build no more than the socket holds."""
        fed = 0
        while True:
            if out:
                await send(out)
            if session.closed:
                if session.peer_may_still_send:
                    await self._linger(conn)
                return
            if fed >= len(unfed):
                unfed, fed = await conn.receive(trio.current_time() + self.idle), 0
                if not unfed:
                    return
            data = unfed[fed:fed + WS_FEED_BYTES] if fed or len(unfed) > WS_FEED_BYTES else unfed
            fed += len(data)
            out = session.receive(data)

    async def _serve_pushing(self, conn: Conn, session: WsSession, out: bytes, unfed: bytes) -> None:
        """``serve_ws`` for a session with events of its own (Janus): a second task sends
        them as they come; the two never write at once."""
        pushes = session.pushes
        writing = trio.Lock()
        woken = trio.Event()

        async def send(data: bytes) -> None:
            async with writing:
                await conn.send(data)

        def wake() -> None:
            woken.set()

        async def send_pushes() -> None:
            nonlocal woken
            while True:
                await woken.wait()
                woken = trio.Event()
                data = pushes.take()
                if data and not session.closed:
                    await send(data)

        pushes.wake = wake
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_pushes)
                try:
                    await self._answer_frames(conn, session, out, send, unfed)
                finally:
                    pushes.wake = None
                    nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the peer went away: as ``handle`` treats it (the nursery wraps it in a group)


def _peer(stream: Any) -> tuple[str, int] | None:
    try:
        address = stream.socket.getpeername()
    except (AttributeError, OSError):
        return None
    return (address[0], address[1])


def _where(source: Any) -> str:
    return address_text(source) if source else "?"


def make_ssl_context(core: Any, what: str) -> ssl.SSLContext:
    config = core.config
    if not (config.https_cert and config.https_key):
        raise ListenError(f"cannot listen for {what}: --https-cert and --https-key are required")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.https_cert, config.https_key)
        client_ca = getattr(config, "https_client_ca", None)
        if client_ca:  # mutual TLS: only clients with a certificate this CA signed get in
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ListenError(f"cannot listen for {what}: certificate or key unusable: {exc}") from None
    from .h2conn import ALPN_PROTOCOLS

    context.set_alpn_protocols(ALPN_PROTOCOLS)
    return context


async def _serve(core: Any, address: Any, tls: bool, task_status: Any) -> None:
    what = "HTTPS/WSS" if tls else "HTTP/WS"
    context = make_ssl_context(core, what) if tls else None
    sock = await bind_socket(socket.SOCK_STREAM, address.host, address.port, what)
    sock.listen(LISTEN_BACKLOG)
    sockname = sock.getsockname()
    server = WebServer(core, context)
    listener = trio.SocketListener(sock)
    stopping = trio.Event()
    # Shielded from the daemon's cancellation so that WebSockets get their close frame and
    # idle connections are hung up on; bounded by SHUTDOWN_SECONDS all the same. The
    # server is spawned (not ``nursery.start``-ed: a cancel during ``start`` would keep the
    # caller waiting inside it, before the ``finally`` that bounds the shielded scope), so
    # a cancel at any moment, start-up included, reaches that ``finally``.
    server_scope = trio.CancelScope(shield=True)

    async def run_server() -> None:
        with server_scope:
            async with trio.open_nursery() as connections:
                accepting = trio.CancelScope()

                async def accept() -> None:
                    with accepting:
                        await serve_listener(server.handle, listener, what, handler_nursery=connections)

                connections.start_soon(accept)
                await stopping.wait()
                accepting.cancel()
                await listener.aclose()
                server.begin_shutdown()

    try:
        async with trio.open_nursery() as nursery:
            try:
                nursery.start_soon(run_server)  # the socket listens already: nothing to wait for
                log.info("listening for %s on %s", what, address_text(sockname))
                task_status.started(sockname)
                await trio.sleep_forever()
            finally:
                server_scope.deadline = trio.current_time() + SHUTDOWN_SECONDS
                stopping.set()
    finally:
        sock.close()


async def serve_http(core: Any, address: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    await _serve(core, address, False, task_status)


async def serve_https(core: Any, address: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    await _serve(core, address, True, task_status)


# -- client -----------------------------------------------------------------------------


class HttpStatusError(ConnectionError):
    """The daemon answered with a status other than 200 (``status``, ``body``)."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP status {status}: {body[:200]!r}")
        self.status = status
        self.body = body


def cli_target(command: str) -> str:
    """``/cli/`` path for a command: spaces as ``+``, everything else percent-encoded."""
    return "/cli/" + quote_plus(command.encode("utf-8", "surrogateescape"), safe="")


class HttpClient:
    """One kept-alive HTTP/1.1 connection; reconnects once if the daemon closed it while idle."""

    def __init__(self, host: str, port: int, kind: str, timeout: float,
                 ssl_context: ssl.SSLContext | None, auth_token: str | None = None) -> None:
        self.host, self.port, self.kind, self.timeout = host, port, kind, timeout
        self.ssl_context = ssl_context
        self.auth_token = auth_token
        self.stream: trio.abc.Stream | None = None
        self.connection: h11.Connection | None = None
        self.lock = trio.Lock()
        self.host_header = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def _connect(self) -> None:
        stream: trio.abc.Stream = await trio.open_tcp_stream(self.host, self.port)
        if self.ssl_context is not None:
            stream = trio.SSLStream(stream, self.ssl_context, server_hostname=self.host,
                                    https_compatible=True)
            try:
                await stream.do_handshake()
            except trio.BrokenResourceError as exc:
                await stream.aclose()
                raise ConnectionError(f"TLS handshake with {self.host_header} failed: "
                                      f"{exc.__cause__ or exc}") from None
        self.stream = stream
        self.connection = h11.Connection(h11.CLIENT)

    def _build(self, data: bytes) -> h11.Request:
        headers = [("host", self.host_header)]
        if self.auth_token:
            headers.append(("authorization", f"Bearer {self.auth_token}"))
        if self.kind == "cli":
            target = cli_target(data.decode("utf-8", "surrogateescape"))
            return h11.Request(method="GET", target=target, headers=headers)
        headers += [("content-type", NG_CONTENT_TYPE), ("content-length", str(len(data)))]
        return h11.Request(method="POST", target="/ng", headers=headers)

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        assert self.stream is not None and self.connection is not None
        conn = self.connection
        out = conn.send(self._build(data))
        if self.kind != "cli":
            out += conn.send(h11.Data(data=data))
        out += conn.send(h11.EndOfMessage())
        await self.stream.send_all(out)
        status, body = 0, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("connection closed by the daemon")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self.aclose()
        return status, bytes(body)

    async def request(self, data: bytes) -> bytes:
        async with self.lock:
            with trio.fail_after(self.timeout):
                reused = self.stream is not None
                if not reused:
                    await self._connect()
                try:
                    status, body = await self._exchange(data)
                except (ConnectionError, trio.BrokenResourceError, h11.RemoteProtocolError):
                    await self.aclose()
                    if not reused:
                        raise
                    await self._connect()  # the idle connection was closed; ng cookies make a retry safe
                    status, body = await self._exchange(data)
        if status != 200:
            raise HttpStatusError(status, body)
        return body

    async def aclose(self) -> None:
        if self.stream is not None:
            stream, self.stream, self.connection = self.stream, None, None
            with trio.CancelScope(shield=True):
                await stream.aclose()


@asynccontextmanager
async def open_client(url: str, kind: str = "ng", timeout: float = 5.0, insecure: bool = False,
                      cacert: str | None = None, auth_token: str | None = None,
                      client_cert: str | None = None, client_key: str | None = None,
                      **_: Any) -> AsyncIterator[Any]:
    """Client for ``http(s)://host:port`` or ``ws(s)://host:port/``; ``kind`` is ``ng`` or ``cli``.

    ``auth_token`` is sent as ``Authorization: Bearer``; ``client_cert``/``client_key``
    (PEM) present a TLS client certificate to a daemon started with ``--https-client-ca``.
    """
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        async with open_ws_client(url, kind, timeout, insecure, cacert, auth_token=auth_token,
                                  client_cert=client_cert, client_key=client_key) as client:
            yield client
        return
    tls = parts.scheme == "https"
    context = client_ssl_context(insecure, cacert, client_cert, client_key) if tls else None
    client = HttpClient(parts.hostname or "127.0.0.1", parts.port or (443 if tls else 8080), kind,
                        timeout, context, auth_token)
    try:
        yield client
    finally:
        await client.aclose()


register(Transport("http", "listen_http", serve_http, ("http", "ws"), open_client, frozenset({"ng", "cli"})))
register(Transport("https", "listen_https", serve_https, ("https", "wss"), open_client,
                   frozenset({"ng", "cli"})))
