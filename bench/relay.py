"""Relay benchmark: packets/s at < 0.1 % loss, added latency, daemon CPU per 1k packets/s.

For each daemon command: start it, set up ``--calls`` calls with ng offer/answer, then
load generator processes (``--generators``, forked, no trio) send 172-byte RTP from
both legs of every call at a paced rate and count what comes back. The same generators
first run "direct" (legs send to each other, no daemon) to print their own ceiling and
the latency floor. Prints figures, not pass/fail. Run: ``python bench/relay.py``.
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    NgClient,
    add_daemon_arguments,
    cpu_seconds,
    daemons_from,
    machine_busy_seconds,
    media_port,
    percentile,
    ratio,
    sdp,
    start_daemon,
)

PACKET_SIZE = 172  # 12-byte RTP header + 160 bytes PCMU (20 ms)
LOSS_LIMIT = 0.001
STAMP = struct.Struct("!q")
SEQ = struct.Struct("!H")


def _packet(ssrc: int) -> bytearray:
    packet = bytearray(PACKET_SIZE)
    struct.pack_into("!BBHII", packet, 0, 0x80, 0, 1, 160, ssrc)
    return packet


def generator(conn, flows: list[tuple[socket.socket, tuple]], receivers: list[socket.socket]) -> None:
    """One load generator process: paced sends over ``flows``, counts every reply."""
    epoll = select.epoll()
    for sock in receivers:
        sock.setblocking(False)
        epoll.register(sock.fileno(), select.EPOLLIN)
    by_fd = {sock.fileno(): sock for sock in receivers}
    buffer = bytearray(2048)
    while True:
        command = conn.recv()
        if command is None:
            return
        rate, duration, stamp, direct_peers = command
        targets = [direct_peers[i] if direct_peers else target for i, (_, target) in enumerate(flows)]
        senders = [(sock.sendto, target) for (sock, _), target in zip(flows, targets, strict=True)]
        packet = _packet(0x12345678)
        sent = received = send_errors = 0
        latencies: list[int] = []
        perf = time.perf_counter_ns
        start = perf()
        end = start + int(duration * 1e9)
        per_ns = rate / 1e9
        index = 0
        flows_count = len(senders)
        now = start
        while now < end:
            due = int((now - start) * per_ns) - sent
            if due > 0:
                for _ in range(min(due, 512)):
                    send, target = senders[index]
                    index = index + 1 if index + 1 < flows_count else 0
                    # vary every packet (rtpengine drops runs of identical packets as loops)
                    SEQ.pack_into(packet, 2, sent & 0xFFFF)
                    STAMP.pack_into(packet, 12, perf())
                    try:
                        send(packet, target)
                    except OSError:
                        send_errors += 1
                    sent += 1
            events = epoll.poll(0 if due > 0 else 0.0002)
            for fd, _ in events:
                recv = by_fd[fd].recv_into
                while True:
                    try:
                        size = recv(buffer)
                    except BlockingIOError:
                        break
                    received += 1
                    if stamp and size >= 20:
                        latencies.append(perf() - STAMP.unpack_from(buffer, 12)[0])
            now = perf()
        drain_end = perf() + int(0.3e9)
        while perf() < drain_end:
            for fd, _ in epoll.poll(0.05):
                sock = by_fd[fd]
                while True:
                    try:
                        size = sock.recv_into(buffer)
                    except BlockingIOError:
                        break
                    received += 1
                    if stamp and size >= 20:
                        latencies.append(perf() - STAMP.unpack_from(buffer, 12)[0])
        elapsed = (now - start) / 1e9
        conn.send((sent, received, send_errors, elapsed, latencies))


class LoadGenerators:
    """The forked generator processes and the calls' sockets they own."""

    def __init__(self, count: int, calls: list[tuple]) -> None:
        self.calls = calls  # (a_sock, a_target, b_sock, b_target)
        self.pipes = []
        self.procs = []
        context = multiprocessing.get_context("fork")
        shares = [calls[i::count] for i in range(count)]
        self.direct = []
        for share in shares:
            flows = []
            peers = []
            receivers = []
            for a, a_target, b, b_target in share:
                flows += [(a, a_target), (b, b_target)]
                peers += [b.getsockname(), a.getsockname()]
                receivers += [a, b]
            parent, child = context.Pipe()
            proc = context.Process(target=generator, args=(child, flows, receivers), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
            self.direct.append(peers)

    def run(self, rate: float, duration: float, stamp: bool = False, direct: bool = False):
        share = rate / len(self.pipes)
        for pipe, peers in zip(self.pipes, self.direct, strict=True):
            pipe.send((share, duration, stamp, peers if direct else None))
        sent = received = errors = 0
        elapsed = 0.0
        latencies: list[int] = []
        for pipe in self.pipes:
            s, r, e, t, lat = pipe.recv()
            sent, received, errors = sent + s, received + r, errors + e
            elapsed = max(elapsed, t)
            latencies += lat
        loss = 1 - received / sent if sent else 1.0
        return sent / elapsed if elapsed else 0.0, loss, latencies

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(5)


def make_calls(ng: NgClient | None, count: int, tag: str, media: str = "127.0.0.1") -> list[tuple]:
    calls = []
    for n in range(count):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        if ng is None:
            calls.append((a, None, b, None))
            continue
        call_id = f"bench-{tag}-{n}"
        offer = ng.request({"command": "offer", "call-id": call_id, "from-tag": "a",
                            "sdp": sdp("127.0.0.1", a.getsockname()[1])})
        answer = ng.request({"command": "answer", "call-id": call_id, "from-tag": "a",
                             "to-tag": "b", "sdp": sdp("127.0.0.1", b.getsockname()[1])})
        if offer.get("result") != "ok" or answer.get("result") != "ok":
            raise RuntimeError(f"call set-up failed: {offer} {answer}")
        calls.append((a, (media, media_port(answer["sdp"])),
                      b, (media, media_port(offer["sdp"]))))
    return calls


def max_rate(gens: LoadGenerators, args, direct: bool) -> tuple[float, list[str]]:
    """Highest achieved rate with loss under 0.1 %, stepping the offered rate up.

    The ramp ends at the first step with 0.1 % loss or more ("loss": the daemon's limit),
    or once two steps in a row could not send more than the best rate so far
    ("generator": the generators, sharing the CPUs with the daemon and whatever else
    runs, are the limit). One step where the generators fall short (a burst of other
    work on a shared machine) no longer ends the ramp.
    """
    rate = args.start_rate
    best = 0.0
    log = []
    short = 0
    end = "max-rate"
    while rate <= args.max_rate:
        achieved, loss, _ = gens.run(rate, args.step)
        log.append(f"{rate:>9.0f} offered {achieved:>9.0f} sent/s loss {loss * 100:6.3f}%")
        if loss >= LOSS_LIMIT:
            end = "loss"
            break
        if achieved > best:
            best = achieved
        if achieved < 0.95 * rate:
            short += 1
            if short >= 2:
                end = "generator"
                break
        else:
            short = 0
        rate *= args.factor
    log.append(f"ramp ended by: {end}")
    return best, log


def latency(gens: LoadGenerators, args, direct: bool) -> tuple[float, float]:
    _, _, samples = gens.run(args.latency_rate, args.step, stamp=True, direct=direct)
    micro = [s / 1000 for s in samples]
    return percentile(micro, 0.5), percentile(micro, 0.99)


def measure_daemon(name: str, command: str, args) -> dict:
    daemon = start_daemon(name, command, args)
    try:
        ng = NgClient(daemon.ng)
        calls = make_calls(ng, args.calls, name)
        gens = LoadGenerators(args.generators, calls)
        try:
            gens.run(args.start_rate, 0.5)  # warm-up (learning, caches)
            if args.settle:  # past the 3 s learning window: a kernel path moves calls now
                gens.run(args.latency_rate, args.settle)
            best, log = (float("nan"), []) if args.no_max_rate else max_rate(gens, args, direct=False)
            runs = []
            for _ in range(args.repeat):  # the median of a few runs: the machine is noisy
                p50, p99 = latency(gens, args, direct=False)
                before, machine_before = cpu_seconds(daemon.pid), machine_busy_seconds()
                achieved, loss, _ = gens.run(args.cpu_rate, args.step)
                cpu = cpu_seconds(daemon.pid) - before
                machine = machine_busy_seconds() - machine_before
                cpu_per_k = cpu / args.step / (achieved / 1000) * 100 if achieved else float("nan")
                machine_per_k = (machine / args.step / (achieved / 1000) * 100 if achieved
                                 else float("nan"))
                runs.append((p50, p99, cpu_per_k, achieved, loss, machine_per_k))
            p50, p99, cpu_per_k, achieved, loss, machine_per_k = (
                sorted(column)[len(column) // 2] for column in zip(*runs, strict=True)
            )
        finally:
            gens.close()
        for a, _, b, _ in calls:
            a.close()
            b.close()
        return {"max_pps": best, "p50": p50, "p99": p99, "cpu_per_k": cpu_per_k,
                "cpu_rate": achieved, "cpu_loss": loss, "log": log, "machine_per_k": machine_per_k}
    finally:
        daemon.stop()


class Subject:
    """A daemon started for an interleaved run (``--interleave``): its calls set up and
    settled, its generators forked, kept running while the other daemons are measured."""

    def __init__(self, name: str, command: str, args, index: int) -> None:
        self.name = name
        self.args = copy.copy(args)
        # Each daemon on a loopback address of its own: the same port range fits them all.
        self.args.interface = f"127.0.0.{20 + index}"
        # Idle while the others are measured: no media timeout may end its calls.
        self.args.extra = f"{args.extra} --timeout=86400 --silent-timeout=86400"
        self.daemon = start_daemon(name, command, self.args)
        try:
            self.calls = make_calls(NgClient(self.daemon.ng), args.calls, name, self.args.interface)
            self.gens = LoadGenerators(args.generators, self.calls)
            self.gens.run(args.start_rate, 0.5)
            if args.settle:
                self.gens.run(args.latency_rate, args.settle)
        except BaseException:
            self.daemon.stop()
            raise
        self.ramps: list[float] = []
        self.runs: list[tuple] = []

    def step(self, args) -> None:
        """One latency run and one CPU run (the figures measure_daemon takes medians of)."""
        p50, p99 = latency(self.gens, args, direct=False)
        before, machine_before = cpu_seconds(self.daemon.pid), machine_busy_seconds()
        achieved, _, _ = self.gens.run(args.cpu_rate, args.step)
        cpu = cpu_seconds(self.daemon.pid) - before
        machine = machine_busy_seconds() - machine_before
        per_k = 100 / args.step / (achieved / 1000) if achieved else float("nan")
        self.runs.append((p50, p99, cpu * per_k, machine * per_k))

    def close(self) -> None:
        try:
            self.gens.close()
            for a, _, b, _ in self.calls:
                a.close()
                b.close()
        finally:
            self.daemon.stop()


def interleaved(args, floor50: float, floor99: float) -> None:
    """All daemons up at once; ramps and latency/CPU steps alternate between them, so a
    burst of other work on a shared machine hits every daemon alike. Medians printed."""
    subjects: list[Subject] = []
    try:
        for index, (name, command) in enumerate(daemons_from(args)):
            subjects.append(Subject(name, command, args, index))
        for round_number in range(args.rounds):
            for subject in subjects:
                if not args.no_max_rate:
                    best, log = max_rate(subject.gens, args, direct=False)
                    subject.ramps.append(best)
                    print(f"  round {round_number + 1} {subject.name}: max {best:,.0f} packets/s "
                          f"({log[-1]}), load average {os.getloadavg()[0]:.1f}", flush=True)
            for _ in range(args.repeat):
                for subject in subjects:
                    subject.step(args)
    finally:
        for subject in subjects:
            subject.close()
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    results = {}
    for subject in subjects:
        p50, p99, cpu, machine = (median(column) for column in zip(*subject.runs, strict=True))
        results[subject.name] = {
            "max_pps": median(subject.ramps) if subject.ramps else float("nan"),
            "added50": p50 - floor50, "added99": p99 - floor99, "cpu_per_k": cpu,
            "machine_per_k": machine}
        r = results[subject.name]
        print(f"\n{subject.name}: max packets/s at <0.1% loss {r['max_pps']:,.0f} (median of "
              f"{len(subject.ramps)} ramps); added latency p50/p99 {r['added50']:.0f}/"
              f"{r['added99']:.0f} us, CPU per 1k packets/s {cpu:.2f}% daemon, {machine:.2f}% "
              f"whole machine (medians of {len(subject.runs)})")
    print_ratios(results)


def print_ratios(results: dict) -> None:
    names = list(results)
    theirs = results[names[0]] if names else None
    for name in names[1:]:
        ours = results[name]
        print(f"\n{name}/{names[0]} ratios: max pps {ratio(ours['max_pps'], theirs['max_pps'])} "
              f"(target >= 1.0), added p50/p99 latency {ratio(ours['added50'], theirs['added50'])}"
              f"/{ratio(ours['added99'], theirs['added99'])} (target <= 1.0), CPU per packet "
              f"{ratio(ours['cpu_per_k'], theirs['cpu_per_k'])} daemon, "
              f"{ratio(ours['machine_per_k'], theirs['machine_per_k'])} whole machine (target <= 1.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--generators", type=int, default=2)
    parser.add_argument("--start-rate", type=float, default=10000)
    parser.add_argument("--max-rate", type=float, default=1_000_000)
    parser.add_argument("--factor", type=float, default=1.25)
    parser.add_argument("--step", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--latency-rate", type=float, default=2000)
    parser.add_argument("--cpu-rate", type=float, default=20000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="latency and CPU runs per daemon (the median is printed)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds of traffic at --latency-rate before measuring (endpoint "
                             "learning ends after 3 s; a kernel path moves calls then)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the daemons in turn this many times (each round starts them "
                             "afresh) and print the median of each figure: on a shared machine "
                             "a burst of other work moves one round")
    parser.add_argument("--interleave", action="store_true",
                        help="start every daemon at once (each on its own 127.0.0.x) and "
                             "alternate between them: ramps round by round (--rounds), latency "
                             "and CPU steps --repeat times each; medians printed")
    parser.add_argument("--no-max-rate", action="store_true",
                        help="skip the max packets/s ramps (quick latency/CPU comparisons)")
    args = parser.parse_args()

    print(f"relay bench: {args.calls} calls, 172-byte RTP both ways, {args.generators} generator "
          f"processes, {args.step:g} s per step, {os.cpu_count()} CPUs")
    calls = make_calls(None, args.calls, "direct")
    gens = LoadGenerators(args.generators, calls)
    try:
        # direct: each leg sends straight to the other leg's socket
        rate = args.start_rate
        ceiling = float("nan") if args.no_max_rate else 0.0
        while rate <= args.max_rate and not args.no_max_rate:
            achieved, loss, _ = gens.run(rate, args.step, direct=True)
            if loss >= LOSS_LIMIT or achieved < 0.95 * rate:
                break
            ceiling = achieved
            rate *= args.factor
        _, _, samples = gens.run(args.latency_rate, args.step, stamp=True, direct=True)
        floor50 = percentile([s / 1000 for s in samples], 0.5)
        floor99 = percentile([s / 1000 for s in samples], 0.99)
    finally:
        gens.close()
    print(f"load generator ceiling (no daemon): {ceiling:,.0f} packets/s at <0.1% loss; "
          f"latency floor p50 {floor50:.0f} us p99 {floor99:.0f} us")

    if args.interleave:
        interleaved(args, floor50, floor99)
        return
    rounds: dict[str, list[dict]] = {}
    for round_number in range(args.rounds):
        for name, command in daemons_from(args):
            print(f"\n== {name}: {command}" + (f" (round {round_number + 1}, load average "
                                               f"{os.getloadavg()[0]:.1f})" if args.rounds > 1 else ""))
            result = measure_daemon(name, command, args)
            for line in result["log"]:
                print("   ", line)
            result["added50"] = result["p50"] - floor50
            result["added99"] = result["p99"] - floor99
            print(f"  max packets/s at <0.1% loss: {result['max_pps']:,.0f}"
                  + ("  (generator-limited)" if result["max_pps"] >= 0.9 * ceiling else ""))
            print(f"  latency at {args.latency_rate:g} pps: p50 {result['p50']:.0f} us, "
                  f"p99 {result['p99']:.0f} us (added: p50 {result['added50']:.0f}, p99 {result['added99']:.0f})")
            print(f"  CPU at {result['cpu_rate']:,.0f} pps (loss {result['cpu_loss'] * 100:.3f}%): "
                  f"{result['cpu_per_k']:.2f}% of a core per 1k packets/s (daemon), "
                  f"{result['machine_per_k']:.2f}% (whole machine, generators included)")
            rounds.setdefault(name, []).append(result)
    results = {}
    for name, runs in rounds.items():  # the median of each figure over the rounds
        results[name] = {key: sorted(run[key] for run in runs)[len(runs) // 2]
                         for key in ("max_pps", "added50", "added99", "cpu_per_k", "machine_per_k")}
        if args.rounds > 1:
            r = results[name]
            print(f"\n{name}, median of {args.rounds} rounds: max packets/s {r['max_pps']:,.0f}, "
                  f"added latency p50/p99 {r['added50']:.0f}/{r['added99']:.0f} us, CPU per 1k "
                  f"packets/s {r['cpu_per_k']:.2f}% (daemon)")

    print_ratios(results)


if __name__ == "__main__":
    main()
