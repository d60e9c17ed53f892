"""Long fuzz campaign: ``python tests/fuzz/campaign.py [--inputs N] [--target NAME]``.

Feeds each target N inputs (random bytes, mutations of real protocol messages) and
prints inputs per second and the crashes found. Exits 1 if any target crashed.
A crash is an exception escaping a parser, or a reply saying the core caught one.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import traceback

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(_TESTS), _TESTS]

from fuzz.seeds import SEEDS, seeds_for  # noqa: E402
from fuzz.targets import TARGETS  # noqa: E402

TOKENS = [b"d", b"e", b"l", b"i", b"0:", b"99:", b"i-0e", b" ", b"{", b"}", b"\r\n", b"\n", b"=",
          b"%", b"%2", b"%00", b"+", b"/", b"..", b"c=IN IP4 ", b"m=audio ", b"a=rtcp:", b"\"",
          b"null", b"1e999", b"-", b"0x", b"\xff", b"\xed\xa0\x80"]


def mutate(rng: random.Random, seed: bytes, pool: list[bytes]) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randint(0, len(data)) if data else 0
        if choice < 0.3 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif choice < 0.5:
            data[position:position] = rng.randbytes(rng.randint(1, 8))
        elif choice < 0.7 and data:
            del data[position : position + rng.randint(1, 16)]
        elif choice < 0.85:
            data[position:position] = rng.choice(TOKENS)
        else:
            other = rng.choice(pool)
            data[position:position] = other[: rng.randint(0, len(other))]
    return bytes(data)


def run(target: str, inputs: int, rng: random.Random) -> tuple[int, float, list[str]]:
    func = TARGETS[target]
    pool = seeds_for(target) or SEEDS
    crashes: list[str] = []
    started = time.perf_counter()
    for i in range(inputs):
        if i % 4 == 0:
            data = rng.randbytes(rng.randint(0, 64))
        else:
            data = mutate(rng, rng.choice(pool), pool)
        try:
            func(data)
        except Exception:
            if len(crashes) < 20:
                crashes.append(f"{data!r}: {traceback.format_exc(limit=3)}")
            else:
                crashes.append("")
    return inputs, time.perf_counter() - started, crashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--target", choices=sorted(TARGETS), action="append")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failed = False
    total_inputs, total_crashes, total_time = 0, 0, 0.0
    for target in args.target or list(TARGETS):
        count, elapsed, crashes = run(target, args.inputs, rng)
        total_inputs, total_crashes, total_time = total_inputs + count, total_crashes + len(crashes), \
            total_time + elapsed
        print(f"{target:<14} {count:>9} inputs  {elapsed:>7.1f} s  {count / elapsed:>9.0f} inputs/s  "
              f"crashes: {len(crashes)}", flush=True)
        for crash in [c for c in crashes if c][:3]:
            print("   ", crash)
        failed |= bool(crashes)
    print(f"{'total':<14} {total_inputs:>9} inputs  {total_time:>7.1f} s  crashes: {total_crashes}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
