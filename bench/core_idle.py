"""What a pause between requests costs the ng core: CPU per lifecycle back to back and with gaps.

Runs offer+answer+delete lifecycles through ``Core.handle_ng`` in this process (null media
plane, ``--delete-delay=0``, the same SDP as ``control.py``) and times only the core, with
the calling thread's CPU clock, in three ways: back to back; with the thread asleep for
``--gap`` µs before each request (what a daemon serving one request at a time does
between requests: it blocks in ``epoll_wait`` and the CPU may halt); and with the thread
spinning for as long instead (busy, never halted). The difference between the rows is
what the same Python work costs when it starts cold. ``control.py`` shows the same
effect at the daemon level as the CPU per lifecycle at 1 in flight over that at 64, for
rtpengine and for us.
Run: ``python bench/core_idle.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from _common import sdp  # noqa: E402

from rtpengined.config import Config  # noqa: E402
from rtpengined.core import Core  # noqa: E402
from rtpengined.media import NullMediaPlane  # noqa: E402
from rtpengined.protocol import bencode  # noqa: E402


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def core_cpu(core: Core, first: int, count: int, pause) -> float:
    """µs of this thread's CPU per lifecycle spent inside ``handle_ng``."""
    spent = 0.0
    for n in range(first, first + count):
        call_id = f"idle-{n}"
        messages = (
            {"command": "offer", "call-id": call_id, "from-tag": "a",
             "sdp": sdp("127.0.0.1", 30000)},
            {"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
             "sdp": sdp("127.0.0.1", 30002)},
            {"command": "delete", "call-id": call_id},
        )
        for step, message in enumerate(messages):
            request = b"%d_%d " % (n, step) + bencode.encode(message)
            if pause is not None:
                pause()
            started = time.thread_time()
            core.handle_ng(request, ("127.0.0.1", 5060))
            spent += time.thread_time() - started
    return spent / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lifecycles", type=int, default=1000, help="per pass")
    parser.add_argument("--repeat", type=int, default=3, help="passes per row (median)")
    parser.add_argument("--gap", type=int, action="append",
                        help="µs between requests (repeatable; default 200 and 1000)")
    args = parser.parse_args()
    gaps = args.gap or [200, 1000]
    core = Core(Config(port_min=40000, port_max=49999, delete_delay=0), media=NullMediaPlane())
    first = 0

    def row(pause) -> float:
        nonlocal first
        passes = []
        for _ in range(args.repeat):
            passes.append(core_cpu(core, first, args.lifecycles, pause))
            first += args.lifecycles
        return statistics.median(passes)

    row(None)
    base = row(None)
    print(f"{'back to back':<22} {base:7.1f} µs/lifecycle")
    for gap in gaps:
        seconds = gap / 1e6
        asleep = row(lambda seconds=seconds: time.sleep(seconds))
        spinning = row(lambda seconds=seconds: _spin(seconds))
        print(f"{f'{gap} µs gaps, asleep':<22} {asleep:7.1f} µs/lifecycle  "
              f"({asleep / base:.2f}x back to back)")
        print(f"{f'{gap} µs gaps, spinning':<22} {spinning:7.1f} µs/lifecycle  "
              f"({spinning / base:.2f}x back to back)")


if __name__ == "__main__":
    main()
