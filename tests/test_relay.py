"""The relay media plane with hand-built streams: real worker processes, real loopback packets."""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import time

import pytest
import trio
from relay_helpers import (
    LOOPBACK6,
    make_call,
    open_call,
    party,
    rtcp_packet,
    rtp_packet,
    wait_counters,
    wait_until,
)

from rtpengined.config import Config
from rtpengined.media.plane import open_media_plane
from rtpengined.model import Endpoint


@pytest.fixture(params=["c-loop", "pure-python"])
async def plane(request, nursery, monkeypatch):
    """Every test runs against both relay loops: the C helper's event loop for settled
    streams, and the pure-Python loop a worker uses when the helper is not built."""
    if request.param == "pure-python":
        monkeypatch.setenv("RTPENGINED_PURE_RELAY", "1")
    else:
        monkeypatch.delenv("RTPENGINED_PURE_RELAY", raising=False)
    async with open_media_plane(Config(relay_workers=1), nursery) as media:
        yield media


def test_the_c_loop_is_built():
    """``pip install`` builds rtpengined.media._relay (setup.py); the build is optional so
    that an install without a compiler still works, which must not go unnoticed here."""
    from rtpengined.media import _relay

    assert _relay.MAX_BATCH >= 32 and _relay.API == 9  # the interface worker.py expects


class _Table:
    """A counter table, two stream sockets and an epoll set for driving ``_relay`` directly."""

    def __init__(self) -> None:
        from rtpengined.media import _relay
        from rtpengined.media.counters import CounterTable

        self.relay = _relay
        self.table = CounterTable.create(capacity=8)
        _relay.attach(self.table.map)
        self.epoll = select.epoll()
        self.a, self.b, self.peer = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                                     for _ in range(3))
        for sock in (self.a, self.b, self.peer):
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        self.epoll.register(self.a.fileno(), select.EPOLLIN)

    def close(self) -> None:
        from rtpengined.media.counters import SLOT_SIZE

        for sock in (self.a, self.b):
            self.relay.forget(sock.fileno())
        self.relay.attach(bytearray(SLOT_SIZE))  # let go of the table's map before closing it
        self.table.close()
        self.epoll.close()
        for sock in (self.a, self.b, self.peer):
            sock.close()

    def run(self, channel: int = -1, timeout: float = 2.0):
        return self.relay.run(self.epoll.fileno(), channel, timeout)


@pytest.fixture
def c_table():
    pytest.importorskip("rtpengined.media._relay")
    table = _Table()
    try:
        yield table
    finally:
        table.close()


def test_the_c_loop_counts_in_the_slot_before_sending_and_keeps_the_rest(c_table):
    """A registered stream's packets are relayed by ``run`` alone (nothing returned to
    Python); the slot's traffic part and payload type are written as ``Worker.publish``
    writes them, the rest of the slot (endpoint, generation) stays Python's."""
    from rtpengined.media.counters import SLOT_SIZE

    t, relay = c_table, c_table.relay
    t.table.write(3, 1, 2, 3, 4.0, 5, 6000, 4, 1, bytes(16), 7, 8, 0x80)
    relay.destination(t.b.fileno(), 4, "127.0.0.1", t.peer.getsockname()[1])
    relay.register(t.a.fileno(), t.b.fileno(), 3 * SLOT_SIZE, 1, 2, 3, 4.0, 5, 1, 0x80)
    pcma = bytearray(rtp_packet(7, ssrc=0xDEADBEEF))
    pcma[1] = 8
    t.peer.sendto(bytes(pcma), t.a.getsockname())
    assert t.run(timeout=0.5) == ([], 1, [], None)  # relayed, then the timeout: nothing for Python
    assert t.peer.recv(2048) == bytes(pcma)
    values = t.table.read(3)
    assert (values.packets, values.bytes, values.errors, values.ssrc, values.payload_type) == (
        2, 2 + len(pcma), 3, 0xDEADBEEF, 8)
    assert values.endpoint == ("0.0.0.0", 6000) and values.generation == 8  # kept
    t.peer.sendto(rtcp_packet(ssrc=0x12345678), t.a.getsockname())
    t.run(timeout=0.5)
    raw = t.table.read_raw(3)
    assert raw[7] & 6 == 6 and raw[4] == 0x12345678  # SSRC and RTCP seen
    # What a report the relay sends itself needs (a player's): the last RTP sequence
    # number, and the LSR of a sender report with its arrival (1/65536 s)
    assert relay.reception(t.a.fileno()) == (0x12345678, 7, 0, 0)
    sender_report = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0x1234, 0x5678, 0x9ABC0000, 0, 0, 0)
    t.peer.sendto(sender_report, t.a.getsockname())
    before = time.time()
    t.run(timeout=0.5)
    ssrc, seq, lsr, lsr_at = relay.reception(t.a.fileno())
    assert (ssrc, seq, lsr) == (0x1234, 7, 0x56789ABC)
    assert abs(((lsr_at - int(before * 65536)) & 0xFFFFFFFF) / 65536) < 0.5
    totals = relay.unregister(t.a.fileno())
    assert totals[:3] == (4, 2 + len(pcma) + 8 + 28, 3) and totals[5:8] == (3, 0x88, 0)
    assert totals[8:] == (7, 0x56789ABC, lsr_at)  # back to Python with the rest
    assert relay.reception(t.a.fileno()) is None  # (not registered)
    t.peer.sendto(rtp_packet(8), t.a.getsockname())
    assert t.run(timeout=0) == ([(t.a.fileno(), select.EPOLLIN)], 0, [], None)  # Python's again


def test_the_c_loop_returns_refused_sends_for_a_flush_and_keeps_them_counted(c_table):
    from rtpengined.media.counters import SLOT_SIZE

    t, relay = c_table, c_table.relay
    relay.destination(t.b.fileno(), 4, "255.255.255.255", 9)  # EACCES without SO_BROADCAST
    relay.register(t.a.fileno(), t.b.fileno(), 2 * SLOT_SIZE, 0, 0, 0, 0.0, 0, 0, 0)
    t.peer.sendto(rtp_packet(1), t.a.getsockname())
    assert t.run() == ([], 1, [t.a.fileno()], None)
    assert relay.totals(t.a.fileno())[:3] == (1, len(rtp_packet(1)), 1)
    relay.destination(t.b.fileno(), 4, "::1", 9)  # not an IPv4 socket's address: Python's
    t.peer.sendto(rtp_packet(2), t.a.getsockname())
    assert t.run() == ([(t.a.fileno(), select.EPOLLIN)], 0, [], None)


def test_the_c_loop_cuts_rtcp_feedback_for_a_stream_that_strips(c_table):
    """A stream registered with ``strip_feedback`` (an AVPF party's RTCP to a leg that is
    not AVPF) sends compounds on without their RTPFB/PSFB, counted as received; an unreadable
    one is its own error, one left empty an error of the stream it was for: counted there
    when that stream is relayed here too, else handed to Python by ``run``."""
    from rtpengined.media.counters import SLOT_SIZE

    t, relay = c_table, c_table.relay
    receiver_report = struct.pack("!BBHI", 0x80, 201, 1, 0xAAAA)
    pli = struct.pack("!BBHII", 0x81, 206, 2, 0xAAAA, 0xBBBB)
    relay.destination(t.b.fileno(), 4, "127.0.0.1", t.peer.getsockname()[1])
    relay.register(t.a.fileno(), t.b.fileno(), 2 * SLOT_SIZE, 0, 0, 0, 0.0, 0, 0, 0,
                   None, None, None, -1, None, -1, 0, 0, False, True)
    t.peer.sendto(receiver_report + pli, t.a.getsockname())
    assert t.run(timeout=0.5) == ([], 1, [], None)
    assert t.peer.recv(2048) == receiver_report
    short_pli = struct.pack("!BBHI", 0x81, 206, 1, 0xAAAA)  # no media SSRC: unreadable
    t.peer.sendto(receiver_report + short_pli, t.a.getsockname())
    t.peer.sendto(pli, t.a.getsockname())  # feedback only: for b, which Python relays
    time.sleep(0.05)
    assert t.run(timeout=0.5) == ([], 1, [], [t.b.fileno()])
    assert relay.totals(t.a.fileno())[:3] == (3, 2 * len(receiver_report + pli) + 8, 1)
    relay.register(t.b.fileno(), t.a.fileno(), 3 * SLOT_SIZE, 0, 0, 5, 0.0, 0, 0, 0)
    t.peer.sendto(pli, t.a.getsockname())  # b relayed here too: counted in its slot
    assert t.run(timeout=0.5) == ([], 1, [], None)
    assert relay.totals(t.b.fileno())[2] == 6 and t.table.read(3).errors == 6
    relay.forget(t.b.fileno())


def test_the_c_loop_hands_over_the_channel_alone_and_the_rest_afterwards(c_table):
    """Signalling first: with the channel ready beside packets, ``run`` returns only the
    channel; the packets wait for the next ``run``, which relays them against the table as
    the channel's changes left it (here: the stream taken back by Python)."""
    from rtpengined.media.counters import SLOT_SIZE

    t, relay = c_table, c_table.relay
    relay.destination(t.b.fileno(), 4, "127.0.0.1", t.peer.getsockname()[1])
    relay.register(t.a.fileno(), t.b.fileno(), 2 * SLOT_SIZE, 0, 0, 0, 0.0, 0, 0, 0)
    channel, other_end = socket.socketpair()
    try:
        t.epoll.register(channel.fileno(), select.EPOLLIN)
        other_end.send(b"x")
        t.peer.sendto(rtp_packet(1), t.a.getsockname())
        time.sleep(0.05)
        assert t.run(channel.fileno()) == ([(channel.fileno(), select.EPOLLIN)], 0, [], None)
        channel.recv(10)
        assert relay.totals(t.a.fileno())[0] == 0  # not relayed yet
        assert t.run(channel.fileno(), timeout=0) == ([], 1, [], None)
        assert t.peer.recv(2048) == rtp_packet(1)
        t.peer.sendto(rtp_packet(2), t.a.getsockname())
        other_end.send(b"x")
        time.sleep(0.05)
        t.run(channel.fileno())
        channel.recv(10)
        relay.unregister(t.a.fileno())  # what the channel said: Python relays it now
        assert t.run(channel.fileno(), timeout=0) == ([(t.a.fileno(), select.EPOLLIN)], 0, [], None)
    finally:
        t.epoll.unregister(channel.fileno())
        channel.close()
        other_end.close()


async def test_settled_streams_relay_a_queued_burst_in_order_and_count_it_exactly(plane):
    """Learning off: the streams are settled from the start, so the C loop (when built) relays
    them. The worker is stopped while a burst queues up, then empties the socket at once."""
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="off")
    open_call(plane, a, b)
    await alice.send(rtp_packet(0), a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(0)
    pid = plane.worker_of(a.rtp)
    os.kill(pid, signal.SIGSTOP)
    try:
        for seq in range(1, 151):  # more than one batch (64)
            await alice.send(rtp_packet(seq, payload_size=seq), a.rtp.local)
        await alice.send(rtcp_packet(ssrc=0x44444444), a.rtp.local)
    finally:
        os.kill(pid, signal.SIGCONT)
    for seq in range(1, 151):
        data, source = await bob.receive()
        assert data == rtp_packet(seq, payload_size=seq) and source == b.rtp.local
    assert (await bob.receive())[0] == rtcp_packet(ssrc=0x44444444)
    await wait_counters(plane, a.rtp, 152)
    sizes = 172 + sum(12 + seq for seq in range(1, 151)) + len(rtcp_packet())
    assert (a.rtp.stats.packets, a.rtp.stats.bytes, a.rtp.stats.errors) == (152, sizes, 0)
    assert a.rtp.stats.ssrc == 0x44444444  # the last packet's


async def test_settled_stream_publishes_payload_type_ssrc_and_odd_packets_one_by_one(plane):
    """Packet by packet on a settled stream: a codec change, a packet too short to be RTP
    and an RTCP packet on the RTP port are relayed, and each is reflected in the slot as
    the general path reflects it (payload type, SSRC, RTCP seen)."""
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="off")
    open_call(plane, a, b)
    pcma = bytearray(rtp_packet(3, ssrc=0x55555555))
    pcma[1] = 8
    sequence = [rtp_packet(1), rtp_packet(2), bytes(pcma), b"\x80\x00\x01", rtp_packet(4),
                rtcp_packet(ssrc=0x66666666)]
    for n, packet in enumerate(sequence, 1):
        await alice.send(packet, a.rtp.local)
        assert (await bob.receive())[0] == packet
        await wait_counters(plane, a.rtp, n)
        if n == 3:
            assert (a.rtp.stats.payload_type, a.rtp.stats.ssrc) == (8, 0x55555555)
        if n == 5:
            assert (a.rtp.stats.payload_type, a.rtp.stats.ssrc) == (0, 0x11111111)
    assert a.rtp.stats.ssrc == 0x66666666 and a.rtp.stats.errors == 0
    assert a.rtp.stats.bytes == sum(len(packet) for packet in sequence)


async def test_a_destination_the_kernel_refuses_counts_every_packet_as_an_error(plane):
    """Sending to the broadcast address without SO_BROADCAST fails (EACCES) for each packet:
    each one is counted as an error, as a failed ``sendto`` is."""
    alice = await party()
    a, b = make_call(alice.endpoint, Endpoint("255.255.255.255", 9), learning="off")
    open_call(plane, a, b)
    await alice.send(rtp_packet(0), a.rtp.local)

    def counted(errors: int) -> bool:
        plane.refresh([a.rtp])
        return a.rtp.stats.errors >= errors

    await wait_until(lambda: counted(1))
    pid = plane.worker_of(a.rtp)
    os.kill(pid, signal.SIGSTOP)  # settled now: the rest are received and sent as a batch
    try:
        for seq in range(1, 6):
            await alice.send(rtp_packet(seq), a.rtp.local)
    finally:
        os.kill(pid, signal.SIGCONT)
    await wait_until(lambda: counted(6))
    assert (a.rtp.stats.packets, a.rtp.stats.errors) == (6, 6)


async def test_relays_both_directions_from_the_peer_port(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    open_call(plane, a, b)

    for seq in range(5):
        await alice.send(rtp_packet(seq), a.rtp.local)
    for seq in range(5):
        data, source = await bob.receive()
        assert data == rtp_packet(seq)  # unchanged
        assert source == b.rtp.local  # sent from the port bob sends to
    for seq in range(3):
        await bob.send(rtp_packet(seq, ssrc=0x22222222), b.rtp.local)
    for seq in range(3):
        data, source = await alice.receive()
        assert data == rtp_packet(seq, ssrc=0x22222222)
        assert source == a.rtp.local

    await wait_counters(plane, a.rtp, 5)
    await wait_counters(plane, b.rtp, 3)
    assert (a.rtp.stats.packets, a.rtp.stats.bytes, a.rtp.stats.errors) == (5, 5 * 172, 0)
    assert (b.rtp.stats.packets, b.rtp.stats.bytes, b.rtp.stats.errors) == (3, 3 * 172, 0)
    assert a.rtp.stats.ssrc == 0x11111111
    assert b.rtp.stats.ssrc == 0x22222222
    assert a.rtp.stats.last_packet > 0
    assert a.rtp.endpoint == alice.endpoint and a.rtp.confirmed is False  # within 3 s


async def test_counters_equal_packets_sent(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    open_call(plane, a, b)
    for seq in range(200):
        await alice.send(rtp_packet(seq), a.rtp.local)
    await bob.receive_until(rtp_packet(199))
    await wait_counters(plane, a.rtp, 200)
    assert (a.rtp.stats.packets, a.rtp.stats.bytes, a.rtp.stats.errors) == (200, 200 * 172, 0)
    plane.refresh()
    assert b.rtp.stats.packets == 0


async def test_rtcp_between_the_rtcp_sockets(plane):
    alice, bob = await party(), await party()
    alice_rtcp, bob_rtcp = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, rtcp=True,
                     a_rtcp_adv=alice_rtcp.endpoint, b_rtcp_adv=bob_rtcp.endpoint)
    open_call(plane, a, b)
    await alice_rtcp.send(rtcp_packet(), a.rtcp.local)
    data, source = await bob_rtcp.receive()
    assert data == rtcp_packet() and source == b.rtcp.local
    await bob_rtcp.send(rtcp_packet(0x22222222), b.rtcp.local)
    data, source = await alice_rtcp.receive()
    assert data == rtcp_packet(0x22222222) and source == a.rtcp.local
    await wait_counters(plane, a.rtcp, 1)
    assert (a.rtcp.stats.packets, a.rtcp.stats.bytes) == (1, 8)
    assert a.rtcp.stats.ssrc == 0x11111111
    plane.refresh()
    assert a.rtp.stats.packets == 0


async def test_rtcp_mux_is_demultiplexed_towards_a_non_muxed_peer(plane):
    alice, bob, bob_rtcp = await party(), await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, rtcp=True, b_rtcp_adv=bob_rtcp.endpoint)
    a.rtp.rtcp_mux = True  # alice muxes: RTP and RTCP on one port
    a.rtcp.sink = None
    open_call(plane, a, b)

    await alice.send(rtp_packet(1), a.rtp.local)
    await alice.send(rtcp_packet(), a.rtp.local)
    data, source = await bob.receive()
    assert data == rtp_packet(1) and source == b.rtp.local
    data, source = await bob_rtcp.receive()
    assert data == rtcp_packet() and source == b.rtcp.local

    # bob's RTCP goes to alice's muxed port (the call model points b.rtcp at a.rtp)
    b.rtcp.sink = a.rtp
    plane.update_stream(b.rtcp)
    await wait_until(lambda: plane.synced(b.rtcp))
    await bob_rtcp.send(rtcp_packet(0x22222222), b.rtcp.local)
    data, source = await alice.receive()
    assert data == rtcp_packet(0x22222222) and source == a.rtp.local


async def test_settled_muxed_stream_demultiplexes_a_burst(plane):
    """A settled muxed stream towards a non-muxed sink (the C loop relays it too): in one
    burst, RTP goes to the sink, RTCP from the sink's RTCP stream to its RTCP party, in
    order, each counted once on the muxed stream."""
    alice, bob, bob_rtcp = await party(), await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, rtcp=True, b_rtcp_adv=bob_rtcp.endpoint,
                     learning="off")
    a.rtp.rtcp_mux = True
    a.rtcp.sink = None
    open_call(plane, a, b)
    await alice.send(rtp_packet(0), a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(0)
    pid = plane.worker_of(a.rtp)
    os.kill(pid, signal.SIGSTOP)
    try:
        for seq in range(1, 41):
            await alice.send(rtp_packet(seq), a.rtp.local)
            if seq % 8 == 0:
                await alice.send(rtcp_packet(ssrc=seq), a.rtp.local)
    finally:
        os.kill(pid, signal.SIGCONT)
    for seq in range(1, 41):
        data, source = await bob.receive()
        assert data == rtp_packet(seq) and source == b.rtp.local
    for seq in range(8, 41, 8):
        data, source = await bob_rtcp.receive()
        assert data == rtcp_packet(ssrc=seq) and source == b.rtcp.local
    await wait_counters(plane, a.rtp, 46)
    sizes = 41 * len(rtp_packet(0)) + 5 * len(rtcp_packet())
    assert (a.rtp.stats.packets, a.rtp.stats.bytes, a.rtp.stats.errors) == (46, sizes, 0)


async def test_delayed_learning_follows_the_source(plane):
    alice, alice_moved, bob = await party(), await party(), await party()
    a, b = make_call(Endpoint("192.0.2.10", 2000), bob.endpoint)  # alice's SDP lies (NAT)
    open_call(plane, a, b)

    await alice.send(rtp_packet(1), a.rtp.local)
    await bob.receive()
    await bob.send(rtp_packet(1), b.rtp.local)
    data, source = await alice.receive()  # reply reaches alice's real address
    assert source == a.rtp.local
    await wait_until(lambda: (plane.refresh(), a.rtp.endpoint == alice.endpoint)[1])
    assert a.rtp.advertised == Endpoint("192.0.2.10", 2000)

    await alice_moved.send(rtp_packet(2), a.rtp.local)  # still within 3 s: follow it
    await bob.receive()
    await bob.send(rtp_packet(2), b.rtp.local)
    data, _ = await alice_moved.receive()
    assert data == rtp_packet(2)


async def test_immediate_learning_with_strict_source_drops_others(plane):
    alice, intruder, bob = await party(), await party(), await party()
    a, b = make_call(Endpoint("192.0.2.10", 2000), bob.endpoint,
                     learning="immediate", strict_source=True)
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    await bob.receive()
    await wait_until(lambda: (plane.refresh(), a.rtp.confirmed)[1])
    assert a.rtp.endpoint == alice.endpoint

    await intruder.send(rtp_packet(99), a.rtp.local)
    await alice.send(rtp_packet(2), a.rtp.local)
    data, _ = await bob.receive()
    assert data == rtp_packet(2)  # the intruder's packet was not relayed
    await wait_counters(plane, a.rtp, 3)
    assert (a.rtp.stats.packets, a.rtp.stats.errors) == (3, 1)
    assert a.rtp.endpoint == alice.endpoint


async def test_confirmed_endpoint_without_strict_source_still_relays(plane):
    alice, other, bob = await party(), await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="immediate")
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    await bob.receive()
    await other.send(rtp_packet(2), a.rtp.local)
    data, _ = await bob.receive()
    assert data == rtp_packet(2)
    await bob.send(rtp_packet(3), b.rtp.local)
    data, _ = await alice.receive()  # replies stay with the confirmed endpoint
    assert data == rtp_packet(3)
    plane.refresh()
    assert a.rtp.endpoint == alice.endpoint and a.rtp.stats.errors == 0


async def test_media_handover_relearns_after_confirmation(plane):
    alice, alice_new, bob = await party(), await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="immediate", media_handover=True)
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    await bob.receive()
    await alice_new.send(rtp_packet(2), a.rtp.local)
    await bob.receive()
    await bob.send(rtp_packet(3), b.rtp.local)
    data, _ = await alice_new.receive()
    assert data == rtp_packet(3)
    await wait_until(lambda: (plane.refresh(), a.rtp.endpoint == alice_new.endpoint)[1])
    assert a.rtp.confirmed


async def test_asymmetric_always_sends_to_the_sdp_address(plane):
    alice_sdp, alice_sender, bob = await party(), await party(), await party()
    a, b = make_call(alice_sdp.endpoint, bob.endpoint, asymmetric=True)
    open_call(plane, a, b)
    await alice_sender.send(rtp_packet(1), a.rtp.local)
    data, _ = await bob.receive()
    assert data == rtp_packet(1)
    await bob.send(rtp_packet(2), b.rtp.local)
    data, source = await alice_sdp.receive()
    assert data == rtp_packet(2) and source == a.rtp.local
    plane.refresh()
    assert a.rtp.endpoint == alice_sdp.endpoint


async def test_learning_off_keeps_the_sdp_endpoint(plane):
    alice_sdp, alice_sender, bob = await party(), await party(), await party()
    a, b = make_call(alice_sdp.endpoint, bob.endpoint, learning="off")
    open_call(plane, a, b)
    await alice_sender.send(rtp_packet(1), a.rtp.local)
    await bob.receive()
    await bob.send(rtp_packet(2), b.rtp.local)
    data, _ = await alice_sdp.receive()
    assert data == rtp_packet(2)


async def test_reinvite_retargets_to_a_new_address(plane):
    alice, bob, bob_new = await party(), await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(1)

    # re-INVITE: bob's SDP now names another address; the call model resets the endpoint
    b.rtp.advertised = b.rtp.endpoint = bob_new.endpoint
    b.rtp.confirmed = False
    plane.update_stream(b.rtp)
    await wait_until(lambda: plane.synced(b.rtp))
    await alice.send(rtp_packet(2), a.rtp.local)
    data, source = await bob_new.receive()
    assert data == rtp_packet(2) and source == b.rtp.local
    plane.refresh()
    assert b.rtp.endpoint == bob_new.endpoint


async def test_counters_stay_exact_while_a_stream_leaves_and_reenters_the_settled_path(plane):
    """Re-INVITEs that switch strict source on and off, and a block, move a stream out of
    the worker's settled path (the C loop's table, when built) and back: every packet is
    counted exactly once across the moves, and a payload type or SSRC that changes in
    either path reaches the counters."""
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="off")
    open_call(plane, a, b)
    sent = []

    async def relay(packet: bytes, relayed: bool = True) -> None:
        sent.append(packet)
        await alice.send(packet, a.rtp.local)
        if relayed:
            assert (await bob.receive())[0] == packet
        await wait_counters(plane, a.rtp, len(sent))
        assert (a.rtp.stats.packets, a.rtp.stats.bytes, a.rtp.stats.errors) == (
            len(sent), sum(map(len, sent)), 0)

    async def update(**changes) -> None:
        for name, value in changes.items():
            setattr(a.rtp, name, value)
        plane.update_stream(a.rtp)
        await wait_until(lambda: plane.synced(a.rtp))

    def pcma(seq: int, ssrc: int) -> bytes:
        packet = bytearray(rtp_packet(seq, ssrc=ssrc))
        packet[1] = 8
        return bytes(packet)

    for seq in range(1, 4):
        await relay(rtp_packet(seq))
    await update(strict_source=True)  # out of the settled path
    await relay(rtp_packet(4))
    await relay(pcma(5, 0x22222222))
    assert (a.rtp.stats.payload_type, a.rtp.stats.ssrc) == (8, 0x22222222)
    await update(strict_source=False)  # back in
    await relay(pcma(6, 0x22222222))
    await relay(rtp_packet(7, ssrc=0x33333333))
    assert (a.rtp.stats.payload_type, a.rtp.stats.ssrc) == (0, 0x33333333)
    await update(blocked=True)  # counted, not relayed
    await relay(rtp_packet(8), relayed=False)
    await update(blocked=False)
    await relay(rtcp_packet(ssrc=0x44444444))
    await relay(rtp_packet(9))
    assert a.rtp.stats.ssrc == 0x11111111 and a.rtp.stats.payload_type == 0
    with trio.move_on_after(0.2):  # the blocked packet never arrived late either
        data, _ = await bob.receive()
        raise AssertionError(f"unexpected packet {data!r}")


def _srtp_keys(profile: str = "AES_CM_128_HMAC_SHA1_80") -> tuple[str, bytes]:
    return profile, os.urandom(28 if profile == "AEAD_AES_128_GCM" else 30)


C_SUITES = [("AES_CM_128_HMAC_SHA1_80", 30, ()), ("AES_CM_128_HMAC_SHA1_32", 30, ()),
            ("AEAD_AES_128_GCM", 28, ()), ("AEAD_AES_256_GCM", 44, ()),
            ("AES_256_CM_HMAC_SHA1_80", 46, ()), ("NULL_HMAC_SHA1_32", 30, ()),
            ("AES_CM_128_HMAC_SHA1_80", 30, ("UNENCRYPTED_SRTP", "UNAUTHENTICATED_SRTP"))]


@pytest.mark.parametrize(("profile", "size", "parameters"), C_SUITES,
                         ids=["-".join((p, *f)) for p, _s, f in C_SUITES])
def test_the_c_srtp_context_interoperates_with_pylibsrtp(profile, size, parameters):
    """The C helper's SrtpContext (pylibsrtp's libsrtp session, called from C) and a
    pylibsrtp context agree byte for byte both ways, RTP and RTCP, for every suite and
    session parameter the relay does; a forged packet or a replay raises (the drains count
    an error); the pylibsrtp session lives as long as the C context that calls it."""
    import gc

    relay = pytest.importorskip("rtpengined.media._relay")
    from rtpengined.secure.srtp import SrtpContext

    key = os.urandom(size)

    def c_context(outbound: bool):
        return relay.SrtpContext(*SrtpContext(profile, key, outbound, parameters).handles())

    c_out, py_in = c_context(True), SrtpContext(profile, key, False, parameters)
    py_out, c_in = SrtpContext(profile, key, True, parameters), c_context(False)
    gc.collect()  # nothing but the C contexts holds their pylibsrtp sessions now
    for seq in range(1, 4):
        packet = rtp_packet(seq)
        assert py_in.unprotect(c_out.protect(packet)) == packet
        assert c_in.unprotect(py_out.protect(packet)) == packet
        assert py_in.unprotect_rtcp(c_out.protect_rtcp(rtcp_packet())) == rtcp_packet()
        assert c_in.unprotect_rtcp(py_out.protect_rtcp(rtcp_packet())) == rtcp_packet()
    if "UNAUTHENTICATED_SRTP" not in parameters:
        forged = bytearray(py_out.protect(rtp_packet(9)))
        forged[-1] ^= 1
        with pytest.raises(ValueError):
            c_in.unprotect(bytes(forged))
    with pytest.raises(ValueError):
        c_in.unprotect(py_out.protect(rtp_packet(3)))  # a replay
    with pytest.raises(ValueError):
        c_out.protect(rtp_packet(1) + bytes(1400))  # no room for the trailer
    with pytest.raises(ValueError):
        relay.SrtpContext(object(), 0, 1, 1, 1, 1)


@pytest.mark.parametrize("profile", ["AES_CM_128_HMAC_SHA1_80", "AEAD_AES_128_GCM"])
def test_the_c_srtp_context_guesses_the_senders_rollover_counter(profile):
    """A packet that fails authentication as of the rollover counter libsrtp estimates is
    tried as of one more, one fewer and zero (an SSRC's first packet: one), as 10.5 does;
    a packet none of them takes leaves the stream where it was (its replay window too).
    tests/test_diff_srtp_roc.py compares the same with 10.5, the sender being the Perl SRTP
    of rtpengine's test harness; here the sender is libsrtp with its ROC set."""
    import ctypes

    import pylibsrtp

    relay = pytest.importorskip("rtpengined.media._relay")
    from rtpengined.secure.srtp import SrtpContext

    set_roc = ctypes.CDLL(pylibsrtp._binding.__file__).srtp_set_stream_roc
    key = os.urandom(30 if profile.startswith("AES_CM") else 28)
    receiver = relay.SrtpContext(*SrtpContext(profile, key, False).handles())

    def sent(seq: int, roc: int) -> bytes:
        """rtp_packet(seq) as a sender at ``roc`` protects it."""
        sender = SrtpContext(profile, key, True)
        sender.protect(rtp_packet(seq))  # (its stream, whose ROC is then set)
        session = pylibsrtp._binding.ffi.cast("uintptr_t", sender._session._srtp[0])
        assert set_roc(ctypes.c_void_p(int(session)), 0x11111111, roc) == 0
        return sender.protect(rtp_packet(seq))

    def taken(seq: int, roc: int) -> bool:
        try:
            return receiver.unprotect(sent(seq, roc)) == rtp_packet(seq)
        except ValueError:
            return False

    assert taken(5, 1) and taken(6, 1)  # a first packet one rollover ahead
    assert taken(7, 2)  # one more
    assert taken(8, 1)  # one fewer
    assert taken(0xFFFF, 1) and taken(0, 2) and taken(1, 2)  # (a wrap as libsrtp sees it)
    assert not taken(2, 4)  # two more is not guessed
    broken = bytearray(sent(2, 2))
    broken[-1] ^= 1
    with pytest.raises(ValueError):
        receiver.unprotect(bytes(broken))
    good = sent(2, 2)
    assert receiver.unprotect(good) == rtp_packet(2)
    with pytest.raises(ValueError):
        receiver.unprotect(good)  # still a replay: no guess replaced the stream
    assert taken(3, 0) and taken(4, 0)  # the sender started its counter anew
    assert not taken(5, 2)


async def test_srtp_keeps_one_replay_window_while_a_stream_moves_between_the_loops(plane):
    """SDES-SRTP on one side, settled: relayed by the C loop when it is built
    (else by Python). A re-INVITE that turns strict source on moves it to Python's drain and
    back: the context (replay window, rollover) is the same object in both, so a packet
    accepted before the move is refused as a replay after it, and the counters stay exact."""
    from rtpengined.secure.srtp import SrtpContext

    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="off")
    a.rtp.srtp_in = a.rtp.srtp_out = _srtp_keys()  # alice speaks SRTP, bob plain RTP
    open_call(plane, a, b)
    alice_out = SrtpContext(*a.rtp.srtp_in, outbound=True)
    alice_in = SrtpContext(*a.rtp.srtp_out, outbound=False)
    protected = [alice_out.protect(rtp_packet(seq)) for seq in range(1, 8)]

    async def strict(value: bool) -> None:
        a.rtp.strict_source = value
        plane.update_stream(a.rtp)
        await wait_until(lambda: plane.synced(a.rtp))

    for seq in (1, 2):
        await alice.send(protected[seq - 1], a.rtp.local)
        assert (await bob.receive())[0] == rtp_packet(seq)
    await bob.send(rtp_packet(50), b.rtp.local)
    assert alice_in.unprotect((await alice.receive())[0]) == rtp_packet(50)
    await strict(True)
    await alice.send(protected[1], a.rtp.local)  # seq 2 again: a replay, dropped
    await alice.send(protected[2], a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(3)
    await strict(False)
    await alice.send(protected[2], a.rtp.local)  # seq 3 again, back in the settled path
    await alice.send(protected[3], a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(4)
    forged = bytearray(protected[4])
    forged[-1] ^= 1
    await alice.send(bytes(forged), a.rtp.local)
    await alice.send(protected[5], a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(6)
    # 8 datagrams, 3 refused (two replays, one forged): as 10.5 counts an SRTP leg, the
    # refused ones are errors only and the 5 accepted count decrypted
    await wait_counters(plane, a.rtp, 5)
    await wait_until(lambda: plane.refresh([a.rtp]) or a.rtp.stats.errors == 3)
    assert (a.rtp.stats.packets, a.rtp.stats.errors) == (5, 3)
    assert a.rtp.stats.bytes == sum(len(rtp_packet(seq)) for seq in (1, 2, 3, 4, 6))
    await bob.send(rtp_packet(51), b.rtp.local)  # bob's direction kept its context too
    assert alice_in.unprotect((await alice.receive())[0]) == rtp_packet(51)
    await wait_counters(plane, b.rtp, 2)
    assert b.rtp.stats.errors == 0


async def test_a_rekey_reaches_a_settled_srtp_stream_and_its_sinks_at_once(plane):
    """A re-INVITE with new SDES keys on alice's leg: what alice sends is decrypted with her
    new key and what bob sends is encrypted with our new key from the next packet on, while
    the streams stay settled (the C loop gets the new contexts with the update)."""
    from rtpengined.secure.srtp import SrtpContext

    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint, learning="off")
    a.rtp.srtp_in, a.rtp.srtp_out = _srtp_keys(), _srtp_keys()
    open_call(plane, a, b)
    for generation in range(2):
        alice_out = SrtpContext(*a.rtp.srtp_in, outbound=True)
        alice_in = SrtpContext(*a.rtp.srtp_out, outbound=False)
        for seq in (1, 2):  # from the second packet on: settled
            await alice.send(alice_out.protect(rtp_packet(seq)), a.rtp.local)
            assert (await bob.receive())[0] == rtp_packet(seq)
            await bob.send(rtp_packet(100 + seq), b.rtp.local)
            assert alice_in.unprotect((await alice.receive())[0]) == rtp_packet(100 + seq)
        if generation == 0:
            a.rtp.srtp_in, a.rtp.srtp_out = _srtp_keys(), _srtp_keys()
            plane.update_stream(a.rtp)
            await wait_until(lambda: plane.synced(a.rtp))
    await wait_counters(plane, a.rtp, 4)
    await wait_counters(plane, b.rtp, 4)
    assert a.rtp.stats.errors == b.rtp.stats.errors == 0


async def test_blocked_stream_counts_but_does_not_relay(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    a.rtp.blocked = True
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    await wait_counters(plane, a.rtp, 1)
    a.rtp.blocked = False
    plane.update_stream(a.rtp)
    await wait_until(lambda: plane.synced(a.rtp))
    await alice.send(rtp_packet(2), a.rtp.local)
    data, _ = await bob.receive()
    assert data == rtp_packet(2)


async def test_no_destination_drops_quietly(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, None)  # bob has not answered yet
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    await wait_counters(plane, a.rtp, 1)
    assert a.rtp.stats.errors == 0
    # early media from bob still reaches alice's SDP address
    await bob.send(rtp_packet(2), b.rtp.local)
    assert (await alice.receive())[0] == rtp_packet(2)


async def test_worker_killed_mid_call_media_resumes(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    await bob.receive()
    await wait_counters(plane, a.rtp, 1)
    pid = plane.worker_of(a.rtp)
    os.kill(pid, signal.SIGKILL)
    await wait_until(lambda: plane.worker_of(a.rtp) not in (pid, None))

    await alice.send(rtp_packet(2), a.rtp.local)
    assert (await bob.receive())[0] == rtp_packet(2)
    await bob.send(rtp_packet(3), b.rtp.local)
    assert (await alice.receive())[0] == rtp_packet(3)
    await wait_counters(plane, a.rtp, 2)
    assert a.rtp.stats.packets == 2  # counters survive the restart
    assert plane.workers[0].restarts == 1


async def test_overload_drops_are_counted_and_the_stream_recovers(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    open_call(plane, a, b)
    await alice.send(rtp_packet(0), a.rtp.local)
    await bob.receive()
    pid = plane.worker_of(a.rtp)
    sent = 1
    os.kill(pid, signal.SIGSTOP)  # the worker falls behind: the socket's buffer overflows
    try:
        for seq in range(1, 3001):
            await alice.send(rtp_packet(seq), a.rtp.local)
        sent += 3000
    finally:
        os.kill(pid, signal.SIGCONT)

    def all_accounted() -> bool:
        plane.refresh([a.rtp])
        return a.rtp.stats.packets + a.rtp.stats.errors >= sent

    await wait_until(all_accounted)
    assert a.rtp.stats.errors > 0
    assert a.rtp.stats.packets + a.rtp.stats.errors == sent
    # load is gone: the stream relays again (bob first drops what already reached it)
    bob.drain_now()
    marker = rtp_packet(5000, ssrc=0x33333333)
    await alice.send(marker, a.rtp.local)
    await bob.receive_until(marker)


async def test_close_stream_keeps_final_counters_and_closes_the_socket(plane):
    alice, bob = await party(), await party()
    a, b = make_call(alice.endpoint, bob.endpoint)
    open_call(plane, a, b)
    for seq in range(4):
        await alice.send(rtp_packet(seq), a.rtp.local)
    await bob.receive_until(rtp_packet(3))
    await wait_until(lambda: plane.counters.read(plane.records[a.rtp.id].slot).packets == 4)
    slot = plane.records[a.rtp.id].slot
    plane.close_stream(a.rtp)
    plane.close_stream(b.rtp)
    assert a.rtp.stats.packets == 4
    assert a.rtp.sock.fileno() == -1
    assert plane.records == {}
    await wait_until(lambda: slot in plane.slots.free)  # the worker acknowledged


async def test_calls_spread_over_workers_and_stay_together(nursery):
    async with open_media_plane(Config(relay_workers=2), nursery) as media:
        alice, bob = await party(), await party()
        calls = [make_call(alice.endpoint, bob.endpoint, group=f"call-{n}") for n in range(4)]
        for a, b in calls:
            open_call(media, a, b)
        for a, b in calls:
            assert media.worker_of(a.rtp) == media.worker_of(b.rtp)
        assert len({media.records[a.rtp.id].worker.index for a, _ in calls}) == 2
        for n, (a, _) in enumerate(calls):
            await alice.send(rtp_packet(n), a.rtp.local)
            data, _ = await bob.receive()
            assert data == rtp_packet(n)


async def test_ipv6(plane):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    alice, bob = await party("::1"), await party("::1")
    a, b = make_call(alice.endpoint, bob.endpoint, interface=LOOPBACK6)
    open_call(plane, a, b)
    await alice.send(rtp_packet(1), a.rtp.local)
    data, source = await bob.receive()
    assert data == rtp_packet(1) and source == b.rtp.local
    await bob.send(rtp_packet(2), b.rtp.local)
    assert (await alice.receive())[0] == rtp_packet(2)
    await wait_counters(plane, a.rtp, 1)
    assert a.rtp.endpoint == alice.endpoint


async def test_the_plane_opens_once_every_worker_process_has_started(nursery):
    """The daemon opens its listeners after ``open_media_plane``: by then each worker has
    said it runs, so the first packets of a call set up at once are relayed at once (they
    waited in the socket while a worker was still loading)."""
    async with open_media_plane(Config(relay_workers=2), nursery) as media:
        assert all(worker.ready.is_set() for worker in media.workers)
        assert all(media.worker_pids())


async def test_workers_exit_with_the_plane():
    async with trio.open_nursery() as nursery:
        async with open_media_plane(Config(relay_workers=2), nursery) as media:
            await wait_until(lambda: all(media.worker_pids()))
            pids = media.worker_pids()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _slice_of(pid: int) -> int | None:
    """The scheduler slice /proc shows for ``pid`` (ns), None where it shows none."""
    try:
        with open(f"/proc/{pid}/sched") as info:
            for line in info:
                if line.startswith("se.slice"):
                    return int(line.split(":")[1])
    except (OSError, ValueError):
        pass
    return None


async def test_workers_ask_for_a_short_slice():
    """A relay worker runs with the kernel's shortest slice (so a packet's wakeup preempts
    busy work on the core) and its nice value unchanged; where the kernel has no custom
    slices (before 6.12: /proc shows the default, not what we asked), there is nothing
    to see."""
    import subprocess
    import sys

    from rtpengined.media.scheduling import SLICE_NS

    probe = subprocess.run(
        [sys.executable, "-c", "from rtpengined.media.scheduling import request_short_slice;"
         "import os; request_short_slice();"
         "print(open(f'/proc/{os.getpid()}/sched').read())"],
        capture_output=True, text=True, check=True)
    if not any(line.startswith("se.slice") and line.split(":")[1].strip() == str(SLICE_NS)
               for line in probe.stdout.splitlines()):
        pytest.skip("this kernel has no custom scheduler slices")
    async with trio.open_nursery() as nursery:
        async with open_media_plane(Config(relay_workers=2), nursery) as media:
            await wait_until(lambda: all(media.worker_pids()))
            pids = media.worker_pids()
            await wait_until(lambda: all(_slice_of(pid) == SLICE_NS for pid in pids))
            for pid in pids:
                assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)


def test_the_c_loop_counts_an_unknown_payload_type_and_relays_it(c_table):
    """RTP of a payload type not among the stream's is an error, relayed and counted all the
    same (10.5; ``rtcp_feedback.unknown_type``); on an RTP port without rtcp-mux an RTCP
    compound is RTP to 10.5, not read (an SR of 8 bytes goes on, its type 72 an error)."""
    from rtpengined.media.counters import SLOT_SIZE

    t, relay = c_table, c_table.relay
    relay.destination(t.b.fileno(), 4, "127.0.0.1", t.peer.getsockname()[1])
    relay.register(t.a.fileno(), t.b.fileno(), 2 * SLOT_SIZE, 0, 0, 0, 0.0, 0, 0, 0,
                   None, None, None, -1, None, -1, 0, 0, False, False, False, False,
                   1 | 1 << 8, 0)  # (PCMU and PCMA)
    short_sr = struct.pack("!BBHI", 0x80, 200, 1, 0xAAAA)  # (8 bytes: no RTP header)
    sent = [rtp_packet(1), bytes([0x80, 9]) + rtp_packet(2)[2:], bytes([0x80, 0x88])
            + rtp_packet(3)[2:], struct.pack("!BBHII", 0x80, 200, 6, 0xAAAA, 0) + bytes(20),
            short_sr]
    for packet in sent:
        t.peer.sendto(packet, t.a.getsockname())
        t.run(timeout=0.5)
        assert t.peer.recv(2048) == packet
    totals = relay.unregister(t.a.fileno())
    assert totals[:3] == (5, sum(map(len, sent)), 2)  # (type 9 and type 72: 12 bytes or more)
