"""A relay worker's per-stream bookkeeping, driven in-process over its real control channel.

The worker keeps as little as it can per open stream (the memory per open call is a bench
target): the streams that name a stream (sink, RTCP peer, subscriber) are held on it, or
under its id while it is absent; streams by fd in a list. These tests add, update, re-add
and remove streams in the orders the control plane can send them (a stream before the one
it names, a worker restart re-adding everything, a call deleted in any order) and check
that every stream resolves to the right neighbours and that nothing is left behind.
"""

from __future__ import annotations

import logging
import socket

import pytest

from rtpengined.media import channel as ch
from rtpengined.media import worker as worker_module
from rtpengined.media.counters import SLOT_SIZE, CounterTable
from rtpengined.media.worker import Worker


@pytest.fixture
def worker():
    table = CounterTable.create()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    theirs.setblocking(False)
    relay = Worker(theirs, table, 0)
    relay.control = ours  # (the control plane's end, for the tests' batches)
    try:
        yield relay
    finally:
        for stream_id in list(relay.streams):
            relay.remove(stream_id)
        relay.epoll.close()
        ours.close()
        theirs.close()
        if worker_module._relay is not None:  # the C loop lets go of the table's map first
            worker_module._relay.attach(bytearray(SLOT_SIZE))
        table.close()


def spec(stream_id: int, slot: int, sink: int | None = None, rtcp_peer: int | None = None,
         generation: int = 1, extra_sinks: tuple = ()) -> tuple:
    return tuple(ch.StreamSpec(
        id=stream_id, slot=slot, family=4, sink=sink, rtcp_peer=rtcp_peer,
        advertised=("192.0.2.1", 20000 + slot), endpoint=("192.0.2.1", 20000 + slot),
        override_endpoint=True, confirmed=False, learning="delayed", strict_source=False,
        media_handover=False, asymmetric=False, rtcp_mux=False, blocked=False,
        restart_learning=True, generation=generation, extra_sinks=extra_sinks,
    ))


def send(worker: Worker, messages: list[tuple]) -> None:
    """One control batch, with a fresh bound UDP socket for each "add" (as the plane sends
    them: its own copy stays with the sender, closed here once handed over)."""
    socks = []
    for kind, _ in messages:
        if kind == "add":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
    try:
        if socks:
            socket.send_fds(worker.control, [ch.encode(messages)], [s.fileno() for s in socks])
        else:
            worker.control.send(ch.encode(messages))
    finally:
        for sock in socks:
            sock.close()
    assert worker.handle_channel()
    worker.flush()


def call(base: int) -> tuple[int, int, int, int]:
    """Stream ids of one call: A's RTP and RTCP, B's RTP and RTCP."""
    return base, base + 1, base + 2, base + 3


def assert_empty(worker: Worker) -> None:
    assert worker.streams == {}
    assert worker.referrers == {}
    assert not any(worker.by_fd)
    assert worker.leg_due == {} and worker.leg_reports == {}


def test_streams_naming_ones_not_added_yet_resolve_when_those_arrive(worker):
    a, ac, b, bc = call(1000)
    # A's offer: A names only its RTCP stream; B's streams (answer) name A's before the
    # answer's update makes A name B.
    send(worker, [("add", spec(a, 0, None, ac)), ("add", spec(b, 1, a, bc)),
                  ("add", spec(bc, 3, ac)), ("add", spec(ac, 2))])
    streams = worker.streams
    assert streams[b].sink is streams[a] and streams[b].rtcp_peer is streams[bc]
    assert streams[bc].sink is streams[ac] and streams[a].rtcp_peer is streams[ac]
    assert worker.referrers == {}  # everything named is here
    send(worker, [("update", spec(a, 0, b, ac, 2)), ("update", spec(ac, 2, bc, None, 2))])
    assert streams[a].sink is streams[b] and streams[ac].sink is streams[bc]
    assert set(worker.referring(ac)) == {streams[a], streams[bc]}
    assert worker.referring(b) == (streams[a],)
    for stream in streams.values():  # each by the fd of its socket
        assert worker.by_fd[stream.fd] is stream
        # No socket object (a ``getsockname`` each) and no read of the kernel's drop
        # counter (a ``getsockopt``) for a stream that has had no traffic.
        assert stream._sock is None and stream.congested and stream.kernel_drops == 0
        # A plain stream (no keys, WebRTC leg, subscribers or other addresses) makes no
        # holder for those (``rare_fields``): ~0.3 kB of every open call.
        assert stream.rare is None and not stream.secure and stream.sockets() == (stream.sock,)


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)])
def test_a_deleted_call_leaves_nothing_behind(worker, order):
    a, ac, b, bc = ids = call(2000)
    send(worker, [("add", spec(a, 0, b, ac)), ("add", spec(ac, 2, bc)),
                  ("add", spec(b, 1, a, bc)), ("add", spec(bc, 3, ac))])
    send(worker, [("remove", ids[i]) for i in order[:2]])
    for stream in worker.streams.values():  # what they named is gone: no neighbour
        assert stream.sink is None or stream.sink.id in worker.streams
    send(worker, [("remove", ids[i]) for i in order[2:]])
    assert_empty(worker)


def test_a_stream_added_again_keeps_the_streams_naming_it(worker):
    """A restarted worker's channel re-adds every stream (an "add" for an id it holds
    replaces that stream): the streams naming it relay to the new one."""
    a, ac, b, bc = call(3000)
    send(worker, [("add", spec(a, 0, b, ac)), ("add", spec(ac, 2, bc)),
                  ("add", spec(b, 1, a, bc)), ("add", spec(bc, 3, ac))])
    old = worker.streams[b]
    send(worker, [("add", spec(b, 1, a, bc))])
    new = worker.streams[b]
    assert new is not old and worker.streams[a].sink is new
    assert worker.referring(b) == (worker.streams[a],)
    assert worker.by_fd[new.fd] is new
    send(worker, [("remove", stream_id) for stream_id in (a, ac, b, bc)])
    assert_empty(worker)


def test_several_subscribers_of_one_stream(worker):
    """Publish/subscribe: more than one stream names the publisher's (as subscriber copies
    and as sink); taking one away leaves the others named."""
    pub, sub1, sub2 = 4000, 4001, 4002
    send(worker, [("add", spec(sub1, 1)), ("add", spec(sub2, 2)),
                  ("add", spec(pub, 0, sub1, None, extra_sinks=(sub2,)))])
    streams = worker.streams
    assert streams[pub].sink is streams[sub1] and streams[pub].extras == (streams[sub2],)
    send(worker, [("add", spec(5000, 3, pub)), ("add", spec(5001, 4, pub))])
    assert set(worker.referring(pub)) == {streams[5000], streams[5001]}
    send(worker, [("remove", 5000)])
    assert worker.referring(pub) == (streams[5001],)
    send(worker, [("remove", sub2)])
    assert streams[pub].extras == ()
    assert worker.referrers == {sub2: streams[pub]}  # still named, until it changes
    send(worker, [("update", spec(pub, 0, sub1, None, 2))])
    assert worker.referrers == {}
    send(worker, [("remove", stream_id) for stream_id in (pub, sub1, 5001)])
    assert_empty(worker)


def test_drops_before_the_worker_had_the_socket_are_counted_after_its_first_drain(worker):
    """A new stream's socket is asked for the kernel's drop counter only once it has had
    traffic; one that overflowed before the worker got it (while a restarted worker was
    not reading it, say) still reports those drops, at the flush after its first drain."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind(("127.0.0.1", 0))
        for _ in range(200):
            sender.sendto(b"\x80" + bytes(171), sock.getsockname())
        dropped = worker_module._kernel_drops(sock)
        assert dropped > 0
        a = call(3000)[0]
        socket.send_fds(worker.control, [ch.encode([("add", spec(a, 0))])], [sock.fileno()])
        assert worker.handle_channel()
        worker.flush()
        stream = worker.streams[a]
        assert stream.kernel_drops == 0 and stream._sock is None  # not asked yet
        worker.drain(stream, 1000.0, 100.0, 1)
        worker.flush()
        assert stream.packets > 0
        assert stream.kernel_drops == dropped == worker.counters.read(0).kernel_drops
    finally:
        sock.close()
        sender.close()


def test_a_dtls_client_leg_says_hello_at_once_again_when_kept_and_anew_after_failing(worker):
    """A DTLS client leg sends its ClientHello while its add is applied; an update that keeps
    the leg while the peer has answered nothing sends the same hello again (the party may
    not have listened before its answer); a leg whose handshake failed is not kept: the
    update starts a new handshake (another hello)."""
    from rtpengined.secure import dtls

    certificate = dtls.Certificate()
    name = certificate.fingerprint()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(1.0)
    address = peer.getsockname()
    leg_spec = ch.StreamSpec(*spec(7000, 0))._replace(
        advertised=address, endpoint=address, dtls=(True, certificate.fingerprint(), name))
    try:
        send(worker, [("certificate", (name, *certificate.to_pem(), certificate.mtu,
                                       certificate.ciphers)), ("add", tuple(leg_spec))])
        hello = peer.recv(2048)
        assert hello[:1] == b"\x16" and hello[13:14] == b"\x01"  # a ClientHello record
        first_leg = worker.streams[7000].webrtc
        send(worker, [("update", tuple(leg_spec._replace(generation=2)))])
        assert peer.recv(2048) == hello and worker.streams[7000].webrtc is first_leg
        first_leg.failed = True
        send(worker, [("update", tuple(leg_spec._replace(generation=3)))])
        again = peer.recv(2048)
        assert worker.streams[7000].webrtc is not first_leg
        assert again[13:14] == b"\x01" and again != hello  # a new association
    finally:
        peer.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_stream_whose_relaying_raises_counts_errors_and_is_logged_once(worker):
    """(The run loop calls ``drain_failed`` for an exception out of a stream's drain: the
    worker goes on instead of ending, and a restart does not run into it again.)"""
    send(worker, [("add", spec(3000, 30))])
    stream = worker.streams[3000]
    records = _Records()  # (on the worker's logger itself, logging enabled: earlier tests
    # in the same process, the fuzz targets, switch logging off for the process)
    logger = worker_module.log
    level, disabled = logger.level, logging.root.manager.disable
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    logging.disable(logging.NOTSET)
    try:
        for _ in range(3):
            try:
                raise OverflowError("sendto(): port must be 0-65535.")
            except OverflowError:
                worker.drain_failed(stream)
    finally:
        logging.disable(disabled)
        logger.removeHandler(records)
        logger.setLevel(level)
    assert stream.errors == 3
    assert stream in worker.dirty
    assert records.messages == ["relaying stream 3000 failed; its packets are dropped"]


def test_an_ipv6_peer_of_an_ipv4_stream_is_written_in_its_own_family(worker):
    """(An ICE pair on the interface's IPv6 alternate socket gives an IPv4 stream an IPv6
    peer: packing it as IPv4 raised in the counters' flush and ended the worker.)"""
    send(worker, [("add", spec(3100, 31))])
    stream = worker.streams[3100]
    stream.endpoint = ("2001:db8::7", 5004)
    worker.dirty.add(stream)
    worker.flush()
    assert worker.counters.read(31).endpoint == ("2001:db8::7", 5004)


def test_the_cli_log_level_reaches_the_worker(worker):
    """``set loglevel``/SIGUSR1/2 in the daemon: a "log-level" message sets the worker's
    loggers of that subsystem (the worker is a process of its own)."""
    relay = logging.getLogger("rtpengined.relay")
    before = relay.level
    try:
        send(worker, [("log-level", ("core", 7))])
        assert relay.level == logging.DEBUG
        send(worker, [("log-level", ("core", 3))])
        assert relay.level == logging.ERROR
        send(worker, [("log-level", ("spandsp", 7))])  # (none of the worker's: nothing)
        assert relay.level == logging.ERROR
    finally:
        relay.setLevel(before)
