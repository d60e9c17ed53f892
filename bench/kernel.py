"""Kernel forwarding: cost of moving a call into the kernel and out again, at 1k and 10k calls.

Runs ``NftKernel`` (libnftables + ctnetlink, as the daemon does) in a network namespace
of its own (root only), so nothing touches the host's ruleset: fills the table with
``N`` calls' elements, then times installing and removing more calls one transaction per
call and in batches of ``--batch``. Also times ``counters()`` (one read of every
forwarded port's counter: what a refresh or the 1 s kernel tick costs). For comparison,
forking ``nft`` once per call (what not to do). Prints µs per call.

Run: ``python bench/kernel.py [--calls 1000 10000]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rtpengined.media.kernel import Leg, Pair, elements  # noqa: E402
from rtpengined.media.nft import NftKernel, table_name  # noqa: E402


def pair(n: int) -> Pair:
    """Call ``n``: peers 10.x.y.z, our ports from 20000 (addresses vary, ports wrap)."""
    a = Leg(2 * n, "192.0.2.1", 1024 + (2 * n) % 60000, f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 5000)
    b = Leg(2 * n + 1, "192.0.2.2", 1024 + (2 * n) % 60000, f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 6000)
    return Pair(a, b)


def measure(existing: int, sample: int, batch: int) -> None:
    kernel = NftKernel(0)
    try:
        for start in range(0, existing, 1000):
            kernel.install([pair(n) for n in range(start, min(existing, start + 1000))])
        extra = [pair(n) for n in range(existing, existing + sample)]
        began = time.perf_counter()
        for p in extra:
            kernel.install([p])
        single_in = (time.perf_counter() - began) / sample
        began = time.perf_counter()
        for p in extra:
            kernel.remove([p])
        single_out = (time.perf_counter() - began) / sample
        began = time.perf_counter()
        for start in range(0, sample, batch):
            kernel.install(extra[start:start + batch])
        batched_in = (time.perf_counter() - began) / sample
        began = time.perf_counter()
        for start in range(0, sample, batch):
            kernel.remove(extra[start:start + batch])
        batched_out = (time.perf_counter() - began) / sample
        began = time.perf_counter()
        kernel.counters()
        read = time.perf_counter() - began
        forks = 20
        began = time.perf_counter()
        for p in extra[:forks]:
            e = elements(p)
            subprocess.run(["nft", f"add element ip {table_name(0)} dnat_to {{ {', '.join(e.dnat)} }}; "
                            f"add element ip {table_name(0)} snat_to {{ {', '.join(e.snat)} }}; "
                            f"add element ip {table_name(0)} rx_ports {{ {', '.join(e.rx)} }}"],
                           check=True)
        forked = (time.perf_counter() - began) / forks
    finally:
        kernel.close()
    print(f"{existing:>6} calls in the kernel: install {single_in * 1e6:6.0f} µs/call one by one, "
          f"{batched_in * 1e6:5.0f} µs/call in batches of {batch}; remove {single_out * 1e6:6.0f} / "
          f"{batched_out * 1e6:5.0f} µs/call (elements + conntrack deletes); "
          f"counter read {read * 1e3:.1f} ms; forking nft {forked * 1e6:,.0f} µs/call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--sample", type=int, default=500, help="calls timed at each size")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.inside:  # re-run inside a private namespace
        name = f"rtpe-bench-{secrets.token_hex(4)}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        try:
            subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                           check=True)
            subprocess.run(["ip", "netns", "exec", name, sys.executable, *sys.argv, "--inside"],
                           check=True)
        finally:
            subprocess.run(["ip", "netns", "del", name], check=False)
        return
    for existing in args.calls:
        measure(existing, args.sample, args.batch)


if __name__ == "__main__":
    main()
