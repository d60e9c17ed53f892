"""Differential: ``--dtmf-log-dest``, the JSON line each key a party sends as telephone-event
gets, compared with rtpengine 10.5's over loopback sockets.

Both daemons relay the same packets of the same calls; each sends its lines to a collector
socket of its own. Compared: every line's fields (the Unix timestamp only as being now, the
parties' tags as a set: 10.5 lists them in its hash table's order). With
``--dtmf-log-ng-tcp`` the same key reaches every TCP ng client as an ``onDTMF`` message.
The calls that convert between tones and telephone-event log keys too, those sent as
tones from the tone detector, and so do the delay buffers of ``block DTMF`` that look for
keys in a party's audio.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from contextlib import contextmanager

import pytest
from differential import loopback_call, media_exchange, running, start_ours, start_reference
from test_diff_delay_buffer import SCENARIOS as DELAY_BUFFERED
from test_diff_delay_buffer import _run as delay_buffered
from test_diff_dtmf import INTERWORKING, TE

from rtpengined.protocol import bencode

from conftest import free_port

TE8 = "a=rtpmap:101 telephone-event/8000"
OPUS = "a=rtpmap:96 opus/48000/2"
TE48 = "a=rtpmap:101 telephone-event/48000"


def _event(code: int, end: bool, volume: int, duration: int) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


def _key(code: int, ts: int, volume: int = 10, step: int = 160, ends: int = 3) -> list:
    """A key as a phone sends it: three packets counting up, then the end ``ends`` times,
    all with the key's start timestamp; (pt, ts, payload) each."""
    packets = [(101, ts, _event(code, False, volume, step * n)) for n in (1, 2, 3)]
    return packets + [(101, ts, _event(code, True, volume, step * 4))] * ends


SCENARIOS = {
    # (A's formats and attributes, B's, packets: (sender, pt, ts, payload))
    "a key from the offerer": ("0 101", (TE8,), "0 101", (TE8,), [
        ("A", 0, 0, b"\xff" * 160), *[("A", *p) for p in _key(5, 160)],
        ("A", 0, 960, b"\xff" * 160)]),
    "keys from both parties, one without repeated ends": ("0 101", (TE8,), "0 101", (TE8,), [
        ("A", 0, 0, b"\xff" * 160), ("B", 0, 0, b"\xff" * 160),
        *[("A", *p) for p in _key(1, 160, volume=7)],
        *[("B", *p) for p in _key(11, 160, volume=0, ends=1)],
        *[("A", *p) for p in _key(15, 1600, volume=63, step=400)]]),
    "a key at 48 kHz": ("96 101", (OPUS, TE48), "96 101", (OPUS, TE48), [
        ("A", 96, 0, b"\x01" * 20), *[("A", *p) for p in _key(9, 960, step=1200)]]),
    "an end without a start, and ends with new timestamps": ("0 101", (TE8,), "0 101", (TE8,), [
        ("A", 0, 0, b"\xff" * 160), ("A", 101, 160, _event(3, True, 10, 800)),
        ("A", 101, 160, _event(3, True, 10, 960)), ("A", 101, 320, _event(3, True, 10, 800)),
        ("A", 101, 480, _event(4, False, 10, 160)), ("A", 101, 480, b"\x04\x8a")]),
    "an undeclared payload type": ("0", (), "0", (), [
        ("A", 0, 0, b"\xff" * 160), *[("A", *p) for p in _key(5, 160)]]),
}


@contextmanager
def _logging(daemon_start):
    """A daemon from ``daemon_start`` logging keys to a collector socket of the test's, and
    a function that reads what the collector got (until nothing came for 0.3 s)."""
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(0.3)
    extra = [f"--dtmf-log-dest=127.0.0.1:{collector.getsockname()[1]}"]

    def lines() -> list[dict]:
        found = []
        try:
            while True:
                found.append(json.loads(collector.recv(65536)))
        except TimeoutError:
            return found

    try:
        with running(lambda: daemon_start(extra=extra)) as daemon:
            yield daemon, lines
    finally:
        collector.close()


def _collect(daemon_start, name: str) -> list[dict]:
    a_formats, a_attributes, b_formats, b_attributes, packets = SCENARIOS[name]
    with _logging(daemon_start) as (daemon, lines), \
            loopback_call(daemon, "dtmf-log", a_formats, b_formats, a_attributes=a_attributes,
                          b_attributes=b_attributes) as (parties, a_sends_to, b_sends_to):
        to = {"A": a_sends_to, "B": b_sends_to}
        for seq, (sender, pt, ts, payload) in enumerate(packets, 1):
            header = struct.pack("!BBHII", 0x80, pt, seq, ts, 0x1234 if sender == "A" else 0x5678)
            parties[sender].sendto(header + payload, ("127.0.0.1", to[sender]))
            time.sleep(0.005)
        return lines()


def _comparable(lines: list[dict]) -> list[dict]:
    now = time.time()
    for line in lines:
        assert abs(line["timestamp"] - now) < 30, line
    return [{**line, "timestamp": "now", "tags": sorted(line["tags"])} for line in lines]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_dtmf_log_lines_as_rtpengine(name):
    want = _collect(start_reference, name)
    have = _collect(start_ours, name)
    assert _comparable(have) == _comparable(want)
    if "undeclared" not in name:
        assert want, "10.5 logged nothing: the scenario tests nothing"


def _notifications(daemon_start) -> list[list]:
    """``--dtmf-log-ng-tcp``: what two TCP ng clients (one silent, one that pinged) read
    after a key, each message as (cookie, its keys in order, the data normalised)."""
    tcp_port = free_port()
    extra = [f"--listen-tcp-ng=127.0.0.1:{tcp_port}", "--dtmf-log-ng-tcp"]
    with running(lambda: daemon_start(extra=extra)) as daemon:
        clients = [socket.create_connection(("127.0.0.1", tcp_port), timeout=2) for _ in range(2)]
        try:
            clients[1].sendall(b"c1 d7:command4:pinge")
            assert clients[1].recv(100) == b"c1 d6:result4:ponge"
            with loopback_call(daemon, "dtmf-tcp", "0 101", "0 101", a_attributes=(TE8,),
                               b_attributes=(TE8,)) as (parties, a_sends_to, _):
                for seq, (pt, ts, payload) in enumerate(_key(4, 160), 1):
                    header = struct.pack("!BBHII", 0x80, pt, seq, ts, 0x1234)
                    parties["A"].sendto(header + payload, ("127.0.0.1", a_sends_to))
                    time.sleep(0.005)
                seen = []
                for client in clients:
                    cookie, _, body = client.recv(65536).partition(b" ")
                    message = bencode.decode(body)
                    data = message["data"]
                    seen.append([len(cookie), all(c in b"0123456789abcdef" for c in cookie),
                                 list(message), list(data),
                                 _comparable([{k: (v.decode() if isinstance(v, bytes) else v)
                                               for k, v in data.items()}])])
                return seen
        finally:
            for client in clients:
                client.close()


def test_dtmf_notifications_to_tcp_clients_as_rtpengine():
    want = _notifications(start_reference)
    have = _notifications(start_ours)
    assert have == want
    assert want[0][2] == ["notify", "data"] and want[0][4][0]["event"] == 4


@pytest.mark.parametrize("name", list(INTERWORKING))
def test_keys_of_converted_calls_are_logged_as_rtpengine(name):
    """The calls ``test_diff_dtmf.py`` converts between tones and telephone-event: a key
    sent as events is logged from its end packet, a key sent as tones from the tone
    detector's reports (its level as the volume, the samples between its reports as the
    duration), and tones nobody converts are not looked at."""
    a_formats, b_formats, options, steps = INTERWORKING[name]

    def logged(daemon_start) -> list[dict]:
        with _logging(daemon_start) as (daemon, lines):
            media_exchange(daemon, "dtmf-log-x", a_formats, b_formats, steps, options, {},
                           (TE,) if " 96" in a_formats else (), (TE,) if " 96" in b_formats else ())
            return _comparable(lines())

    want = logged(start_reference)
    assert logged(start_ours) == want
    assert bool(want) == ("no option" not in name)


IN_BAND = [name for name, scenario in DELAY_BUFFERED.items() if not scenario[1]]


@pytest.mark.parametrize("name", IN_BAND)
def test_keys_a_delay_buffer_finds_are_logged_as_rtpengine(name):
    """``block DTMF`` with a delay buffer on a party without telephone-event: the keys its
    detector finds in the party's tones are logged (the detector's level as the volume,
    the samples between its reports as the duration); unblocked, nothing looks for them."""

    def logged(daemon_start) -> list[dict]:
        with _logging(daemon_start) as (daemon, lines):
            delay_buffered(daemon, name, DELAY_BUFFERED[name])
            return _comparable(lines())

    want = logged(start_reference)
    assert logged(start_ours) == want
    assert bool(want) == ("unblocked" not in name)
