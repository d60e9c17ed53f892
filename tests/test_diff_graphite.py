"""Differential: ``--graphite`` (the daemon's figures to a Graphite server every
``--graphite-interval`` seconds), rtpengine 10.5 and rtpengined reporting to a server of the
test's while the same calls come and go.

Compared: the lines of every report, name by name in 10.5's order; the counts and gauges
that do not depend on when a report falls (commands that succeeded, sessions now and at
most, the ports, the ended calls by kind, the packets relayed); and that the timing figures
are there where 10.5 has them. Then how each daemon lives with the server: not there at
start, gone and back, and one that never reads.
"""

from __future__ import annotations

import contextlib
import functools
import selectors
import socket
import struct
import threading
import time

import pytest
from differential import cli, loopback_call, running, start_ours, start_reference

PREFIX = "t."


class Collector:
    """A Graphite server on loopback (on ``port``, else a free one): the lines it receives,
    by connection, in a thread of its own (``close`` stops it)."""

    def __init__(self, reading: bool = True, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.reading = reading
        self.lines: list[tuple[int, str]] = []  # (connection number, line)
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._drop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.server, selectors.EVENT_READ)
        pending: dict[int, bytes] = {}
        while not self._stop.is_set():
            if self._drop.is_set():  # (the server hangs up on every connection)
                for conn in self.connections:
                    with contextlib.suppress(KeyError):
                        selector.unregister(conn)
                    conn.close()
                self._drop.clear()
            for key, _ in selector.select(0.05):
                if key.fileobj is self.server:
                    conn, _ = self.server.accept()
                    self.connections.append(conn)
                    if self.reading:
                        selector.register(conn, selectors.EVENT_READ, len(self.connections))
                    continue
                number = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                buffered = pending.get(number, b"") + data
                *complete, pending[number] = buffered.split(b"\n")
                self.lines += [(number, line.decode()) for line in complete]
        selector.close()

    def reports(self) -> list[list[tuple[str, str, int]]]:
        """Each report: its lines as (name, value, timestamp)."""
        out: list[list[tuple[str, str, int]]] = []
        for _, line in list(self.lines):
            assert line.startswith(PREFIX), line
            name, value, timestamp = line[len(PREFIX):].rsplit(" ", 2)
            if name == "ping_time_min":
                out.append([])
            out[-1].append((name, value, int(timestamp)))
        return out

    def wait_reports(self, count: int, timeout: float = 15.0) -> list:
        """The first ``count`` reports, once they are all there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reports = self.reports()
            # (the last one complete: the one after it has begun)
            if len(reports) > count:
                return reports[:count]
            time.sleep(0.02)
        raise AssertionError(f"{len(self.reports())} reports, not {count}")

    def drop_connections(self) -> None:
        self._drop.set()
        while self._drop.is_set() and self._thread.is_alive():
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.connections:
            conn.close()
        self.server.close()


@contextlib.contextmanager
def collector(reading: bool = True, port: int = 0):
    server = Collector(reading, port)
    try:
        yield server
    finally:
        server.close()


def _start(start, port: int, interval: int = 1, extra: tuple[str, ...] = ()):
    return functools.partial(start, extra=[f"--graphite=127.0.0.1:{port}",
                                           f"--graphite-interval={interval}",
                                           f"--graphite-prefix={PREFIX}", *extra])


def _shown_max(totals: str) -> str:
    return next(line for line in totals.splitlines()
                if line.startswith(" Max managed sessions")).split(":")[1]


def _scenario(daemon, server: Collector) -> dict:
    """Calls and commands between two reports; what the reports say of them."""
    server.wait_reports(1)  # (the first goes as soon as the connection stands)
    for _ in range(10):
        daemon.request({"command": "ping"})
    with loopback_call(daemon, "graphite-1", "0", "0") as (sockets, to_b, _):
        for seq in range(5):  # (one way: A to B)
            sockets["A"].sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 5) + bytes(160),
                                ("127.0.0.1", to_b))
        time.sleep(0.2)
        assert daemon.request({"command": "query", "call-id": "graphite-1"})["result"] == "ok"
        with loopback_call(daemon, "graphite-2", "0", "0"):
            pass  # (no media)
    with contextlib.ExitStack() as open_calls:
        # (stays, converting PCMU to PCMA and back: two transcoder chains)
        open_calls.enter_context(loopback_call(daemon, "graphite-3", "0", "8", offer_options={
            "codec": {"transcode": ["PCMA"]}}))
        return _reports(daemon, server)


def _reports(daemon, server: Collector) -> dict:
    assert daemon.request({"command": "query", "call-id": "nothing"})["result"] == "error"
    count = len(server.reports())
    reports = server.wait_reports(count + 2)[1:]
    # `list totals` shows the interval figures of the last report before it
    before = len(server.reports())
    shown = _shown_max(cli(daemon, "list totals"))
    candidates = {dict((n, v) for n, v, _ in report).get("managed_sess_max")
                  for report in server.reports()[before - 1:]}
    values = [dict((name, value) for name, value, _ in report) for report in reports]
    names = [[name for name, _, _ in report if not name.startswith("transcoder_")]
             for report in reports]
    assert all(n == names[0] for n in names), "a report with other lines"
    counted = ("regular_term_sess", "forced_term_sess", "reject_sess", "nopacket_relayed_sess",
               "oneway_stream_sess", "timeout_sess", "relayed_packets_user", "relayed_bytes_user",
               "relayed_errors_user", "relayed_packets", "relayed_bytes")
    timed = [command for command in ("offer", "answer", "delete", "query")
             if any(float(v[f"{command}_time_max"]) > 0 for v in values)]
    for v in values:
        for command in timed:
            low, high, mean = (float(v[f"{command}_time_{w}"]) for w in ("min", "max", "avg"))
            assert low <= mean <= high
    last = values[-1]
    return {
        "names": names[0],
        "counts": {name: value for name, value in last.items() if name.endswith("_count")},
        "sessions": {name: last[name] for name in last if name.startswith("current_")},
        "ports": {name: value for name, value in last.items() if name.startswith("ports_")},
        # (10.5 lists them in its hash table's order)
        "transcoders": sorted((name, value) for name, value in last.items()
                              if name.startswith("transcoder_")),
        "ended": {name: sum(int(v[name]) for v in values) for name in counted},
        "most sessions": max(int(v["managed_sess_max"]) for v in values),
        "timed": timed,
        "calls alive": float(last["call_dur"]) > 0,
        "call ended": [float(v["average_call_dur"]) > 0 for v in values
                       if v["regular_term_sess"] != "0"],
        "pings per second": 5 <= max(int(v["pings_ps_max"]) for v in values) <= 10,
        "list totals shows the report": shown in candidates,
        "timestamps": all(abs(r[0][2] - time.time()) < 30 for r in reports),
    }


def test_reports_as_rtpengine_sends_them():
    results = []
    for start in (start_reference, start_ours):
        with collector() as server, running(_start(start, server.port)) as daemon:
            results.append(_scenario(daemon, server))
    want, have = results
    assert want["names"][:7] == ["ping_time_min", "ping_time_max", "ping_time_avg",
                                 "pings_ps_min", "pings_ps_max", "pings_ps_avg", "ping_count"]
    assert have == want
    assert want["counts"]["offer_count"] == "3" and want["ended"]["regular_term_sess"] == 2
    assert want["transcoders"] == [("transcoder_PCMA/8000_PCMU/8000", "1"),
                                   ("transcoder_PCMU/8000_PCMA/8000", "1")]


@pytest.mark.parametrize("start", [start_reference, start_ours], ids=["rtpengine", "rtpengined"])
def test_a_server_that_comes_late_and_goes_away_gets_the_next_reports(start):
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # (nobody listens there yet)
    with running(_start(start, port)) as daemon:
        time.sleep(1.5)
        with collector(port=port) as server:
            server.wait_reports(2, timeout=5)
            server.drop_connections()  # (the server goes away)
            count = len(server.reports())
            server.wait_reports(count + 2, timeout=8)  # (and the daemon comes back)
            assert len({number for number, _ in server.lines}) >= 2
            assert daemon.request({"command": "ping"})["result"] == "pong"


def test_a_server_that_never_reads_does_not_hold_the_daemon():
    with collector(reading=False) as server, \
            running(_start(start_ours, server.port)) as daemon:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert daemon.request({"command": "ping"})["result"] == "pong"
            assert time.monotonic() - started < 1
            time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 8  # (stopped within its bounds)


@pytest.mark.parametrize("start", [start_reference, start_ours], ids=["rtpengine", "rtpengined"])
def test_a_graphite_host_that_does_not_resolve_stops_the_start(start):
    daemon = start(extra=["--graphite=no-such-host.invalid:2003"], wait=False)
    try:
        assert daemon.proc.wait(timeout=10) != 0
        assert b"graphite" in daemon.proc.stderr.read().lower()
    finally:
        daemon.stop()


@pytest.mark.parametrize("options", [
    (),
    ("--graphite-interval=7", "--homer=127.0.0.1:9", "--homer-protocol=tcp", "--homer-id=77"),
    ("--homer=127.0.0.1:9", "--homer-protocol=udp"),
], ids=["defaults", "graphite-and-homer-tcp", "homer-udp"])
def test_params_show_the_graphite_and_homer_settings_as_10_5_does(options):
    shown = []
    for start in (start_reference, start_ours):
        with running(functools.partial(start, extra=list(options))) as daemon:
            shown.append([[line for line in cli(daemon, f"params {which}").splitlines()
                           if line.startswith(("graphite-", "homer-"))]
                          for which in ("start", "current")])
    assert shown[0][0] and shown[1] == shown[0]
