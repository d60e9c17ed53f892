"""SRTP<->RTP relay cost: daemon CPU per relayed packet, SDES-SRTP bridged to plain RTP,
beside plain RTP<->RTP, for rtpengine and rtpengined side by side.

Each call: A offers plain RTP, sent on as RTP/SAVP; B answers with AES_CM_128_HMAC_SHA1_80.
A sends plain RTP (the daemon encrypts towards B), B sends SRTP protected beforehand with
libsrtp (the daemon decrypts towards A), both at ``--rate`` packets/s in total, paced. The
figure is the daemon's CPU time (all its processes) per packet it relayed, and how many of the
sent packets arrived, measured after ``--warmup`` seconds of the same traffic (endpoint
learning is over then: the steady state of a call). Ratios only mean something within one
run.

    python bench/srtp_relay.py [--calls 20] [--rate 4000] [--seconds 5] [--warmup 4]
"""

from __future__ import annotations

import argparse
import re
import socket
import time

from _common import (
    NgClient,
    add_daemon_arguments,
    cpu_seconds,
    daemons_from,
    media_port,
    ratio,
    rtp,
    sdp,
    start_daemon,
)

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext


def udp(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.setblocking(False)
    return sock


def set_up(ng: NgClient, index: int, address: str, secure: bool, count: int):
    """One call; returns (A socket, B socket, A's target, B's target, A's packets, B's)."""
    a, b = udp(address), udp(address)
    call = f"bench-{'srtp' if secure else 'plain'}-{index}"
    extra = {"transport-protocol": "RTP/SAVP"} if secure else {}
    offer = ng.request({"command": "offer", "call-id": call, "from-tag": "a",
                        "sdp": sdp(address, a.getsockname()[1]), **extra})
    b_sdp = sdp(address, b.getsockname()[1])
    theirs = None
    if secure:
        ours = next(sdes.parse(v) for v in re.findall(r"^a=(crypto:.*?)\r$", offer["sdp"], re.M)
                    if "AES_CM_128_HMAC_SHA1_80" in v)
        theirs = sdes.generate(ours.tag, "AES_CM_128_HMAC_SHA1_80")
        b_sdp = b_sdp.replace("RTP/AVP", "RTP/SAVP") + f"a={theirs.format()}\r\n"
    answer = ng.request({"command": "answer", "call-id": call, "from-tag": "a", "to-tag": "b",
                         "sdp": b_sdp})
    a_packets = [rtp(n, 0xA000 + index) for n in range(1, count + 1)]
    b_packets = [rtp(n, 0xB000 + index) for n in range(1, count + 1)]
    if secure:
        context = SrtpContext.from_sdes(theirs, outbound=True)
        b_packets = [context.protect(p) for p in b_packets]
    return (a, b, (address, media_port(answer["sdp"])), (address, media_port(offer["sdp"])),
            a_packets, b_packets)


def drain(sockets: list[socket.socket]) -> int:
    got = 0
    for sock in sockets:
        while True:
            try:
                sock.recv(2048)
            except BlockingIOError:
                break
            got += 1
    return got


def run(ng: NgClient, pid: int, address: str, secure: bool, args) -> tuple[float, float]:
    warm = int(args.rate * args.warmup / args.calls / 2)
    per_call = warm + int(args.rate * args.seconds / args.calls / 2)
    calls = [set_up(ng, i, address, secure, per_call) for i in range(args.calls)]
    sockets = [s for c in calls for s in c[:2]]
    time.sleep(0.3)
    before = cpu_seconds(pid)  # (the whole tree: the daemon and its relay workers, once)
    sent = received = 0
    # A tick sends per_tick packets each way on every call; the interval follows from the
    # rate (never rounded up to more packets per tick, which raised the real rate 5x).
    per_tick = max(1, int(args.rate * 0.002 / 2 / args.calls))
    interval = per_tick * 2 * args.calls / args.rate
    start = time.monotonic()
    tick = 0
    position = 0
    while position < per_call:
        for a, b, a_target, b_target, a_packets, b_packets in calls:
            for n in range(position, min(per_call, position + per_tick)):
                a.sendto(a_packets[n], a_target)
                b.sendto(b_packets[n], b_target)
                sent += 2
        position += per_tick
        received += drain(sockets)
        if warm and position >= warm:  # learning is over: measure from here
            warm = 0
            before = cpu_seconds(pid)
            sent = received = 0
        tick += 1
        delay = start + tick * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.3)
    received += drain(sockets)
    cpu = cpu_seconds(pid) - before
    for i in range(args.calls):
        ng.request({"command": "delete", "call-id": f"bench-{'srtp' if secure else 'plain'}-{i}"})
    for sock in sockets:
        sock.close()
    return cpu / max(received, 1) * 1e6, received / max(sent, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rate", type=float, default=4000, help="packets/s sent, both ways")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=4,
                        help="seconds sent before measuring (endpoint learning, 3 s, is over)")
    args = parser.parse_args()
    results = {}
    for name, command in daemons_from(args):
        daemon = start_daemon(name, command, args)
        try:
            ng = NgClient(daemon.ng)
            for secure in (False, True):
                results[name, secure] = run(ng, daemon.pid, args.interface, secure, args)
            ng.close()
        finally:
            daemon.stop()
    names = [name for name, _ in daemons_from(args)]
    print(f"{args.calls} calls, {args.rate:.0f} packets/s offered, {args.seconds:.0f} s each")
    print(f"{'':14}" + "".join(f"{n + ' µs CPU/pkt (arrived)':>36}" for n in names)
          + "   ratio")
    for secure in (False, True):
        row = f"{'SRTP<->RTP' if secure else 'RTP<->RTP':14}"
        for n in names:
            cost, share = results[n, secure]
            row += f"{cost:>26.1f} ({share:6.1%})"
        if len(names) == 2:
            row += "   " + ratio(results[names[1], secure][0], results[names[0], secure][0])
        print(row)


if __name__ == "__main__":
    main()
