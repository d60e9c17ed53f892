"""Helpers for the HTTP/WS/metrics tests: raw sockets, a self-signed certificate, socket states."""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import os
import socket

import trio

_cookies = itertools.count(1)


def fresh_cookie(prefix: str = "h") -> bytes:
    return f"{prefix}{os.getpid()}_{next(_cookies)}".encode()


async def raw_exchange(address: tuple, request: bytes, timeout: float = 5.0,
                       until_close: bool = True) -> tuple[bytes, bool]:
    """Send raw bytes; read until the server closes (or ``timeout``). Returns (reply, closed)."""
    stream = await trio.open_tcp_stream(address[0], address[1])
    reply = bytearray()
    closed = False
    async with stream:
        try:
            await stream.send_all(request)
        except trio.BrokenResourceError:
            pass  # the server refused early (e.g. a huge body); its reply may still be readable
        with trio.move_on_after(timeout):
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    chunk = b""
                if not chunk:
                    closed = True
                    break
                reply += chunk
                if not until_close and b"\r\n\r\n" in reply:
                    head, _, body = bytes(reply).partition(b"\r\n\r\n")
                    length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")]
                    if length and len(body) >= length[0]:
                        break
    return bytes(reply), closed


def split_response(raw: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """(status line, headers, body) of one HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = [tuple(part.strip() for part in line.split(b":", 1)) for line in lines[1:]]
    return lines[0], headers, body


def make_self_signed(directory: str, host: str = "127.0.0.1") -> tuple[str, str]:
    """Write a self-signed certificate and key for ``host``; return (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path


_TCP_STATES = {"01": "ESTABLISHED", "08": "CLOSE_WAIT", "06": "TIME_WAIT", "0A": "LISTEN"}


def server_socket_states(port: int, peer_port: int | None = None) -> list[str]:
    """States of the TCP sockets whose local port is ``port`` (and remote port
    ``peer_port``, if given) (from /proc/net/tcp{,6})."""
    states = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and (
                            peer_port is None
                            or int(fields[2].rsplit(":", 1)[1], 16) == peer_port):
                        states.append(_TCP_STATES.get(fields[3], fields[3]))
        except FileNotFoundError:
            continue
    return states


async def wait_for(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds (a bound, not a timing assertion)."""
    with trio.move_on_after(timeout):
        while not predicate():
            await trio.sleep(step)
        return True
    return False


def loopback_family_available(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.bind((host, 0))
        return True
    except OSError:
        return False


def listen_error_in(excinfo) -> BaseException | None:
    """The ListenError inside what a failed daemon start raised (possibly an exception group)."""
    import transports

    pending = [excinfo.value]
    while pending:
        error = pending.pop()
        if isinstance(error, transports.ListenError):
            return error
        pending.extend(getattr(error, "exceptions", ()))
    return None


async def read_response(stream) -> bytes:
    """Read one complete response with a content-length from a trio stream."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")][0]
            if len(body) >= length:
                return data
        chunk = await stream.receive_some(65536)
        if not chunk:
            return data
        data += chunk


async def start_web_daemon(nursery, **overrides):
    """The control-plane listeners these tests talk to (UDP ng, CLI, HTTP, HTTPS) over one core.

    Like conftest's ``make_daemon`` but with the null media plane: the web transports never
    touch media, and this keeps their tests independent of the relay workers.
    """
    import transports
    from rtpengined.core import Core
    from rtpengined.daemon import Daemon
    from rtpengined.media import NullMediaPlane

    from conftest import loopback_config

    config = loopback_config(**overrides)
    core = Core(config, media=NullMediaPlane())
    daemon = Daemon(core)
    registry = transports.load_all()
    for name in ("udp-ng", "cli", "http", "https"):
        transport = registry.get(name)
        if transport is None:
            continue
        for address in getattr(config, transport.config_attr, []):
            bound = await nursery.start(transport.serve, core, address)
            daemon.addresses.setdefault(name, []).append(bound)
    return daemon
