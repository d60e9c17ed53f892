"""The I/O side of ``--dtmf-log-dest``: one UDP socket the daemon sends each key's JSON on
(``dtmf_log`` makes the lines; ``Core.dtmf_event`` hands them here)."""

from __future__ import annotations

import logging
import socket
import time

from .config import ListenAddress

log = logging.getLogger("rtpengined.dtmf")
WARN_EVERY = 60.0  # seconds between two warnings about failing sends


class DtmfLogUnavailable(Exception):
    """``--dtmf-log-dest`` names an address the daemon cannot send to (it does not start,
    as 10.5 does not)."""


class DtmfLogSender:
    """Sends datagrams to the destination without ever blocking: a key that cannot be sent
    (nobody listens, the buffer is full) is lost and warned about, at most once a minute.
    Nobody listening shows as every other send failing: the kernel reports the port
    unreachable of one datagram as the next one's error, and that one is not sent."""

    def __init__(self, destination: ListenAddress) -> None:
        sock: socket.socket | None = None
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                destination.host, destination.port, type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(family, kind, proto)
            # (connected, as 10.5's: a port unreachable comes back as the next send's error)
            sock.connect(address)
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise DtmfLogUnavailable(
                f"--dtmf-log-dest: cannot send to {destination}: {exc.strerror or exc}") from None
        self.sock = sock
        self.sock.setblocking(False)
        self.warned_at = -WARN_EVERY
        self.lost = 0

    def __call__(self, line: bytes) -> None:
        try:
            self.sock.send(line)
        except OSError as exc:
            self.lost += 1
            now = time.monotonic()
            if now - self.warned_at >= WARN_EVERY:
                self.warned_at = now
                log.warning("DTMF event not sent to --dtmf-log-dest (%s); %d lost so far",
                            exc.strerror or exc, self.lost)

    def close(self) -> None:
        self.sock.close()
