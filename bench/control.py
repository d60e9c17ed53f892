"""Control-plane benchmark: offer+answer+delete lifecycles/s, latency, CPU and memory per call.

For each daemon command: start it with ``--delete-delay=0``; run lifecycles (offer,
answer, delete of a fresh call) over UDP ng with 1, 16 and 64 requests in flight for a
few seconds each, printing lifecycles/s, request latency p50/p99 and daemon CPU per
lifecycle (the process tree's, how it splits between the main process and its children:
rtpengined's control process and relay workers, and between user space and the kernel);
then open 1k and 4k calls (offer+answer, one request at a time) and print how many calls/s
were set up, the memory (PSS of the daemon and its relay workers) and file descriptors per
open call. The client is one epoll loop; its ceiling is measured against a stub ng server
that answers at once.
Run: ``python bench/control.py``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import select
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from _common import (  # noqa: E402
    NgClient,
    add_daemon_arguments,
    cpu_by_process,
    cpu_user_system,
    daemons_from,
    memory_kb,
    open_fds,
    percentile,
    ratio,
    sdp,
    start_daemon,
)

from rtpengined.protocol import bencode  # noqa: E402

OK = b"6:result2:ok"


def _requests(call_id: str, port: int) -> list[bytes]:
    return [
        bencode.encode({"command": "offer", "call-id": call_id, "from-tag": "a",
                        "sdp": sdp("127.0.0.1", port)}),
        bencode.encode({"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
                        "sdp": sdp("127.0.0.1", port + 2)}),
        bencode.encode({"command": "delete", "call-id": call_id}),
    ]


def lifecycles(address: tuple, in_flight: int, duration: float, tag: str) -> dict:
    """Run lifecycles with ``in_flight`` requests outstanding; one socket per slot."""
    epoll = select.epoll()
    slots = []
    for n in range(in_flight):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(address)
        epoll.register(sock.fileno(), select.EPOLLIN)
        slots.append({"sock": sock, "n": n, "step": 0, "requests": None, "sent": 0.0, "seq": 0})
    by_fd = {slot["sock"].fileno(): slot for slot in slots}
    latencies: list[float] = []
    done = errors = 0
    counter = 0
    perf = time.perf_counter

    def send(slot: dict) -> None:
        nonlocal counter
        if slot["step"] == 0:
            counter += 1
            slot["requests"] = _requests(f"ctl-{tag}-{counter}", 10000 + (counter % 20000) * 2)
        slot["seq"] += 1
        # Unique per run: a cookie seen before (warm-up, an earlier phase) is answered from
        # the reply cache without running the command.
        cookie = f"{tag}_{slot['n']}_{slot['seq']} ".encode()
        slot["cookie"] = cookie
        slot["sent"] = perf()
        slot["sock"].send(cookie + slot["requests"][slot["step"]])

    start = perf()
    end = start + duration
    for slot in slots:
        send(slot)
    outstanding = len(slots)
    while outstanding:
        events = epoll.poll(1.0)
        if not events:
            errors += outstanding  # lost requests: give up this run
            break
        now = perf()
        for fd, _ in events:
            slot = by_fd[fd]
            try:
                data = slot["sock"].recv(65535)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            if not data.startswith(slot["cookie"]):
                continue
            latencies.append(now - slot["sent"])
            if OK not in data:
                errors += 1
            slot["step"] += 1
            if slot["step"] == 3:
                slot["step"] = 0
                done += 1
            if now < end or slot["step"]:
                send(slot)
            else:
                outstanding -= 1
    elapsed = perf() - start
    for slot in slots:
        slot["sock"].close()
    return {"rate": done / elapsed, "done": done, "errors": errors,
            "p50": percentile(latencies, 0.5) * 1000, "p99": percentile(latencies, 0.99) * 1000}


def stub_server(sock: socket.socket) -> None:
    """Answers every ng request at once: the client's ceiling without a daemon."""
    reply = bencode.encode({"sdp": sdp("127.0.0.1", 30000), "result": "ok"})
    while True:
        data, source = sock.recvfrom(65535)
        cookie = data.split(b" ", 1)[0]
        sock.sendto(cookie + b" " + reply, source)


def open_calls(ng: NgClient, start: int, count: int, tag: str) -> None:
    for n in range(start, start + count):
        call_id = f"mem-{tag}-{n}"
        for message in (
            {"command": "offer", "call-id": call_id, "from-tag": "a", "sdp": sdp("127.0.0.1", 10000 + 2 * (n % 20000))},
            {"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
             "sdp": sdp("127.0.0.1", 10002 + 2 * (n % 20000))},
        ):
            reply = ng.request(message)
            if reply.get("result") != "ok":
                raise RuntimeError(f"opening call {n}: {reply}")


def _split(pid: int, before: dict[int, float], after: dict[int, float], done: int) -> str:
    """The suffix ``(main process X, child processes Y: each child's)``, ms per lifecycle:
    where the tree's CPU went (rtpengined: the control process and each relay worker, whose
    shares differ when calls spread unevenly; rtpengine's threads all count as its main
    process). Empty without schedstat or lifecycles."""
    if not done or pid not in before or pid not in after:
        return ""
    main = (after[pid] - before[pid]) / done * 1000
    each = [(after[p] - before.get(p, 0.0)) / done * 1000 for p in sorted(after) if p != pid]
    if not each:
        return f" (main process {main:.3f})"
    return (f" (main process {main:.3f}, child processes {sum(each):.3f}: "
            + " + ".join(f"{ms:.3f}" for ms in each) + ")")


def measure_slice(daemon, in_flight: int, duration: float, tag: str) -> dict:
    """One run of lifecycles against ``daemon``, with the CPU its process tree spent on them."""
    user_before, system_before = cpu_user_system(daemon.pid)
    split_before = cpu_by_process(daemon.pid)
    run = lifecycles(daemon.ng, in_flight, duration, tag)
    user, system = cpu_user_system(daemon.pid)
    run["split"] = _split(daemon.pid, split_before, cpu_by_process(daemon.pid), run["done"])
    per_call = 1000 / run["done"] if run["done"] else float("nan")
    run["user_ms"] = (user - user_before) * per_call
    run["system_ms"] = (system - system_before) * per_call
    run["cpu_ms"] = run["user_ms"] + run["system_ms"]
    return run


def _print_run(in_flight: int, run: dict) -> None:
    print(f"  {in_flight:>3} in flight: {run['rate']:8,.0f} lifecycles/s  "
          f"latency p50 {run['p50']:.2f} ms p99 {run['p99']:.2f} ms  "
          f"CPU {run['cpu_ms']:.3f} ms/call{run['split']}  errors {run['errors']}")
    print(f"      of that in user space {run['user_ms']:.3f} ms, "
          f"in the kernel {run['system_ms']:.3f} ms")


def measure_open_calls(daemon, name: str, args, result: dict) -> None:
    """Open ``--open-calls`` calls one request at a time: set-up rate, memory, fds per call."""
    ng = NgClient(daemon.ng)
    time.sleep(1.0)
    base_kb, base_fds = memory_kb(daemon.pid), open_fds(daemon.pid)
    opened = 0
    for target in args.open_calls:
        started = time.perf_counter()
        open_calls(ng, opened, target - opened, name)
        result[f"setup{target}"] = (target - opened) / (time.perf_counter() - started)
        opened = target
        time.sleep(0.5)
        kb, fds = memory_kb(daemon.pid), open_fds(daemon.pid)
        per_call = (kb - base_kb) * 1024 / opened
        result[f"mem{target}"] = per_call
        result[f"fds{target}"] = (fds - base_fds) / opened
        print(f"  {opened:>5} calls open: {result[f'setup{target}']:,.0f} calls/s set up, "
              f"+{(kb - base_kb) / 1024:.1f} MiB PSS = "
              f"{per_call / 1024:.1f} kB/call, {(fds - base_fds) / opened:.1f} fds/call")
    ng.close()


def measure_daemon(name: str, command: str, args) -> dict:
    daemon = start_daemon(name, command, args)
    result: dict = {}
    try:
        for in_flight in args.in_flight:
            lifecycles(daemon.ng, in_flight, 0.5, f"{name}-warm{in_flight}")
            run = measure_slice(daemon, in_flight, args.duration, f"{name}-{in_flight}")
            result[in_flight] = run
            _print_run(in_flight, run)
        measure_open_calls(daemon, name, args, result)
    finally:
        daemon.stop()
    return result


def interleaved(args) -> dict[str, dict]:
    """Every daemon started at once (each on a loopback address of its own, so their media
    ports never meet), then ``--interleave`` rounds per in-flight count, each running every
    daemon for ``--duration`` s in turn (the order rotating); per daemon the median over
    the rounds, per pair of daemons the median of the rounds' ratios (a burst of other work
    on the machine hits both sides of a ratio taken a few seconds apart alike). The calls
    opened for memory are opened afterwards, one daemon after the other."""
    daemons = []
    base = args.interface.rsplit(".", 1)
    try:
        for number, (name, command) in enumerate(daemons_from(args)):
            own = argparse.Namespace(**vars(args))
            own.interface = f"{base[0]}.{int(base[1]) + number}"
            daemons.append((name, start_daemon(name, command, own)))
        results: dict[str, dict] = {name: {} for name, _ in daemons}
        for in_flight in args.in_flight:
            slices: dict[str, list[dict]] = {name: [] for name, _ in daemons}
            for name, daemon in daemons:
                lifecycles(daemon.ng, in_flight, 0.5, f"{name}-warm{in_flight}")
            for turn in range(args.interleave):
                order = daemons[turn % len(daemons):] + daemons[:turn % len(daemons)]
                for name, daemon in order:
                    slices[name].append(measure_slice(
                        daemon, in_flight, args.duration, f"{name}-{in_flight}-{turn}"))
            print(f"\n{in_flight} in flight, medians of {args.interleave} interleaved rounds "
                  f"(load average {os.getloadavg()[0]:.2f}):")
            for name, _ in daemons:
                found = slices[name]
                run = {key: statistics.median(each[key] for each in found)
                       for key in ("rate", "p50", "p99", "user_ms", "system_ms", "cpu_ms")}
                run["errors"] = sum(each["errors"] for each in found)
                run["split"] = ""
                results[name][in_flight] = run
                print(f"== {name}: " + ", ".join(f"{each['rate']:,.0f}" for each in found))
                _print_run(in_flight, run)
            for later in range(1, len(daemons)):
                for earlier in range(later):
                    ours, theirs = daemons[later][0], daemons[earlier][0]
                    pairs = list(zip(slices[ours], slices[theirs], strict=True))
                    rates = [a["rate"] / b["rate"] for a, b in pairs if b["rate"]]
                    cpus = [a["cpu_ms"] / b["cpu_ms"] for a, b in pairs if b["cpu_ms"]]
                    print(f"  {ours}/{theirs}, paired by round: lifecycles/s "
                          f"{statistics.median(rates):.2f} (rounds {min(rates):.2f}-"
                          f"{max(rates):.2f}), CPU per lifecycle {statistics.median(cpus):.2f}")
        for name, daemon in daemons:
            print(f"\n== {name}: calls opened")
            measure_open_calls(daemon, name, args, results[name])
    finally:
        for _, daemon in daemons:
            daemon.stop()
    return results


def _medians(found: list[dict]) -> dict:
    """Per figure, the median over the repeats."""
    result: dict = {}
    for key, value in found[0].items():
        if isinstance(value, dict):
            result[key] = {k: statistics.median(run[key][k] for run in found) for k in value}
        else:
            result[key] = statistics.median(run[key] for run in found)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_daemon_arguments(parser)
    parser.set_defaults(interface="127.0.0.42", port_min=10000, port_max=29999,
                        extra="--delete-delay=0")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per configuration")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--open-calls", type=int, nargs="+", default=[1000, 4000],
                        help="open this many calls, then this many, ... (growing counts) for "
                             "the set-up rate and the memory and fds per call; 0 skips it")
    parser.add_argument("--repeat", type=int, default=1,
                        help="alternate the daemons this many times; ratios of the medians")
    parser.add_argument("--interleave", type=int, default=0, metavar="ROUNDS",
                        help="start every daemon at once and alternate them ROUNDS times per "
                             "in-flight count (--duration s each); ratios paired by round "
                             "(takes the place of --repeat, which must stay 1)")
    args = parser.parse_args()
    if args.interleave and args.repeat > 1:
        parser.error("--interleave takes the place of --repeat: give one of them")
    args.open_calls = [count for count in args.open_calls if count > 0]
    if args.open_calls != sorted(set(args.open_calls)):
        parser.error("--open-calls: growing counts (each phase opens the calls beyond the last)")

    print(f"control bench: {args.duration:g} s per configuration, media on {args.interface} "
          f"ports {args.port_min}-{args.port_max}, {os.cpu_count()} CPUs")
    stub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stub.bind(("127.0.0.1", 0))
    server = multiprocessing.get_context("fork").Process(target=stub_server, args=(stub,), daemon=True)
    server.start()
    for in_flight in args.in_flight:
        run = lifecycles(stub.getsockname(), in_flight, min(args.duration, 2.0), f"stub{in_flight}")
        print(f"client ceiling (stub server), {in_flight:>3} in flight: {run['rate']:8,.0f} lifecycles/s")
    server.kill()

    if args.interleave:
        results = interleaved(args)
    else:
        runs: dict[str, list[dict]] = {}
        for repeat in range(args.repeat):
            for name, command in daemons_from(args):
                print(f"\n== {name} (repeat {repeat + 1}/{args.repeat}, load average "
                      f"{os.getloadavg()[0]:.2f}): {command}")
                runs.setdefault(name, []).append(measure_daemon(name, command, args))
        results = {name: _medians(found) for name, found in runs.items()}
    if args.repeat > 1 and not args.interleave:
        print(f"\nmedians of {args.repeat} repeats:")
        for name, result in results.items():
            print(f"  {name}:")
            for in_flight in args.in_flight:
                run = result[in_flight]
                print(f"    {in_flight:>3} in flight: {run['rate']:8,.0f} lifecycles/s  latency p50 "
                      f"{run['p50']:.2f} ms p99 {run['p99']:.2f} ms  CPU {run['cpu_ms']:.3f} ms/call "
                      f"(user {run['user_ms']:.3f}, kernel {run['system_ms']:.3f})")
            for target in args.open_calls:
                print(f"    {target:>5} calls open: {result[f'setup{target}']:,.0f} calls/s set up, "
                      f"{result[f'mem{target}'] / 1024:.1f} kB/call, "
                      f"{result[f'fds{target}']:.1f} fds/call")
    names = list(results)
    theirs = results[names[0]]
    for name in names[1:]:  # (each daemon beside the first: a "before" tree as well)
        ours = results[name]
        print(f"\n{name}/{names[0]} ratios:")
        for in_flight in args.in_flight:
            print(f"  lifecycles/s with {in_flight:>3} in flight: "
                  f"{ratio(ours[in_flight]['rate'], theirs[in_flight]['rate'])}"
                  + "  (target >= 1.0)"
                  + f"; CPU per call {ratio(ours[in_flight]['cpu_ms'], theirs[in_flight]['cpu_ms'])}"
                  + f" (user {ratio(ours[in_flight]['user_ms'], theirs[in_flight]['user_ms'])}, "
                  + f"kernel {ratio(ours[in_flight]['system_ms'], theirs[in_flight]['system_ms'])})")
        for target in args.open_calls:
            key = f"mem{target}"
            print(f"  calls/s set up on the way to {target} open: "
                  f"{ratio(ours[f'setup{target}'], theirs[f'setup{target}'])}; "
                  f"memory per open call at {target}: {ratio(ours[key], theirs[key])}  (target <= 0.25)")

if __name__ == "__main__":
    main()
