"""Transcoding benchmark: daemon CPU per converted packet, loss and added latency, side by side.

For each daemon (rtpengine 10.5 and rtpengined by default): set up ``--calls`` calls whose
offer asks ``codec: {transcode: [X]}`` and whose answer takes only X, so every packet is
converted both ways; then both legs of every call send 20 ms PCMU (A) and X (B) packets,
paced at 50 packets/s each, for ``--seconds``. Measured: the daemon's process-tree CPU per
relayed packet, the share of packets that came out, and the median/p99 time from a send to
the converted packet it makes (the first tick, which fills the codecs' delay, is not
counted). One table per conversion, ratios rtpengined/rtpengine. Prints figures, not
pass/fail. Run: ``python bench/transcoding.py [--calls 20 --seconds 5]``.
"""

from __future__ import annotations

import argparse
import math
import os
import selectors
import struct
import sys
import time

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
    media_port,
    percentile,
    print_rows,
    start_daemon,
)

from rtpengined.media import g711  # noqa: E402

TONE = bytes(g711.linear_to_ulaw(int(8000 * math.sin(2 * math.pi * 440 * n / 8000)))
             for n in range(8000))
# target codec: (payload type, rtpmap line, the B side's packets of 20 ms from a source)
TARGETS = {"PCMA": ("8", "a=rtpmap:8 PCMA/8000"), "G722": ("9", "a=rtpmap:9 G722/8000"),
           "opus": ("96", "a=rtpmap:96 opus/48000/2")}


def _payloads(target: str, ng: NgClient) -> list[bytes]:
    """20 ms payloads in ``target`` for B to send: what the daemon itself makes of the tone
    (one warm-up call), so that B sends real encoded audio."""
    a, b = loopback_socket(), loopback_socket()
    try:
        pt, rtpmap = TARGETS[target]
        offer = ng.request({"command": "offer", "call-id": "warm", "from-tag": "a",
                            "sdp": audio_sdp(a.getsockname()[1], "0"), "ICE": "remove",
                            "codec": {"transcode": [target]}})
        answer = ng.request({"command": "answer", "call-id": "warm", "from-tag": "a",
                             "to-tag": "b", "sdp": audio_sdp(b.getsockname()[1], pt, rtpmap),
                             "ICE": "remove"})
        to_b = media_port(_text(answer["sdp"]))
        out = []
        for i in range(60):
            a.sendto(struct.pack("!BBHII", 0x80, 0, i, 160 * i, 1) + TONE[160 * i:160 * i + 160],
                     ("127.0.0.1", to_b))
            time.sleep(0.002)
            while True:
                try:
                    out.append(b.recv(2048)[12:])
                except BlockingIOError:
                    break
        ng.request({"command": "delete", "call-id": "warm"})
        del offer
        return out or [bytes(160)]
    finally:
        a.close()
        b.close()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def measure(name: str, command: str, target: str, args) -> dict:
    daemon = start_daemon(name, command, args)
    ng = NgClient(daemon.ng)
    legs = []
    try:
        payloads = _payloads(target, ng)
        pt, rtpmap = TARGETS[target]
        for call in range(args.calls):
            a, b = loopback_socket(), loopback_socket()
            cid = f"tc-{call}"
            offer = ng.request({"command": "offer", "call-id": cid, "from-tag": "a",
                                "sdp": audio_sdp(a.getsockname()[1], "0"), "ICE": "remove",
                                "codec": {"transcode": [target]}})
            answer = ng.request({"command": "answer", "call-id": cid, "from-tag": "a",
                                 "to-tag": "b", "sdp": audio_sdp(b.getsockname()[1], pt, rtpmap),
                                 "ICE": "remove"})
            legs.append((a, b, media_port(_text(answer["sdp"])),
                         media_port(_text(offer["sdp"]))))
        selector = selectors.DefaultSelector()
        for a, b, _, _ in legs:
            selector.register(a, selectors.EVENT_READ)
            selector.register(b, selectors.EVENT_READ)
        sent_at: dict[int, float] = {}  # receiving socket -> when its last packet was sent
        delays: list[float] = []
        received = sent = 0
        cpu0 = cpu_seconds(daemon.pid)
        start = time.monotonic()
        ticks = int(args.seconds * 50)
        for tick in range(ticks):
            due = start + tick * 0.02
            while True:  # read what came until the next 20 ms tick
                left = due - time.monotonic()
                if left <= 0:
                    break
                for sock, data in arrivals(selector, left):
                    received += 1
                    when = sent_at.pop(sock.fileno(), None)
                    if when is not None and data:
                        delays.append(time.monotonic() - when)
            for a, b, to_b, to_a in legs:
                now = time.monotonic()
                a.sendto(struct.pack("!BBHII", 0x80, 0, tick, 160 * tick, 1)
                         + TONE[160 * (tick % 50):160 * (tick % 50) + 160], ("127.0.0.1", to_b))
                b.sendto(struct.pack("!BBHII", 0x80, int(pt), tick, 960 * tick if target == "opus"
                                     else 160 * tick, 2) + payloads[tick % len(payloads)],
                         ("127.0.0.1", to_a))
                if tick:  # (what B receives was sent by A, and the other way round)
                    sent_at[b.fileno()] = now
                    sent_at[a.fileno()] = now
                sent += 2
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            received += sum(1 for _ in arrivals(selector, 0.1))
        cpu = cpu_seconds(daemon.pid) - cpu0
        return {"cpu_us": cpu / max(sent, 1) * 1e6, "out": received / max(sent, 1),
                "p50_ms": percentile(delays, 0.5) * 1e3, "p99_ms": percentile(delays, 0.99) * 1e3}
    finally:
        for a, b, _, _ in legs:
            a.close()
            b.close()
        ng.close()
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--target", action="append", choices=list(TARGETS),
                        help="codec the answer takes (default: all)")
    args = parser.parse_args()
    daemons = daemons_from(args)
    for target in args.target or list(TARGETS):
        results = {name: measure(name, command, target, args) for name, command in daemons}
        print(f"\nPCMU <-> {target}: {args.calls} calls, 50 packets/s each way, "
              f"{args.seconds:.0f} s")
        print_rows([name for name, _ in daemons], results, (
            ("cpu_us", "daemon CPU per packet (us)", ".1f"),
            ("out", "packets out per packet in", ".3f"),
            ("p50_ms", "send to converted, p50 (ms)", ".1f"),
            ("p99_ms", "send to converted, p99 (ms)", ".1f")))


if __name__ == "__main__":
    main()
