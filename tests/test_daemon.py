"""`rtpengined run` as a process: start-up errors, signals, warnings, real clients."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from conftest import free_port

RUN = [sys.executable, "-m", "rtpengined", "run"]


def run_briefly(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RUN, *args], capture_output=True, text=True, timeout=20)


def test_listener_in_use_is_one_clear_message():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = run_briefly(f"--listen-ng=127.0.0.1:{port}", f"--listen-tcp-ng=127.0.0.1:{free_port()}",
                             f"--listen-cli=127.0.0.1:{free_port()}", f"--listen-http=127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert f"cannot listen for ng (UDP) on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_address_not_on_this_host():
    result = run_briefly("--listen-ng=192.0.2.77:2223", f"--listen-tcp-ng=127.0.0.1:{free_port()}",
                         f"--listen-cli=127.0.0.1:{free_port()}", f"--listen-http=127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot listen for ng (UDP) on 192.0.2.77:2223: address not available on this host" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_a_usage_error():
    result = run_briefly("--listen-nq=2223")
    assert result.returncode == 2
    assert "unknown option --listen-nq" in result.stderr


def test_help_lists_rtpengine_options():
    result = run_briefly("--help")
    assert result.returncode == 0
    for option in ("--interface", "--listen-ng", "--listen-tcp-ng", "--port-min", "--delete-delay"):
        assert option in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(daemon_process, signum):
    proc = daemon_process("--num-threads=2", "--no-fallback")
    proc.proc.send_signal(signum)
    _, err = proc.proc.communicate(timeout=5)
    err = err.decode()
    assert proc.proc.returncode == 0, err
    assert "Traceback" not in err
    assert err.count("--num-threads is an rtpengine option that rtpengined does not support") == 1
    assert "stopped" in err


def test_rtpengine_ng_client_pings_us(daemon_process):
    proc = daemon_process()
    result = subprocess.run(
        ["rtpengine-ng-client", "--proxy-address=127.0.0.1", f"--proxy-port={proc.ng_port}", "ping"],
        capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "pong" in result.stdout
