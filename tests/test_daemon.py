"""`rtpengined run` as a process: start-up errors, signals, warnings, real clients."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import trio
from hardening_helpers import child_pids

import transports
from rtpengined import daemon as daemon_module
from rtpengined.config import ListenAddress
from transports import Transport

from conftest import free_port, free_udp_and_tcp_port, loopback_config

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
    proc = daemon_process("--media-num-threads=2", "--no-fallback")
    proc.proc.send_signal(signum)
    proc.proc.wait(timeout=5)
    err = proc.stderr()
    assert proc.proc.returncode == 0, err
    assert "Traceback" not in err
    assert err.count("--media-num-threads is an rtpengine option that rtpengined does not "
                     "support") == 1
    assert "stopped" in err


def test_rtpengine_ng_client_pings_us(daemon_process):
    proc = daemon_process()
    result = subprocess.run(
        ["rtpengine-ng-client", "--proxy-address=127.0.0.1", f"--proxy-port={proc.ng_port}", "ping"],
        capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "pong" in result.stdout


def test_workers_import_the_daemons_package_not_the_working_directorys(tmp_path):
    """An installed daemon started in a directory holding another ``rtpengined`` (the
    source tree it was installed from: the README's ``pip install . && rtpengined run``):
    its relay workers run the package the daemon runs, not that directory's (they ran the
    tree's sources, without the C loop the installed copy was built with)."""
    decoy = tmp_path / "rtpengined"
    (decoy / "media").mkdir(parents=True)
    (decoy / "__init__.py").write_text('raise ImportError("the decoy package was imported")\n')
    (decoy / "media" / "__init__.py").write_text("")
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(daemon_module.__file__)))
    env = {**os.environ, "PYTHONPATH": package_root}  # (as an install puts it on the path)
    ng_port = free_udp_and_tcp_port()
    log_path = tmp_path / "stderr.log"
    with open(log_path, "wb") as log:
        # (-P: the daemon itself, like a console script, does not import from the directory;
        # every listener on a free port: the defaults may be taken)
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "rtpengined", "run", f"--listen-ng=127.0.0.1:{ng_port}",
             f"--listen-tcp-ng=127.0.0.1:{ng_port}", f"--listen-cli=127.0.0.1:{free_port()}",
             f"--listen-http=127.0.0.1:{free_port()}", "--relay-workers=1"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True)
    try:
        wait_for_ping(ng_port, 15)  # (answered once its worker said it is ready)
        workers = child_pids(proc.pid)
        assert workers
        for pid in workers:
            path = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            assert f"PYTHONPATH={package_root}".encode() in path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log_path.read_text()
    assert "decoy" not in text and "Traceback" not in text, text


def test_help_is_plain_text_with_one_usage_line():
    result = run_briefly("--help")
    assert result.returncode == 0
    usage = result.stdout.splitlines()[0]
    assert usage == "Usage: rtpengined run [OPTIONS]...", usage
    assert "``" not in result.stdout


def test_version_names_the_program():
    for command in ([sys.executable, "-m", "rtpengined", "--version"],
                    [sys.executable, "-m", "rtpengined.cmdline", "--version"]):
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
        assert result.returncode == 0, result.stderr
        assert re.fullmatch(r"rtpengined, version \S+\n", result.stdout), result.stdout


def ping(port: int, timeout: float = 2.0) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(b"p1 d7:command4:pinge", ("127.0.0.1", port))
        try:
            return sock.recv(100) == b"p1 d6:result4:ponge"
        except OSError:
            return False


def test_sigusr1_and_sigusr2_change_log_levels_and_end_nothing(daemon_process):
    """10.5's log-level signals, sent to the daemon and to its relay workers (a ``pkill
    -USR2 rtpengined`` reaches both): each used to end the process it reached."""
    proc = daemon_process("--relay-workers=2", "-L", "6")
    workers = child_pids(proc.proc.pid)
    assert len(workers) == 2
    for signum in (signal.SIGUSR2, signal.SIGUSR1):
        for pid in (proc.proc.pid, *workers):
            os.kill(pid, signum)
        time.sleep(0.3)
        assert proc.proc.poll() is None
        assert ping(proc.ng_port)
    assert child_pids(proc.proc.pid) == workers
    code, err = proc.stop()
    assert code == 0, err
    assert "DEBUG: [core] Increased 'core' log level to 7" in err, err
    assert "INFO: [core] Decreased 'core' log level to 6" in err, err


def test_sighup_is_logged_and_ignored(daemon_process):
    proc = daemon_process("--relay-workers=1")
    for _ in range(2):
        proc.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        assert proc.proc.poll() is None
        assert ping(proc.ng_port)
    code, err = proc.stop()
    assert code == 0, err
    assert err.count("received SIGHUP: ignored") == 2, err
    assert "Traceback" not in err


class LoggedDaemon:
    """``rtpengined run`` with its stderr in a file and a chosen environment."""

    def __init__(self, tmp_path, env: dict[str, str], *args: str) -> None:
        self.ng_port, self.cli_port, self.http_port = (
            free_port(socket.SOCK_DGRAM), free_port(), free_port())
        self.log_path = tmp_path / "stderr.log"
        self.log = open(self.log_path, "wb")
        environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        environ.update(env.items())
        self.environ = environ
        self.args = [*RUN, f"--listen-ng=127.0.0.1:{self.ng_port}",
                     f"--listen-cli=127.0.0.1:{self.cli_port}",
                     f"--listen-http=127.0.0.1:{self.http_port}", "--relay-workers=1", *args]
        self.proc: subprocess.Popen | None = None

    def start(self, **env: str) -> subprocess.Popen:
        self.environ.update(env)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log,
                                     env=self.environ)
        return self.proc

    def stop(self) -> str:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.log_path.read_text()


@pytest.fixture
def logged_daemon(tmp_path):
    started: list[LoggedDaemon] = []

    def make(*args: str, **env: str) -> LoggedDaemon:
        daemon = LoggedDaemon(tmp_path, env, *args)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop()


def wait_for_ping(port: int, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not ping(port, 0.2):
        assert time.monotonic() < deadline, "daemon did not answer"


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_sd_notify_ready_once_every_listener_is_up_and_stopping(logged_daemon, tmp_path, abstract):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        if abstract:
            name = f"rtpengined-test-{os.getpid()}-{time.monotonic_ns()}"
            manager.bind("\0" + name)
            notify_socket = "@" + name
        else:
            notify_socket = str(tmp_path / "notify")
            manager.bind(notify_socket)
        manager.settimeout(15)
        daemon = logged_daemon()
        proc = daemon.start(NOTIFY_SOCKET=notify_socket)
        fields = manager.recv(4096).decode().split("\n")
        assert "READY=1" in fields and f"MAINPID={proc.pid}" in fields, fields
        # READY comes after every listener is up: each answers at once.
        assert ping(daemon.ng_port, 0.5)
        with socket.create_connection(("127.0.0.1", daemon.cli_port), timeout=2) as cli:
            cli.sendall(b"list numsessions\n")
            assert cli.recv(100).startswith(b"Current sessions")
        with socket.create_connection(("127.0.0.1", daemon.http_port), timeout=2) as http:
            http.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert http.recv(1000).startswith(b"HTTP/1.1 200")
        # The relay workers do not inherit NOTIFY_SOCKET (only the main process talks to systemd).
        # A child is read once it runs the worker program: between fork and exec,
        # /proc/<pid>/environ still shows the daemon's own initial environment.
        def exec_done(pid: int) -> bool:
            try:
                return b"rtpengined.media.worker" in open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                return False

        deadline = time.monotonic() + 10
        while not (workers := child_pids(proc.pid)) or not all(map(exec_done, workers)):
            assert time.monotonic() < deadline, "no relay worker started"
            time.sleep(0.05)
        for pid in workers:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            assert not any(item.startswith(b"NOTIFY_SOCKET=") for item in environ)
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in manager.recv(4096).decode().split("\n")
        assert proc.wait(timeout=5) == 0
    log = daemon.stop()
    assert "Traceback" not in log and "cannot notify" not in log, log


def test_no_notify_socket_is_fine_and_a_dead_one_is_one_warning(logged_daemon, tmp_path):
    daemon = logged_daemon()
    daemon.start(NOTIFY_SOCKET=str(tmp_path / "nobody-listens"))
    wait_for_ping(daemon.ng_port)
    # The ng port answers before the last listener is up and READY is sent: stop only
    # once READY was tried (a stop before that sends no READY at all, rightly).
    deadline = time.monotonic() + 10
    while "service manager (READY" not in daemon.log_path.read_text():
        assert time.monotonic() < deadline, daemon.log_path.read_text()
        time.sleep(0.02)
    log = daemon.stop()
    assert daemon.proc.returncode == 0, log
    assert log.count("cannot notify the service manager") == 2, log  # READY and STOPPING
    assert "Traceback" not in log


def test_journald_stderr_gets_no_timestamps_but_priorities(logged_daemon):
    daemon = logged_daemon("--media-num-threads=2")
    stat = os.fstat(daemon.log.fileno())
    daemon.start(JOURNAL_STREAM=f"{stat.st_dev}:{stat.st_ino}")
    wait_for_ping(daemon.ng_port)
    # The ng port answers before the last listener is up and "ready" is logged: stop only
    # once it was (a stop before that rightly logs no "ready"; CI once caught that race).
    deadline = time.monotonic() + 10
    while "Startup complete, version " not in daemon.log_path.read_text():
        assert time.monotonic() < deadline, daemon.log_path.read_text()
        time.sleep(0.02)
    lines = daemon.stop().splitlines()
    assert ("<4>WARNING: [core] option --media-num-threads is an rtpengine option"
            in lines[0]), lines
    assert any(line.startswith("<6>INFO: [core] Startup complete, version ") for line in lines), lines
    assert all(re.match(r"<\d>[A-Z]+: \[", line) for line in lines), lines


def test_other_stderr_gets_timestamps(logged_daemon):
    daemon = logged_daemon()
    daemon.start(JOURNAL_STREAM="1:2")  # set, but not our stderr (a child of a journald unit)
    wait_for_ping(daemon.ng_port)
    lines = daemon.stop().splitlines()
    assert lines and all(re.match(r"\[\d+\.\d{6}\] [A-Z]+: \[", line) for line in lines), lines


def test_two_daemons_on_other_ng_ports_run_side_by_side(logged_daemon):
    """No TCP ng listener unless asked for (as rtpengine): moving --listen-ng is enough."""
    first, second = logged_daemon(), logged_daemon()
    first.start()
    second.start()
    wait_for_ping(first.ng_port)
    wait_for_ping(second.ng_port)
    for daemon in (first, second):
        with pytest.raises(ConnectionRefusedError), \
                socket.create_connection(("127.0.0.1", daemon.ng_port), timeout=2):
            pass
    logs = [first.stop(), second.stop()]
    assert [first.proc.returncode, second.proc.returncode] == [0, 0], logs
    assert not any("ng (TCP)" in log for log in logs), logs


async def test_stop_signal_during_start_up_lets_the_listener_finish_starting(monkeypatch):
    """SIGTERM while a listener is starting: the start is not interrupted (a half-started
    HTTP server once kept the daemon alive after SIGTERM); the daemon stops right after."""
    entered, release = trio.Event(), trio.Event()
    events: list[str] = []

    async def slow_serve(core, address, *, task_status=trio.TASK_STATUS_IGNORED):
        entered.set()
        try:
            await release.wait()
        except trio.Cancelled:
            events.append("cancelled while starting")
            raise
        task_status.started(("127.0.0.1", 1))
        try:
            await trio.sleep_forever()
        finally:
            events.append("stopped after starting")

    slow = Transport("slow", "listen_slow", slow_serve, (), None, frozenset())
    registry = dict(transports.load_all())
    registry["slow"] = slow
    monkeypatch.setattr(daemon_module.transports, "load_all", lambda: registry)
    config = loopback_config()
    config.listen_slow = [ListenAddress("127.0.0.1", 1)]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(daemon_module.run_daemon, config)
            await entered.wait()
            os.kill(os.getpid(), signal.SIGTERM)
            await trio.sleep(0.3)  # the daemon saw the signal and must not cancel the start
            assert events == []
            release.set()
    assert events == ["stopped after starting"]
