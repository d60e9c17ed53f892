"""Accept loops that no connection can end: not a reset peer, not a lack of descriptors.

``trio.serve_listeners`` already retries when ``accept`` fails for lack of descriptors
(EMFILE, ENFILE, ENOMEM, ENOBUFS), but logs a full traceback ten times a second per
listener for as long as that lasts. This loop logs one warning when it starts and one
line when it ends, and backs off up to a second between attempts; the pending clients
wait in the listen backlog meanwhile. Any other ``accept`` error is logged once and
retried the same way instead of ending the listener (and with it the daemon).

Each connection's handler runs inside ``_run_handler``, which keeps whatever it raises
to that connection: a peer that resets before it is served (ENOTCONN from
``getpeername``, ECONNRESET from the first read) is logged at debug level; anything
else is a bug in the handler and is logged with its traceback. Neither reaches the
nursery, so the other connections, the listener and the daemon go on.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from rtpengined.log_context import address_text

from ._net import bind_socket

log = logging.getLogger("rtpengined.accept")
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
FIRST_BACKOFF = 0.1
MAX_BACKOFF = 1.0
# What a peer can make a connection's handler raise: it went away (reset, closed).
PEER_GONE = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)
# Connections the kernel holds for us before we accept them. A burst larger than the
# backlog (a proxy's pool reconnecting after a restart) has its extra SYNs dropped and
# retried a second later; 128 made every 129th client of a burst wait that second.
LISTEN_BACKLOG = 1024


async def serve_listener(handler: Callable[[Any], Awaitable[None]], listener: trio.abc.Listener,
                         what: str, handler_nursery: trio.Nursery | None = None) -> None:
    """Accept forever, running ``handler(stream)`` for each connection in ``handler_nursery``."""
    async with trio.open_nursery() as own_nursery:
        nursery = handler_nursery or own_nursery
        backoff = 0.0
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if not backoff:
                    if exc.errno in OUT_OF_RESOURCES:
                        log.warning("%s: cannot accept connections (%s); retrying until "
                                    "descriptors are free", what, exc.strerror or exc)
                    else:
                        log.warning("%s: accept failed (%s); retrying", what, exc.strerror or exc)
                backoff = min(max(backoff * 2, FIRST_BACKOFF), MAX_BACKOFF)
                await trio.sleep(backoff)
                continue
            if backoff:
                log.warning("%s: accepting connections again", what)
                backoff = 0.0
            nursery.start_soon(_run_handler, handler, stream, what)


async def _run_handler(handler: Callable[[Any], Awaitable[None]], stream: Any,
                       what: str = "connection") -> None:
    """Run one connection's handler; nothing it raises leaves this task.

    As trio.serve_listeners does, the stream is closed however the handler ends
    (a handler that fails half-way, e.g. in a TLS handshake, leaves no descriptor behind).
    """
    try:
        await handler(stream)
    except PEER_GONE as exc:
        log.debug("%s: connection ended: %s", what, exc)
    except Exception:
        log.exception("%s: serving a connection failed", what)
    finally:
        await trio.aclose_forcefully(stream)


def peer_of(stream: Any) -> tuple | None:
    """The peer address of an accepted stream, or None if the peer already reset it
    (``getpeername`` then fails with ENOTCONN)."""
    try:
        return stream.socket.getpeername()[:2]
    except OSError:
        return None


async def serve_tcp(address: Any, what: str, handler: Callable[[Any], Awaitable[None]],
                    task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Bind ``address`` (a clear ListenError if that fails), report it started, accept forever."""
    sock = await bind_socket(socket.SOCK_STREAM, address.host, address.port, what)
    sock.listen(LISTEN_BACKLOG)
    listener = trio.SocketListener(sock)
    log.info("listening for %s on tcp %s", what, address_text(sock.getsockname()))
    task_status.started(sock.getsockname())
    async with listener:
        await serve_listener(handler, listener, what)
