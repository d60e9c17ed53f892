"""Differential: ``--log-facility-cdr``, each call's detail record as the call ends, compared
with rtpengine 10.5's syslog lines field by field.

10.5's ``syslog()`` writes to ``/dev/log`` whatever it is told; the test gives it a socket
there (bound in place when this machine has no syslog socket, else bind-mounted over it in
a mount namespace of 10.5's own), and ours the same kind of socket through
``--syslog-socket``. Times, and ports that are not the parties' fixed ones, are
normalised; everything else must be the same: the fields and their order, tags and tag
types, why the call ended, addresses, counters, the header's priority.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import tempfile
import time

import pytest
from differential import (
    REFERENCE_BINARY,
    NgProcess,
    cli,
    common_args,
    loopback_call,
    sdp,
    start_ours,
)

from conftest import free_port

FACILITY = "local3"  # (priority info of local3: <158>)
_HEADER = re.compile(rb"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+): (.*)", re.S)
_TIMES = ("_time", "_duration", "last_signal", "_last_packet")


def _offer_sdp(address: str, *medias: str) -> str:
    return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", f"c=IN IP4 {address}", "t=0 0", *medias)


class _Logged:
    """A daemon and the syslog socket its CDR lines arrive on."""

    def __init__(self, daemon: NgProcess, log: socket.socket) -> None:
        self.daemon, self.log = daemon, log

    def cli(self, command: str) -> str:
        return cli(self.daemon, command)

    def record(self, call_id: str, wait: float = 6.0) -> tuple[bytes, str, float]:
        """The CDR of ``call_id``: (priority, message, when it arrived)."""
        deadline = time.monotonic() + wait
        while True:
            self.log.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.log.recv(1 << 20)
            except TimeoutError:
                raise AssertionError(f"no CDR for {call_id}") from None
            match = _HEADER.fullmatch(data)
            assert match, data[:80]
            message = match.group(3).decode()
            if message.startswith(f"ci={call_id}, "):
                return match.group(1), message, time.time()


def _normalised(message: str, port_range: tuple[int, int]) -> list[tuple[str, str]]:
    assert message.endswith(", ")
    names: dict[str, str] = {}
    out = []
    for item in message[:-2].split(", "):
        key, _, value = item.partition("=")
        if key.endswith(_TIMES) or key == "last_signal":
            assert re.fullmatch(r"\d+(\.\d{6})?", value), item
            value = "T"
        elif key == "created_from":
            value = value.rpartition(":")[0] + ":PORT"
        elif key.endswith("_port") and value != "0" and int(value) >= 10000:
            kind = "L" if port_range[0] <= int(value) <= port_range[1] else "E"
            value = names.setdefault(f"{kind}{value}", f"{kind}{len(names)}")
        out.append((key, value))
    return out


def _times(message: str) -> dict[str, float]:
    return {key: float(value) for key, _, value in
            (item.partition("=") for item in message[:-2].split(", ")) if key.endswith("_time")}


@contextlib.contextmanager
def _reference(extra: list[str], log_stderr: bool = True):
    """10.5 with ``extra``, its ``/dev/log`` a socket of the test's; without ``log_stderr``
    (its ``-E``) its own log goes there too."""
    folder = tempfile.mkdtemp(prefix="cdr-")
    path = os.path.join(folder, "log")
    bound_in_place = not os.path.exists("/dev/log")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    log.bind("/dev/log" if bound_in_place else path)
    ng_port = free_port(socket.SOCK_DGRAM)
    argv = [REFERENCE_BINARY, *(arg for arg in common_args(ng_port, 20000, 20999)
                                if log_stderr or arg != "-E"),
            f"--listen-cli=127.0.0.1:{free_port()}", *extra]
    if not bound_in_place:  # (a syslog daemon's socket is there: 10.5 gets ours over it)
        argv = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /dev/log && exec "$@"',
                path, *argv]
    daemon = None
    try:
        daemon = NgProcess(argv, ng_port, 20000, 20999)
        yield _Logged(daemon, log)
    finally:
        if daemon is not None:
            daemon.stop()
        log.close()
        os.unlink("/dev/log" if bound_in_place else path)
        os.rmdir(folder)


@contextlib.contextmanager
def _ours(extra: list[str]):
    folder = tempfile.mkdtemp(prefix="cdr-")
    path = os.path.join(folder, "log")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    log.bind(path)
    daemon = None
    try:
        daemon = start_ours(extra=[*extra, f"--syslog-socket={path}"])
        yield _Logged(daemon, log)
    finally:
        if daemon is not None:
            daemon.stop()
        log.close()
        os.unlink(path)
        os.rmdir(folder)


@pytest.fixture(scope="module", name="pair")
def pair_fixture():
    extra = [f"--log-facility-cdr={FACILITY}"]
    with _reference(extra) as reference, _ours(extra) as ours:
        yield reference, ours


def _media_call(logged: _Logged, call_id: str) -> None:
    """A call over loopback parties (PCMU and PCMA offered, PCMA answered), three packets
    each way, deleted by its call-id alone."""
    with loopback_call(logged.daemon, call_id, "0 8", "8") as (sockets, to_b, to_a):
        for seq in range(3):
            packet = struct.pack("!BBHII", 0x80, 8, seq, seq * 160, 1 + seq) + bytes(160)
            sockets["A"].sendto(packet, ("127.0.0.1", to_b))
            sockets["B"].sendto(packet, ("127.0.0.1", to_a))
            time.sleep(0.02)
        time.sleep(0.2)


def _offer(logged: _Logged, call_id: str, *medias: str) -> None:
    medias = medias or ("m=audio 5000 RTP/AVP 0",)
    assert logged.daemon.request({"command": "offer", "call-id": call_id, "from-tag": "X",
                                  "sdp": _offer_sdp("10.0.0.1", *medias)})["result"] == "ok"


def _answered(logged: _Logged, call_id: str, *lines: str) -> None:
    _offer(logged, call_id)
    assert logged.daemon.request({
        "command": "answer", "call-id": call_id, "from-tag": "X", "to-tag": "Y",
        "sdp": _offer_sdp("10.0.0.2", "m=audio 6000 RTP/AVP 0", *lines)})["result"] == "ok"


def _delete(logged: _Logged, call_id: str, **keys) -> None:
    assert logged.daemon.request({"command": "delete", "call-id": call_id,
                                  **keys})["result"] == "ok"


def _sent_call(logged: _Logged, call_id: str, pt: int, offer_options: dict | None = None,
               a_formats: str = "0 8", b_formats: str = "8", **b_lines) -> None:
    """A loopback call where A sends three packets of payload type ``pt``, B one of 8."""
    with loopback_call(logged.daemon, call_id, a_formats, b_formats, offer_options,
                       **b_lines) as (sockets, to_b, to_a):
        for seq in range(3):
            sockets["A"].sendto(struct.pack("!BBHII", 0x80, pt, seq, seq * 160, 7)
                                + bytes(160), ("127.0.0.1", to_b))
            time.sleep(0.02)
        sockets["B"].sendto(struct.pack("!BBHII", 0x80, 8, 0, 0, 9) + bytes(160),
                            ("127.0.0.1", to_a))
        time.sleep(0.2)


def _forked(logged: _Logged, call_id: str) -> None:
    _offer(logged, call_id)
    for tag, port in (("Y1", 6000), ("Y2", 6002)):
        assert logged.daemon.request({
            "command": "answer", "call-id": call_id, "from-tag": "X", "to-tag": tag,
            "sdp": _offer_sdp("10.0.0.2", f"m=audio {port} RTP/AVP 0")})["result"] == "ok"
    _delete(logged, call_id)


def _subscribed(logged: _Logged, call_id: str) -> None:
    _answered(logged, call_id)
    assert logged.daemon.request({"command": "subscribe request", "call-id": call_id,
                                  "from-tag": "X", "to-tag": "S"})["result"] == "ok"
    _delete(logged, call_id)


SCENARIOS = {
    "a payload type the party's SDP does not list": lambda d, c: _sent_call(d, c, 9),
    "transcoded from PCMU to PCMA": lambda d, c: _sent_call(
        d, c, 0, {"codec": {"transcode": ["PCMA"]}}, "0", "8"),
    "rtcp-mux on both sides": lambda d, c: _sent_call(
        d, c, 8, None, a_attributes=("a=rtcp-mux",), b_attributes=("a=rtcp-mux",)),
    "two answers to one offer (forked)": _forked,
    "a subscription beside the dialogue": _subscribed,
    "media both ways, deleted by call-id": _media_call,
    "offered with two medias, deleted by the offerer's tag": lambda d, c: (
        _offer(d, c, "m=audio 5000 RTP/AVP 0", "m=video 5002 RTP/AVP 96",
               "a=rtpmap:96 H264/90000"),
        _delete(d, c, **{"from-tag": "X"})),
    "answered with rtcp-mux, deleted by both tags": lambda d, c: (
        _answered(d, c, "a=rtcp-mux"), _delete(d, c, **{"from-tag": "X", "to-tag": "Y"})),
    "answered, deleted by the answerer's tag": lambda d, c: (
        _answered(d, c), _delete(d, c, **{"from-tag": "Y"})),
    "answered, deleted by call-id with a delay": lambda d, c: (
        _answered(d, c), _delete(d, c, **{"delete-delay": 1})),
    "answered, deleted by tag with a delay": lambda d, c: (
        _answered(d, c), _delete(d, c, **{"from-tag": "X", "delete-delay": 1})),
    "ended by the CLI's terminate": lambda d, c: (
        _answered(d, c), d.cli(f"terminate {c}")),
    "ended by the CLI's call terminate": lambda d, c: (
        _answered(d, c), d.cli(f"call {c} terminate")),
    "deleted with a delay, then terminated by the CLI": lambda d, c: (
        _answered(d, c), _delete(d, c, **{"delete-delay": 5}), d.cli(f"terminate {c}")),
    "deleted by tag with a delay, then terminated by the CLI": lambda d, c: (
        _answered(d, c), _delete(d, c, **{"from-tag": "X", "delete-delay": 5}),
        d.cli(f"terminate {c}")),
    "deleted by tag with a delay, then all terminated by the CLI": lambda d, c: (
        _answered(d, c), _delete(d, c, **{"from-tag": "Y", "delete-delay": 5}),
        d.cli("terminate all")),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_cdr_line_as_rtpengine_logs_it(pair, name):
    reference, ours = pair
    call_id = "cdr-" + re.sub(r"\W+", "-", name)
    lines = []
    for logged in (reference, ours):
        SCENARIOS[name](logged, call_id)
        done = time.time()
        lines.append((*logged.record(call_id), done))
    (want_pri, want, want_at, want_done), (have_pri, have, have_at, have_done) = lines
    assert have_pri == want_pri == b"158"
    assert _normalised(have, ours.daemon.port_range) == _normalised(
        want, reference.daemon.port_range)
    for message, arrived, done in ((want, want_at, want_done), (have, have_at, have_done)):
        times = _times(message)
        ends = [value for key, value in times.items() if key.endswith("end_time")]
        assert max(ends) - min(ends) < 0.01  # (every party ended at once)
        if "with a delay" in name and "terminated" not in name:
            # Ended at the delete, before the ports went (10.5's timer runs on the second:
            # its delay of 1 s may be over a moment after the delete).
            assert max(ends) < done < arrived
        else:
            assert abs(arrived - max(ends)) < 0.5


@pytest.fixture(scope="module", name="timeout_pair")
def timeout_pair_fixture():
    extra = [f"--log-facility-cdr={FACILITY}", "--timeout=3", "--offer-timeout=1"]
    with _reference(extra) as reference, _ours(extra) as ours:
        yield reference, ours


@pytest.mark.parametrize("answered", [True, False], ids=["timeout", "offer timeout"])
def test_cdr_line_of_a_call_that_timed_out(timeout_pair, answered):
    reference, ours = timeout_pair
    call_id = f"cdr-timeout-{answered}"
    records = []
    for logged in (reference, ours):
        (_answered if answered else _offer)(logged, call_id)
    for logged in (reference, ours):
        records.append(logged.record(call_id, wait=10))
    (_, want, _), (_, have, _) = records
    assert _normalised(have, ours.daemon.port_range) == _normalised(
        want, reference.daemon.port_range)
    # (10.5 names an offer that timed out TIMEOUT too, its streams' media timeout being
    # what ended it)
    assert "ml0_termination=TIMEOUT, " in want


def _terminated_counts(logged: _Logged) -> list[str]:
    return [line for line in logged.cli("list totals").splitlines() if "terminated" in line]


def test_terminate_after_a_delayed_delete_counts_as_rtpengine_counts_it(pair):
    """The CLI's terminate after a delayed delete: forced, unless the delete named a tag
    (the CDR's termination and the session counters read the same reason)."""
    counts = []
    for logged in pair:
        before = _terminated_counts(logged)
        for call_id, tag, command in (("tc-a", {}, "terminate tc-a"),
                                      ("tc-b", {"from-tag": "X"}, "terminate tc-b"),
                                      ("tc-c", {}, "terminate all")):
            _answered(logged, call_id)
            _delete(logged, call_id, **{"delete-delay": 5, **tag})
            logged.cli(command)
            logged.record(call_id)
        counts.append((before, _terminated_counts(logged)))
    assert counts[1] == counts[0]
