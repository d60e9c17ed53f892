"""A cancel at any moment of the web listener's start-up ends it within the bounded shutdown.

The server's connections run in a shielded scope (so that WebSockets get their close frame);
a cancel that landed while the listener was being started once left that scope without a
deadline and the daemon running for ever. These tests run the daemon where a hang fails
the test instead of stalling the suite: a thread for the in-process case, a child process
for the signal case.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import trio

from rtpengined.config import ListenAddress
from rtpengined.core import Core
from rtpengined.media import NullMediaPlane
from transports.http import serve_http

from conftest import free_port, free_udp_and_tcp_port, loopback_config

BOUND_SECONDS = 20  # far above the one-second shutdown: only a server that never ends misses it


async def _cancel_after(checkpoints: int) -> list[tuple[str, int]]:
    """Start the HTTP listener and cancel its scope after ``checkpoints`` scheduler turns;
    returns the address it was bound to, if it got that far."""
    core = Core(loopback_config(), media=NullMediaPlane())
    bound: list[tuple[str, int]] = []

    async def cancel_later(scope: trio.CancelScope) -> None:
        for _ in range(checkpoints):
            await trio.lowlevel.checkpoint()
        scope.cancel()

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_later, scope)
            bound.append(await nursery.start(serve_http, core, ListenAddress("127.0.0.1", 0)))
            await trio.sleep_forever()
    return bound


def _run_bounded(checkpoints: int) -> list[tuple[str, int]]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(trio.run(_cancel_after, checkpoints)), daemon=True)
    thread.start()
    thread.join(BOUND_SECONDS)
    assert not thread.is_alive(), f"a cancel {checkpoints} turns into start-up left the server running"
    assert result, "the run failed (see the thread's traceback)"
    return result[0]


def test_cancel_at_any_moment_of_start_up_ends_the_server():
    for checkpoints in range(12):  # every scheduler turn from "start begins" to "serving"
        bound = _run_bounded(checkpoints)
        for address in bound:  # the listener is closed, not left behind
            with socket.socket() as sock:
                assert sock.connect_ex(address[:2]) != 0


def _spawn() -> subprocess.Popen:
    args = [sys.executable, "-m", "rtpengined", "run", f"--listen-ng=127.0.0.1:{free_udp_and_tcp_port()}",
            f"--listen-cli=127.0.0.1:{free_port()}", f"--listen-http=127.0.0.1:{free_port()}",
            "--relay-workers=1", "--log-stderr"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _two_sigterms_end_it(proc: subprocess.Popen, when: str) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"two SIGTERMs {when} did not end the daemon") from None
    assert proc.returncode in (0, -signal.SIGTERM), err.decode()
    assert "Traceback" not in err.decode()


def test_two_sigterms_right_after_spawn_end_the_daemon():
    """However early the two signals land (before the handler, while the listeners start,
    after), the daemon is gone promptly."""
    for delay in (0.0, 0.3, 0.6, 0.9, 1.2):
        proc = _spawn()
        try:
            time.sleep(delay)
            _two_sigterms_end_it(proc, f"{delay} s after spawn")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_two_sigterms_as_the_first_listener_is_up_end_the_daemon():
    """The signals land just after the UDP ng listener reports, while the CLI and HTTP
    listeners are being started. (The exact turn that once hung is too narrow to hit from
    outside every time; ``test_cancel_at_any_moment_of_start_up_ends_the_server`` steps
    through every turn in-process.)"""
    for _ in range(3):
        proc = _spawn()
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if b"listening for" in line:
                    break
            _two_sigterms_end_it(proc, "while the listeners started")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
