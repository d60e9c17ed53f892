"""Differential testing: the same ng requests to rtpengine 10.5 and to rtpengined.

Both daemons run as processes on loopback with disjoint media port ranges. Replies are
decoded and normalised (ports become P1, P2… in order of first appearance, timestamps and
ICE credentials are masked) so that only real differences remain.
"""

from __future__ import annotations

import difflib
import os
import pprint
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from rtpengined.protocol import bencode

from conftest import free_port, group_alive

REFERENCE_BINARY = "/usr/bin/rtpengine"
VOLATILE_KEYS = {"created", "created_us", "last signal", "last packet", "uptime"}


class NgProcess:
    """A daemon process (the reference or ours) and a UDP ng client for it."""

    def __init__(self, argv: list[str], ng_port: int, port_min: int, port_max: int,
                 wait: bool = True) -> None:
        self.ng_port = ng_port
        self.port_range = (port_min, port_max)
        # (a process group of its own: ``stop`` waits for our relay workers too)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Bound now to a port not handed out: left unbound, the first ping would take any
        # free ephemeral port, which may be the ng port of a daemon not yet listening (this
        # one, or the other of a pair started together), and that daemon then fails.
        self.sock.bind(("127.0.0.1", free_port(socket.SOCK_DGRAM)))
        self.sock.settimeout(3)
        self.counter = 0
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited: " + self.proc.stderr.read().decode())
            try:
                self.sock.settimeout(0.2)
                if self.raw(b"d7:command4:pinge").endswith(b"ponge"):
                    self.sock.settimeout(3)
                    return
            except OSError:
                pass
        raise RuntimeError("daemon did not answer ping")

    def raw(self, payload: bytes) -> bytes:
        self.counter += 1
        cookie = b"d%d_%d" % (id(self) % 1000, self.counter)
        self.sock.sendto(cookie + b" " + payload, ("127.0.0.1", self.ng_port))
        while True:
            reply = self.sock.recv(65535)
            if reply.startswith(cookie + b" "):
                return reply[len(cookie) + 1 :]

    def request(self, message: dict[str, Any]) -> Any:
        return bencode.decode(self.raw(bencode.encode(message)))

    def stop(self) -> None:
        """Stop the daemon and whatever is left of its group. Our relay workers leave a
        moment after the control process and hold their sockets until then: the next
        daemon on the same port range (the next test module's pair) would find those
        ports taken and number its ports otherwise than 10.5."""
        self.sock.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        deadline = time.monotonic() + 5
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


DEFAULT_INTERFACES = ("127.0.0.1",)


def common_args(ng_port: int, port_min: int, port_max: int,
                interfaces: tuple[str, ...] = DEFAULT_INTERFACES) -> list[str]:
    args = ["--config-file=none"]
    for interface in interfaces:
        args += ["-i", interface]
    return [*args, f"--listen-ng=127.0.0.1:{ng_port}", "-m", str(port_min), "-M", str(port_max),
            "--delete-delay=0", "-f", "-E", "-L", "3"]


def start_reference(port_min: int = 20000, port_max: int = 20999, extra: list[str] = (),
                    interfaces: tuple[str, ...] = DEFAULT_INTERFACES, wait: bool = True
                    ) -> NgProcess:
    ng_port = free_port(socket.SOCK_DGRAM)
    argv = [REFERENCE_BINARY, *common_args(ng_port, port_min, port_max, interfaces),
            f"--listen-cli=127.0.0.1:{free_port()}", *extra]
    return NgProcess(argv, ng_port, port_min, port_max, wait)


def start_ours(port_min: int = 21000, port_max: int = 21999, extra: list[str] = (),
               interfaces: tuple[str, ...] = DEFAULT_INTERFACES, wait: bool = True
               ) -> NgProcess:
    ng_port = free_port(socket.SOCK_DGRAM)
    argv = [sys.executable, "-m", "rtpengined", "run",
            *common_args(ng_port, port_min, port_max, interfaces),
            f"--listen-tcp-ng=127.0.0.1:{free_port()}", f"--listen-cli=127.0.0.1:{free_port()}",
            f"--listen-http=127.0.0.1:{free_port()}", "--relay-workers=1", *extra]
    return NgProcess(argv, ng_port, port_min, port_max, wait)


def cli(daemon: NgProcess, command: str) -> str:
    """One line to the daemon's CLI port (its ``--listen-cli``), as rtpengine-ctl sends it;
    the whole reply."""
    port = int(next(arg for arg in daemon.proc.args
                    if arg.startswith("--listen-cli=")).rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(command.encode() + b"\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply.decode()


@contextmanager
def running(start: Callable[[], NgProcess]) -> Iterator[NgProcess]:
    """A daemon from ``start`` (``start_reference``/``start_ours`` with their arguments),
    stopped whatever happens: for fixtures parametrized over both daemons."""
    process = start()
    try:
        yield process
    finally:
        process.stop()


class DaemonPair:
    """rtpengine 10.5 and rtpengined started with the same interfaces and extra options."""

    def __init__(self, extra: list[str] = (), interfaces: tuple[str, ...] = DEFAULT_INTERFACES,
                 ranges: tuple[tuple[int, int], tuple[int, int]] = ((20000, 20999), (21000, 21999))
                 ) -> None:
        (ref_min, ref_max), (our_min, our_max) = ranges
        # Both start at once; then each must answer a ping.
        self.reference = start_reference(ref_min, ref_max, list(extra), interfaces, wait=False)
        self.ours = start_ours(our_min, our_max, list(extra), interfaces, wait=False)
        try:
            self.reference.wait_ready()
            self.ours.wait_ready()
        except Exception:
            self.stop()
            raise
        self.scenarios = 0

    def stop(self) -> None:
        for daemon in (self.reference, self.ours):  # both shut down at once
            daemon.proc.terminate()
        self.reference.stop()
        self.ours.stop()

    def compare(self, steps: list[dict[str, Any]], name: str = "") -> None:
        """Run ``steps`` on both daemons; assert the normalised replies are equal, step by step.

        A step's keys starting with ``_`` are not sent: ``_mask`` is a function applied to
        both normalised replies before comparing (for parts that legitimately differ).
        """
        self.scenarios += 1
        call_id = f"{name or 'scenario'}-{self.scenarios}".replace(" ", "_")
        expected = converse(self.reference, steps, call_id)
        got = converse(self.ours, steps, call_id)
        for index, (step, want, have) in enumerate(zip(steps, expected, got, strict=True)):
            mask = step.get("_mask")
            if mask is not None:
                want, have = mask(want), mask(have)
            if have != want:
                raise AssertionError(f"step {index} ({step.get('command')}) differs:\n"
                                     + describe_difference(want, have))


def describe_difference(want: Any, have: Any) -> str:
    """A unified diff of two normalised replies (rtpengine's first), SDP split into lines."""

    def lines(value: Any) -> list[str]:
        text = pprint.pformat(value, width=100)
        return text.replace("\\r\\n", "\\r\\n\n").splitlines()

    return "\n".join(difflib.unified_diff(lines(want), lines(have), "rtpengine", "rtpengined",
                                          lineterm="", n=2))


@pytest.fixture(scope="module", name="default_pair")
def default_pair_fixture():
    """A pair with the default configuration for the module's tests, stopped at its end.
    (Each module imports this fixture, and pytest keeps one instance per import: with the
    session scope every module's pair stayed alive until the run ended, 30 pairs at once.)"""
    daemons = DaemonPair()
    yield daemons
    daemons.stop()


def converse(daemon: NgProcess, steps: list[dict[str, Any]], call_id: str) -> list[Any]:
    """Send ``steps`` in order; ``{cid}`` in a step's call-id becomes the scenario's id."""
    normaliser = Normaliser(daemon.port_range)
    replies = []
    for step in steps:
        message = {k: v for k, v in step.items() if v is not None and not k.startswith("_")}
        given = message.get("call-id")
        if "call-id" not in step:
            message["call-id"] = call_id
        elif isinstance(given, str) and "{cid}" in given:
            message["call-id"] = given.replace("{cid}", call_id)
        raw = step.get("_raw")
        if raw is not None:
            reply = daemon.raw(raw)
            replies.append(reply)
            continue
        replies.append(normaliser.value(daemon.request(message)))
    return replies


class Normaliser:
    """Replaces values that legitimately differ between two daemons by stable symbols.

    A local port is identified by (local address, port): rtpengine may hand out the same
    port number on two interfaces, which must not look like one port.
    """

    PORT_LINES = re.compile(r"^(?:m=|a=rtcp:|a=candidate:|a=remote-candidates:)")

    def __init__(self, port_range: tuple[int, int],
                 local: frozenset[str] | set[str] | None = None) -> None:
        self.port_range = port_range
        self.ports: dict[tuple[str, int], str] = {}
        # The daemon's own addresses, where known: a candidate on another address is the
        # party's, its port left as it is even where it falls in the daemon's range (a
        # party's fixed port in one daemon's range and not the other's looked different).
        self.local = local

    def port(self, value: int, address: str = "") -> str | int:
        low, high = self.port_range
        if not low <= value <= high:
            return value
        key = (address, value)
        if key not in self.ports:
            self.ports[key] = f"P{len(self.ports) + 1}"
        return self.ports[key]

    def sdp(self, text: str) -> str:
        lines = text.splitlines(keepends=True)
        session_address = ""
        sections: list[list[str]] = [[]]
        for line in lines:
            if line.startswith("m="):
                sections.append([])
            sections[-1].append(line)
        out: list[str] = []
        for number, section in enumerate(sections):
            address = session_address
            for line in section:
                if line.startswith("c="):
                    address = line.split()[-1]
                    if number == 0:
                        session_address = address
            for line in section:
                if self.local is not None:  # (a line about the party's port: as it is)
                    fields = line.split()
                    theirs = (fields[4] not in self.local if line.startswith("a=candidate:")
                              and len(fields) > 4 else
                              line.startswith("m=") and address not in self.local)
                    if theirs:
                        out.append(line)
                        continue
                if self.PORT_LINES.match(line):
                    line = re.sub(r"\b\d{4,5}\b",
                                  lambda m, a=address: str(self.port(int(m.group()), a)), line)
                out.append(line)
        text = "".join(out)
        text = re.sub(r"a=ice-ufrag:\S+", "a=ice-ufrag:UFRAG", text)
        text = re.sub(r"a=ice-pwd:\S+", "a=ice-pwd:PWD", text)
        text = re.sub(r"a=candidate:\S+", "a=candidate:FOUNDATION", text)
        text = re.sub(r"a=rtpengine:[0-9a-f]+", "a=rtpengine:LOOPER", text)
        return text

    def value(self, value: Any, key: str = "", address: str = "") -> Any:
        if key in VOLATILE_KEYS and isinstance(value, int):
            return "TIME"
        if isinstance(value, dict):
            local = value.get("local address", "")
            local = local if isinstance(local, str) else ""
            return [(k, self.value(v, k, local if k == "local port" else "")) for k, v in
                    value.items()]
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, int) and key in ("local port", "port"):
            return self.port(value, address)
        if isinstance(value, str) and key == "sdp":
            return self.sdp(value)
        return value


def normalise(reply: Any, port_range: tuple[int, int], normaliser: Normaliser | None = None) -> Any:
    return (normaliser or Normaliser(port_range)).value(reply)


# -- building conversations ---------------------------------------------------------------

CRLF = "\r\n"


def sdp(*lines: str) -> str:
    return CRLF.join(lines) + CRLF


def offer(sdp_body: str, tag: str = "A", **extra: Any) -> dict[str, Any]:
    return {"command": "offer", "from-tag": tag, "sdp": sdp_body, **extra}


def answer(sdp_body: str, from_tag: str = "A", to_tag: str = "B", **extra: Any) -> dict[str, Any]:
    return {"command": "answer", "from-tag": from_tag, "to-tag": to_tag, "sdp": sdp_body, **extra}


def query(**extra: Any) -> dict[str, Any]:
    return {"command": "query", **extra}


def delete(**extra: Any) -> dict[str, Any]:
    return {"command": "delete", "delete-delay": 0, **extra}


def mask_own_values(value: Any) -> Any:
    """Keys, fingerprints, SSRCs and o= ids are each daemon's own (random flows compare
    everything else)."""
    if isinstance(value, list):
        return [mask_own_values(item) for item in value]
    if isinstance(value, tuple):
        return tuple(mask_own_values(item) for item in value)
    if isinstance(value, str):
        value = re.sub(r"inline:[A-Za-z0-9+/=]+", "inline:KEY", value)
        value = re.sub(r"a=fingerprint:\S+ [0-9A-F:]+", "a=fingerprint:FP", value)
        value = re.sub(r"a=tls-id:\S+", "a=tls-id:X", value)
        value = re.sub(r"a=ssrc:\d+", "a=ssrc:S", value)
        return re.sub(r"o=(\S+) \d+ \d+", r"o=\1 SID SVER", value)
    return value


def mask_sdp_lines(*prefixes: str):
    """A ``_mask`` that drops SDP lines starting with any of ``prefixes`` (e.g. ``a=fingerprint``)."""

    def mask(reply: Any) -> Any:
        if not isinstance(reply, list):
            return reply
        out = []
        for key, value in reply:
            if key == "sdp" and isinstance(value, str):
                value = "".join(line for line in value.splitlines(keepends=True)
                                if not line.startswith(prefixes))
            out.append((key, value))
        return out

    return mask


def burst(sock: socket.socket, first: float = 0.5, gap: float = 0.05) -> list[bytes]:
    """What one packet makes comes in one burst: the datagrams ``sock`` gets, the first
    within ``first`` seconds (else none came), the rest each within ``gap`` of the last."""
    received = []
    sock.settimeout(first)
    while True:
        try:
            received.append(sock.recv(2048))
        except TimeoutError:
            return received
        sock.settimeout(gap)


def rtp_rtcp_sockets() -> tuple[socket.socket, socket.socket]:
    """A party's RTP socket on loopback and its RTCP socket on the next port."""
    for _ in range(50):
        rtp, rtcp = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        try:
            rtp.bind(("127.0.0.1", 0))
            rtcp.bind(("127.0.0.1", rtp.getsockname()[1] + 1))
            return rtp, rtcp
        except OSError:
            rtp.close()
            rtcp.close()
    raise RuntimeError("no free port pair")


def loopback_party() -> socket.socket:
    """A party's socket on loopback (an ephemeral port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def party_sdp(sock: socket.socket, formats: str = "0") -> str:
    """A plain SDP for the party at ``sock``: one audio media with ``formats``."""
    port = sock.getsockname()[1]
    return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", "a=sendrecv")


def audio_port(reply: dict) -> int:
    """The port of the first audio media of an offer's or answer's reply SDP."""
    text = reply["sdp"].decode() if isinstance(reply["sdp"], bytes) else reply["sdp"]
    return int(re.search(r"m=audio (\d+)", text).group(1))


@contextmanager
def loopback_call(daemon: NgProcess, call_id: str, a_formats: str, b_formats: str,
                  offer_options: dict | None = None, answer_options: dict | None = None,
                  a_attributes: tuple[str, ...] = (),
                  b_attributes: tuple[str, ...] = ()) -> Iterator[tuple[dict, int, int]]:
    """Parties A and B on loopback sockets, their call set up without ICE: A offers
    ``a_formats`` (with ``offer_options``), B answers ``b_formats`` (with
    ``answer_options``); ``{port}`` in an attribute is the party's own port. Yields
    (sockets by party, the port A sends to, the port B sends to); the call is deleted
    after, the sockets closed."""
    sockets = {}
    for name in "AB":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sockets[name] = sock
    try:
        def body(name: str, formats: str, attributes: tuple[str, ...]) -> str:
            own = str(sockets[name].getsockname()[1])
            return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                       f"m=audio {own} RTP/AVP {formats}",
                       *(a.replace("{port}", own) for a in attributes), "a=sendrecv")

        ids = {"call-id": call_id, "from-tag": "A"}
        to_a = audio_port(daemon.request({"command": "offer", **ids, "ICE": "remove",
                                    "sdp": body("A", a_formats, a_attributes),
                                    **(offer_options or {})}))
        to_b = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                    "sdp": body("B", b_formats, b_attributes),
                                    **(answer_options or {})}))
        # (A sends to the port the daemon answered it (B's side), B to the offered one)
        yield sockets, to_b, to_a
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in sockets.values():
            sock.close()


def media_exchange(daemon: NgProcess, call_id: str, a_formats: str, b_formats: str,
                   steps: list, offer_options: dict | None = None,
                   answer_options: dict | None = None, a_attributes: tuple[str, ...] = (),
                   b_attributes: tuple[str, ...] = ()) -> list:
    """Parties A and B on loopback sockets (``loopback_call``). Each step is either a
    packet, (sender "A"/"B", pt, seq, ts, ssrc, payload), sent to the daemon, and what the
    other party receives for it noted as a list of (marker and pt, seq, ts, payload, SSRC
    kept?, which output SSRC); or an ng message (a dict: sent with the call's id), and its
    (result, error-reason) noted. The call is deleted at the end."""
    with loopback_call(daemon, call_id, a_formats, b_formats, offer_options, answer_options,
                       a_attributes, b_attributes) as (sockets, a_sends_to, b_sends_to):
        seen: dict[int, int] = {}
        out: list = []
        for step in steps:
            if isinstance(step, dict):
                reply = daemon.request({"call-id": call_id, **step})
                out.append((reply.get("result"), reply.get("error-reason")))
                continue
            sender, pt, seq, ts, ssrc, payload = step
            receiver = sockets["B" if sender == "A" else "A"]
            sockets[sender].sendto(struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload,
                                   ("127.0.0.1", a_sends_to if sender == "A" else b_sends_to))
            got = []
            for data in burst(receiver):
                _, got_pt, got_seq, got_ts, got_ssrc = struct.unpack("!BBHII", data[:12])
                got.append((got_pt, got_seq, got_ts, data[12:], got_ssrc == ssrc,
                            seen.setdefault(got_ssrc, len(seen))))
            out.append(got)
    return out
