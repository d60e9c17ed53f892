"""WebSocket subprotocols on the HTTP port (server, via quart-trio) and the client (trio-websocket).

Server: ``echo.rtpengine.com`` echoes, ``cli.rtpengine.com`` runs one command per message
(no frame for empty output), ``ng.rtpengine.com`` answers each envelope with one binary
frame, ``ng-plain.rtpengine.com`` the same without cookie. Messages on one connection are
answered in order; a client may have many in flight. An idle connection is closed (1000)
after ``http_idle_timeout``; on shutdown every open WebSocket gets a close frame (1001),
which hypercorn alone would not send.
"""

from __future__ import annotations

import logging
import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from quart import Response, websocket

log = logging.getLogger("rtpengined.ws")

ECHO, CLI, NG, NG_PLAIN = ("echo.rtpengine.com", "cli.rtpengine.com", "ng.rtpengine.com",
                           "ng-plain.rtpengine.com")
SUBPROTOCOLS = (ECHO, CLI, NG, NG_PLAIN)
CLOSE_GOING_AWAY = 1001


def choose_subprotocol(requested: list[str]) -> str | None:
    """The first subprotocol the client offered that we serve."""
    for name in requested:
        if name.strip() in SUBPROTOCOLS:
            return name.strip()
    return None


def _as_bytes(message: bytes | str | None) -> bytes:
    # quart-trio delivers an empty binary frame as None.
    if message is None:
        return b""
    if isinstance(message, str):
        return message.encode("utf-8", "surrogateescape")
    return message


def _answer(core: Any, subprotocol: str, message: bytes, source: tuple | None) -> bytes | None:
    """The reply frame for one message (``None``: send nothing)."""
    if subprotocol == ECHO:
        return message
    if subprotocol == CLI:
        output = core.handle_cli(message.decode("utf-8", "surrogateescape"), source)
        return output.encode("utf-8", "surrogateescape") or None
    if subprotocol == NG:
        return core.handle_ng(message, source, "ws")
    reply, _encoding = core.handle_ng_plain(message, source, "ws")
    return reply


async def serve_websocket(state: Any) -> Response | None:
    """Quart websocket view: negotiate, then answer messages until close, idle or shutdown."""
    subprotocol = choose_subprotocol(websocket.requested_subprotocols)
    if subprotocol is None:
        log.info("ws: refusing upgrade, subprotocols offered: %r", websocket.requested_subprotocols)
        return Response(b"unsupported websocket subprotocol\n", status=403, content_type="text/plain")
    client = websocket.scope.get("client")
    source = (client[0], client[1]) if client else None
    await websocket.accept(subprotocol=subprotocol)
    idle = float(state.core.config.http_idle_timeout or 0) or float("inf")
    scope = trio.CancelScope(deadline=trio.current_time() + idle)
    state.open_websockets.add(scope)
    try:
        with scope:
            while True:
                message = _as_bytes(await websocket.receive())
                scope.deadline = trio.current_time() + idle
                try:
                    reply = _answer(state.core, subprotocol, message, source)
                except Exception:
                    log.exception("ws %s: internal error", subprotocol)
                    await websocket.close(1011)
                    return None
                if reply is not None:
                    await websocket.send(reply)
    finally:
        state.open_websockets.discard(scope)
    if state.closing:
        await websocket.close(CLOSE_GOING_AWAY, "server shutting down")
    else:
        log.info("ws %s: closing idle connection", subprotocol)
        await websocket.close(1000, "idle timeout")
    return None


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
