"""Control-plane stalls: UDP ng ping latency while something else goes on.

For each daemon in turn (rtpengine first, then ours): ping over UDP ng every 10 ms for
``--duration`` seconds and print p50 / p99 / max, in four situations:

* idle;
* the TCP ng framing attack of issue 13: a ~1 MB unterminated message, then one more
  byte every 20 ms, from 1 and from 10 connections (rtpengine closes a connection past
  1 KiB of partial message, so there the attack ends at once);
* with ``--calls`` open calls (offer + answer, no media): once-a-second work that grows
  with the number of calls shows up as spikes in p99 / max.

``--inprocess`` measures, without a daemon, what one timer tick and the statistics views
cost with ``--inprocess-calls`` calls (default 20,000: more sockets than the fd limit
allows, so ports are not bound and the relay plane has no workers; its counter table is
filled as workers would fill it). ``--tree PATH`` (repeatable) runs that part against
other source trees too (e.g. the tree before a change).

    python bench/stalls.py --calls 4000 --daemon "before=env -C /old/tree python -m rtpengined run"
    python bench/stalls.py --inprocess --tree /old/tree
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time


def _common():
    """The shared bench helpers (imported late: the in-process part runs other trees)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _common as common

    return common

ATTACK_HEAD = b"a1 d7:command4:ping3:padl" + b"i1e" * 340_000  # ~1 MB, never finished
TRICKLE_INTERVAL = 0.02


def start(name: str, command: str, args):
    common = _common()
    free_port = common.free_port
    ng_port = free_port(socket.SOCK_DGRAM)
    tcp_port = free_port()
    argv = shlex.split(command) + [
        f"--listen-ng=127.0.0.1:{ng_port}", f"--listen-tcp-ng=127.0.0.1:{tcp_port}",
        f"--listen-cli=127.0.0.1:{free_port()}", f"--interface={args.interface}",
        f"--port-min={args.port_min}", f"--port-max={args.port_max}",
        "--foreground", "--log-stderr", "--config-file=none", "--log-level=3",
        *shlex.split(args.extra),
    ]
    return common.spawn_daemon(name, argv, ng_port, timeout=20), tcp_port


def ping_latencies(address: tuple, duration: float) -> tuple[list[float], int]:
    """RTTs (ms) of pings sent every 10 ms, and how many got no reply within 5 s."""
    rtts, lost = [], 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        end = time.monotonic() + duration
        number = 0
        while time.monotonic() < end:
            number += 1
            cookie = b"p%d" % number
            sent = time.perf_counter()
            sock.sendto(cookie + b" d7:command4:pinge", address)
            try:
                while not sock.recv(200).startswith(cookie + b" "):
                    pass
                rtts.append((time.perf_counter() - sent) * 1000)
            except TimeoutError:
                lost += 1
            time.sleep(0.01)
    return rtts, lost


class Attacker(threading.Thread):
    """One framing-attack connection: the big head, then a byte every 20 ms."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.closed_by_daemon = False

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(ATTACK_HEAD)
                while not self.stop.wait(TRICKLE_INTERVAL):
                    sock.sendall(b"i")
                    sock.sendall(b"1")
                    sock.sendall(b"e")
        except OSError:
            self.closed_by_daemon = True


def under_attack(daemon, tcp_port: int, attackers: int, duration: float):
    stop = threading.Event()
    threads = [Attacker(tcp_port, stop) for _ in range(attackers)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the heads are in
    result = ping_latencies(daemon.ng, duration)
    stop.set()
    for thread in threads:
        thread.join(10)
    closed = sum(t.closed_by_daemon for t in threads)
    return result, closed


def open_calls(daemon, count: int, interface: str) -> int:
    common = _common()
    sdp = common.sdp
    ng = common.NgClient(daemon.ng)
    opened = 0
    try:
        for index in range(count):
            call_id = f"stall-{index}"
            offer = ng.request({"command": "offer", "call-id": call_id, "from-tag": "a",
                                "sdp": sdp("192.0.2.1", 20000 + 2 * (index % 10000))})
            if offer.get("result") != "ok":
                break
            answer = ng.request({"command": "answer", "call-id": call_id, "from-tag": "a",
                                 "to-tag": "b", "sdp": sdp("192.0.2.2", 40000 + 2 * (index % 10000))})
            if answer.get("result") != "ok":
                break
            opened += 1
    finally:
        ng.close()
    return opened


def summary(rtts: list[float], lost: int) -> str:
    percentile = _common().percentile
    if not rtts:
        return f"no replies ({lost} lost)"
    text = (f"{percentile(rtts, 0.5):.2f} / {percentile(rtts, 0.99):.2f} / "
            f"{max(rtts):.2f} ms")
    return text + (f", {lost} lost" if lost else "")


def run_daemons(args) -> None:
    rows: dict[str, dict[str, str]] = {}
    names = []
    for item in args.daemon or _common().DEFAULT_DAEMONS:
        name, _, command = item.partition("=")
        names.append(name)
        daemon, tcp_port = start(name, command, args)
        row = rows.setdefault(name, {})
        try:
            row["idle"] = summary(*ping_latencies(daemon.ng, args.duration))
            for count in (1, 10):
                (rtts, lost), closed = under_attack(daemon, tcp_port, count, args.duration)
                alive = daemon.proc.poll() is None
                note = f" [{closed}/{count} closed by daemon]" if closed else ""
                row[f"framing attack x{count}"] = (summary(rtts, lost) + note) if alive else "DIED"
            opened = open_calls(daemon, args.calls, args.interface)
            row[f"{opened} open calls"] = summary(*ping_latencies(daemon.ng, args.duration))
            print(f"{name}: done ({opened} calls opened)", file=sys.stderr)
        finally:
            daemon.stop()
    situations = list(next(iter(rows.values())).keys())
    print("\nUDP ng ping latency p50 / p99 / max (ping every 10 ms, "
          f"{args.duration:g} s per situation)\n")
    print("| situation | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for situation in situations:
        cells = [rows[name].get(situation, "") for name in names]
        print(f"| {situation} | " + " | ".join(cells) + " |")


# -- in-process ------------------------------------------------------------------------------


class _FakeSocket:
    """Stands in for a bound media socket: no descriptor, so nothing reaches a worker."""

    family = socket.AF_INET

    def __init__(self, port: int) -> None:
        self.port = port

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def inprocess(calls: int, repeat: int) -> dict[str, float]:
    """Per-operation milliseconds (median of ``repeat``) with ``calls`` open calls."""
    from rtpengined import metrics
    from rtpengined.config import Config
    from rtpengined.core import Core
    from rtpengined.media.plane import RelayPlane
    from rtpengined.protocol import bencode

    config = Config(port_min=2000, port_max=2000 + calls * 4 + 100, timeout=60)
    plane = RelayPlane(config, workers=2)
    plane.closing = True  # no worker processes: channel errors are expected and quiet
    core = Core(config, media=plane, binder=lambda interface, port: _FakeSocket(port))
    body = "v=0\r\no=- 1 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\nm=audio {1} RTP/AVP 0\r\n"
    for index in range(calls):
        for command, tag, address in (("offer", {}, "192.0.2.1"),
                                      ("answer", {"to-tag": "b"}, "192.0.2.2")):
            message = {"command": command, "call-id": f"c{index}", "from-tag": "a",
                       "sdp": body.format(address, 20000 + 2 * (index % 10000)), **tag}
            reply = core.handle_ng(b"x%d " % index + bencode.encode(message))
            assert b"result2:ok" in reply, reply[:200]
    now = time.time()
    used = [*range(plane.slots.base, plane.slots.end), *range(plane.rtcp_slots.base, plane.rtcp_slots.end)]
    for slot in used:  # traffic, as relay workers write it
        plane.counters.write_traffic(slot, 100 + slot % 7, 17200, slot % 3, now, 1234, True)

    def timed(func) -> float:
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            func()
            samples.append((time.perf_counter() - started) * 1000)
        return sorted(samples)[len(samples) // 2]

    clock = [now]

    def tick() -> None:
        clock[0] += 1.0
        core.calls.tick(clock[0])

    def full_tick() -> None:
        core.stats.rate_sampled_at = time.time() - 1.0  # a rate sample is due, as each second
        core.tick()

    cookies = iter(range(10**9))

    def statistics() -> None:  # a fresh cookie each time: not answered from the reply cache
        core.handle_ng(b"s%d d7:command10:statisticse" % next(cookies))

    result = {
        "calls.tick (nothing due)": timed(tick),
        "daemon tick (timers + rates)": timed(full_tick),
        "list totals": timed(lambda: core.handle_cli("list totals")),
        "ng statistics": timed(statistics),
        "/metrics": timed(lambda: metrics.metrics_text(core)),
    }
    assert len(core.calls.calls) == calls
    return result


def run_inprocess(args) -> None:
    trees = [("this tree", os.path.join(os.path.dirname(__file__), ".."))]
    trees = [(os.path.basename(os.path.abspath(t)) or t, t) for t in args.tree or []] + trees
    columns = []
    for name, tree in trees:
        code = (f"import sys, json, importlib.util; sys.path.insert(0, {os.path.abspath(tree)!r}); "
                f"spec = importlib.util.spec_from_file_location('stalls', {os.path.abspath(__file__)!r}); "
                "stalls = importlib.util.module_from_spec(spec); spec.loader.exec_module(stalls); "
                f"print(json.dumps(stalls.inprocess({args.inprocess_calls}, {args.repeat})))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=os.path.abspath(tree), check=False)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"{name}: failed")
        columns.append((name, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"\nIn-process, {args.inprocess_calls} calls (ms, median of {args.repeat})\n")
    print("| operation | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for operation in columns[0][1]:
        print(f"| {operation} | " + " | ".join(f"{values[operation]:.2f}" for _, values in columns)
              + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemon", action="append", metavar="NAME=COMMAND")
    parser.add_argument("--interface", default="127.0.0.46", help="media interface address")
    parser.add_argument("--port-min", type=int, default=20000)
    parser.add_argument("--port-max", type=int, default=39999)
    parser.add_argument("--extra", default="", help="extra options for every daemon")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per situation")
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--inprocess", action="store_true", help="only the in-process part")
    parser.add_argument("--inprocess-calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tree", action="append", help="another source tree (in-process part)")
    args = parser.parse_args()
    if args.inprocess:
        run_inprocess(args)
    else:
        run_daemons(args)


if __name__ == "__main__":
    main()
