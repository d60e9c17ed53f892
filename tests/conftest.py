"""Shared fixtures: a real daemon on ephemeral loopback ports, and helpers to talk to it."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import pytest
import trio
from hypothesis import settings

from rtpengined.config import Config, ListenAddress
from rtpengined.daemon import Daemon, run_daemon

# Property tests explore new examples on every local run; under CI they replay the same
# examples each time, so a red CI run always reproduces and a green one stays green.
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

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


# Ports free_port handed out lately: the kernel may give the same free number to two binds
# in a row, and a daemon started with both (e.g. its CLI and HTTP ports) then fails.
_HANDED_OUT: collections.deque[int] = collections.deque(maxlen=4096)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free port on 127.0.0.1 that this test process has not been given lately."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.append(port)
            return port
    raise RuntimeError("no free port not handed out already")


def free_udp_port_block(count: int, first: int = 29200, last: int = 29999) -> int:
    """The first port of ``count`` consecutive UDP ports free on 127.0.0.1 and ::1, for a
    client that binds a base port and the ones after it (NGCP::Rtpengine::Test does).

    The block lies below the kernel's ephemeral range (32768-60999), so no other process's
    outgoing socket takes one of its ports between this check and the client's bind.
    """
    for base in range(first, last - count + 2, count):
        held = []
        try:
            for port in range(base, base + count):
                for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    held.append(sock)
                    sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free UDP ports in {first}-{last}")


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


@pytest.fixture(params=["c-loop", "pure-python"])
def relay_loop(request, monkeypatch):
    """Run a daemon test against both relay loops (the daemon inherits the environment):
    the C helper's event loop for settled streams, and the pure-Python loop a worker uses
    when the helper is not built (``RTPENGINED_PURE_RELAY=1``)."""
    if request.param == "pure-python":
        monkeypatch.setenv("RTPENGINED_PURE_RELAY", "1")
    else:
        monkeypatch.delenv("RTPENGINED_PURE_RELAY", raising=False)
    return request.param


@pytest.fixture
def loopback_ice(monkeypatch):
    """aiortc's ICE agents gather a host candidate on 127.0.0.1 only (aioice gathers on every
    interface but loopback, and a test's daemon listens on loopback alone)."""
    import aioice.ice  # (only the aiortc tests need it)

    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else [])


class DaemonProcess:
    """``rtpengined run`` in a child process, in its own process group, for tests with real clients.

    The one helper for every test that runs the daemon as a process. Whatever happens, it
    leaves nothing running: a daemon that never becomes ready is stopped before the
    constructor raises, and ``stop`` ends the daemon with SIGTERM (its own shutdown path)
    and then SIGKILLs whatever is left of its group (relay workers) after a grace period;
    ``stop`` is safe to repeat. Output goes to temporary files, not pipes nobody reads, so
    a chatty daemon never blocks.
    """

    def __init__(self, args: list[str]) -> None:
        self.ng_port = free_udp_and_tcp_port()
        self.cli_port = free_port()
        self.http_port = free_port()
        self._start([sys.executable, "-m", "rtpengined", "run",
                     f"--listen-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-tcp-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-cli=127.0.0.1:{self.cli_port}",
                     f"--listen-http=127.0.0.1:{self.http_port}", *args])

    def _start(self, argv: list[str], ready_timeout: float = 10.0) -> None:
        """Start ``argv`` in a new process group; stop it again if it never answers a ping."""
        self.args = argv
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=self.err, start_new_session=True)
        self.pgid = self.proc.pid
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited: " + self.stderr())
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.2)
                sock.sendto(b"ready d7:command4:pinge", ("127.0.0.1", self.ng_port))
                try:
                    if sock.recv(100).endswith(b"ponge"):
                        return
                except OSError:
                    pass
        raise RuntimeError("daemon did not become ready: " + self.stderr())

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def output(self) -> str:
        """Standard output and error, in that order."""
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace") + self.stderr()

    def stop(self) -> tuple[int, str]:
        """SIGTERM to the daemon, SIGKILL to whatever is left of its group after 5 s.

        Returns the exit status and what the daemon wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 5
        while group_alive(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.proc.wait()
        return self.proc.returncode, self.stderr()


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (zombies of ours aside)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


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


# -- test groups --------------------------------------------------------------------------
# ``pytest -m unit`` runs the sans-I/O tests in seconds (no rtpengine, no root, no network);
# ``daemon`` tests start our daemon (in-process or as a child), ``differential`` ones run
# rtpengine 10.5 beside it, ``hardening`` ones attack it. A unit test that opens an
# network socket or starts a process fails (see ``_sans_io``), so the group stays honest.
UNIT_FILES = {
    "test_architecture.py", "test_bencode.py", "test_bencode_c.py", "test_cli_parser.py", "test_config.py",
    "test_http_routes.py", "test_ngcodec.py", "test_perf_bencode.py", "test_redis_layout.py",
    "test_rtpctl_units.py", "test_sdp.py", "test_statsview.py", "test_secure_webrtc_leg.py",
    "test_rare_fields.py", "test_model_rare.py", "test_transcoding.py", "test_t38.py", "test_rtcp_report.py", "test_dtx.py",
    "test_dtmf_guard.py", "test_quality.py", "test_explicit_inits.py", "test_dtmf_log.py",
    "test_compiled_exceptions.py",
}
DIFFERENTIAL_PREFIXES = ("test_diff_", "test_differential_", "test_upstream_suite", "test_interop_")
HARDENING_PREFIXES = ("test_hardening_", "test_fuzz")


def group_of(filename: str) -> str:
    if filename in UNIT_FILES:
        return "unit"
    if filename.startswith(DIFFERENTIAL_PREFIXES):
        return "differential"
    if filename.startswith(HARDENING_PREFIXES):
        return "hardening"
    return "daemon"


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        item.add_marker(getattr(pytest.mark, group_of(item.path.name)))


@pytest.fixture(autouse=True)
def _sans_io(request, monkeypatch):
    """Unit tests may use AF_UNIX pairs (trio's wake-up socket) but no network, no processes."""
    if request.node.get_closest_marker("unit") is None:
        return

    real_init = socket.socket.__init__

    def no_network(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (socket.AF_INET, socket.AF_INET6, -1):
            raise AssertionError("a unit test opened a network socket: list its file outside UNIT_FILES")
        real_init(self, family, type, proto, fileno)

    def no_process(*args, **kwargs):
        raise AssertionError("a unit test started a process: list its file outside UNIT_FILES")

    monkeypatch.setattr(socket.socket, "__init__", no_network)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)


@pytest.fixture
def redis():
    """A real redis-server of the test's own (a free port, no persistence), stopped after."""
    from tests.redis_helpers import RedisServer  # (it imports this module)

    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cleanup():
    """An ExitStack the test pushes its stops onto; unwound whatever the test did."""
    with contextlib.ExitStack() as stack:
        yield stack
