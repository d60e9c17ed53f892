"""Small helpers shared by the socket transports."""

from __future__ import annotations

import errno
import socket

import trio

from . import ListenError


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def bind_socket(kind: int, host: str, port: int, what: str) -> trio.socket.SocketType:
    """Bind a trio socket, turning OS errors into one clear ``ListenError``."""
    sock = trio.socket.socket(family_of(host), kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        await sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            reason = "address not available on this host"
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise ListenError(f"cannot listen for {what} on {where}: {reason}") from None
    return sock

