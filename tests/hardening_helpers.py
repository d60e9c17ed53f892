"""Helpers for the hardening tests: ng over UDP to an in-process or subprocess daemon,
two-party calls with real media sockets, and what of a call must survive a fault."""

from __future__ import annotations

import itertools
import os
import socket
from typing import Any

import pytest
import trio
from relay_helpers import Party, party, rtp_packet

from rtpengined.model import Endpoint
from rtpengined.protocol import bencode

from conftest import udp_request

_cookies = itertools.count(1)


def cookie() -> bytes:
    return f"hd{os.getpid()}_{next(_cookies)}".encode()


async def ng(address: tuple, message: dict, timeout: float = 5.0) -> dict:
    """One ng request over UDP; the decoded reply (fails the test when none comes)."""
    tag = cookie()
    reply = await udp_request(address, tag + b" " + bencode.encode(message), timeout)
    assert reply is not None, f"no reply to {message.get('command')}"
    assert reply.startswith(tag + b" ")
    return bencode.decode(reply[len(tag) + 1 :])


def sdp(endpoint: Endpoint, version: int = 1) -> str:
    return "\r\n".join([
        "v=0", f"o=- 1 {version} IN IP4 {endpoint.address}", "s=-", f"c=IN IP4 {endpoint.address}",
        "t=0 0", f"m=audio {endpoint.port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv", "",
    ])


def media_port(text: str) -> int:
    line = next(line for line in text.splitlines() if line.startswith("m=audio "))
    return int(line.split()[1])


class LiveCall:
    """An answered call between two loopback parties, with the ports each must send to."""

    def __init__(self, call_id: str, alice: Party, bob: Party, alice_target: Endpoint,
                 bob_target: Endpoint) -> None:
        self.call_id, self.alice, self.bob = call_id, alice, bob
        self.alice_target, self.bob_target = alice_target, bob_target

    async def relays(self, seq: int) -> None:
        """A packet each way gets through (retrying: loopback UDP may drop under load)."""
        for sender, receiver, target in ((self.alice, self.bob, self.alice_target),
                                         (self.bob, self.alice, self.bob_target)):
            with trio.fail_after(10):
                while True:
                    receiver.drain_now()
                    await sender.send(rtp_packet(seq), target)
                    with trio.move_on_after(0.2):
                        while True:
                            data, _ = await receiver.receive()
                            if data == rtp_packet(seq):
                                break
                        break
                    seq += 1000

    def close(self) -> None:
        self.alice.close()
        self.bob.close()


async def live_call(address: tuple, call_id: str) -> LiveCall:
    alice, bob = await party(), await party()
    offer = await ng(address, {"command": "offer", "call-id": call_id, "from-tag": "alice",
                               "sdp": sdp(alice.endpoint)})
    assert offer["result"] == "ok", offer
    answer = await ng(address, {"command": "answer", "call-id": call_id, "from-tag": "alice",
                                "to-tag": "bob", "sdp": sdp(bob.endpoint)})
    assert answer["result"] == "ok", answer
    return LiveCall(call_id, alice, bob, Endpoint("127.0.0.1", media_port(answer["sdp"])),
                    Endpoint("127.0.0.1", media_port(offer["sdp"])))


def call_shape(query: dict) -> dict[str, Any]:
    """What must not change when a fault hits the daemon: tags, their local ports and peers."""
    assert query["result"] == "ok", query
    return {
        tag: [(media["index"], [(s["local port"], s["endpoint"].get("port")) for s in media["streams"]])
              for media in value["medias"]]
        for tag, value in query["tags"].items()
    }


async def ping(address: tuple) -> bool:
    reply = await ng(address, {"command": "ping"})
    return reply == {"result": "pong"}


def count_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def tcp_connect(address: tuple) -> socket.socket:
    sock = socket.create_connection(address[:2], timeout=5)
    sock.setblocking(False)
    return sock


def make_ca_and_certs(directory: str) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and a
    client certificate from another CA. Returns paths by name (``ca``, ``server_cert``,
    ``server_key``, ``client_cert``, ``client_key``, ``stranger_cert``, ``stranger_key``)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer_name, issuer_key, key, *, ca=False, server=False):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        if not ca:
            usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    paths: dict[str, str] = {}

    def write(name: str, cert, key=None) -> None:
        paths[name] = os.path.join(directory, f"{name}.pem")
        with open(paths[name], "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            base = name.removesuffix("_cert")
            paths[f"{base}_key"] = os.path.join(directory, f"{base}_key.pem")
            with open(paths[f"{base}_key"], "wb") as handle:
                handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))

    cas = {}
    for ca_name in ("ca", "other_ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rtpengined test {ca_name}")])
        cert = build(f"rtpengined test {ca_name}", name, key, key, ca=True)
        cas[ca_name] = (name, key)
        write(ca_name, cert)
    for cert_name, issuer, server in (("server_cert", "ca", True), ("client_cert", "ca", False),
                                      ("stranger_cert", "other_ca", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        write(cert_name, build(cert_name, *cas[issuer], key, server=server), key)
    return paths


def daemon_process(*args: str, nofile: int | None = None):
    """``rtpengined run`` in a child (conftest's ``DaemonProcess``), optionally with its
    soft and hard ``RLIMIT_NOFILE`` lowered to ``nofile`` so it cannot raise it back."""
    import resource
    import subprocess

    from conftest import DaemonProcess

    def start() -> DaemonProcess:
        # conftest picks each port as free a moment before the daemon binds it; on a busy
        # shared machine another process can take it in between: try again with new ports.
        for attempt in range(3):
            try:
                return DaemonProcess(list(args))
            except RuntimeError as exc:
                if "Address already in use" not in str(exc) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    if nofile is None:
        return start()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    original = subprocess.Popen

    def popen(*a, **kw):
        return original(*a, preexec_fn=limit, **kw)

    subprocess.Popen = popen
    try:
        return start()
    finally:
        subprocess.Popen = original


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        pass
    return children


def process_alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a parent that never reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def module_daemon(*args: str):
    """A module-scoped ``proc`` fixture: ``rtpengined run`` with ``args`` in a child for the
    module's tests, which must stop cleanly with no traceback in its log."""

    @pytest.fixture(scope="module")
    def proc():
        daemon = daemon_process(*args)
        yield daemon
        code, err = daemon.stop()
        assert code == 0 and "Traceback" not in err, err

    return proc
