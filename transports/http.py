"""HTTP/HTTPS and WS/WSS on one port: hypercorn serving the quart-trio app, inside the daemon nursery.

We bind the listening socket ourselves (a clear ``ListenError`` instead of hypercorn's
traceback) and run hypercorn's connection handler on it in our own small accept loop, so
that shutdown and hang-ups are under our control. Shutdown is bounded: on cancellation
the app closes open WebSockets with a close frame, hypercorn stops accepting and drops
idle keep-alive connections, and whatever is left is cut after ``SHUTDOWN_SECONDS``.

Client side: ``open_client(url, kind=...)`` speaks ``POST /ng`` / ``GET /cli/<command>``
over a kept-alive HTTP/1.1 connection (h11), or the ng/cli WebSocket subprotocols.
"""

from __future__ import annotations

import http
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus, urlsplit

import h11
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.statsd import StatsdLogger
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from . import ListenError, Transport, register
from ._accept import serve_listener
from ._net import bind_socket, format_address
from .http_app import MAX_BODY, NG_CONTENT_TYPE, AppState, create_app
from .ws import client_ssl_context, open_ws_client

log = logging.getLogger("rtpengined.http")
SHUTDOWN_SECONDS = 1.0
GRACEFUL_SECONDS = 0.5


def _patch_hypercorn() -> None:
    """Two small fixes to hypercorn, local to the modules only this daemon uses.

    * HTTP/1.1 status lines get their reason phrase (``200 OK``), as rtpengine's have; h11
      writes ``HTTP/1.1 200 `` unless told the phrase, and hypercorn never tells it.
    * A WebSocket frame that breaks the protocol (bad UTF-8, unmasked, reserved opcode) or a
      message over the size cap is answered with a close frame (1007, 1002, 1009) and the
      connection is closed; hypercorn would drop it without saying why, or (too big) send
      the close but then stop reading and keep the socket until the idle timeout.
    """
    from hypercorn.protocol import h11 as hypercorn_h11
    from hypercorn.protocol import ws_stream

    if getattr(hypercorn_h11.h11, "_rtpengined", False):
        return

    class H11WithReasons:
        _rtpengined = True

        def __getattr__(self, name: str) -> Any:
            return getattr(h11, name)

        @staticmethod
        def Response(*, status_code: int, headers: Any, **kwargs: Any) -> h11.Response:  # noqa: N802
            if "reason" not in kwargs:
                try:
                    kwargs["reason"] = http.HTTPStatus(status_code).phrase.encode()
                except ValueError:
                    pass
            return h11.Response(status_code=status_code, headers=headers, **kwargs)

    hypercorn_h11.h11 = H11WithReasons()
    original_handle_events = ws_stream.WSStream._handle_events

    def first_fatal(self: Any, events: list) -> tuple[int, int, str] | None:
        """Index, close code and reason of the first event that must end the connection."""
        pending = self.buffer.length
        for index, event in enumerate(events):
            if isinstance(event, ws_stream.Message):
                pending += len(event.data)
                if pending > self.buffer.max_length:
                    return index, 1009, "message too big"
                if event.message_finished:
                    pending = 0
            elif isinstance(event, ws_stream.CloseConnection):
                if self.connection.state is ws_stream.ConnectionState.OPEN:  # wsproto's parse error
                    return index, event.code, event.reason or ""
                return None
        return None

    async def handle_events(self: Any) -> None:
        events = list(self.connection.events())
        fatal = first_fatal(self, events)
        self.connection.events = lambda: iter(events[:fatal[0]] if fatal else events)
        try:
            await original_handle_events(self)  # hypercorn handles everything before it
        finally:
            del self.connection.events
        if fatal is not None and not self.closed:
            log.info("ws: closing with %d: %s", fatal[1], fatal[2])
            await self._send_wsproto_event(ws_stream.CloseConnection(code=fatal[1]))
            await self.send(ws_stream.StreamClosed(stream_id=self.stream_id))

    ws_stream.WSStream._handle_events = handle_events


def _hypercorn_config(core: Any, tls: bool) -> HypercornConfig:
    config = HypercornConfig()
    config.include_date_header = False
    config.include_server_header = False
    config.graceful_timeout = GRACEFUL_SECONDS
    config.keep_alive_timeout = float(core.config.http_idle_timeout or 5)
    config.websocket_max_message_size = MAX_BODY
    config.h11_max_incomplete_size = 64 * 1024
    config.accesslog = None
    config.errorlog = logging.getLogger("rtpengined.http.server")
    if tls:
        config.certfile = core.config.https_cert
        config.keyfile = core.config.https_key
        client_ca = getattr(core.config, "https_client_ca", None)
        if client_ca:  # mutual TLS: only clients with a certificate this CA signed get in
            config.ca_certs = client_ca
            config.verify_mode = ssl.CERT_REQUIRED
    return config


class _PromptCloseTCPServer(TCPServer):
    """Hypercorn's connection handler, but a connection the client closed is closed at once.

    Stock hypercorn keeps the socket until its keep-alive timer fires, so a client that
    hangs up leaves the server side in CLOSE-WAIT for the whole idle timeout (the
    complaint of rtpengine issue 1896).
    """

    async def _read_data(self) -> None:
        await super()._read_data()
        await self.idle_task.stop()


async def _run_hypercorn(app: Any, config: HypercornConfig, sock: trio.socket.SocketType, tls: bool,
                         stopping: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """hypercorn's trio worker for one listening socket we bound, with our connection handler."""
    config.set_statsd_logger_class(StatsdLogger)
    lifespan_state: dict = {}
    lifespan = Lifespan(app, config, lifespan_state)
    context = WorkerContext(None)
    listener: Any = trio.SocketListener(sock)
    if tls:
        listener = trio.SSLListener(listener, config.create_ssl_context(), https_compatible=True)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as connections:
            connection_state = ConnectionState(lifespan_state.copy())

            async def handler(stream: Any) -> None:
                # One connection's failure (hypercorn/h11 raising on odd input) must not take
                # the listener, and with it the daemon, down.
                try:
                    await _PromptCloseTCPServer(app, config, context, connection_state, stream)
                except Exception:
                    log.warning("http: connection failed on bad input", exc_info=True)
                    with trio.CancelScope(shield=True):
                        await stream.aclose()
            accepting = trio.CancelScope()
            stopped_accepting = trio.Event()

            async def accept() -> None:
                try:
                    with accepting:
                        await serve_listener(handler, listener, "HTTP", handler_nursery=connections)
                finally:
                    stopped_accepting.set()

            connections.start_soon(accept)
            task_status.started()
            await stopping.wait()
            accepting.cancel()
            await stopped_accepting.wait()
            await listener.aclose()
            await context.terminated.set()  # idle keep-alive connections close now
            connections.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


async def _serve(core: Any, address: Any, tls: bool, task_status: Any) -> None:
    what = "HTTPS/WSS" if tls else "HTTP/WS"
    config = _hypercorn_config(core, tls)
    if tls:
        if not (config.certfile and config.keyfile):
            raise ListenError(f"cannot listen for {what}: --https-cert and --https-key are required")
        try:
            config.create_ssl_context()
        except (OSError, ssl.SSLError) as exc:
            raise ListenError(f"cannot listen for {what}: certificate or key unusable: {exc}") from None
    sock = await bind_socket(socket.SOCK_STREAM, address.host, address.port, what)
    sock.listen(128)
    sockname = sock.getsockname()
    _patch_hypercorn()
    state = AppState(core)
    app = wrap_app(create_app(state), config.wsgi_max_body_size, "asgi")
    stopping = trio.Event()
    server_scope = trio.CancelScope(shield=True)

    async def run_server(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with server_scope:
            await _run_hypercorn(app, config, sock, tls, stopping, task_status=task_status)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_server)
            log.info("listening for %s on %s", what, format_address(sockname))
            task_status.started(sockname)
            try:
                await trio.sleep_forever()
            finally:
                # The server is shielded from our cancellation so that it can close WebSockets
                # with a close frame and hang up on idle connections; bounded all the same.
                server_scope.deadline = trio.current_time() + SHUTDOWN_SECONDS
                state.begin_shutdown()
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
