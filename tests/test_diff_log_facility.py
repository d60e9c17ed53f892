"""Differential: ``--log-facility``, the daemon's own log to syslog, beside rtpengine 10.5.

Without ``--log-stderr`` 10.5 logs to syslog (``/dev/log``) at the facility named: each
line a datagram as glibc's ``syslog()`` writes it, at the line's own severity, the message
``LEVEL: [CALL-ID]: [subsystem] text``. rtpengined's log goes there too with the option
(to the ``--syslog-socket``), in that form; the lines about ng commands are 10.5's own
(``test_diff_control_log.py`` compares them line for line on stderr). Without the option,
and with ``-E`` beside it, it goes to stderr as before.
"""

from __future__ import annotations

import os
import re
import socket
import time

import pytest
from differential import start_ours
from test_diff_cdr import _HEADER, _ours, _reference

FACILITY = 19  # local3


def _lines(log: socket.socket, wait: float) -> list[tuple[int, bytes, str]]:
    """What came within ``wait`` s: (priority, ident, message) per datagram."""
    got = []
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        log.settimeout(left)
        try:
            data = log.recv(1 << 16)
        except TimeoutError:
            break
        match = _HEADER.fullmatch(data)
        assert match, data[:80]
        got.append((int(match.group(1)), match.group(2), match.group(3).decode()))
    return got


def _form(lines: list[tuple[int, bytes, str]]) -> set[tuple[int, str]]:
    """(priority, level word) of each line: what the two daemons' logs share."""
    return {(priority, message.split(":", 1)[0]) for priority, _, message in lines}


@pytest.mark.skipif(not os.path.exists("/usr/bin/rtpengine"), reason="rtpengine not installed")
def test_the_log_goes_to_syslog_in_rtpengines_form():
    options = ["--log-facility=local3", "-L", "6"]
    request = {"command": "delete", "call-id": "nope"}  # (not found: an info line of core)
    with _reference(options, log_stderr=False) as theirs:
        theirs.daemon.request(request)
        want = _lines(theirs.log, 1.0)
    with _ours(options) as ours:
        ours.daemon.request(request)
        ours.daemon.request({"command": "answer", "call-id": "nope"})  # (a warning line)
        have = _lines(ours.log, 1.0)
    assert want and have
    # info lines at local3.info, each "INFO: [...] ..."
    assert (FACILITY * 8 + 6, "INFO") in _form(want) & _form(have)
    assert all(re.fullmatch(r"rtpengine\[\d+\]", ident.decode()) for _, ident, _ in want)
    assert all(re.fullmatch(r"rtpengined\[\d+\]", ident.decode()) for _, ident, _ in have)
    for priority, _, message in have:
        level = message.split(":", 1)[0]
        assert priority == FACILITY * 8 + {"DEBUG": 7, "INFO": 6, "NOTICE": 5, "WARNING": 4,
                                           "ERR": 3, "CRIT": 2}[level], message
        assert re.match(r"[A-Z]+: (\[nope\]: )?\[(core|control|http)\] ", message), message

    def about_the_delete(lines: list[tuple[int, bytes, str]]) -> list[tuple[int, str]]:
        return [(priority, re.sub(r"127\.0\.0\.1:\d+ \(elapsed time [\d.]+", "PEER (T", re.sub(
            r"127\.0\.0\.1:\d+$", "PEER", message))) for priority, _, message in lines
            if message.startswith("INFO: [nope]: ")][:3]

    assert about_the_delete(have) == about_the_delete(want) == [
        (FACILITY * 8 + 6, "INFO: [nope]: [control] Received command 'delete' from PEER"),
        (FACILITY * 8 + 6, "INFO: [nope]: [core] Call-ID to delete not found"),
        (FACILITY * 8 + 6, "INFO: [nope]: [control] Replying to 'delete' from PEER (T sec)")]


def test_stderr_keeps_the_log_with_e_and_without_the_option(tmp_path):
    """-E beside --log-facility: both; neither option: stderr alone (nothing to syslog)."""
    path = str(tmp_path / "log")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(path)
    try:
        for extra, to_syslog in ((["--log-facility=local3", "-E"], True), ([], False)):
            daemon = start_ours(extra=[*extra, f"--syslog-socket={path}", "-L", "6"])
            daemon.stop()
            stderr = daemon.proc.stderr.read().decode()
            assert "Startup complete, version " in stderr
            sent = _lines(log, 0.3)
            assert any("Startup complete, version " in m for _, _, m in sent) == to_syslog
    finally:
        log.close()


def test_without_a_syslog_socket_the_log_stays_on_stderr(tmp_path):
    """Lines sent to a socket nobody has bound would be lost: the daemon says so and logs
    to stderr instead (10.5 would lose them)."""
    daemon = start_ours(extra=["--log-facility=local3", f"--syslog-socket={tmp_path}/none",
                               "-L", "6"])
    daemon.stop()
    stderr = daemon.proc.stderr.read().decode()
    assert f"no syslog socket at {tmp_path}/none: logging to stderr" in stderr
    assert "Startup complete, version " in stderr


def test_no_log_timestamps_drops_ours_on_stderr():
    for extra, stamped in (([], True), (["--no-log-timestamps"], False)):
        daemon = start_ours(extra=[*extra, "-L", "6"])
        daemon.stop()
        ready = next(line for line in daemon.proc.stderr.read().decode().splitlines()
                     if "Startup complete, version " in line)
        # (10.5's stamp: seconds since the epoch with microseconds)
        assert bool(re.match(r"\[\d+\.\d{6}\] INFO: \[core\] ", ready)) == stamped
        assert ready.startswith("INFO: [core] ") != stamped


def test_the_relay_workers_log_goes_to_syslog_too(tmp_path):
    """A relay worker is a process of its own: its lines (here the error of a scheduling
    priority the kernel refuses) go where the daemon's go, in the same form, at the long
    lines broken as the daemon's; before they went bare to stderr alone."""
    path = str(tmp_path / "log")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind(path)
    try:
        daemon = start_ours(extra=["--log-facility=local3", f"--syslog-socket={path}",
                                   "--scheduling=fifo", "--priority=500",
                                   "--max-log-line-length=40"])
        daemon.stop()
        stderr = daemon.proc.stderr.read().decode()
        sent = [(priority, message) for priority, _, message in _lines(log, 0.3)]
    finally:
        log.close()
    # (the subsystem counts towards the 40 characters, as in 10.5)
    assert [message for priority, message in sent if priority == FACILITY * 8 + 3] == [
        "ERR: [core] Failed to set thread scheduling p ...",
        "ERR: ... arameters to 'fifo' (1) / 500: Invalid a ...",
        "ERR: ... rgument"]
    # (-E, which the test daemons have: stderr too, in the daemon's form, never bare)
    assert "ERR: [core] Failed to set thread" in stderr
    assert not any(line.startswith("Failed to set") for line in stderr.splitlines())
