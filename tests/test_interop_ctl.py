"""Interop: the real ``rtpengine-ctl`` (rtpengine-utils) against our daemon's CLI port.

Its output must equal what our command table sends over a raw connection (it prints
every reply byte unchanged), and match the rtpengine 10.5 captures where the state is
the capture's (a fresh daemon).
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest
from cli_helpers import fixture, mask

CTL = shutil.which("rtpengine-ctl")

COMMANDS = [
    "list numsessions", "list sessions all", "list sessions own", "list sessions foreign",
    "list totals", "list counters", "list jsonstats", "list interfaces", "list transcoders",
    "list maxsessions", "list maxcpu", "list maxload", "list maxbw", "list maxopenfiles",
    "list timeout", "list silenttimeout", "list offertimeout", "list finaltimeout",
    "list deletedelay", "list loglevels", "list loglevel", "list loglevel core",
    "get numsessions", "help", "list help", "set help", "params help", "kslist", "bogus",
    "list sessions nosuch-call", "terminate nosuch-call", "params diff",
]


def ctl(port: int, *words: str) -> subprocess.CompletedProcess:
    return subprocess.run([CTL, "-ip", "127.0.0.1", "-port", str(port), *words],
                          capture_output=True, timeout=10)


def raw(port: int, command: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def cli_port(daemon_process):
    proc = daemon_process("--config-file=none", "-i", "127.0.0.1", "-L", "6",
                          "-m", "40000", "-M", "40999")
    return proc.cli_port


def test_ctl_prints_exactly_our_reply(cli_port):
    for command in COMMANDS:
        result = ctl(cli_port, *command.split(" "))
        assert result.returncode == 0, (command, result.stderr)
        ours = raw(cli_port, command)
        assert mask(result.stdout.decode()) == mask(ours.decode()), command


def test_ctl_against_us_matches_ctl_against_rtpengine(cli_port):
    """The capture's own rtpengine-ctl output and the idle captures, on a fresh daemon."""
    result = ctl(cli_port, "list", "numsessions")
    assert result.stdout.decode() == fixture("tcp/rtpengine-ctl_list_numsessions.txt")
    for name in ("list_interfaces", "list_loglevel", "list_maxsessions", "list_timeout", "help",
                 "list_maxopenfiles", "list_counters", "list_sessions_all"):
        output = ctl(cli_port, *name.split("_")).stdout.decode()
        assert mask(output) == mask(fixture(f"idle/{name}.txt")), name
    # The idle totals plus one row: the fixture's readiness ping counts, as in rtpengine.
    ping_row = " %20s " % "127.0.0.1" + "| %10d " % 1 + "| %10d " % 0 * 23 + "\n"
    idle = fixture("idle/list_totals.txt")
    header_end = idle.index("Unsub \n") + len("Unsub \n")
    expected = idle[:header_end] + ping_row + idle[header_end:]
    assert mask(ctl(cli_port, "list", "totals").stdout.decode()) == mask(expected)


def test_ctl_setters_take_effect(cli_port):
    assert ctl(cli_port, "set", "maxsessions", "100").stdout == b"Success setting maxsessions to 100\n"
    assert ctl(cli_port, "list", "maxsessions").stdout == (
        b"Maximum sessions configured on rtpengine: 100\n")
    assert ctl(cli_port, "params", "diff").stdout == b"max-sessions: -1 => 100\n"
    assert ctl(cli_port, "params", "revert").stdout == b""
    assert ctl(cli_port, "list", "maxsessions").stdout == (
        b"Maximum sessions configured on rtpengine: -1\n")
    # 10.5 would end every call here (prefix match); we answer as for an unknown call-id.
    assert ctl(cli_port, "terminate", "a").stdout == b"\nCall Id not found (a).\n\n"
