"""Port pool and lingering sockets with real sockets: a port whose socket a relay worker
still holds is handed to the next stream at once, and unbound after the last copy closes."""

from __future__ import annotations

import os
import socket

import pytest

from rtpengined.model import Interface
from rtpengined.ports import LingeringSockets, PortPool, bind_udp

IFACE = Interface("default", "127.0.0.1", "127.0.0.1")



def copy_of(sock) -> socket.socket:
    """A second descriptor of the same socket, as a relay worker holds (the pool's media
    sockets are the C socket type, which has no ``dup`` method)."""
    return socket.socket(fileno=os.dup(sock.fileno()))

def bindable(port: int) -> bool:
    try:
        bind_udp(IFACE, port).close()
    except OSError:
        return False
    return True


@pytest.fixture
def pool_range():
    """Two adjacent free ports (an even/odd pair)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1] & ~1
        if bindable(port) and bindable(port + 1):
            return port, port + 1
    pytest.skip("no free port pair")


def test_a_lingering_port_is_reused_then_unbound_after_the_last_copy(pool_range):
    low, high = pool_range
    lingering = LingeringSockets()
    pool = PortPool(IFACE, low, high, lingering=lingering)
    ports = pool.allocate(2)
    worker_copies = [copy_of(sock) for _, sock in ports]  # what a relay worker holds
    for port, sock in ports:
        lingering.hold("127.0.0.1", port, copy_of(sock))
        sock.close()
        pool.release(port)
    assert pool.used == 0 and not bindable(low)  # still bound by the copies
    # A packet for the old call waits on the socket; the next stream must not see it.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.sendto(b"old call", ("127.0.0.1", low))
    again = pool.allocate(2)
    assert [port for port, _ in again] == [low, high]
    again[0][1].setblocking(False)
    with pytest.raises(BlockingIOError):
        again[0][1].recv(100)
    # The worker closes its copies; the new streams keep the ports bound.
    for port, copy in zip((low, high), worker_copies, strict=True):
        copy.close()
        lingering.released("127.0.0.1", port)
    assert len(lingering) == 0 and not bindable(low)
    # The new streams end too, and their worker copies go: the ports are unbound.
    for port, sock in again:
        lingering.hold("127.0.0.1", port, copy_of(sock))
        sock.close()
        pool.release(port)
        lingering.released("127.0.0.1", port)
    assert len(lingering) == 0 and bindable(low) and bindable(high)


def test_a_taken_socket_goes_back_when_its_partner_cannot_be_bound(pool_range):
    low, high = pool_range
    lingering = LingeringSockets()
    pool = PortPool(IFACE, low, high, lingering=lingering)
    port, sock = low, bind_udp(IFACE, low)
    lingering.hold("127.0.0.1", port, sock)
    squatter = bind_udp(IFACE, high)  # another process has the odd port
    try:
        with pytest.raises(Exception, match="Ran out of ports"):
            pool.allocate(2)
        assert lingering.entries[("127.0.0.1", low)][0] is sock  # put back, still bound
        assert pool.allocate(1)[0][1] is sock
    finally:
        squatter.close()
        sock.close()


def test_a_socket_held_as_a_bare_descriptor_is_reused_and_unbound(pool_range):
    """The relay plane hands over ``sock.detach()`` (no dup/close per ended stream)."""
    low, high = pool_range
    lingering = LingeringSockets()
    pool = PortPool(IFACE, low, low, lingering=lingering)
    (port, sock), = pool.allocate(1)
    pool.release(port)
    lingering.hold("127.0.0.1", port, sock.detach())  # the worker's copy counts once
    assert sock.fileno() == -1 and not bindable(low)
    (again_port, again), = pool.allocate(1)  # still bound: handed over, not re-bound
    assert again_port == low and again.getsockname()[1] == low
    assert again.getblocking() is False
    pool.release(again_port)
    lingering.hold("127.0.0.1", again_port, again.detach())
    lingering.released("127.0.0.1", low)
    lingering.released("127.0.0.1", low)
    assert len(lingering) == 0 and bindable(low)
    # A bare descriptor still held at shutdown is closed too.
    (port, sock), = pool.allocate(1)
    lingering.hold("127.0.0.1", port, sock.detach())
    lingering.close_all()
    assert bindable(low)
