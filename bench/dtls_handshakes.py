"""DTLS-SRTP handshakes per second, for rtpengine and rtpengined side by side.

Each call: a DTLS-SRTP party (a SIP phone: ``UDP/TLS/RTP/SAVP``, ``a=setup:actpass``, its
own certificate, no ICE) offers, bridged to a plain RTP party (``transport-protocol:
RTP/AVP``, ``ICE: remove``); the plain party answers. The daemon's answer to the DTLS party
says which side starts the handshake (both daemons answer ``a=setup:active``: they do);
the party then completes it with OpenSSL (``rtpengined.secure.dtls.DtlsEndpoint``, one
socket per call, all driven from one epoll loop) and checks the daemon's certificate
against the answer's fingerprint.

``--calls`` calls are signalled in batches of ``--concurrency``; each batch's handshakes run
at once. Printed per daemon: handshakes per second (completed handshakes over the time from
the first answer of a batch to its last handshake, summed over batches), the handshake time
per call (answer reply to the party's keys, p50/p99), and the daemon's CPU per call over the
whole run (signalling, handshake, teardown; all its processes). Ratios mean something only
within one run.

    python bench/dtls_handshakes.py [--calls 200] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import os
import re
import select
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _common import (  # noqa: E402
    NgClient,
    add_daemon_arguments,
    cpu_seconds,
    daemons_from,
    media_port,
    percentile,
    ratio,
    sdp,
    start_daemon,
)

from rtpengined.secure import dtls  # noqa: E402

CERTIFICATE = dtls.Certificate()


def _dtls_offer(port: int) -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} UDP/TLS/RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        "a=rtcp-mux\r\na=setup:actpass\r\n"
        f"a=fingerprint:{CERTIFICATE.fingerprint()}\r\n"
    )


class Party:
    """The DTLS-SRTP side of one call: its socket and, once answered, its endpoint."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.endpoint: dtls.DtlsEndpoint | None = None
        self.target: tuple | None = None
        self.answered = self.done = 0.0

    def answer(self, sdp_text: str) -> list[bytes]:
        """Set up the endpoint from the daemon's answer; the first flight if we start."""
        setup = re.search(r"^a=setup:(\w+)", sdp_text, re.M).group(1)
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r?$", sdp_text, re.M).group(1)
        self.target = ("127.0.0.1", media_port(sdp_text))
        self.endpoint = dtls.DtlsEndpoint(CERTIFICATE, client=setup == "passive",
                                          remote_fingerprint=fingerprint)
        self.answered = time.monotonic()
        return self.endpoint.start(self.answered)


def run_batch(ng: NgClient, first: int, count: int) -> tuple[list[float], float, int]:
    """Signal ``count`` calls, complete their handshakes: (answer-to-keys times, seconds
    from the first answer to the last handshake, handshakes that never finished)."""
    parties = [Party() for _ in range(count)]
    plains = []
    epoll = select.epoll()
    by_fd = {}
    try:
        for n, party in enumerate(parties):
            call = {"call-id": f"dtls-bench-{first + n}", "from-tag": "a"}
            plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            plain.bind(("127.0.0.1", 0))
            plains.append(plain)
            ng.request({"command": "offer", **call, "transport-protocol": "RTP/AVP",
                        "ICE": "remove", "sdp": _dtls_offer(party.port)})
            reply = ng.request({"command": "answer", **call, "to-tag": "b",
                                "sdp": sdp("127.0.0.1", plain.getsockname()[1])})
            for datagram in party.answer(reply["sdp"]):
                party.sock.sendto(datagram, party.target)
            epoll.register(party.sock.fileno(), select.EPOLLIN)
            by_fd[party.sock.fileno()] = party
        start = min(p.answered for p in parties)
        waiting = set(parties)
        deadline = time.monotonic() + 10
        while waiting and time.monotonic() < deadline:
            timeouts = [p.endpoint.deadline() for p in waiting if p.endpoint.deadline()]
            wait = max(0.0, min(timeouts) - time.monotonic()) if timeouts else 0.5
            for fd, _ in epoll.poll(min(wait, 0.5)):
                party = by_fd[fd]
                while True:
                    try:
                        data, source = party.sock.recvfrom(4096)
                    except BlockingIOError:
                        break
                    for datagram in party.endpoint.receive(data, time.monotonic()):
                        party.sock.sendto(datagram, source)
                    if party.endpoint.keys is not None and party in waiting:
                        party.done = time.monotonic()
                        waiting.discard(party)
            now = time.monotonic()
            for party in list(waiting):
                due = party.endpoint.deadline()
                if due is not None and due <= now:
                    for datagram in party.endpoint.handle_timeout(now):
                        party.sock.sendto(datagram, party.target)
        finished = [p for p in parties if p not in waiting]
        end = max((p.done for p in finished), default=start)
        return [p.done - p.answered for p in finished], end - start, len(waiting)
    finally:
        for n in range(count):
            ng.request({"command": "delete", "call-id": f"dtls-bench-{first + n}"})
        epoll.close()
        for sock in [p.sock for p in parties] + plains:
            sock.close()


def measure(name: str, command: str, args: argparse.Namespace) -> dict:
    daemon = start_daemon(name, command, args)
    try:
        ng = NgClient(daemon.ng)
        run_batch(ng, 10**6, min(args.concurrency, 5))  # warm-up: certificates, OpenSSL loaded
        cpu0 = cpu_seconds(daemon.proc.pid)
        times, elapsed, failed = [], 0.0, 0
        for first in range(0, args.calls, args.concurrency):
            batch, seconds, lost = run_batch(ng, first, min(args.concurrency, args.calls - first))
            times += batch
            elapsed += seconds
            failed += lost
        cpu = cpu_seconds(daemon.proc.pid) - cpu0
    finally:
        daemon.stop()
    return {"failed": failed, "rate": len(times) / elapsed, "p50": percentile(times, 0.5) * 1000,
            "p99": percentile(times, 0.99) * 1000, "cpu": cpu / len(times) * 1000,
            "mean": statistics.mean(times) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_daemon_arguments(parser)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1,
                        help="alternate the daemons this many times; medians")
    args = parser.parse_args()
    daemons = daemons_from(args)
    runs: dict[str, list[dict]] = {name: [] for name, _ in daemons}
    for _ in range(args.repeat):
        for name, command in daemons:
            result = measure(name, command, args)
            runs[name].append(result)
            print(f"{name:>12}: {result['rate']:7.0f} handshakes/s  answer->keys p50 "
                  f"{result['p50']:6.1f} ms  p99 {result['p99']:6.1f} ms  "
                  f"CPU {result['cpu']:6.2f} ms/call  unfinished {result['failed']}",
                  flush=True)
    medians = {name: {key: statistics.median(r[key] for r in results) for key in results[0]}
               for name, results in runs.items()}
    names = list(medians)
    if len(names) == 2:
        base, ours = medians[names[0]], medians[names[1]]
        print(f"ratio {names[1]}/{names[0]} (medians of {args.repeat}): handshakes/s "
              f"{ratio(ours['rate'], base['rate'])}, p50 {ratio(ours['p50'], base['p50'])}, "
              f"p99 {ratio(ours['p99'], base['p99'])}, CPU/call {ratio(ours['cpu'], base['cpu'])}")


if __name__ == "__main__":
    main()
