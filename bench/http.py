"""HTTP ``POST /ng`` and WebSocket ``ng.rtpengine.com`` requests per second: rtpengine vs rtpengined.

Both daemons run on this machine with the same options, one after the other. HTTP load
comes from wrk (10 connections, every request a fresh cookie so no reply comes from the
cache) when it is installed, else from a trio/h11 generator; WebSocket load from a trio
generator over trio-websocket (10 connections, a window of requests in flight on each).
Prints every figure and the ratio rtpengined/rtpengine.

    python bench/http.py [--seconds 5] [--connections 10]
"""

from __future__ import annotations

import os
import sys

# This file is named like the stdlib ``http`` package: keep its folder off the import path
# so that ``import http`` (hypercorn, httpx, our transport) finds the real one.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import trio  # noqa: E402

from bench._common import free_port  # noqa: E402

DAEMONS = {
    "rtpengine": ("/usr/bin/rtpengine --table=-1", 45000, 45499),
    "rtpengined": (f"{sys.executable} -m rtpengined run", 45500, 45999),
}
WRK_SCRIPT = """
local counter = 0
local thread_id = 0
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  thread_id = id
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/ng", {["Content-Type"] = "application/x-rtpengine-ng"},
                    "w" .. thread_id .. "_" .. counter .. " d7:command4:pinge")
end
"""


def start(name: str) -> tuple[subprocess.Popen, int]:
    command, port_min, port_max = DAEMONS[name]
    ng_port, http_port = free_port(socket.SOCK_DGRAM), free_port()
    argv = shlex.split(command) + [
        f"--listen-ng=127.0.0.1:{ng_port}", f"--listen-http=127.0.0.1:{http_port}",
        "--interface=127.0.0.1", f"--port-min={port_min}", f"--port-max={port_max}",
        "--foreground", "--log-stderr", "--config-file=none", "--log-level=3",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start: {' '.join(argv)}")
        try:
            with socket.create_connection(("127.0.0.1", http_port), timeout=0.2) as sock:
                sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
                if sock.recv(200).endswith(b"pong\n"):
                    time.sleep(0.5)
                    return proc, http_port
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"{name} did not answer /ping")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wrk_rate(port: int, seconds: float, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", script.name,
             f"http://127.0.0.1:{port}/ng"], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError("wrk printed no rate:\n" + out)


async def h11_rate(port: int, seconds: float, connections: int) -> float:
    """Fallback HTTP load without wrk: our own h11 client, one request at a time per connection."""
    from transports.http import open_client

    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        async with open_client(f"http://127.0.0.1:{port}", kind="ng") as client:
            serial = 0
            while True:
                serial += 1
                await client.request(b"h%d_%d d7:command4:pinge" % (index, serial))
                done += 1

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for index in range(connections):
                nursery.start_soon(worker, index)
    return done / seconds


async def ws_rate(port: int, seconds: float, connections: int, window: int = 8) -> float:
    """ng over WebSocket: ``window`` requests in flight per connection, fresh cookie each."""
    from trio_websocket import open_websocket_url

    done = 0

    async def worker(index: int) -> None:
        nonlocal done
        async with open_websocket_url(f"ws://127.0.0.1:{port}/", subprotocols=["ng.rtpengine.com"]) as ws:
            serial = 0
            for _ in range(window):
                serial += 1
                await ws.send_message(b"s%d_%d d7:command4:pinge" % (index, serial))
            while True:
                await ws.get_message()
                done += 1
                serial += 1
                await ws.send_message(b"s%d_%d d7:command4:pinge" % (index, serial))

    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for index in range(connections):
                nursery.start_soon(worker, index)
    return done / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=10)
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    results: dict[str, dict[str, float]] = {}
    for name in DAEMONS:
        proc, port = start(name)
        try:
            if use_wrk:
                http_rate = wrk_rate(port, args.seconds, args.connections)
            else:
                http_rate = trio.run(h11_rate, port, args.seconds, args.connections)
            results[name] = {
                "http": http_rate,
                "ws": trio.run(ws_rate, port, args.seconds, args.connections),
            }
        finally:
            stop(proc)
    tool = "wrk -t2" if use_wrk else "trio/h11 generator"
    print(f"POST /ng (HTTP, {tool}, {args.connections} connections) and ng over WebSocket "
          f"(trio-websocket, {args.connections} connections x 8 in flight), {args.seconds:.0f} s each")
    print(f"{'':12}{'HTTP req/s':>14}{'WS req/s':>14}")
    for name, figures in results.items():
        print(f"{name:12}{figures['http']:>14,.0f}{figures['ws']:>14,.0f}")
    ours, theirs = results["rtpengined"], results["rtpengine"]
    print(f"{'ratio':12}{ours['http'] / theirs['http']:>14.3f}{ours['ws'] / theirs['ws']:>14.3f}")


if __name__ == "__main__":
    main()
