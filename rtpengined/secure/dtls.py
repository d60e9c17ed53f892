"""DTLS-SRTP (RFC 5763/5764): the certificate, `a=fingerprint`/`a=setup`, and a sans-I/O endpoint.

The certificate is made once at start (rtpengine makes one per daemon; its fingerprint is the
same on every call). `DtlsEndpoint` runs OpenSSL's DTLS over memory BIOs: the relay worker feeds
it the datagrams the RFC 7983 demultiplexer classed as DTLS and sends what it returns; when the
handshake is done and the peer's certificate matched the SDP fingerprint, `keys` holds the SRTP
profile and the two key+salt pairs to build `srtp.SrtpContext`s from.
"""

from __future__ import annotations

import datetime
import hmac
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from ..config import DTLS_CIPHERS, DTLS_MTU, dtls_cert_key

# `a=fingerprint` hash names (RFC 8122 spelling, as rtpengine prints them) -> hash classes.
FINGERPRINT_HASHES = {
    "sha-1": hashes.SHA1, "sha-224": hashes.SHA224, "sha-256": hashes.SHA256,
    "sha-384": hashes.SHA384, "sha-512": hashes.SHA512,
}
DEFAULT_FINGERPRINT_HASH = "sha-256"

# SRTP protection profiles we negotiate, preferred first (names as OpenSSL knows them) and the
# key/salt lengths of each (RFC 5764 4.1.2, RFC 7714 12).
SRTP_PROFILES = {
    "SRTP_AEAD_AES_256_GCM": (32, 12),
    "SRTP_AEAD_AES_128_GCM": (16, 12),
    "SRTP_AES128_CM_SHA1_80": (16, 14),
    "SRTP_AES128_CM_SHA1_32": (16, 14),
}



class DtlsError(Exception):
    """The handshake failed, or the peer's certificate does not match the SDP fingerprint."""


class Certificate:
    """A self-signed certificate and key, as `--dtls-cert-cipher` (prime256v1 or RSA) asks."""

    def __init__(self, cipher: str = "prime256v1", mtu: int = DTLS_MTU,
                 ciphers: str = DTLS_CIPHERS, rsa_key_size: int = 2048,
                 common_name: str = "rtpengine") -> None:
        """``common_name``: the subject's (and issuer's) CN, ``--software-id`` if given, cut
        to 63 characters as 10.5 cuts it (X.509's upper bound)."""
        # The handshake settings every endpoint with this certificate uses (``--dtls-mtu``,
        # ``--dtls-ciphers``): they travel to the relay workers with it.
        self.mtu, self.ciphers = mtu, ciphers
        key = dtls_cert_key(cipher)
        if key == "prime256v1":
            self.key = ec.generate_private_key(ec.SECP256R1())
        elif key == "rsa":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_key_size)
        else:
            raise ValueError(f"unknown DTLS certificate cipher {cipher!r} (prime256v1 or RSA)")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:63])])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(secrets.randbits(63))
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .sign(self.key, hashes.SHA256()))
        self._context: SSL.Context | None = None

    def to_pem(self) -> tuple[bytes, bytes]:
        """(certificate, private key) in PEM: how the control plane hands the certificate to
        the relay workers, which load it once (``from_pem``) instead of making their own."""
        return (self.cert.public_bytes(serialization.Encoding.PEM),
                self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, mtu: int = DTLS_MTU,
                 ciphers: str = DTLS_CIPHERS) -> Certificate:
        self = cls.__new__(cls)
        self.mtu, self.ciphers = mtu, ciphers
        self.cert = x509.load_pem_x509_certificate(cert_pem)
        self.key = serialization.load_pem_private_key(key_pem, password=None)
        self._context = None
        return self

    def fingerprint(self, hash_name: str = DEFAULT_FINGERPRINT_HASH) -> str:
        """The `a=fingerprint` value: `sha-256 AB:CD:...` (upper-case hex, colon-separated)."""
        return f"{hash_name} {fingerprint_of(self.cert, hash_name)}"

    def ssl_context(self) -> SSL.Context:
        """One OpenSSL context per certificate, shared by every endpoint using it (a relay
        worker sets up many handshakes with the one daemon certificate)."""
        if self._context is not None:
            return self._context
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.use_certificate(self.cert)
        ctx.use_privatekey(self.key)
        # The peer is self-signed: accept any certificate here, check it against the SDP
        # fingerprint once the handshake is done.
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
        ctx.set_tlsext_use_srtp(":".join(SRTP_PROFILES).encode())
        # As 10.5 sets up DTLS: the --dtls-ciphers list, ECDHE on prime256v1 only, and the
        # --dtls-mtu (``DtlsEndpoint``) instead of an MTU OpenSSL would query: with the
        # defaults, a ClientHello of 16 suites and one group, in one record.
        ctx.set_cipher_list(self.ciphers.encode())
        ctx.set_tmp_ecdh(ec.SECP256R1())
        ctx.set_options(SSL.OP_NO_QUERY_MTU)
        self._context = ctx
        return ctx


def fingerprint_of(cert: x509.Certificate, hash_name: str) -> str:
    try:
        algorithm = FINGERPRINT_HASHES[hash_name.lower()]()
    except KeyError:
        raise ValueError(f"unknown fingerprint hash {hash_name!r}") from None
    return ":".join(f"{b:02X}" for b in cert.fingerprint(algorithm))


def parse_fingerprint(value: str) -> tuple[str, str]:
    """`sha-256 AB:CD...` (with or without `a=fingerprint:`) -> (hash name, upper-case hex)."""
    text = value.strip()
    for prefix in ("a=", "fingerprint:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    parts = text.split()
    if len(parts) != 2 or parts[0].lower() not in FINGERPRINT_HASHES:
        raise ValueError(f"bad fingerprint attribute {value!r}")
    return parts[0].lower(), parts[1].upper()


def offer_setup() -> str:
    """rtpengine offers `a=setup:actpass` on every DTLS-capable side."""
    return "actpass"


def answer_setup(offered: str | None, prefer: str | None = None) -> str:
    """Our `a=setup` in an answer, from the offer's (RFC 5763 5 / 4145).

    rtpengine 10.5 answers `actpass` (or no setup) with `active`, and takes the role the offer
    leaves: `active` -> `passive`, `passive` -> `active`. `prefer` is the ng `DTLS` flag of the
    *answer* request (the offer's does not count): `passive` picks passive where the offer left
    the choice (`actpass`); `active`, `reverse` and others leave `active` (all as captured).
    """
    offered = (offered or "actpass").lower()
    if offered == "active":
        return "passive"
    if offered == "passive":
        return "active"
    if offered == "holdconn":
        return "holdconn"
    return "passive" if prefer == "passive" else "active"


def is_client(our_setup: str) -> bool:
    """`active` starts the handshake (is the DTLS client); `passive` waits for it."""
    return our_setup == "active"


@dataclass(frozen=True)
class SrtpKeys:
    """What a finished DTLS-SRTP handshake yields for SRTP (RFC 5764 4.2)."""

    profile: str
    local: bytes  # key||salt we protect with (outbound)
    remote: bytes  # key||salt the peer protects with (inbound)


def split_records(data: bytes, limit: int = DTLS_MTU) -> list[bytes]:
    """Pack DTLS records (13-byte header, length at 11..13) into datagrams of at most `limit`."""
    out: list[bytes] = []
    current = b""
    pos = 0
    while pos < len(data):
        end = pos + 13 + int.from_bytes(data[pos + 11 : pos + 13], "big")
        record = data[pos:end]
        pos = end
        if current and len(current) + len(record) > limit:
            out.append(current)
            current = b""
        current += record
    if current:
        out.append(current)
    return out


class DtlsEndpoint:
    """One DTLS-SRTP association, without I/O.

    Call `start()` once (the client's first flight; nothing for a server), `receive()` with
    every DTLS datagram and `handle_timeout()` when `deadline()` (monotonic seconds) passes;
    each returns the datagrams to send to the peer. `keys` is set once the handshake finished
    and the peer certificate matched `remote_fingerprint`; a failure raises DtlsError (send
    `alert` then). Malformed records are dropped silently, as DTLS requires.

    OpenSSL times retransmissions with its own clock, so `now` must be `time.monotonic()` (or
    trio.current_time(), which follows it); `handle_timeout` before the deadline does nothing.
    """

    def __init__(self, certificate: Certificate, client: bool, remote_fingerprint: str) -> None:
        self.client = client
        self.remote_fingerprint = parse_fingerprint(remote_fingerprint)
        self.keys: SrtpKeys | None = None
        self.closed = False
        self.alert: list[bytes] = []  # datagrams to send after a DtlsError, if any
        self._conn = SSL.Connection(certificate.ssl_context(), None)
        # Without it a memory BIO leaves OpenSSL at its minimum (256 bytes): a ClientHello
        # of two fragments, a certificate of several.
        self.mtu = certificate.mtu
        self._conn.set_ciphertext_mtu(self.mtu)
        if client:
            self._conn.set_connect_state()
        else:
            self._conn.set_accept_state()
        self._timer_base: float | None = None
        self._first_flight: list[bytes] = []
        self.heard = False  # a datagram came from the peer

    def start(self, now: float) -> list[bytes]:
        self._first_flight = self._step(now) if self.client else []
        return list(self._first_flight)

    def repeat_first_flight(self) -> list[bytes]:
        """The client's first flight again while the peer has sent nothing: a peer that was
        not listening yet when it came (a handshake started with the offer, before the party
        had its answer) gets it now instead of at the next retransmission, which backs off
        to a minute while a call rings."""
        if not self.client or self.heard or self.keys is not None or self.closed:
            return []
        return list(self._first_flight)

    def receive(self, datagram: bytes, now: float) -> list[bytes]:
        if self.closed or not datagram:  # OpenSSL refuses a zero-length write
            return []
        self.heard = True
        try:
            self._conn.bio_write(datagram)
        except SSL.Error:
            return []
        if self.keys is None:
            return self._step(now)
        try:  # after the handshake only alerts (close_notify) are expected on this path
            self._conn.recv(1500)
        except SSL.ZeroReturnError:
            self.closed = True
        except SSL.WantReadError:
            pass
        except SSL.Error as exc:
            raise DtlsError(f"DTLS error after handshake: {exc}") from None
        return self._pending()

    def deadline(self) -> float | None:
        """When `handle_timeout` must be called (retransmission), or None."""
        if self.keys is not None or self._timer_base is None:
            return None
        timeout = self._conn.DTLSv1_get_timeout()
        return None if timeout is None else self._timer_base + timeout

    def handle_timeout(self, now: float) -> list[bytes]:
        if self.keys is not None:
            return []
        self._timer_base = now
        try:
            self._conn.DTLSv1_handle_timeout()
        except SSL.Error as exc:
            # OpenSSL gives up after 12 unanswered retransmissions (about 7 minutes, the
            # interval doubling to a minute): a peer that never answers (an unanswered
            # offer that rings that long, a blackholed address) fails the handshake, as
            # any other handshake error does, instead of raising into the caller's loop.
            self.closed = True
            raise DtlsError(f"DTLS handshake timed out: {exc}") from None
        return self._pending()

    def close(self) -> list[bytes]:
        """A close_notify alert for the peer (call teardown)."""
        if self.closed:
            return []
        self.closed = True
        try:
            self._conn.shutdown()
        except SSL.Error:
            pass
        return self._pending()

    def _pending(self) -> list[bytes]:
        try:
            data = self._conn.bio_read(65536)
        except SSL.WantReadError:
            return []
        return split_records(data, self.mtu)

    def _step(self, now: float) -> list[bytes]:
        self._timer_base = now
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            return self._pending()
        except SSL.Error as exc:
            self.alert = self._pending()  # an alert for the peer, if OpenSSL made one
            self.closed = True
            raise DtlsError(f"DTLS handshake failed: {exc}") from None
        out = self._pending()
        self._finish()
        return out

    def _finish(self) -> None:
        peer = self._conn.get_peer_certificate(as_cryptography=True)
        hash_name, expected = self.remote_fingerprint
        if peer is None or not hmac.compare_digest(fingerprint_of(peer, hash_name), expected):
            self.closed = True
            raise DtlsError("peer certificate does not match the SDP fingerprint")
        profile = (self._conn.get_selected_srtp_profile() or b"").decode()
        if profile not in SRTP_PROFILES:
            self.closed = True
            raise DtlsError("no SRTP protection profile was negotiated")
        key_len, salt_len = SRTP_PROFILES[profile]
        material = self._conn.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (key_len + salt_len))
        client_key = material[:key_len]
        server_key = material[key_len : 2 * key_len]
        client_salt = material[2 * key_len : 2 * key_len + salt_len]
        server_salt = material[2 * key_len + salt_len :]
        client, server = client_key + client_salt, server_key + server_salt
        self.keys = SrtpKeys(profile, client if self.client else server, server if self.client else client)
