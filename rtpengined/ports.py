"""Media port pools, one per configured interface address.

Like rtpengine: each search starts a few ports (a random 6..19) above the last run handed
out and walks up, wrapping around once; RTP takes an even port and RTCP the odd one above
it, allocated together; a single port (rtcp-mux ``require``) may be odd. A port the kernel
refuses (taken by another process) is skipped. The actual bind goes through an injectable
``binder`` so unit tests can run without sockets.

A relay worker holds its own copy of every stream's socket and closes it a moment after
the stream ended, so for that moment the port is still bound. ``LingeringSockets`` keeps
the control plane's copy of such a socket until the worker acknowledges, and the pool
takes it from there instead of binding anew: a port is free for the next call as soon as
the call that had it is gone, whatever the worker is doing.
"""

from __future__ import annotations

import _socket
import logging
import os
import random
import socket
from collections import deque
from collections.abc import Callable, Sequence

from .model import Interface
from .protocol.errors import OutOfPorts

Binder = Callable[[Interface, int], _socket.socket]
_NONBLOCKING_UDP = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)
# A new run starts 6..19 ports above the previous one, as in rtpengine.
_STEP_MIN, _STEP_MAX = 6, 20
log = logging.getLogger("rtpengined")


def bind_udp(interface: Interface, port: int) -> _socket.socket:
    """Bind a non-blocking UDP socket on the interface address (raises ``OSError``).

    The C socket type (``_socket.socket``, the base of ``socket.socket``): every open call
    keeps four of them, 48 bytes each instead of 88, and creating and closing one runs no
    Python-level ``__init__``/``close`` (the media plane only needs its C methods)."""
    family = socket.AF_INET6 if interface.family == "IPv6" else socket.AF_INET
    # Non-blocking from the start: no ``ioctl(FIONBIO)`` per media socket.
    sock = _socket.socket(family, _NONBLOCKING_UDP)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((interface.address, port))
        if _NONBLOCKING_UDP == socket.SOCK_DGRAM:
            sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def set_tos(sock: _socket.socket, tos: int) -> None:
    """The IP TOS (IPv4) or traffic class (IPv6) of what ``sock`` sends."""
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, tos)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)


class LingeringSockets:
    """Sockets of ended streams whose relay worker may not yet have closed its copy.

    Keyed by (interface address, port). ``hold`` when a stream ends (once per worker copy),
    ``released`` when a worker acknowledges it closed one; the last release closes our
    copy and the port is unbound. ``take`` hands the still-bound socket to a new stream
    on that port meanwhile (the entry keeps counting the workers' copies). Our copy may be
    held as a bare descriptor (an ``int``, from ``socket.detach()``): ending a stream then
    costs no system call, and only the rare ``take`` makes a socket object of it again.
    """

    DRAIN_LIMIT = 256  # packets of the old call dropped from a reused socket, at most

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int], list] = {}  # key -> [our socket or None, copies]

    def __len__(self) -> int:
        return len(self.entries)

    def hold(self, address: str, port: int, sock: _socket.socket | int) -> None:
        entry = self.entries.get((address, port))
        if entry is None:
            self.entries[(address, port)] = [sock, 1]
            return
        if entry[0] is not None and entry[0] is not sock:
            _close(entry[0])
        entry[0] = sock
        entry[1] += 1

    def released(self, address: str, port: int) -> None:
        entry = self.entries.get((address, port))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self.entries[(address, port)]
            if entry[0] is not None:
                _close(entry[0])

    def take(self, address: str, port: int, drain: bool = True) -> _socket.socket | None:
        """The still-bound socket of ``port``; packets queued for the old call dropped
        unless ``drain`` is false (the port goes back to the same call's party)."""
        entry = self.entries.get((address, port))
        if entry is None or entry[0] is None:
            return None
        sock, entry[0] = entry[0], None
        if isinstance(sock, int):
            sock = socket.socket(fileno=sock)
            sock.setblocking(False)
        for _ in range(self.DRAIN_LIMIT if drain else 0):
            try:
                sock.recv(1)
            except OSError:  # BlockingIOError: empty
                break
        return sock

    def put_back(self, address: str, port: int, sock: _socket.socket) -> None:
        """Undo ``take`` (the port's partner could not be bound)."""
        entry = self.entries.get((address, port))
        if entry is None:
            sock.close()  # every worker copy is gone meanwhile: ours was the last
        else:
            entry[0] = sock

    def close_all(self) -> None:
        for sock, _copies in self.entries.values():
            if sock is not None:
                _close(sock)
        self.entries.clear()


def _close(sock: _socket.socket | int) -> None:
    if isinstance(sock, int):
        os.close(sock)
    else:
        sock.close()


def give_back(bound: Sequence[tuple[PortPool | None, Sequence[tuple[int, _socket.socket]]]]
              ) -> None:
    """Undo ``allocate`` calls of a transaction that failed part way (the next one ran out
    of ports): every socket closed and its port free again. ``(None, [])`` entries, for
    media that needed no ports, are allowed."""
    for pool, ports in bound:
        for port, sock in ports:
            sock.close()
            assert pool is not None
            pool.release(port)


class PortSet:
    """The ports of a pool in use: one byte per port of the range instead of a set entry
    and an int object per port (~65 bytes each, four per call: ~0.26 kB of every open
    call). Ports outside the range (a call restored from Redis after the range changed)
    go to a plain set."""

    __slots__ = ("base", "flags", "count", "outside")

    def __init__(self, port_min: int, port_max: int) -> None:
        self.base = port_min
        self.flags = bytearray(max(0, port_max - port_min + 1))
        self.count = 0
        self.outside: set[int] = set()

    def __contains__(self, port: int) -> bool:
        index = port - self.base
        if 0 <= index < len(self.flags):
            return self.flags[index] == 1
        return port in self.outside

    def __len__(self) -> int:
        return self.count + len(self.outside)

    def add(self, port: int) -> None:
        index = port - self.base
        if 0 <= index < len(self.flags):
            if not self.flags[index]:
                self.flags[index] = 1
                self.count += 1
        else:
            self.outside.add(port)

    def run_free(self, first: int, last: int) -> bool:
        """``first`` and ``last`` (both inside the range: the pool's candidates) are free."""
        flags, base = self.flags, self.base
        return not flags[first - base] and not flags[last - base]

    def next_free(self, port: int) -> int:
        """The first free port from ``port`` (inside the range) on; one past the range's
        end if there is none."""
        index = self.flags.find(0, port - self.base)
        return self.base + (index if index >= 0 else len(self.flags))

    def take_run(self, first: int, last: int) -> None:
        """Mark the free ports ``first`` .. ``last`` (inside the range) as in use."""
        flags, base = self.flags, self.base
        for port in range(first, last + 1):
            flags[port - base] = 1
        self.count += last - first + 1

    def discard(self, port: int) -> None:
        index = port - self.base
        if 0 <= index < len(self.flags):
            if self.flags[index]:
                self.flags[index] = 0
                self.count -= 1
        else:
            self.outside.discard(port)


class PortPool:
    """Free/used ports of one interface address."""

    def __init__(
        self,
        interface: Interface,
        port_min: int,
        port_max: int,
        binder: Binder = bind_udp,
        rng: random.Random | None = None,
        lingering: LingeringSockets | None = None,
    ) -> None:
        self.interface = interface
        self.port_min = port_min
        self.port_max = port_max
        self.binder = binder
        self.rng = rng or random.Random()
        self.in_use = PortSet(port_min, port_max)
        #: One past the run handed out last (rtpengine's "Last port used").
        self.last = 0
        #: Released even ports, oldest first, where a walk starts when its step lands on a
        #: taken port; ``queued`` marks the ones in it (one byte per port of the range).
        self.released: deque[int] = deque()
        self.queued = bytearray(max(0, port_max - port_min + 1))
        self.lingering = lingering

    @property
    def total(self) -> int:
        return self.port_max - self.port_min + 1

    @property
    def used(self) -> int:
        return len(self.in_use)

    def allocate(self, count: int, tos: int = 0) -> list[tuple[int, _socket.socket]]:
        """Bind ``count`` (1 or 2) consecutive ports; ``OutOfPorts`` if full.
        Their sockets send with ``tos`` (the call's TOS: 10.5 marks every socket of a call).

        rtpengine's walk: from a small random step (6..19) above the run handed out last,
        upwards, wrapping to ``port_min`` at most once; a pair starts on an even port. If
        the first port the step lands on is taken, the walk starts at the oldest released
        even port instead. So consecutive calls get nearby, increasing ports and a port
        just given back is not handed out again until the range wraps round (SDP seen by
        peers keeps meaning one stream for a while).

        A port whose socket still lingers (its stream ended, the worker has not let go of
        its copy yet) is taken back instead of bound; with nothing lingering (nearly
        always) that lookup is skipped."""
        in_use = self.in_use
        if self.total - in_use.count < count:
            raise self._ran_out(count, 0)
        port_min, port_max = self.port_min, self.port_max
        lingering = (self.lingering if self.lingering is not None and self.lingering.entries
                     else None)
        port = self.last + self.rng.randrange(_STEP_MIN, _STEP_MAX)
        if port_min <= port <= port_max and port in in_use and self.released:
            port = self.released.popleft()
            self.queued[port - port_min] = 0
        wraps = 0
        last_error = 0  # (the errno of the last bind refused, for the log)
        while True:
            if port < port_min:
                port = port_min
            if count == 2 and port & 1:
                port += 1
            last = port + count - 1
            if last > port_max:
                wraps += 1
                if wraps >= 2:
                    raise self._ran_out(count, last_error)
                port = port_min
                continue
            if not in_use.run_free(port, last):
                port = in_use.next_free(port + 1)
                continue
            bound: list[tuple[int, _socket.socket]] = []
            reclaimed: list[int] = []
            for p in range(port, last + 1):
                sock = (lingering.take(self.interface.address, p) if lingering is not None
                        else None)
                if sock is not None:
                    reclaimed.append(p)
                else:
                    try:
                        sock = self.binder(self.interface, p)
                    except OSError as exc:  # taken by another process: go on past it
                        last_error = exc.errno or 0
                        self._undo_run(bound, reclaimed)
                        port = p + 1
                        break
                bound.append((p, sock))
            else:
                in_use.take_run(port, last)
                self.last = last + 1
                if tos:
                    for _, sock in bound:
                        set_tos(sock, tos)
                return bound

    def _ran_out(self, count: int, last_error: int) -> OutOfPorts:
        """The error for a full pool, logged as 10.5 logs it (no error: "Success")."""
        log.error("Failed to get %d consecutive ports on interface %s for media relay "
                  "(last error: %s)", count, self.interface.address, os.strerror(last_error))
        return OutOfPorts("Ran out of ports")

    def _undo_run(self, bound: list[tuple[int, _socket.socket]], reclaimed: list[int]) -> None:
        """Undo a run that could not be bound whole: lingering sockets back to their set,
        the others closed."""
        for p, sock in bound:
            if p in reclaimed:
                assert self.lingering is not None  # (only lingering sockets are reclaimed)
                self.lingering.put_back(self.interface.address, p, sock)
            else:
                sock.close()

    def release(self, port: int) -> None:
        self.in_use.discard(port)
        index = port - self.port_min
        if not port & 1 and 0 <= index < len(self.queued) and not self.queued[index]:
            self.queued[index] = 1
            self.released.append(port)
