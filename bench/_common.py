"""Shared bench helpers: start a daemon from a command, talk ng, read /proc for CPU and memory.

Every bench takes daemon start commands (``--daemon NAME=COMMAND``, repeatable), so one run
measures ``/usr/bin/rtpengine`` and ``rtpengined`` alternately on the same machine. The
standard options (listeners on free loopback ports, interface, port range, foreground,
no config file) are appended to each command; both daemons understand them.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shlex
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rtpengined.protocol import bencode  # noqa: E402

DEFAULT_DAEMONS = [
    "rtpengine=/usr/bin/rtpengine --table=-1",
    f"rtpengined={sys.executable} -m rtpengined run",
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def add_daemon_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--daemon", action="append", metavar="NAME=COMMAND",
        help="daemon start command, repeatable (default: rtpengine and rtpengined)",
    )
    parser.add_argument("--interface", default="127.0.0.1", help="media interface address")
    parser.add_argument("--port-min", type=int, default=42000)
    parser.add_argument("--port-max", type=int, default=43999)
    parser.add_argument("--extra", default="", help="extra options for every daemon")
    parser.add_argument(
        "--log-dir", metavar="DIR",
        help="write each daemon's log (its stderr) to DIR/NAME.log instead of /dev/null: "
             "the lines then cost what writing them to a file costs (with --log-level=6)",
    )


def daemons_from(args: argparse.Namespace) -> list[tuple[str, str]]:
    out = []
    for item in args.daemon or DEFAULT_DAEMONS:
        name, _, command = item.partition("=")
        out.append((name, command))
    return out


def rtp(seq: int, ssrc: int) -> bytes:
    """A 172-byte RTP packet (PCMU, 160 zero bytes) whose sequence and timestamp vary, so
    rtpengine does not drop a run of identical packets as a loop."""
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, ssrc) + bytes(160)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NgClient:
    """A blocking ng client over UDP (bencode), for set-up steps."""

    _cookies = itertools.count(1)

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)

    def request(self, message: dict) -> dict:
        cookie = f"b{os.getpid()}_{next(self._cookies)}".encode()
        self.sock.sendto(cookie + b" " + bencode.encode(message), self.address)
        while True:
            data = self.sock.recv(65535)
            if data.startswith(cookie + b" "):
                return bencode.decode(data[len(cookie) + 1 :])

    def close(self) -> None:
        self.sock.close()


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen
    ng: tuple[str, int]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_daemon(name: str, command: str, args: argparse.Namespace) -> Daemon:
    ng_port = free_port(socket.SOCK_DGRAM)
    argv = shlex.split(command) + [
        f"--listen-ng=127.0.0.1:{ng_port}",
        f"--listen-cli=127.0.0.1:{free_port()}",
        f"--interface={args.interface}",
        f"--port-min={args.port_min}", f"--port-max={args.port_max}",
        "--foreground", "--log-stderr", "--config-file=none", "--log-level=3",
        *shlex.split(args.extra),
    ]
    if "rtpengined" in command:
        argv += [f"--listen-http=127.0.0.1:{free_port()}",
                 f"--listen-tcp-ng=127.0.0.1:{free_port()}"]
    log_dir = getattr(args, "log_dir", None)
    log = os.path.join(log_dir, f"{name}.log") if log_dir else None
    return spawn_daemon(name, argv, ng_port, timeout=15, log=log)


def spawn_daemon(name: str, argv: list[str], ng_port: int, timeout: float,
                 log: str | None = None) -> Daemon:
    """Start ``argv`` and wait until it answers an ng ping on ``ng_port`` (stopped if not);
    its stderr goes to the file ``log`` (appended to), else to /dev/null."""
    # (the child keeps its own copy of the file)
    with open(log, "ab") if log else contextlib.nullcontext(subprocess.DEVNULL) as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
    daemon = Daemon(name, proc, ("127.0.0.1", ng_port))
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start: {' '.join(argv)}")
            sock.sendto(b"ready d7:command4:pinge", daemon.ng)
            try:
                if sock.recv(100).endswith(b"ponge"):
                    time.sleep(0.5)  # let relay workers finish starting
                    return daemon
            except OSError:
                pass
    daemon.stop()
    raise RuntimeError(f"{name} did not answer ping")


# -- /proc ---------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (relay workers are children of the daemon)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return pids


def cpu_seconds(pid: int) -> float:
    """User+system CPU of the whole process tree, in seconds."""
    return sum(cpu_user_system(pid))


def cpu_user_system(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the whole process tree: the interpreter's or C code's
    own work apart from the kernel's (system calls, socket delivery) on its behalf."""
    user = system = 0
    for each in process_tree(pid):
        try:
            with open(f"/proc/{each}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime
        system += int(fields[12])  # stime
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU seconds of each process of the tree (all its threads), from ``schedstat``: ns
    resolution, where ``/proc/<pid>/stat`` counts 10 ms ticks (too coarse to split a few
    seconds of work between processes). Empty where the kernel keeps no schedstat."""
    out: dict[int, float] = {}
    for each in process_tree(pid):
        total = 0
        try:
            for task in os.listdir(f"/proc/{each}/task"):
                with open(f"/proc/{each}/task/{task}/schedstat") as handle:
                    total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        out[each] = total / 1e9
    return out


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent not idle (all CPUs, /proc/stat), in seconds.

    Kernel forwarding runs in softirq context, charged to whichever process sent the
    packet (or ksoftirqd), not to the daemon: only the whole machine shows its cost.
    """
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def memory_kb(pid: int) -> int:
    """Proportional set size (kB) of the process tree: shared pages counted once."""
    total = 0
    for each in process_tree(pid):
        try:
            with open(f"/proc/{each}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def open_fds(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{each}/fd")) for each in process_tree(pid))


# -- SDP -------------------------------------------------------------------------------------


def sdp(address: str, port: int) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


def media_port(text: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith("m=audio "))
    return int(line.split()[1])


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ratio(ours: float, theirs: float) -> str:
    if not theirs or theirs != theirs:
        return "n/a"
    return f"{ours / theirs:.2f}"


def audio_sdp(port: int, formats: str, *attributes: str) -> str:
    """A loopback party's SDP: one audio m= line on ``port``."""
    return "\r\n".join(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                        f"m=audio {port} RTP/AVP {formats}", *attributes, "a=sendrecv"]) + "\r\n"


def loopback_socket() -> socket.socket:
    """A non-blocking UDP socket on loopback with a 1 MB receive buffer (a media party)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    return sock


def print_rows(names: list[str], results: dict, rows: tuple, width: int = 32) -> None:
    """One line per (key, label, format) of ``rows``: each daemon's figure and the ratio of
    the last to the first."""
    print(f"{'':{width}}" + "".join(f"{n:>14}" for n in names) + "   ratio")
    for key, label, fmt in rows:
        values = [results[n][key] for n in names]
        shown = "".join(f"{v:>14{fmt}}" for v in values)
        print(f"{label:{width}}{shown}   {ratio(values[-1], values[0])}")


def arrivals(selector, timeout: float):
    """Each datagram waiting on the selector's (non-blocking) sockets once ``select`` says
    some are ready within ``timeout``: (socket, data), every socket emptied."""
    for key, _ in selector.select(timeout):
        while True:
            try:
                data = key.fileobj.recv(2048)
            except BlockingIOError:
                break
            yield key.fileobj, data
