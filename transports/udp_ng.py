"""ng over UDP: one request per datagram, the reply sent back to the request's source."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio

from rtpengined.log_context import address_text

from . import Transport, register
from ._net import bind_socket, family_of

log = logging.getLogger("rtpengined.udp")
MAX_DATAGRAM = 65535
BURST = 32  # datagrams answered per wakeup before other tasks get a turn


async def serve(core, address, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Answer ng datagrams; each wakeup drains what is queued (up to ``BURST``).

    The loop uses a plain non-blocking socket and only goes back to trio when the
    socket is empty (or after a burst, so other transports get their turn): trio's
    own ``recvfrom``/``sendto`` yield to the scheduler on every call, which cost more
    than a small command under load.
    """
    sock = await bind_socket(socket.SOCK_DGRAM, address.host, address.port, "ng (UDP)")
    raw = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
    raw.setblocking(False)
    with sock, raw:
        applied_tos = 0
        log.info("listening for ng on udp %s", address_text(sock.getsockname()))
        task_status.started(sock.getsockname())
        recvfrom = raw.recvfrom
        while True:
            await trio.lowlevel.wait_readable(raw)
            replies = []
            # One media-plane batch for the whole burst: the relay workers get one message
            # (one wakeup) for all the commands queued together, and still before any of
            # their replies leaves, so a peer never sends media ahead of the spec an answer
            # changed (a fresh offer's streams may reach their worker a moment later: the
            # sockets are bound, early media waits in them; media.plane.DEFER_DELAY). The
            # burst's log lines go to stderr in one write, before the batch.
            with core.burst():
                for _ in range(BURST):
                    if core.config.control_tos != applied_tos:  # `set controltos` at once
                        applied_tos = core.config.control_tos
                        _set_tos(sock, applied_tos)
                    try:
                        data, source = recvfrom(MAX_DATAGRAM)
                    except BlockingIOError:
                        break
                    except OSError as exc:  # e.g. an ICMP error queued on the socket
                        log.debug("ng receive failed: %s", exc)
                        continue
                    try:
                        reply = core.handle_ng(data, source[:2])
                    except Exception:  # a bug, but one datagram must not end the daemon
                        log.exception("ng request from %s failed", address_text(source))
                        continue
                    if reply is not None:
                        replies.append((reply, source))
            for reply, source in replies:
                try:
                    raw.sendto(reply, source)
                except BlockingIOError:
                    await _send_when_writable(sock, reply, source)
                except OSError as exc:
                    log.warning("ng reply to %s failed: %s", address_text(source), exc)
            # wait_readable always yields, so a full burst also lets other tasks run


async def _send_when_writable(sock, reply: bytes, source) -> None:
    try:
        await sock.sendto(reply, source)
    except OSError as exc:
        log.warning("ng reply to %s failed: %s", address_text(source), exc)


def _set_tos(sock, tos: int) -> None:
    try:
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    except OSError as exc:
        log.warning("cannot set TOS %d on the ng socket: %s", tos, exc)


class UdpClient:
    """Sends one datagram per request; retransmits with the same cookie on timeout."""

    def __init__(self, host: str, port: int, timeout: float = 1.0, retries: int = 3) -> None:
        self.target = (host, port)
        self.timeout = timeout
        self.retries = retries
        self.sock = trio.socket.socket(family_of(host), socket.SOCK_DGRAM)

    async def request(self, data: bytes) -> bytes:
        await self.sock.connect(self.target)
        cookie = data.split(b" ", 1)[0]
        for _ in range(self.retries + 1):
            await self.sock.send(data)
            with trio.move_on_after(self.timeout):
                while True:
                    reply = await self.sock.recv(MAX_DATAGRAM)
                    if reply.split(b" ", 1)[0] == cookie:
                        return reply
        raise TimeoutError(f"no reply from udp {address_text(self.target)}")

    async def aclose(self) -> None:
        self.sock.close()


@asynccontextmanager
async def open_client(url: str, timeout: float = 1.0, retries: int = 3, **_):
    parts = urlsplit(url)
    client = UdpClient(parts.hostname or "127.0.0.1", parts.port or 22222, timeout, retries)
    try:
        yield client
    finally:
        await client.aclose()


register(Transport("udp-ng", "listen_ng", serve, ("udp",), open_client, frozenset({"ng"})))
