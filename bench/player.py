"""Media player benchmark: daemon CPU per played packet and pacing, side by side.

For each daemon (rtpengine 10.5 and rtpengined by default): ``--calls`` calls (offer and
answer in ``--codec``), then ``play media`` of a WAV file (a tone, 16-bit mono at 8 kHz, as
long as ``--seconds``) to every caller at once. Measured while it plays: the daemon's
process-tree CPU per packet received (all of it, the requests included), the CPU the
requests themselves took until they were all answered (per request: the file opened, the
first packet sent), the share of the expected packets that arrived, and the spacing of
each call's packets (p50/p99 of the gaps, 20 ms ideal); plus how long the ``play media``
requests took to answer. Prints figures, not pass/fail.
Run: ``python bench/player.py [--calls 50 --seconds 5 --codec PCMA]``.
"""

from __future__ import annotations

import argparse
import math
import os
import selectors
import struct
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _common import (  # noqa: E402
    NgClient,
    add_daemon_arguments,
    arrivals,
    audio_sdp,
    cpu_seconds,
    daemons_from,
    loopback_socket,
    percentile,
    print_rows,
    start_daemon,
)

CODECS = {"PCMA": ("8", "a=rtpmap:8 PCMA/8000"), "PCMU": ("0", "a=rtpmap:0 PCMU/8000"),
          "G722": ("9", "a=rtpmap:9 G722/8000"), "opus": ("96", "a=rtpmap:96 opus/48000/2")}


def _wav(path: str, seconds: float) -> None:
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(n / 2.9)))
                                 for n in range(int(8000 * seconds))))


def measure(name: str, command: str, path: str, args) -> dict:
    daemon = start_daemon(name, command, args)
    ng = NgClient(daemon.ng)
    callers = []
    try:
        pt, rtpmap = CODECS[args.codec]
        for call in range(args.calls):
            a, b = loopback_socket(), loopback_socket()
            cid = f"play-{call}"
            ng.request({"command": "offer", "call-id": cid, "from-tag": "a", "ICE": "remove",
                        "sdp": audio_sdp(a.getsockname()[1], pt, rtpmap)})
            ng.request({"command": "answer", "call-id": cid, "from-tag": "a", "to-tag": "b",
                        "ICE": "remove", "sdp": audio_sdp(b.getsockname()[1], pt, rtpmap)})
            b.close()
            callers.append(a)
        selector = selectors.DefaultSelector()
        for a in callers:
            selector.register(a, selectors.EVENT_READ)
        cpu0 = cpu_seconds(daemon.pid)
        answer_times = []
        for call in range(args.calls):
            started = time.monotonic()
            reply = ng.request({"command": "play media", "call-id": f"play-{call}",
                                "from-tag": "a", "file": path})
            answer_times.append(time.monotonic() - started)
            if reply.get("result") != "ok":
                raise RuntimeError(f"{name}: play media: {reply}")
        cpu1 = cpu_seconds(daemon.pid)
        last: dict[int, float] = {}
        gaps: list[float] = []
        received = 0
        end = time.monotonic() + args.seconds + 1.0
        while time.monotonic() < end:
            for sock, _data in arrivals(selector, 0.1):
                now = time.monotonic()
                fd = sock.fileno()
                if fd in last:
                    gaps.append(now - last[fd])
                last[fd] = now
                received += 1
        cpu = cpu_seconds(daemon.pid) - cpu0
        expected = args.calls * int(args.seconds * 50)
        return {"cpu_us": cpu / max(received, 1) * 1e6, "out": received / max(expected, 1),
                "start_ms": (cpu1 - cpu0) / args.calls * 1e3,
                "gap50": percentile(gaps, 0.5) * 1e3, "gap99": percentile(gaps, 0.99) * 1e3,
                "answer_ms": percentile(answer_times, 0.5) * 1e3}
    finally:
        for a in callers:
            a.close()
        ng.close()
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--codec", choices=list(CODECS), default="PCMA")
    args = parser.parse_args()
    daemons = daemons_from(args)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "tone.wav")
        _wav(path, args.seconds)
        results = {name: measure(name, command, path, args) for name, command in daemons}
    print(f"\nplay media, {args.calls} calls at once, {args.seconds:.0f} s of 8 kHz WAV "
          f"played in {args.codec}")
    print_rows([name for name, _ in daemons], results, (
        ("cpu_us", "daemon CPU per played packet (us)", ".2f"),
        ("start_ms", "of which per play media, answer (ms)", ".2f"),
        ("out", "packets out / expected", ".3f"),
        ("gap50", "gap between packets, p50 (ms)", ".2f"),
        ("gap99", "gap between packets, p99 (ms)", ".2f"),
        ("answer_ms", "play media answered in, p50 (ms)", ".2f")), width=34)


if __name__ == "__main__":
    main()
