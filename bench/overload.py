"""Overload: the parties of N calls flood their streams far above relay capacity for a few
seconds, then send at a normal rate. Prints the offered load, the control-request latency
during the flood (ping and query over UDP ng, every 20 ms) and how many streams carry media
again afterwards.

    python bench/overload.py [--calls 20] [--burst 5] [--blasters 2] [--daemon NAME=COMMAND ...]

Each daemon (default: rtpengine 10.5 and rtpengined) is started on free loopback ports; the
media range is ``--port-min``-``--port-max`` (default 50000-54999).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    NgClient,
    add_daemon_arguments,
    cpu_seconds,
    daemons_from,
    media_port,
    percentile,
    rtp,
    sdp,
    start_daemon,
)


def blaster(pairs: list[tuple[int, int]], seconds: float, result) -> None:
    """Send as fast as possible from the parties' sockets (inherited) to the daemon's ports."""
    socks = [(socket.socket(fileno=os.dup(fd)), ("127.0.0.1", port)) for fd, port in pairs]
    for sock, _ in socks:
        sock.setblocking(False)
    packet = rtp(1, 0x5555)
    sent, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        for sock, target in socks:
            for _ in range(16):
                try:
                    sock.sendto(packet, target)
                    sent += 1
                except OSError:
                    pass
    result.put(sent)


class Party:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.port = self.sock.getsockname()[1]

    def drain(self) -> int:
        self.sock.setblocking(False)
        count = 0
        while True:
            try:
                self.sock.recv(65535)
                count += 1
            except BlockingIOError:
                return count


def make_calls(ng: NgClient, count: int) -> list[tuple[Party, int, Party, int]]:
    calls = []
    for index in range(count):
        alice, bob = Party(), Party()
        offer = ng.request({"command": "offer", "call-id": f"ovl-{index}", "from-tag": "a",
                            "sdp": sdp("127.0.0.1", alice.port)})
        answer = ng.request({"command": "answer", "call-id": f"ovl-{index}", "from-tag": "a",
                             "to-tag": "b", "sdp": sdp("127.0.0.1", bob.port)})
        calls.append((alice, media_port(answer["sdp"]), bob, media_port(offer["sdp"])))
    return calls


def stream_works(sender: Party, target: int, receiver: Party, marker: int) -> bool:
    """Normal load: 50 packets/s for up to 2 s; True once one of them arrives."""
    receiver.drain()
    receiver.sock.settimeout(0.02)
    wanted = rtp(marker, 0x7777)
    for seq in range(100):
        sender.sock.sendto(rtp(marker + seq, 0x7777) if seq else wanted, ("127.0.0.1", target))
        try:
            while True:
                data = receiver.sock.recv(65535)
                if data[4:8] == wanted[4:8] or data[8:12] == wanted[8:12]:
                    return True
        except (TimeoutError, BlockingIOError):
            continue
    return False


def measure(name: str, command: str, args) -> dict:
    daemon = start_daemon(name, command, args)
    ng = NgClient(daemon.ng)
    try:
        calls = make_calls(ng, args.calls)
        before_ok = sum(stream_works(a, at, b, 100) and stream_works(b, bt, a, 200) for a, at, b, bt in calls)
        pairs = [(party.sock.fileno(), port) for a, at, b, bt in calls for party, port in ((a, at), (b, bt))]
        results = multiprocessing.get_context("fork").Queue()
        procs = [multiprocessing.get_context("fork").Process(
            target=blaster, args=(pairs[i :: args.blasters], args.burst, results)) for i in range(args.blasters)]
        cpu_before = cpu_seconds(daemon.pid)
        started = time.monotonic()
        for proc in procs:
            proc.start()
        latencies, lost = [], 0
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.settimeout(1.0)
        number = 0
        while time.monotonic() - started < args.burst:
            number += 1
            for message in (b"d7:command4:pinge", b"d7:command5:query7:call-id5:ovl-0e"):
                cookie = b"o%d_%d" % (number, len(message))
                sent_at = time.perf_counter()
                probe.sendto(cookie + b" " + message, daemon.ng)
                try:
                    while not probe.recv(65535).startswith(cookie + b" "):
                        pass
                    latencies.append((time.perf_counter() - sent_at) * 1000)
                except TimeoutError:
                    lost += 1
            time.sleep(0.02)
        offered = sum(results.get() for _ in procs)
        for proc in procs:
            proc.join()
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(daemon.pid) - cpu_before
        time.sleep(0.3)
        for a, _, b, _ in calls:
            a.drain()
            b.drain()
        recovered = sum(stream_works(a, at, b, 1000) + stream_works(b, bt, a, 2000) for a, at, b, bt in calls)
        alive = daemon.proc.poll() is None
    finally:
        ng.close()
        daemon.stop()
    return {"name": name, "offered_pps": offered / elapsed, "cpu": cpu / elapsed, "latencies": latencies,
            "lost": lost, "recovered": recovered, "streams": 2 * len(calls), "before": 2 * before_ok,
            "alive": alive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_daemon_arguments(parser)
    parser.set_defaults(port_min=50000, port_max=54999)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--burst", type=float, default=5.0, help="seconds of flooding")
    parser.add_argument("--blasters", type=int, default=2, help="flooding processes")
    args = parser.parse_args()
    print(f"{args.calls} calls ({2 * args.calls} streams), {args.blasters} flooding processes for {args.burst:.0f} s, "
          "then 50 packets/s per stream; control: ping + query every 20 ms over UDP ng")
    for name, command in daemons_from(args):
        r = measure(name, command, args)
        lat = r["latencies"]
        print(f"{r['name']:<11} offered {r['offered_pps'] / 1000:7.0f} kpps  daemon CPU {r['cpu'] * 100:4.0f}%  "
              f"control latency ms p50 {percentile(lat, 0.5):6.2f} p99 {percentile(lat, 0.99):6.2f} "
              f"max {max(lat, default=float('nan')):6.2f}  answered {len(lat)}/{len(lat) + r['lost']}  "
              f"streams working before {r['before']}/{r['streams']} after {r['recovered']}/{r['streams']}"
              f"{'' if r['alive'] else '  DAEMON DIED'}", flush=True)


if __name__ == "__main__":
    main()
