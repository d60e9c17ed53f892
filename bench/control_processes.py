"""Sizing issue 18's plan of several control processes: N daemons behind one ng address.

A launcher for ``control.py --daemon``, not a daemon mode: it starts N ``rtpengined run``
processes with the options it was given, each with its own share of ``--port-min`` ..
``--port-max``, and every listening socket bound with ``SO_REUSEPORT``, so the kernel
spreads the ng datagrams over them by source address (``control.py`` runs each
lifecycle from one socket of its own, so its three requests reach the same process).
Nothing is handed over and nothing is shared: ``list``, ``statistics`` and the CLI would
each show one process's calls. That makes its figure the most such a design could give on
this machine (no hand-over of requests for another process's calls, no shared counters),
which is what it is for:

    python bench/control.py --daemon "rtpengine=/usr/bin/rtpengine --table=-1" \\
        --daemon "one=python -m rtpengined run" \\
        --daemon "two=python bench/control_processes.py --processes 2" ...

``--hand-over`` adds what the plan needs and the ceiling leaves out: each call is owned
by one process (a hash of its call-id), and a request that reached another process is
passed to the owner over a local datagram socket and answered by it, from the shared
address (bencode requests; the rest stay where they landed). ``--processes N`` (default
2) and ``--hand-over`` must come before the daemon's own options. Unless they say
``--relay-workers``, each process runs its share of the relay workers one daemon would
(one per CPU core, at least one each). Stopping the launcher (SIGTERM, SIGINT) stops every
process it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

# Run in each process: every listener gets SO_REUSEPORT (the daemon binds them through
# ``transports._net.bind_socket``, replaced before the transports import it), then the
# daemon's own command line. With ``--hand-over`` the UDP ng listener is replaced too: a
# request for a call another process owns (by a hash of its call-id) goes to that process
# over a local datagram socket, and the owner answers it from its own socket on the shared
# address (same source address for the client). Only bencode requests are looked into.
_PROCESS = """
import dataclasses, os, socket, sys, zlib
import trio
import transports, transports._net as net

async def shared(kind, host, port, what):
    sock = net.trio.socket.socket(net.family_of(host), kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    await sock.bind((host, port))
    return sock

net.bind_socket = shared
SHARE = os.environ.get("CONTROL_SHARE")
if SHARE:
    import transports.udp_ng as udp
    OWN, COUNT, WHERE = SHARE.split(",")
    OWN, COUNT = int(OWN), int(COUNT)
    PEERS = [os.path.join(WHERE, f"{n}.sock") for n in range(COUNT)]

    def owner(data):
        at = data.find(b"7:call-id")
        if at < 0:
            return OWN
        at += 9
        colon = data.find(b":", at)
        try:
            length = int(data[at:colon])
        except ValueError:
            return OWN
        return zlib.crc32(data[colon + 1:colon + 1 + length]) % COUNT

    async def serve(core, address, *, task_status=trio.TASK_STATUS_IGNORED):
        sock = await shared(socket.SOCK_DGRAM, address.host, address.port, "ng")
        raw = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
        raw.setblocking(False)
        local = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        local.bind(PEERS[OWN])
        local.setblocking(False)
        task_status.started(sock.getsockname())

        def answer(data, source):
            reply = core.handle_ng(data, source)
            if reply is not None:
                raw.sendto(reply, source)

        async def each_burst(sock, receive, handle):
            # wait for sock, then handle what receive() gets from it (a burst at most)
            while True:
                await trio.lowlevel.wait_readable(sock)
                with core.media_batch():
                    for _ in range(udp.BURST):
                        try:
                            received = receive()
                        except BlockingIOError:
                            break
                        handle(received)

        def from_network(received):
            data, source = received
            target = owner(data)
            if target == OWN:
                answer(data, source[:2])
                return
            head = f"{source[0]}|{source[1]}|".encode()
            try:
                local.sendto(head + data, PEERS[target])
            except BlockingIOError:
                pass  # (the owner's queue is full: the client retransmits)

        def handed(message):
            host, port, data = message.split(b"|", 2)
            answer(data, (host.decode(), int(port)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(each_burst, raw, lambda: raw.recvfrom(65535), from_network)
            nursery.start_soon(each_burst, local, lambda: local.recv(65600), handed)

    transports.register(dataclasses.replace(transports.REGISTRY["udp-ng"], serve=serve))
sys.argv = ["rtpengined", *sys.argv[1:]]
from rtpengined.cmdline import main
main()
"""


def _option(args: list[str], name: str) -> tuple[int, int]:
    """(index, value) of ``--name=VALUE`` or ``--name VALUE`` in ``args``."""
    for index, arg in enumerate(args):
        if arg.startswith(name + "="):
            return index, int(arg.split("=", 1)[1])
        if arg == name:
            return index, int(args[index + 1])
    raise SystemExit(f"control_processes.py: {name} is needed (each process gets a share)")


def _shares(args: list[str], processes: int) -> list[list[str]]:
    """Each process's command line: ``args`` with its own part of the port range."""
    low_at, low = _option(args, "--port-min")
    high_at, high = _option(args, "--port-max")
    span = (high - low + 1) // processes
    if span < 4:
        raise SystemExit("control_processes.py: the port range is too small to share")
    lines = []
    for number in range(processes):
        own = [arg for index, arg in enumerate(args)
               if index not in (low_at, high_at)
               and not (index in (low_at + 1, high_at + 1) and "=" not in args[index - 1])]
        first = low + number * span
        line = [*own, f"--port-min={first}", f"--port-max={first + span - 1}"]
        if not any(arg.startswith("--relay-workers") for arg in args):
            line.append(f"--relay-workers={max(1, (os.cpu_count() or 1) // processes)}")
        lines.append(line)
    return lines


def main() -> None:
    args = sys.argv[1:]
    processes, hand_over = 2, False
    while args[:1] in (["--processes"], ["--hand-over"]):
        if args[0] == "--hand-over":
            hand_over, args = True, args[1:]
        else:
            processes, args = int(args[1]), args[2:]
    if args[:1] == ["run"]:
        args = args[1:]
    where = tempfile.mkdtemp(prefix="control-processes-")
    children = []
    for number, line in enumerate(_shares(args, processes)):
        env = dict(os.environ)
        if hand_over:
            env["CONTROL_SHARE"] = f"{number},{processes},{where}"
        children.append(subprocess.Popen([sys.executable, "-c", _PROCESS, "run", *line],
                                         env=env))

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [child.wait() for child in children]
    shutil.rmtree(where, ignore_errors=True)
    sys.exit(max(codes, key=abs))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
