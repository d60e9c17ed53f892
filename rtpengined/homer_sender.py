"""The I/O side of ``--homer``: the socket the HEPv3 frames (``homer``) go to Homer on.

As 10.5's sender it never blocks and has no task of its own: each frame is queued (at
most 200; more are dropped) and the queue is sent as far as the socket takes it, whenever
a frame comes. UDP (``--homer-protocol=udp``, the default) is a connected datagram socket;
TCP connects without waiting, the frames queued meanwhile go once it is connected, and a
frame the socket took only part of goes on where it stopped. A connection that fails or
breaks is dropped, and tried again 30 s later; the queue waits meanwhile (the frame that
met the error first in it, but for what was left of one half sent).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable

from .config import ListenAddress
from .event_senders import OccasionalWarning

log = logging.getLogger("rtpengined.homer")
QUEUE_LIMIT = 200
RETRY_AFTER = 30.0
_PENDING = (errno.EINPROGRESS, errno.EALREADY, errno.EAGAIN)


class HomerUnavailable(Exception):
    """``--homer`` names a host that does not resolve (the daemon does not start, as 10.5
    does not)."""


class HomerSender:
    def __init__(self, destination: ListenAddress, tcp: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        try:
            family, _, proto, _, address = socket.getaddrinfo(
                destination.host, destination.port, type=kind)[0]
        except OSError as exc:
            raise HomerUnavailable(
                f"--homer: invalid IP or port {destination} ({exc.strerror or exc})") from None
        self.destination, self.family, self.kind, self.proto = destination, family, kind, proto
        self.address = address
        self.clock = clock
        self.sock: socket.socket | None = None
        self.connected = False
        self.retry_at = clock()
        self.queue: deque[bytes] = deque()
        self.partial: memoryview | None = None  # (what is left of a frame half sent)
        self.dropped = 0
        self._warn = OccasionalWarning(log, clock)

    def __call__(self, frame: bytes) -> None:
        if len(self.queue) < QUEUE_LIMIT:
            self.queue.append(frame)
        else:
            self.dropped += 1
            self._warn("send queue full (%d frames): Homer frame dropped, %d so far",
                       QUEUE_LIMIT, self.dropped)
        self._step()

    def _step(self) -> None:
        if self.sock is None:
            if self.clock() < self.retry_at:
                return
            self.sock = socket.socket(self.family, self.kind, self.proto)
            self.sock.setblocking(False)
        if not self.connected:
            code = self.sock.connect_ex(self.address)
            if code in _PENDING:
                return  # (a TCP connection on its way: looked at with the next frame)
            if code not in (0, errno.EISCONN):
                self._reset(f"cannot connect to Homer at {self.destination}", code)
                return
            self.connected = True
            log.info("connected to Homer at %s", self.destination)
        self._flush()

    def _flush(self) -> None:
        sock = self.sock
        assert sock is not None
        while self.partial is not None or self.queue:
            whole = self.partial is None
            pending = memoryview(self.queue[0]) if whole else self.partial
            try:
                sent = sock.send(pending)
            except BlockingIOError:
                return
            except OSError as exc:
                # (a frame not begun stays first in the queue; what is left of one half
                # sent is lost with the connection, as in 10.5)
                self._reset(f"write error to Homer at {self.destination}", exc.errno)
                return
            if whole:
                self.queue.popleft()
            self.partial = None if sent >= len(pending) else pending[sent:]

    def _reset(self, what: str, code: int | None) -> None:
        self._warn("%s: %s; retrying in %d s", what, os.strerror(code or 0), int(RETRY_AFTER))
        self.close()
        self.retry_at = self.clock() + RETRY_AFTER

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.connected = False
        self.partial = None
