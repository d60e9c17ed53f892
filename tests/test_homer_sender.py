"""``homer_sender`` over loopback: what it does when Homer is not there, comes later, or
does not keep up (the frames themselves beside rtpengine 10.5: ``test_diff_homer.py``)."""

from __future__ import annotations

import socket
import time

import pytest

from rtpengined.config import ConfigError, ListenAddress, parse_args
from rtpengined.homer_sender import QUEUE_LIMIT, RETRY_AFTER, HomerSender, HomerUnavailable


class _Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_options_as_10_5_reads_them():
    config = parse_args(["--homer=127.0.0.1:9060", "--homer-protocol=tcp", "--homer-id=7"])
    assert (config.homer, config.homer_protocol, config.homer_id) == (
        ListenAddress("127.0.0.1", 9060), "tcp", 7)
    assert (parse_args([]).homer, parse_args([]).homer_id) == (None, 2001)
    with pytest.raises(ConfigError, match="invalid protocol 'sctp'"):
        parse_args(["--homer=127.0.0.1:9060", "--homer-protocol=sctp"])
    with pytest.raises(HomerUnavailable, match="--homer: invalid IP or port"):
        HomerSender(ListenAddress("no-such-host.invalid", 9060))


def test_udp_frames_wait_while_homer_is_away_and_go_once_it_is_back():
    clock = _Clock()
    port = _free_udp_port()
    sender = HomerSender(ListenAddress("127.0.0.1", port), clock=clock)
    try:
        sender(b"one")  # (sent into nothing: the port answers unreachable)
        time.sleep(0.05)
        sender(b"two")  # (that error comes back now: the socket is dropped)
        assert sender.sock is None and list(sender.queue) == [b"two"]
        sender(b"three")  # (queued: no new try before the 30 s are over)
        assert sender.sock is None and list(sender.queue) == [b"two", b"three"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as homer:
            homer.bind(("127.0.0.1", port))
            homer.settimeout(2)
            clock.now += RETRY_AFTER
            sender(b"four")
            assert [homer.recv(100) for _ in range(3)] == [b"two", b"three", b"four"]
    finally:
        sender.close()


def test_tcp_connects_later_and_the_queue_is_bounded():
    clock = _Clock()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        sender = HomerSender(ListenAddress("127.0.0.1", server.getsockname()[1]), tcp=True,
                             clock=clock)
        try:
            sender(b"a" * 10)
            conn, _ = server.accept()
            with conn:
                conn.settimeout(2)
                sender(b"b" * 10)  # (the connection is up now: both go)
                got = b""
                while len(got) < 20:
                    got += conn.recv(100)
                assert got == b"a" * 10 + b"b" * 10
        finally:
            sender.close()
    sender = HomerSender(ListenAddress("127.0.0.1", _free_udp_port()), tcp=True, clock=clock)
    try:
        for _ in range(QUEUE_LIMIT + 5):  # (refused: every frame waits for the retry)
            sender(b"x")
        assert len(sender.queue) == QUEUE_LIMIT and sender.dropped >= 5
    finally:
        sender.close()
