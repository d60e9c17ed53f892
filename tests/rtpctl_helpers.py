"""Running rtpctl as a subprocess against a subprocess daemon, and raw reference clients."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from conftest import FIXTURES, DaemonProcess, free_port, free_udp_and_tcp_port

MEDIA_RANGE = ("--port-min=46000", "--port-max=46999")
SDP_DIR = os.path.join(FIXTURES, "sdp")


class GroupDaemon(DaemonProcess):
    """``rtpengined run`` in its own process group, so stopping it also ends its relay workers.

    A fixture that fails half-way must not leave a daemon behind: the constructor stops
    what it started if the daemon never becomes ready, and ``stop`` signals the whole group
    (the daemon and every relay worker it spawned), SIGKILL after a grace period.
    Output goes to a temporary file, not a pipe nobody reads, so a chatty daemon never blocks.
    """

    def __init__(self, args: list[str]) -> None:  # noqa: D107 - same ports and readiness as DaemonProcess
        self.ng_port = free_udp_and_tcp_port()
        self.cli_port = free_port()
        self.http_port = free_port()
        self.args = [sys.executable, "-m", "rtpengined", "run",
                     f"--listen-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-tcp-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-cli=127.0.0.1:{self.cli_port}",
                     f"--listen-http=127.0.0.1:{self.http_port}", *args]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = self.proc.pid
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float = 10.0) -> None:
        try:
            super()._wait_ready(timeout)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {self.output()}") from None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self) -> tuple[int, str]:
        """SIGTERM to the group, SIGKILL to whatever is left of it after 5 s; safe to repeat."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGTERM)
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
        return self.proc.returncode, self.output()


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


#: The calls of a module's tests carry no media: without this, a slow run sees the first
#: ones end by the default 60 s media timeout before its last tests use them.
LONG_TIMEOUT = ("--timeout=3600", "--silent-timeout=3600")


@contextlib.contextmanager
def running_daemon(*args: str) -> Iterator[GroupDaemon]:
    """A daemon for a fixture: stopped with its workers however the body ends."""
    proc = GroupDaemon([*MEDIA_RANGE, *LONG_TIMEOUT, *args])
    try:
        yield proc
    finally:
        proc.stop()


REFERENCE = "/usr/bin/rtpengine"


class GroupRtpengine(GroupDaemon):
    """rtpengine 10.5 (the reference daemon) the same way: own process group, CLI and ng ports."""

    def __init__(self, args: list[str]) -> None:  # noqa: D107
        self.ng_port = free_port(socket.SOCK_DGRAM)
        self.cli_port = free_port()
        self.http_port = None
        self.args = [REFERENCE, "--config-file=none", "-i", "127.0.0.1", f"--listen-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-cli=127.0.0.1:{self.cli_port}", "--delete-delay=0", "-f", "-E", "-L", "5", *args]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = self.proc.pid
        try:
            self._wait_ready(15)
        except BaseException:
            self.stop()
            raise


@contextlib.contextmanager
def running_rtpengine(*args: str) -> Iterator[GroupRtpengine]:
    """/usr/bin/rtpengine for a fixture, stopped however the body ends."""
    proc = GroupRtpengine(["-m", "44000", "-M", "44999", *LONG_TIMEOUT, *args])
    try:
        yield proc
    finally:
        proc.stop()


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any RTPCTL_* settings of the person running it."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("RTPCTL_", "_RTPCTL_", "COMP_"))}
    env.update(extra)
    return env


def rtpctl(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtpctl", *args], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, env=env or clean_env(), timeout=timeout)


def raw_cli(port: int, command: str) -> bytes:
    """What rtpengine-ctl does: one connection, ``command LF``, every byte until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def port_for(daemon: DaemonProcess, transport: str) -> int:
    return {"udp": daemon.ng_port, "tcp": daemon.ng_port, "cli": daemon.cli_port,
            "http": daemon.http_port, "ws": daemon.http_port}[transport]


def target_args(daemon: DaemonProcess, transport: str) -> list[str]:
    return ["--transport", transport, "--port", str(port_for(daemon, transport))]


VOLATILE_KEYS = re.compile(r"created|last|port|duration|_us$|time", re.IGNORECASE)


def normalise(value: Any) -> Any:
    """Mask what differs between two equal calls: media ports, timestamps."""
    if isinstance(value, dict):
        return {key: ("*" if VOLATILE_KEYS.search(key) and not isinstance(item, (dict, list))
                      else normalise(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str):
        return re.sub(r"(m=\w+ |a=rtcp:)\d+", r"\1PORT", value)
    return value


def complete(*words: str, env: dict[str, str] | None = None) -> list[str]:
    """Ask rtpctl's bash completion for the last word of ``rtpctl WORDS...``."""
    # what completions/rtpctl.bash sends: the line up to the cursor and bash's current word
    comp_line = " ".join(("rtpctl", *words))
    result = subprocess.run(
        [sys.executable, "-m", "rtpctl"], capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
        env=clean_env(_RTPCTL_COMPLETE="bash_complete", COMP_LINE=comp_line, COMP_CUR=words[-1] if words else "",
                      RTPCTL_COMPLETION_TIMEOUT="20", **(env or {})))
    assert result.returncode == 0, result.stderr.decode()
    return [line.split(",", 1)[1] for line in result.stdout.decode().splitlines() if line.startswith("plain,")]
