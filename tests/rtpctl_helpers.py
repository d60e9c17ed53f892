"""Running rtpctl as a subprocess against a subprocess daemon, and raw reference clients."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from conftest import FIXTURES, DaemonProcess, free_port

MEDIA_RANGE = ("--port-min=46000", "--port-max=46999")
SDP_DIR = os.path.join(FIXTURES, "sdp")


#: The calls of a module's tests carry no media: without this, a slow run sees the first
#: ones end by the default 60 s media timeout before its last tests use them.
LONG_TIMEOUT = ("--timeout=3600", "--silent-timeout=3600")


@contextlib.contextmanager
def running_daemon(*args: str) -> Iterator[DaemonProcess]:
    """A daemon for a fixture: stopped with its workers however the body ends."""
    proc = DaemonProcess([*MEDIA_RANGE, *LONG_TIMEOUT, *args])
    try:
        yield proc
    finally:
        proc.stop()


REFERENCE = "/usr/bin/rtpengine"


class GroupRtpengine(DaemonProcess):
    """rtpengine 10.5 (the reference daemon) the same way: own process group, CLI and ng ports."""

    def __init__(self, args: list[str]) -> None:  # noqa: D107
        self.ng_port = free_port(socket.SOCK_DGRAM)
        self.cli_port = free_port()
        self.http_port = None
        self._start([REFERENCE, "--config-file=none", "-i", "127.0.0.1", f"--listen-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-cli=127.0.0.1:{self.cli_port}", "--delete-delay=0", "-f", "-E", "-L", "5", *args],
                    ready_timeout=15)


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
