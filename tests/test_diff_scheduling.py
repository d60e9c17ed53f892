"""Differential: ``--scheduling`` and ``--priority``, beside rtpengine 10.5.

10.5 gives its media threads (``poller``) the policy named, with the priority as their
real-time priority (fifo, rr) or as their nice value (default, none, other, batch); the
relay workers are rtpengined's media threads, and get the same. The control process, like
10.5's other threads, keeps its own.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest
from differential import NgProcess, cli, common_args, running, start_ours, start_reference

from conftest import free_port

CASES = [("batch", 7), ("fifo", 10), ("rr", 3), ("idle", 0), (None, 4), ("other", -2),
         ("default", 2), ("bogus", 3)]


def _settings(tid: int) -> tuple[int, int, int]:
    """(policy, real-time priority, nice value) of a thread or process."""
    return (os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority,
            os.getpriority(os.PRIO_PROCESS, tid))


def _pollers(pid: int) -> list[int]:
    tasks = f"/proc/{pid}/task"
    return [int(tid) for tid in os.listdir(tasks)
            if open(f"{tasks}/{tid}/comm").read().strip() == "poller"]


def _workers(pid: int) -> list[int]:
    children = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        children += [int(c) for c in open(f"/proc/{pid}/task/{tid}/children").read().split()]
    return [c for c in children if b"worker" in open(f"/proc/{c}/cmdline", "rb").read()]


@pytest.mark.skipif(not os.path.exists("/usr/bin/rtpengine"), reason="rtpengine not installed")
@pytest.mark.parametrize(("policy", "priority"), CASES,
                         ids=[f"{p}-{n}" for p, n in CASES])
def test_media_threads_get_the_policy_as_rtpengines(policy, priority):
    extra = [*([f"--scheduling={policy}"] if policy else []), f"--priority={priority}"]
    with running(lambda: start_reference(24000, 24499, extra)) as theirs:
        pollers = _pollers(theirs.proc.pid)
        assert pollers
        want = {_settings(tid) for tid in pollers}
    with running(lambda: start_ours(24500, 24999, extra)) as ours:
        workers = _workers(ours.proc.pid)
        assert workers
        have = {_settings(pid) for pid in workers}
        control = _settings(ours.proc.pid)
    assert have == want and len(want) == 1
    assert control == (os.SCHED_OTHER, 0, 0)


def test_an_unknown_policy_is_an_error_and_the_workers_run_on():
    with running(lambda: start_ours(24500, 24999, ["--scheduling=bogus"])) as ours:
        assert ours.request({"command": "ping"})["result"] == "pong"
    assert "Specified scheduler policy 'bogus' not found" in ours.proc.stderr.read().decode()


@pytest.mark.skipif(not os.path.exists("/usr/bin/rtpengine"), reason="rtpengine not installed")
def test_num_threads_is_the_number_of_media_workers_as_rtpengines():
    """``--num-threads``: 10.5's poller threads, rtpengined's relay workers (where
    ``--relay-workers`` does not say otherwise); ``params current`` shows the number."""
    with running(lambda: start_reference(24000, 24499, ["--num-threads=3"])) as theirs:
        assert len(_pollers(theirs.proc.pid)) == 3
        want = _threads_shown(theirs)

    def ours() -> NgProcess:  # (start_ours asks for one relay worker: not here)
        ng_port = free_port(socket.SOCK_DGRAM)
        return NgProcess([sys.executable, "-m", "rtpengined", "run",
                          *common_args(ng_port, 24500, 24999), "--num-threads=3",
                          f"--listen-cli=127.0.0.1:{free_port()}"], ng_port, 24500, 24999)

    with running(ours) as daemon:
        assert len(_workers(daemon.proc.pid)) == 3
        assert _threads_shown(daemon) == want == ["num-threads = 3"]


def _threads_shown(daemon: NgProcess) -> list[str]:
    return [line for line in cli(daemon, "params current").splitlines()
            if line.startswith("num-threads")]
