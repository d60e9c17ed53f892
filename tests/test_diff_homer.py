"""Differential: ``--homer`` (HEPv3 to a Homer capture server, over UDP and TCP), the
frames for each RTCP packet a party sends compared with rtpengine 10.5's chunk by chunk.

A collector socket of the test's receives both daemons' frames; the chunks must be the
same, in the same order, but for the destination port (the daemon's own, from its range),
the time (each within the moment the packet was sent) and the source port, which must be
the party's socket the packet came from.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import time

import pytest
from differential import loopback_call, running, start_ours, start_reference
from test_diff_rtcp_log import CASES, _part, _rr, _sr

from rtpengined import homer

SDES_TEXT = _part(202, 2, struct.pack("!I", 5) + b"\x01\x06a\"b\\c\t" + b"\x02\x03\xe9\x01z"
                  + b"\x00\x00" + struct.pack("!I", 6) + b"\x06\x02ok\x00\x00")
HOMER_CASES = {**CASES, "source description text to escape, two chunks": _rr() + SDES_TEXT}


def _chunks(frame: bytes) -> list[tuple[int, bytes]]:
    assert frame[:4] == b"HEP3" and int.from_bytes(frame[4:6], "big") == len(frame)
    out, at = [], 6
    while at < len(frame):
        vendor, kind, length = struct.unpack_from("!HHH", frame, at)
        assert vendor == 0 and length >= 6
        out.append((kind, frame[at + 6:at + length]))
        at += length
    assert at == len(frame)
    return out


def _normalised(frame: bytes, party_port: int, port_range: tuple[int, int],
                sent_at: float) -> list[tuple[int, bytes]]:
    out = []
    chunks = dict(_chunks(frame))
    seconds = int.from_bytes(chunks[9], "big") + int.from_bytes(chunks[10], "big") / 1e6
    assert sent_at - 0.01 <= seconds <= time.time(), (sent_at, seconds)
    for kind, data in _chunks(frame):
        if kind == 7:
            assert int.from_bytes(data, "big") == party_port
            data = b"party"
        elif kind == 8:
            assert port_range[0] <= int.from_bytes(data, "big") <= port_range[1]
            data = b"ours"
        elif kind in (9, 10):
            data = b"time"
        out.append((kind, data))
    return out


@contextlib.contextmanager
def _collector(tcp: bool):
    """A Homer capture server on loopback: yields (its port, a function returning the frames
    received within a moment)."""
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as server:
        server.bind(("127.0.0.1", 0))
        connections: list[socket.socket] = []
        buffers: dict[int, bytes] = {}
        if tcp:
            server.listen(4)
            server.setblocking(False)

        def frames(wait: float = 0.5) -> list[bytes]:
            out: list[bytes] = []
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not tcp:
                    server.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        out.append(server.recv(1 << 16))
                    except TimeoutError:
                        pass
                    continue
                with contextlib.suppress(BlockingIOError):
                    conn, _ = server.accept()
                    conn.setblocking(False)
                    connections.append(conn)
                for conn in connections:
                    with contextlib.suppress(BlockingIOError):
                        buffers[conn.fileno()] = buffers.get(conn.fileno(), b"") + conn.recv(1 << 16)
                    data = buffers.get(conn.fileno(), b"")
                    while len(data) >= 6 and len(data) >= int.from_bytes(data[4:6], "big"):
                        size = int.from_bytes(data[4:6], "big")
                        out.append(data[:size])
                        data = data[size:]
                    buffers[conn.fileno()] = data
                time.sleep(0.01)
            return out

        try:
            yield server.getsockname()[1], frames
        finally:
            for conn in connections:
                conn.close()


def _sent(daemon, frames, call_id: str, packets: list[bytes], muxed: bool) -> list:
    attributes = ("a=rtcp-mux",) if muxed else ()
    out = []
    started = time.time()  # (over TCP a frame may wait for the connection, and the next)
    with loopback_call(daemon, call_id, "0", "0", a_attributes=attributes,
                       b_attributes=attributes) as (sockets, to_b, _):
        for seq in range(2):
            sockets["A"].sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 5)
                                + bytes(160), ("127.0.0.1", to_b))
        time.sleep(0.1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
            sender = sockets["A"] if muxed else rtcp
            if not muxed:
                rtcp.bind(("127.0.0.1", sockets["A"].getsockname()[1] + 1))
            for packet in packets:
                sender.sendto(packet, ("127.0.0.1", to_b if muxed else to_b + 1))
                out += [_normalised(frame, sender.getsockname()[1], daemon.port_range, started)
                        for frame in frames(0.3)]
    return out


@pytest.fixture(scope="module", name="udp_pair")
def udp_pair_fixture():
    with _collector(tcp=False) as (port, frames):
        extra = [f"--homer=127.0.0.1:{port}", "--homer-id=77"]
        with running(lambda: start_reference(extra=extra)) as reference, \
                running(lambda: start_ours(extra=extra)) as ours:
            yield reference, ours, frames


@pytest.mark.parametrize("muxed", [False, True], ids=["RTCP port", "rtcp-mux"])
@pytest.mark.parametrize("case", HOMER_CASES)
def test_homer_frames_as_rtpengine_sends_them(udp_pair, case, muxed):
    reference, ours, frames = udp_pair
    call_id = f"homer-{list(HOMER_CASES).index(case)}-{muxed}"
    want = _sent(reference, frames, call_id, [HOMER_CASES[case]], muxed)
    have = _sent(ours, frames, call_id, [HOMER_CASES[case]], muxed)
    assert have == want


def test_homer_over_tcp_connects_and_sends_every_frame():
    packets = [_sr() + SDES_TEXT, _rr(blocks=2), _rr(blocks=0)]
    results = []
    for start in (start_reference, start_ours):
        with _collector(tcp=True) as (port, frames), running(functools.partial(start, extra=[
                f"--homer=127.0.0.1:{port}", "--homer-protocol=tcp"])) as daemon:
            results.append(_sent(daemon, frames, "homer-tcp", packets, False))
    assert results[0] and results[1] == results[0]


def test_a_packet_with_nothing_homer_reads_sends_nothing():
    assert homer.rtcp_json(_part(207, 0, bytes(4))) is None
    assert homer.rtcp_json(b"") is None
