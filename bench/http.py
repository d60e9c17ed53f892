"""HTTP and WebSocket control requests per second: rtpengine vs rtpengined, in one run.

Both daemons run on this machine with the same options, one after the other, and get:

* ``POST /ng`` ping (fresh cookie each, so no reply comes from the cache), ``GET /ping`` and
  ``GET /cli/list+numsessions`` from wrk (``-t1 -c10``);
* ng ping over WebSocket (``ng.rtpengine.com``): a raw-socket epoll client with pre-built
  masked frames, 4 connections x 32 requests in flight (fast enough not to be the limit:
  it is measured against a stub echo server too);
* offer/answer/delete lifecycles/s over UDP ng, HTTP ``POST /ng`` and WebSocket, 16 in
  flight (one per socket/connection), with ``--delete-delay=0``.

Each figure comes with the daemon's CPU per request (µs, user+system of its process tree) and
the ratio rtpengined/rtpengine. ``apt-get install -y wrk`` first (the HTTP rows need it).

    python bench/http.py [--seconds 5] [--repeat 3]
"""

from __future__ import annotations

import os
import sys

# This file is named like the stdlib ``http`` package: keep its folder off the import path
# so that ``import http`` finds the real one.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import base64  # noqa: E402
import select  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from bench._common import cpu_seconds, free_port, sdp  # noqa: E402
from rtpengined.protocol import bencode  # noqa: E402

DAEMONS = {
    "rtpengine": ("/usr/bin/rtpengine --table=-1", 10000, 29999),
    "rtpengined": (f"{sys.executable} -m rtpengined run", 40000, 59999),
}
WRK_NG_SCRIPT = """
local counter = 0
function request()
  counter = counter + 1
  return wrk.format("POST", "/ng", {["Content-Type"] = "application/x-rtpengine-ng"},
                    "w" .. counter .. " d7:command4:pinge")
end
"""


class Daemon:
    def __init__(self, name: str) -> None:
        command, port_min, port_max = DAEMONS[name]
        self.name = name
        self.ng_port, self.http_port = free_port(socket.SOCK_DGRAM), free_port()
        argv = shlex.split(command) + [
            f"--listen-ng=127.0.0.1:{self.ng_port}", f"--listen-http=127.0.0.1:{self.http_port}",
            "--interface=127.0.0.1", f"--port-min={port_min}", f"--port-max={port_max}",
            "--foreground", "--log-stderr", "--config-file=none", "--log-level=3", "--delete-delay=0",
        ]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start: {' '.join(argv)}")
            try:
                with socket.create_connection(("127.0.0.1", self.http_port), timeout=0.2) as sock:
                    sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
                    if sock.recv(200).endswith(b"pong\n"):
                        time.sleep(0.5)
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} did not answer /ping")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measured(daemon: Daemon | None, run) -> tuple[float, float]:
    """(requests/s, daemon CPU µs per request) of ``run() -> (requests, seconds)``."""
    before = cpu_seconds(daemon.proc.pid) if daemon else 0.0
    count, seconds = run()
    used = (cpu_seconds(daemon.proc.pid) - before) if daemon else 0.0
    return count / seconds, (used / count * 1e6 if count else float("nan"))


def wrk(port: int, path: str, seconds: float, script: str | None = None) -> tuple[int, float]:
    argv = ["wrk", "-t1", "-c10", f"-d{int(seconds)}s"]
    name = None
    if script:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(script)
            name = handle.name
        argv += ["-s", name]
    try:
        out = subprocess.run(argv + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
                             check=True).stdout
    finally:
        if name:
            os.unlink(name)
    count = duration = None
    for line in out.splitlines():
        words = line.split()
        if "requests in" in line:
            count = int(words[0])
            duration = float(words[3].rstrip(",").rstrip("s"))
            if words[3].rstrip(",").endswith("ms"):
                duration = float(words[3].rstrip(",")[:-2]) / 1000
        if line.strip().startswith("Non-2xx"):
            raise RuntimeError(f"wrk got errors on {path}:\n{out}")
    if count is None:
        raise RuntimeError("wrk printed no count:\n" + out)
    return count, duration


# -- raw WebSocket / HTTP / UDP clients (epoll, no framework) -------------------------------


def masked_frame(payload: bytes) -> bytes:
    """A client text frame with a zero mask key (valid, and the payload stays as it is)."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, 0x80 | size)) + b"\0\0\0\0" + payload
    return bytes((0x81, 0xFE)) + size.to_bytes(2, "big") + b"\0\0\0\0" + payload


def split_frames(buffer: bytearray) -> list[bytes]:
    """Complete server frames' payloads, consumed from ``buffer``."""
    out, at = [], 0
    while len(buffer) - at >= 2:
        size = buffer[at + 1] & 0x7F
        head = 2
        if size == 126:
            if len(buffer) - at < 4:
                break
            size, head = int.from_bytes(buffer[at + 2:at + 4], "big"), 4
        elif size == 127:
            if len(buffer) - at < 10:
                break
            size, head = int.from_bytes(buffer[at + 2:at + 10], "big"), 10
        if len(buffer) - at < head + size:
            break
        out.append(bytes(buffer[at + head:at + head + size]))
        at += head + size
    del buffer[:at]
    return out


def ws_connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
                 b"Sec-WebSocket-Protocol: ng.rtpengine.com\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("websocket handshake refused")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"websocket handshake refused: {head[:100]!r}")
    sock.setblocking(False)
    return sock


def ws_ping_rate(port: int, seconds: float, connections: int = 4, window: int = 32) -> tuple[int, float]:
    """ng pings over WebSocket, ``window`` in flight on each connection, fresh cookie each."""
    socks = [ws_connect(port) for _ in range(connections)]
    frames = [masked_frame(b"p%d d7:command4:pinge" % n) for n in range(400_000)]
    epoll = select.epoll()
    buffers = {}
    next_frame = 0
    for sock in socks:
        epoll.register(sock.fileno(), select.EPOLLIN)
        buffers[sock.fileno()] = (sock, bytearray())
        sock.sendall(b"".join(frames[next_frame:next_frame + window]))
        next_frame += window
    done = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        for fd, _ in epoll.poll(0.1):
            sock, buffer = buffers[fd]
            data = sock.recv(262144)
            if not data:
                raise RuntimeError("daemon closed the websocket")
            buffer += data
            replies = len(split_frames(buffer))
            if replies:
                done += replies
                if next_frame + replies > len(frames):
                    next_frame = 0  # cookies repeat only after 400k requests (the cache holds ~1 min)
                sock.sendall(b"".join(frames[next_frame:next_frame + replies]))
                next_frame += replies
    elapsed = time.monotonic() - start
    for sock in socks:
        sock.close()
    return done, elapsed


def http_request(body: bytes) -> bytes:
    return (b"POST /ng HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-rtpengine-ng\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def http_reply(buffer: bytearray) -> bytes | None:
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    at = head.find(b"content-length:")
    length = int(head[at + 15:].split(b"\r\n", 1)[0])
    if len(buffer) < head_end + 4 + length:
        return None
    body = bytes(buffer[head_end + 4:head_end + 4 + length])
    del buffer[:head_end + 4 + length]
    return body


def lifecycle_messages(call_id: str, port: int) -> list[bytes]:
    return [
        bencode.encode({"command": "offer", "call-id": call_id, "from-tag": "a",
                        "sdp": sdp("127.0.0.1", port)}),
        bencode.encode({"command": "answer", "call-id": call_id, "from-tag": "a", "to-tag": "b",
                        "sdp": sdp("127.0.0.1", port + 2)}),
        bencode.encode({"command": "delete", "call-id": call_id}),
    ]


def lifecycles(daemon: Daemon, transport: str, seconds: float, slots: int = 16) -> tuple[int, float]:
    """offer/answer/delete of fresh calls, one request in flight per socket, ``slots`` sockets."""
    epoll = select.epoll()
    state = {}
    tag = f"{transport}{os.getpid()}{time.monotonic_ns() % 1000000}"
    counter = 0

    def send(slot: dict) -> None:
        nonlocal counter
        if slot["step"] == 0:
            counter += 1
            slot["call"] = counter
            slot["messages"] = lifecycle_messages(f"{tag}-{counter}", 20000 + (counter % 10000) * 4)
        cookie = b"%s_%d_%d" % (tag.encode(), slot["call"], slot["step"])
        message = cookie + b" " + slot["messages"][slot["step"]]
        sock = slot["sock"]
        if transport == "udp":
            sock.send(message)
        elif transport == "http":
            sock.sendall(http_request(message))
        else:
            sock.sendall(masked_frame(message))

    for _ in range(slots):
        if transport == "udp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(("127.0.0.1", daemon.ng_port))
            sock.setblocking(False)
        elif transport == "http":
            sock = socket.create_connection(("127.0.0.1", daemon.http_port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
        else:
            sock = ws_connect(daemon.http_port)
        slot = {"sock": sock, "step": 0, "buffer": bytearray()}
        state[sock.fileno()] = slot
        epoll.register(sock.fileno(), select.EPOLLIN)
        send(slot)
    done = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        for fd, _ in epoll.poll(0.1):
            slot = state[fd]
            data = slot["sock"].recv(262144)
            if transport == "udp":
                replies = [data]
            else:
                slot["buffer"] += data
                if transport == "http":
                    reply = http_reply(slot["buffer"])
                    replies = [reply] if reply is not None else []
                else:
                    replies = split_frames(slot["buffer"])
            for reply in replies:
                if b"result2:ok" not in reply:
                    raise RuntimeError(f"{daemon.name} {transport}: {reply[:200]!r}")
                slot["step"] = (slot["step"] + 1) % 3
                if slot["step"] == 0:
                    done += 1
                send(slot)
    elapsed = time.monotonic() - start
    for slot in state.values():
        slot["sock"].close()
    return done, elapsed


def stub_ws_server() -> tuple[int, threading.Thread]:
    """Answers each frame with a fixed reply at once: the WS client's own ceiling."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    reply = b"\x82\x13p1 d6:result4:ponge"

    def serve() -> None:
        epoll = select.epoll()
        epoll.register(listener.fileno(), select.EPOLLIN)
        conns: dict[int, tuple[socket.socket, bytearray, bool]] = {}
        while True:
            for fd, _ in epoll.poll(1):
                if fd == listener.fileno():
                    conn, _ = listener.accept()
                    epoll.register(conn.fileno(), select.EPOLLIN)
                    conns[conn.fileno()] = (conn, bytearray(), False)
                    continue
                conn, buffer, upgraded = conns[fd]
                try:
                    data = conn.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    epoll.unregister(fd)
                    conn.close()
                    del conns[fd]
                    continue
                buffer += data
                if not upgraded:
                    if b"\r\n\r\n" not in buffer:
                        continue
                    del buffer[:buffer.find(b"\r\n\r\n") + 4]
                    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
                    conns[fd] = (conn, buffer, True)
                count = 0
                while len(buffer) >= 6 and len(buffer) >= 6 + (buffer[1] & 0x7F):
                    del buffer[:6 + (buffer[1] & 0x7F)]
                    count += 1
                if count:
                    conn.sendall(reply * count)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


def medians(figures: list[tuple[float, float]]) -> tuple[float, float]:
    """Median rate and median CPU per request of one row's passes."""
    return (statistics.median(rate for rate, _ in figures), statistics.median(cpu for _, cpu in figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3,
                        help="passes over both daemons, alternating; each row shows the medians")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    seconds = args.seconds
    rows = [
        ("POST /ng ping (wrk)", lambda d: wrk(d.http_port, "/ng", seconds, WRK_NG_SCRIPT)),
        ("GET /ping (wrk)", lambda d: wrk(d.http_port, "/ping", seconds)),
        ("GET /cli/list+numsessions (wrk)", lambda d: wrk(d.http_port, "/cli/list+numsessions", seconds)),
        ("WS ng ping (4 conn x 32)", lambda d: ws_ping_rate(d.http_port, seconds)),
        ("lifecycles/s UDP ng (16)", lambda d: lifecycles(d, "udp", seconds)),
        ("lifecycles/s HTTP /ng (16)", lambda d: lifecycles(d, "http", seconds)),
        ("lifecycles/s WS ng (16)", lambda d: lifecycles(d, "ws", seconds)),
    ]
    results: dict[str, list[list[tuple[float, float]]]] = {name: [] for name in DAEMONS}
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeat):  # alternate the daemons; a busy moment hits both alike
        for name in DAEMONS:
            daemon = Daemon(name)
            try:
                results[name].append([measured(daemon, lambda run=run, d=daemon: run(d)) for _, run in rows])
            finally:
                daemon.stop()
            loads.append(os.getloadavg()[0])
    stub_port, _ = stub_ws_server()
    ceiling, _ = measured(None, lambda: ws_ping_rate(stub_port, min(seconds, 3)))
    print(f"{seconds:.0f} s per figure, medians of {args.repeat} alternating passes; CPU = daemon "
          f"user+system per request (µs); 1-min load average {min(loads):.1f}..{max(loads):.1f} (median "
          f"{statistics.median(loads):.1f}) on {os.cpu_count()} CPUs. A single-threaded daemon gets less "
          f"of a busy machine than a multi-threaded one: compare CPU per request too")
    print(f"{'':34}{'rtpengine/s':>12}{'CPU':>7}{'rtpengined/s':>14}{'CPU':>7}{'ratio':>8}{'CPU ratio':>11}")
    for index, (label, _) in enumerate(rows):
        theirs, their_cpu = medians([passes[index] for passes in results["rtpengine"]])
        ours, our_cpu = medians([passes[index] for passes in results["rtpengined"]])
        print(f"{label:34}{theirs:>12,.0f}{their_cpu:>7.0f}{ours:>14,.0f}{our_cpu:>7.0f}{ours / theirs:>8.2f}"
              f"{our_cpu / their_cpu:>11.2f}")
    print(f"(WS client ceiling against a stub server that answers at once: {ceiling:,.0f}/s)")


if __name__ == "__main__":
    main()
