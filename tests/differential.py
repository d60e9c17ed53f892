"""Differential testing: the same ng requests to rtpengine 10.5 and to rtpengined.

Both daemons run as processes on loopback with disjoint media port ranges. Replies are
decoded and normalised (ports become P1, P2… in order of first appearance, timestamps and
ICE credentials are masked) so that only real differences remain.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from typing import Any

from rtpengined import bencode

from conftest import free_port

REFERENCE_BINARY = "/usr/bin/rtpengine"
VOLATILE_KEYS = {"created", "created_us", "last signal", "last packet", "uptime"}


class NgProcess:
    """A daemon process (the reference or ours) and a UDP ng client for it."""

    def __init__(self, argv: list[str], ng_port: int, port_min: int, port_max: int) -> None:
        self.ng_port = ng_port
        self.port_range = (port_min, port_max)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(3)
        self.counter = 0
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited: " + self.proc.stderr.read().decode())
            try:
                self.sock.settimeout(0.2)
                if self.raw(b"d7:command4:pinge").endswith(b"ponge"):
                    self.sock.settimeout(3)
                    return
            except OSError:
                pass
        raise RuntimeError("daemon did not answer ping")

    def raw(self, payload: bytes) -> bytes:
        self.counter += 1
        cookie = b"d%d_%d" % (id(self) % 1000, self.counter)
        self.sock.sendto(cookie + b" " + payload, ("127.0.0.1", self.ng_port))
        while True:
            reply = self.sock.recv(65535)
            if reply.startswith(cookie + b" "):
                return reply[len(cookie) + 1 :]

    def request(self, message: dict[str, Any]) -> Any:
        return bencode.decode(self.raw(bencode.encode(message)))

    def stop(self) -> None:
        self.sock.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def common_args(ng_port: int, port_min: int, port_max: int) -> list[str]:
    return ["--config-file=none", "-i", "127.0.0.1", f"--listen-ng=127.0.0.1:{ng_port}",
            "-m", str(port_min), "-M", str(port_max), "--delete-delay=0", "-f", "-E", "-L", "3"]


def start_reference(port_min: int = 20000, port_max: int = 20999, extra: list[str] = ()) -> NgProcess:
    ng_port = free_port(socket.SOCK_DGRAM)
    argv = [REFERENCE_BINARY, *common_args(ng_port, port_min, port_max),
            f"--listen-cli=127.0.0.1:{free_port()}", *extra]
    return NgProcess(argv, ng_port, port_min, port_max)


def start_ours(port_min: int = 21000, port_max: int = 21999, extra: list[str] = ()) -> NgProcess:
    ng_port = free_port(socket.SOCK_DGRAM)
    argv = [sys.executable, "-m", "rtpengined", "run", *common_args(ng_port, port_min, port_max),
            f"--listen-tcp-ng=127.0.0.1:{free_port()}", f"--listen-cli=127.0.0.1:{free_port()}",
            f"--listen-http=127.0.0.1:{free_port()}", "--relay-workers=1", *extra]
    return NgProcess(argv, ng_port, port_min, port_max)


class Normaliser:
    """Replaces values that legitimately differ between two daemons by stable symbols."""

    def __init__(self, port_range: tuple[int, int]) -> None:
        self.port_range = port_range
        self.ports: dict[int, str] = {}

    def port(self, value: int) -> str | int:
        low, high = self.port_range
        if not low <= value <= high:
            return value
        if value not in self.ports:
            self.ports[value] = f"P{len(self.ports) + 1}"
        return self.ports[value]

    def sdp(self, text: str) -> str:
        text = re.sub(r"\b\d{4,5}\b", lambda m: str(self.port(int(m.group()))), text)
        text = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:UFRAG", text)
        text = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:PWD", text)
        text = re.sub(r"a=candidate:\S+", "a=candidate:FOUNDATION", text)
        text = re.sub(r"a=rtpengine:[0-9a-f]+", "a=rtpengine:LOOPER", text)
        return text

    def value(self, value: Any, key: str = "") -> Any:
        if key in VOLATILE_KEYS and isinstance(value, int):
            return "TIME"
        if isinstance(value, dict):
            return [(k, self.value(v, k)) for k, v in value.items()]
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, int) and key in ("local port", "port"):
            return self.port(value)
        if isinstance(value, str) and key == "sdp":
            return self.sdp(value)
        return value


def normalise(reply: Any, port_range: tuple[int, int], normaliser: Normaliser | None = None) -> Any:
    return (normaliser or Normaliser(port_range)).value(reply)
