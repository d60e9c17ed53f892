"""Media port pools, one per configured interface address.

Like rtpengine: the search starts at a random port of ``[port_min, port_max]`` and wraps
around; RTP takes an even port and RTCP the odd one above it, allocated together; a
single port (rtcp-mux ``require``) may be odd. A port the kernel refuses (taken by
another process) is skipped. The actual bind goes through an injectable ``binder`` so
unit tests can run without sockets.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

from .model import Interface
from .ngcodec import NgError

Binder = Callable[[Interface, int], socket.socket]


def bind_udp(interface: Interface, port: int) -> socket.socket:
    """Bind a non-blocking UDP socket on the interface address (raises ``OSError``)."""
    family = socket.AF_INET6 if interface.family == "IPv6" else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((interface.address, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class PortPool:
    """Free/used ports of one interface address."""

    def __init__(
        self,
        interface: Interface,
        port_min: int,
        port_max: int,
        binder: Binder = bind_udp,
        rng: random.Random | None = None,
    ) -> None:
        self.interface = interface
        self.port_min = port_min
        self.port_max = port_max
        self.binder = binder
        self.rng = rng or random.Random()
        self.in_use: set[int] = set()
        self.last = 0

    @property
    def total(self) -> int:
        return self.port_max - self.port_min + 1

    @property
    def used(self) -> int:
        return len(self.in_use)

    def _candidates(self, step: int):
        """Ports to try, from a random start, wrapping around once."""
        first = self.port_min + (self.port_min % 2 if step == 2 else 0)
        count = (self.port_max - first) // step + 1
        if count <= 0:
            return
        start = self.rng.randrange(count)
        for i in range(count):
            yield first + ((start + i) % count) * step

    def allocate(self, count: int) -> list[tuple[int, socket.socket]]:
        """Bind ``count`` (1 or 2) consecutive ports; ``NgError('Ran out of ports')`` if full."""
        step = 2 if count == 2 else 1
        for port in self._candidates(step):
            ports = list(range(port, port + count))
            if ports[-1] > self.port_max or any(p in self.in_use for p in ports):
                continue
            bound: list[tuple[int, socket.socket]] = []
            try:
                for p in ports:
                    bound.append((p, self.binder(self.interface, p)))
            except OSError:
                for _, sock in bound:
                    sock.close()
                continue
            self.in_use.update(ports)
            self.last = ports[0]
            return bound
        raise NgError("Ran out of ports")

    def release(self, port: int) -> None:
        self.in_use.discard(port)
