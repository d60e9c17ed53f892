"""The daemon fixtures of the rtpctl tests leave nothing running, whatever happens in them.

A fixture that failed an assertion before its ``yield`` once left ``rtpengined run`` and its
relay workers running after pytest had exited; these tests fail if that can happen again.
"""

from __future__ import annotations

import os

import pytest
from rtpctl_helpers import running_daemon

from conftest import DaemonProcess, group_alive


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


def test_a_failing_fixture_body_still_stops_the_daemon_and_its_relay_workers():
    with pytest.raises(AssertionError), running_daemon("--relay-workers=2") as proc:
        workers = _children(proc.proc.pid)
        pgid = proc.pgid
        assert len(workers) == 2 and all(os.getpgid(worker) == pgid for worker in workers)
        raise AssertionError("a setup step failed")
    assert not group_alive(pgid)
    for pid in (proc.proc.pid, *workers):
        assert not os.path.exists(f"/proc/{pid}") or _zombie_or_gone(pid)


def test_a_daemon_that_never_gets_ready_is_not_left_behind(monkeypatch):
    started: list[DaemonProcess] = []
    original = DaemonProcess._wait_ready

    def never_ready(self, timeout: float = 10.0) -> None:
        started.append(self)
        original(self, timeout)  # let it start its workers, then fail as a hung start would
        raise RuntimeError("daemon did not become ready")

    monkeypatch.setattr(DaemonProcess, "_wait_ready", never_ready)
    with pytest.raises(RuntimeError, match="did not become ready"):
        DaemonProcess(["--relay-workers=2"])
    assert len(started) == 1 and not group_alive(started[0].pgid)


def test_stop_is_safe_to_repeat():
    with running_daemon() as proc:
        pass
    proc.stop()
    assert not group_alive(proc.pgid)


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
