"""A private network namespace with rtpengine's test addresses, for differential tests.

rtpengine's own test suites talk to a daemon bound to documentation addresses
(203.0.113.1, 2001:db8:4321::1, a second interface ``foo``) and send RTP from
198.51.100.x / 2001:db8::x. Those addresses exist only inside a namespace we create
(root only), so the tests never touch the host's network. Both daemons run inside it
(``ip netns exec``); the test process creates its sockets inside it by switching its own
thread's namespace for the duration of ``socket()`` (a socket stays in the namespace it
was created in). The namespace is deleted however the tests end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from differential import REFERENCE_BINARY, NgProcess

CLONE_NEWNET = 0x40000000
ADDRESSES_V4 = ["203.0.113.1", "203.0.113.2"] + [f"198.51.100.{n}" for n in range(1, 10)]
ADDRESSES_V6 = ["2001:db8:4321::1", "2001:db8:4321::2"] + [f"2001:db8::{n}" for n in range(1, 10)]
UPSTREAM_INTERFACES = ("203.0.113.1", "2001:db8:4321::1", "foo/203.0.113.2", "foo/2001:db8:4321::2")

_libc = ctypes.CDLL(None, use_errno=True)


def namespaces_available() -> str | None:
    """Why namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if not os.path.exists(REFERENCE_BINARY):
        return "rtpengine 10.5 is not installed"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class NetNamespace:
    """``rtpe-test-<random>`` with loopback up and the documentation addresses on lo."""

    def __init__(self) -> None:
        self.name = f"rtpe-test-{secrets.token_hex(4)}"
        _ip("netns", "add", self.name)
        try:
            self._ip("link", "set", "lo", "up")
            for address in ADDRESSES_V4:
                self._ip("addr", "add", f"{address}/32", "dev", "lo")
            for address in ADDRESSES_V6:
                self._ip("addr", "add", f"{address}/128", "dev", "lo", "nodad")
        except BaseException:
            self.delete()
            raise

    def _ip(self, *args: str) -> None:
        _ip("netns", "exec", self.name, "ip", *args)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the block with this thread inside the namespace (for creating sockets)."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.name)
            try:
                yield
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the host namespace")
        finally:
            os.close(own)
            os.close(target)

    def udp_socket(self, address: str, port: int = 0) -> socket.socket:
        """A UDP socket bound inside the namespace."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with self.entered():
            sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        return sock


class NsNgProcess(NgProcess):
    """A daemon started inside ``namespace``; its ng client socket lives there too."""

    def __init__(self, namespace: NetNamespace, argv: list[str], ng_port: int,
                 port_range: tuple[int, int], cli_port: int) -> None:
        self.namespace = namespace
        self.cli_port = cli_port
        self.ng_port = ng_port
        self.port_range = port_range
        self.counter = 0
        # -L 7 logs a lot: a file, not a pipe nobody drains (a full pipe stalls the daemon).
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(namespace.argv(*argv), stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        self.proc.stderr = self.log  # read by NgProcess.wait_ready when the daemon dies
        with namespace.entered():
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(3)

    def log_tail(self, size: int = 4000) -> str:
        self.log.seek(0, os.SEEK_END)
        self.log.seek(max(0, self.log.tell() - size))
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        super().stop()
        self.log.close()

    def cli(self, line: str) -> str:
        """One rtpengine-ctl line over the CLI port (the daemon closes after answering)."""
        with self.namespace.entered():
            sock = socket.create_connection(("127.0.0.1", self.cli_port), timeout=3)
        with sock:
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")


def upstream_args(ng_port: int, cli_port: int, port_range: tuple[int, int],
                  interfaces: tuple[str, ...] = UPSTREAM_INTERFACES,
                  extra: tuple[str, ...] = ()) -> list[str]:
    """The options rtpengine's test suites start the daemon with (plus our port choices)."""
    args = ["--config-file=none", "-t", "-1"]
    for interface in interfaces:
        args += ["-i", interface]
    return [*args, "-n", str(ng_port), "-c", str(cli_port), "-f", "-L", "7", "-E",
            "-m", str(port_range[0]), "-M", str(port_range[1]), "--delete-delay=0", *extra]


class NsDaemonPair:
    """rtpengine 10.5 and rtpengined in one namespace, on different ng ports and ranges."""

    started = 0  # pairs may live at the same time: each gets its own ports

    def __init__(self, namespace: NetNamespace, extra: tuple[str, ...] = (),
                 our_extra: tuple[str, ...] | None = None,
                 interfaces: tuple[str, ...] = UPSTREAM_INTERFACES) -> None:
        n = NsDaemonPair.started
        NsDaemonPair.started += 1
        # The first pair's reference listens where upstream's tests expect it (2223).
        base = 2000 * (n % 10)
        ng, cli, ports = 2223 + 10 * n, 12345 + 10 * n, (30000 + base, 30999 + base)
        our_ng, our_cli, our_ports = ng + 1, cli + 1, (31000 + base, 31999 + base)
        self.tcp_port, self.http_port = ng + 3, ng + 4
        self.reference = NsNgProcess(
            namespace, [REFERENCE_BINARY, *upstream_args(ng, cli, ports, interfaces, extra),
                        "--log-level-internals=7", "-u", str(ng - 1)], ng, ports, cli)
        ng, cli, ports = our_ng, our_cli, our_ports
        try:
            self.ours = NsNgProcess(
                namespace, [sys.executable, "-m", "rtpengined", "run",
                            *upstream_args(ng, cli, ports, interfaces,
                                           extra if our_extra is None else our_extra),
                            "--log-level-internals=7", "-u", str(ng + 1), "--relay-workers=1",
                            f"--listen-tcp-ng=127.0.0.1:{self.tcp_port}",
                            f"--listen-http=127.0.0.1:{self.http_port}"],
                ng, ports, cli)
        except BaseException:
            self.reference.stop()
            raise
        try:
            for daemon in self.daemons:
                daemon.wait_ready()
                if daemon.proc.poll() is not None:  # another process answered the ping
                    raise RuntimeError("daemon exited:\n" + daemon.log_tail())
        except BaseException:
            self.stop()
            raise
        self.scenarios = 0

    @property
    def daemons(self) -> tuple[NsNgProcess, NsNgProcess]:
        return self.reference, self.ours

    def stop(self) -> None:
        for daemon in self.daemons:
            if daemon.proc.poll() is None:
                daemon.proc.terminate()
        for daemon in self.daemons:
            daemon.stop()


def rtp_packet(payload_type: int, sequence: int, timestamp: int, ssrc: int,
               payload: bytes = b"\x00" * 160) -> bytes:
    return bytes([0x80, payload_type & 0x7F]) + sequence.to_bytes(2, "big") + \
        timestamp.to_bytes(4, "big") + ssrc.to_bytes(4, "big") + payload


def media_target(reply: dict[str, Any], media_index: int = 0, rtcp: bool = False
                 ) -> tuple[str, int]:
    """Where a party must send to, read from the SDP the daemon returned."""
    text = reply["sdp"]
    session_address = ""
    sections: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    for line in sections[0]:
        if line.startswith("c="):
            session_address = line.split()[-1]
    section = sections[media_index + 1]
    address = session_address
    port = int(section[0].split()[1])
    rtcp_port = port + 1
    for line in section:
        if line.startswith("c="):
            address = line.split()[-1]
        elif line.startswith("a=rtcp:"):
            rtcp_port = int(line[7:].split()[0])
    return address, (rtcp_port if rtcp else port)
