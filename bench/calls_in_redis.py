"""Calls in Redis: control throughput with and without Redis, restore time, outages.

Starts its own ``redis-server`` on a free loopback port (persistence off), then for each
daemon (rtpengine 10.5 and rtpengined by default):

1. offer+answer+delete lifecycles/s and latency without Redis and with ``--redis``;
2. restore time: open N calls (1k and 4k by default: 4 sockets a call, and the file
   limit here is 20k), ``kill -9`` the daemon, start it again and time start → first
   ping answered (restore happens before the listeners open, in both daemons), against
   the start time with an empty DB; and rtpengined's restore work for 1k and 10k calls
   in-process without sockets (parse, decode, rebuild);
3. what an outage does to offer latency: lifecycles with Redis up, killed, hung (a
   socket that accepts and never answers) and back.

Run: ``python bench/redis.py`` (``--calls 1000`` for a shorter run).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    NgClient,
    add_daemon_arguments,
    daemons_from,
    free_port,
    start_daemon,
)
from control import lifecycles, open_calls  # noqa: E402


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--notify-keyspace-events", "KEA"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.cli("PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args: str, db: int = 0) -> str:
        done = subprocess.run(["redis-cli", "-p", str(self.port), "-n", str(db), *args],
                              capture_output=True, text=True)
        return done.stdout.strip()

    def writes(self) -> int:
        """SET + DEL commands Redis has executed so far (0 while it is down)."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        total = 0
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith(("cmdstat_set:", "cmdstat_del:")):
                total += int(line.split("calls=")[1].split(",")[0])
        return total

    def dbsize(self, db: int) -> int:
        return int(self.cli("DBSIZE", db=db) or 0)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _with_redis(args, redis: Redis, db: int, extra: str = "") -> argparse.Namespace:
    copy = argparse.Namespace(**vars(args))
    copy.extra = f"{args.extra} --redis=127.0.0.1:{redis.port}/{db} {extra}".strip()
    return copy


def throughput(name: str, command: str, args, redis: Redis, db: int) -> None:
    for label, daemon_args in (("no redis", args), ("redis", _with_redis(args, redis, db))):
        daemon = start_daemon(name, command, daemon_args)
        try:
            for in_flight in args.in_flight:
                lifecycles(daemon.ng, in_flight, 0.5, f"{name}-{db}-w{in_flight}-{label[0]}")
                writes = redis.writes()
                run = lifecycles(daemon.ng, in_flight, args.duration,
                                 f"{name}-{db}-{in_flight}-{label[0]}")
                time.sleep(0.5)  # background writes of the last calls
                per_call = (redis.writes() - writes) / max(run["done"], 1)
                print(f"  {label:>8}, {in_flight:>2} in flight: {run['rate']:7,.0f} "
                      f"lifecycles/s  p50 {run['p50']:.2f} ms  p99 {run['p99']:.2f} ms  "
                      f"errors {run['errors']}  Redis SET+DEL per call {per_call:.2f}")
        finally:
            daemon.stop()
        redis.cli("FLUSHDB", db=db)


def _start_time(name: str, command: str, args) -> tuple[float, object]:
    started = time.monotonic()
    daemon = start_daemon(name, command, args)
    return time.monotonic() - started - 0.5, daemon  # start_daemon sleeps 0.5 s once ready


def restore(name: str, command: str, args, redis: Redis, db: int) -> None:
    daemon_args = _with_redis(args, redis, db)
    empty, daemon = _start_time(name, command, daemon_args)
    print(f"  start with an empty DB: {empty * 1000:.0f} ms")
    ng = NgClient(daemon.ng)
    opened = 0
    try:
        for count in args.calls:
            open_calls(ng, opened, count - opened, f"{name}-r")
            opened = count
            deadline = time.monotonic() + 60
            while redis.dbsize(db) < count and time.monotonic() < deadline:
                time.sleep(0.1)
            stored = redis.dbsize(db)
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait()
            seconds, daemon = _start_time(name, command, daemon_args)
            ng.close()
            ng = NgClient(daemon.ng)
            stats = ng.request({"command": "statistics"}).get("statistics", {})
            listed = stats.get("currentstatistics", {}).get("sessionstotal", "?")
            print(f"  {count:>6} calls ({stored} stored): kill -9, restart → ready in "
                  f"{seconds * 1000:,.0f} ms ({(seconds - empty) * 1000:,.0f} ms more than "
                  f"empty), {listed} calls back")
    finally:
        ng.close()
        daemon.stop()
        redis.cli("FLUSHDB", db=db)


class _NoSocket:
    def close(self) -> None:
        pass


def restore_model(count: int) -> None:
    """rtpengined's restore work without sockets: parse, decode and rebuild ``count``
    stored calls (the kernel's file limit here caps real calls at ~4k: 4 sockets each)."""
    from rtpengined.config import Config
    from rtpengined.core import Core
    from rtpengined.media import NullMediaPlane
    from rtpengined.redis.layout import decode_call, dumps, encode_call, loads
    from rtpengined.redis.restore import restore_call

    def core() -> Core:
        return Core(Config(port_min=10000, port_max=65000), media=NullMediaPlane(),
                    binder=lambda interface, port: _NoSocket())

    source = core()
    from rtpengined.protocol import bencode

    for n in range(count):
        for message in (
            {"command": "offer", "call-id": f"m{n}", "from-tag": "a",
             "sdp": _sdp(10000 + 2 * (n % 20000))},
            {"command": "answer", "call-id": f"m{n}", "from-tag": "a", "to-tag": "b",
             "sdp": _sdp(10002 + 2 * (n % 20000))},
        ):
            source.handle_ng(b"c%d " % n + bencode.encode(message), ("127.0.0.1", 5060))
    started = time.perf_counter()
    docs = {call_id: dumps(encode_call(call, 1)) for call_id, call in source.calls.calls.items()}
    encoded = time.perf_counter() - started
    target = core()
    started = time.perf_counter()
    for call_id, text in docs.items():
        restore_call(target.calls, decode_call(call_id, loads(text)), time.time(), False)
    restored = time.perf_counter() - started
    print(f"  rtpengined in-process, {count:,} calls (no sockets): serialise {encoded * 1000:,.0f} ms"
          f", parse+rebuild {restored * 1000:,.0f} ms ({restored / count * 1e6:.0f} µs/call), "
          f"{len(target.calls.calls):,} calls rebuilt")


def _sdp(port: int) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 8\r\na=sendrecv\r\n")


def outage(name: str, command: str, args, redis: Redis, db: int) -> None:
    extra = "--redis-connect-timeout=100 --redis-cmd-timeout=100 --no-redis-required"
    daemon = start_daemon(name, command, _with_redis(args, redis, db, extra))
    hung: socket.socket | None = None
    try:
        for phase in ("up", "killed", "hung", "back"):
            if phase == "killed":
                redis.kill()
            elif phase == "hung":
                hung = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                hung.bind(("127.0.0.1", redis.port))
                hung.listen(128)
            elif phase == "back":
                hung.close()
                hung = None
                redis.start()
            writes = redis.writes()
            run = lifecycles(daemon.ng, 1, args.duration, f"{name}-{db}-{phase}")
            time.sleep(0.5)
            per_call = (redis.writes() - writes) / max(run["done"], 1)
            print(f"  Redis {phase:>6}: {run['rate']:7,.0f} lifecycles/s  offer/answer/delete "
                  f"latency p50 {run['p50']:.2f} ms  p99 {run['p99']:.2f} ms  "
                  f"errors {run['errors']}  SET+DEL per call {per_call:.2f}")
    finally:
        if hung is not None:
            hung.close()
        if redis.proc is None or redis.proc.poll() is not None:
            redis.start()
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.set_defaults(interface="127.0.0.43", port_min=10000, port_max=59999,
                        extra="--delete-delay=0")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--calls", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--model-calls", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["throughput", "restore", "outage"])
    args = parser.parse_args()
    if "restore" not in args.skip:
        print("== restore work without sockets")
        for count in args.model_calls:
            restore_model(count)
    redis = Redis()
    try:
        for n, (name, command) in enumerate(daemons_from(args)):
            db = n + 1
            print(f"\n== {name}: {command}")
            if "throughput" not in args.skip:
                throughput(name, command, args, redis, db)
            if "restore" not in args.skip:
                restore(name, command, args, redis, db)
            if "outage" not in args.skip:
                outage(name, command, args, redis, db)
    finally:
        redis.kill()


if __name__ == "__main__":
    main()
