"""Shared fixtures: a real daemon on ephemeral loopback ports, and helpers to talk to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import trio

from rtpengined.config import Config, ListenAddress
from rtpengined.daemon import Daemon, run_daemon

# rtpengine 10.5's own outputs (CLI, HTTP, WebSocket, metrics, ng captures), kept in the repo.
FIXTURES_ROOT = os.path.join(os.path.dirname(__file__), "fixtures")
FIXTURES = os.path.join(FIXTURES_ROOT, "rtpengine-10.5")
NG_CAPTURES = os.path.join(FIXTURES_ROOT, "ng-captures.jsonl")


def loopback_config(**overrides) -> Config:
    """A config with every listener on 127.0.0.1 port 0 (the kernel picks free ports)."""
    config = Config(
        listen_ng=[ListenAddress("127.0.0.1", 0)],
        listen_tcp_ng=[ListenAddress("127.0.0.1", 0)],
        listen_cli=[ListenAddress("127.0.0.1", 0)],
        listen_http=[ListenAddress("127.0.0.1", 0)],
        relay_workers=1,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture
def make_daemon(nursery) -> Callable:
    """Start an in-process daemon inside the test's nursery: ``await make_daemon(**cfg)``."""

    async def start(**overrides) -> Daemon:
        config = loopback_config(**overrides)
        return await nursery.start(lambda task_status: run_daemon(
            config, handle_signals=False, task_status=task_status))

    return start


@pytest.fixture
async def daemon(make_daemon) -> Daemon:
    return await make_daemon()


async def udp_request(address: tuple, data: bytes, timeout: float = 2.0) -> bytes | None:
    """Send one datagram to ``address``; return the reply, or ``None`` on timeout."""
    sock = trio.socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET,
                              socket.SOCK_DGRAM)
    with sock:
        await sock.connect(address[:2])
        await sock.send(data)
        with trio.move_on_after(timeout):
            return await sock.recv(65535)
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_udp_and_tcp_port() -> int:
    """A port number that is free for both UDP and TCP (ng listens on both, like rtpengine)."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no port free for both UDP and TCP")


class DaemonProcess:
    """``rtpengined run`` in a child process, for interop tests with real clients."""

    def __init__(self, args: list[str]) -> None:
        self.ng_port = free_udp_and_tcp_port()
        self.cli_port = free_port()
        self.http_port = free_port()
        self.args = [sys.executable, "-m", "rtpengined", "run",
                     f"--listen-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-tcp-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-cli=127.0.0.1:{self.cli_port}",
                     f"--listen-http=127.0.0.1:{self.http_port}", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited: " + self.proc.stderr.read().decode())
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.2)
                sock.sendto(b"ready d7:command4:pinge", ("127.0.0.1", self.ng_port))
                try:
                    if sock.recv(100).endswith(b"ponge"):
                        return
                except OSError:
                    pass
        raise RuntimeError("daemon did not become ready")

    def stop(self) -> tuple[int, str]:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err.decode()


@pytest.fixture
def daemon_process():
    started: list[DaemonProcess] = []

    def start(*args: str) -> DaemonProcess:
        proc = DaemonProcess(list(args))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.proc.poll() is None:
            proc.stop()
