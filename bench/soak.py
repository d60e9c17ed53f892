"""Soak: many offer/answer/delete lifecycles through a real daemon; what is left afterwards.

    python bench/soak.py [--lifecycles 100000] [--concurrency 16] [--cache-wait 62]

Runs ``rtpengined`` in this process (its UDP ng listener, relay worker processes, media
ports 50000-54999 by default) and drives it over UDP from ``--concurrency`` clients in the
same trio loop. Prints lifecycles/s, RSS of the daemon process (VmRSS; the client's share is
a few sockets) and the workers' PSS at start, after a warm-up and after the soak, and the
reply cache, port pool and call table sizes; after ``--cache-wait`` seconds (two cache
rotations) the reply cache is back at its idle size. Exits 1 when RSS grew more than
``--rss-budget-mb`` or anything did not return to idle.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import logging
import os
import sys
import time

_BENCH = os.path.dirname(os.path.abspath(__file__))
# bench/http.py would shadow the standard library's http, which the web transports import.
sys.path[:] = [os.path.dirname(_BENCH)] + [p for p in sys.path if os.path.abspath(p or ".") != _BENCH]

import trio  # noqa: E402

from rtpengined.config import Config, ListenAddress  # noqa: E402
from rtpengined.daemon import run_daemon  # noqa: E402
from rtpengined.protocol import bencode  # noqa: E402

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")


def rss_kb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def workers_pss_kb() -> int:
    """Proportional set size of the relay workers (children of this process)."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as handle:
            for pid in handle.read().split():
                try:
                    with open(f"/proc/{pid}/smaps_rollup") as rollup:
                        total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
                except OSError:
                    continue
    return total


class Client:
    """One UDP ng client socket; requests in turn, replies matched by cookie."""

    cookies = itertools.count(1)

    def __init__(self, address: tuple) -> None:
        self.address = address
        self.sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)

    async def request(self, message: dict) -> dict:
        cookie = b"s%d" % next(self.cookies)
        data = cookie + b" " + bencode.encode(message)
        for _ in range(5):
            await self.sock.sendto(data, self.address)
            with trio.move_on_after(2):
                while True:
                    reply = await self.sock.recv(65535)
                    if reply.startswith(cookie + b" "):
                        return bencode.decode(reply[len(cookie) + 1 :])
        raise TimeoutError("no reply")


async def lifecycles(client: Client, numbers, failures: list) -> None:
    for number in numbers:
        call_id = f"soak-{number}"
        offer = await client.request({"command": "offer", "call-id": call_id, "from-tag": "a",
                                      "sdp": SDP.format(port=2000 + number % 1000 * 2)})
        answer = await client.request({"command": "answer", "call-id": call_id, "from-tag": "a",
                                       "to-tag": "b", "sdp": SDP.format(port=4000)})
        delete = await client.request({"command": "delete", "call-id": call_id, "from-tag": "a"})
        for reply in (offer, answer, delete):
            if reply.get("result") != "ok" and len(failures) < 10:
                failures.append(reply)


async def run_batch(address: tuple, first: int, count: int, concurrency: int) -> tuple[float, list]:
    failures: list = []
    numbers = iter(range(first, first + count))
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(lifecycles, Client(address), numbers, failures)
    return time.perf_counter() - started, failures


def snapshot(core, label: str) -> dict:
    gc.collect()
    figures = {
        "rss_mb": rss_kb() / 1024, "workers_pss_mb": workers_pss_kb() / 1024,
        "cache": len(core.cache), "ports_used": sum(p.used for p in core.calls.port_pools),
        "calls": len(core.calls.calls) if hasattr(core.calls, "calls") else -1,
    }
    print(f"{label:<22} RSS {figures['rss_mb']:7.1f} MB   workers PSS {figures['workers_pss_mb']:6.1f} MB   "
          f"reply cache {figures['cache']:>7}   ports used {figures['ports_used']:>5}   "
          f"calls {figures['calls']:>6}", flush=True)
    return figures


async def main_async(args) -> int:
    config = Config(listen_ng=[ListenAddress("127.0.0.1", 0)], listen_tcp_ng=[], listen_cli=[],
                    listen_http=[], port_min=args.port_min, port_max=args.port_max, delete_delay=0,
                    relay_workers=args.workers)
    async with trio.open_nursery() as nursery:
        daemon = await nursery.start(lambda task_status: run_daemon(
            config, handle_signals=False, task_status=task_status))
        core, address = daemon.core, daemon.address("udp-ng")
        start = snapshot(core, "start")
        _, failures = await run_batch(address, 0, args.warmup, args.concurrency)
        warm = snapshot(core, f"after {args.warmup} warm-up")
        elapsed, more = await run_batch(address, args.warmup, args.lifecycles, args.concurrency)
        failures += more
        print(f"{args.lifecycles} lifecycles (offer+answer+delete) in {elapsed:.1f} s: "
              f"{args.lifecycles / elapsed:.0f} lifecycles/s, {3 * args.lifecycles / elapsed:.0f} requests/s, "
              f"failures: {len(failures)} {failures[:2]}", flush=True)
        after = snapshot(core, f"after {args.lifecycles}")
        if args.cache_wait:
            client = Client(address)
            for _ in range(2):  # the cache rotates on a lookup once its lifetime has passed
                await trio.sleep(args.cache_wait / 2)
                await client.request({"command": "ping"})
            idle = snapshot(core, f"after {args.cache_wait:.0f} s idle")
        else:
            idle = after
        if args.malloc_trim:
            # What is left is freed memory glibc keeps for reuse, not live objects: give it back.
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
            idle = snapshot(core, "after malloc_trim(0)")
        daemon.stop()
    growth = idle["rss_mb"] - warm["rss_mb"]
    print(f"RSS growth over the soak (idle after it vs. after the warm-up): {growth:+.1f} MB "
          f"(budget {args.rss_budget_mb} MB); right after the soak: {after['rss_mb'] - warm['rss_mb']:+.1f} MB "
          f"(reply cache still full); from process start: {idle['rss_mb'] - start['rss_mb']:+.1f} MB")
    ok = (growth <= args.rss_budget_mb and not failures and idle["ports_used"] == 0
          and idle["calls"] in (0, -1) and (not args.cache_wait or idle["cache"] <= 4))
    print("soak:", "OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="relay worker processes")
    parser.add_argument("--port-min", type=int, default=50000)
    parser.add_argument("--port-max", type=int, default=54999)
    parser.add_argument("--cache-wait", type=float, default=62.0,
                        help="seconds to idle for two reply-cache rotations (0: skip)")
    parser.add_argument("--rss-budget-mb", type=float, default=20.0)
    parser.add_argument("--malloc-trim", action="store_true",
                        help="call glibc malloc_trim(0) before the final RSS (shows retained free memory)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    return trio.run(main_async, args)


if __name__ == "__main__":
    raise SystemExit(main())
