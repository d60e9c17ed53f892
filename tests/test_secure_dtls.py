"""DTLS-SRTP: certificate/fingerprint/setup shaped like rtpengine 10.5, and real handshakes —
between two endpoints and against OpenSSL's own `openssl s_client`/`s_server` over loopback UDP,
whose exported keying material must equal the SRTP keys we derive."""

import re
import select
import socket
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization
from secure_helpers import CAPTURES, lines

from rtpengined.secure import dtls, sdes, srtp


@pytest.fixture(scope="module")
def cert():
    return dtls.Certificate()


def test_fingerprint_lines_have_rtpengines_shape(cert):
    for case, hash_name in (("plain-to-dtls-offer", "sha-256"), ("plain-to-dtls-offer-sha1", "sha-1")):
        want, = lines(case, "offer_reply", "fingerprint:")
        ours = "fingerprint:" + cert.fingerprint(hash_name)
        assert re.sub("[0-9A-F]{2}", "XX", ours) == re.sub("[0-9A-F]{2}", "XX", want)
    assert dtls.parse_fingerprint("a=fingerprint:" + cert.fingerprint()) == tuple(cert.fingerprint().split())


def test_rsa_certificates_and_unknown_ciphers():
    assert dtls.Certificate("RSA").key.key_size == 2048
    with pytest.raises(ValueError):
        dtls.Certificate("dsa")


def test_the_mtu_bounds_every_handshake_datagram():
    """``--dtls-mtu``: OpenSSL fragments the flights for it and they are packed up to it
    (a 3072-bit RSA certificate's flight is several datagrams at 576 bytes)."""
    big = dtls.Certificate("RSA", mtu=576, rsa_key_size=3072)
    assert big.key.key_size == 3072
    other = dtls.Certificate(mtu=576)
    client = dtls.DtlsEndpoint(other, True, big.fingerprint())
    server = dtls.DtlsEndpoint(big, False, other.fingerprint())
    now = time.monotonic()
    to_server, sizes = client.start(now), []
    for _ in range(10):
        sizes += [len(d) for d in to_server]
        to_client = [d for pkt in to_server for d in server.receive(pkt, now)]
        sizes += [len(d) for d in to_client]
        to_server = [d for pkt in to_client for d in client.receive(pkt, now)]
        if client.keys and server.keys:
            break
    assert client.keys and server.keys
    assert max(sizes) <= 576 and sum(size > 400 for size in sizes) >= 3


def test_setup_rules_follow_the_captured_answers():
    checked = 0
    for name, case in CAPTURES.items():
        if name.startswith("dtls-") and "answer_reply" in case:
            offered, = lines(name, "offer", "setup:")
            answered, = lines(name, "answer_reply", "setup:")
            prefer = case["answer"].get("DTLS")  # the flag counts in the answer, not the offer
            assert "setup:" + dtls.answer_setup(offered.split(":")[1], prefer) == answered, name
            checked += 1
    assert checked == 18
    for name in ("plain-to-savp-offer", "plain-to-dtls-offer", "sdes-offer-passthrough"):
        assert lines(name, "offer_reply", "setup:") == ["setup:" + dtls.offer_setup()]
    assert dtls.answer_setup("active", prefer="active") == "passive"
    assert dtls.answer_setup("holdconn") == "holdconn"


def run_pair(client, server, drop_first=False):
    now = time.monotonic()
    to_server = client.start(now)
    if drop_first:  # the client's first flight is lost: only its retransmission timer saves it
        assert to_server and client.deadline() is not None
        assert client.handle_timeout(now) == []  # not due yet: nothing is resent
        time.sleep(max(0.0, client.deadline() - time.monotonic()) + 0.05)  # OpenSSL's own clock
        to_server = client.handle_timeout(time.monotonic())
        assert to_server
    for _ in range(10):
        to_client = [d for pkt in to_server for d in server.receive(pkt, now)]
        to_server = [d for pkt in to_client for d in client.receive(pkt, now)]
        if client.keys and server.keys:
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("cipher", ["prime256v1", "RSA"])
def test_two_endpoints_agree_on_keys_and_media_flows(cert, cipher):
    other = dtls.Certificate(cipher)
    client = dtls.DtlsEndpoint(cert, True, other.fingerprint("sha-512"))
    server = dtls.DtlsEndpoint(other, False, cert.fingerprint())
    run_pair(client, server, drop_first=True)
    assert client.keys.local == server.keys.remote and client.keys.remote == server.keys.local
    assert client.keys.profile == server.keys.profile == "SRTP_AEAD_AES_256_GCM"
    send = srtp.SrtpContext(client.keys.profile, client.keys.local, outbound=True)
    recv = srtp.SrtpContext(server.keys.profile, server.keys.remote, outbound=False)
    packet = bytes([0x80, 0, 0, 1]) + bytes(8) + b"payload"
    assert recv.unprotect(send.protect(packet)) == packet
    assert client.deadline() is None and server.deadline() is None
    close = client.close()
    assert close and all(server.receive(d, 1.0) == [] for d in close) and server.closed


def test_the_first_flight_is_repeated_only_until_the_peer_answers(cert):
    """A client whose hello met a peer not listening yet sends it again on demand (the relay
    does when the party's answer arrives), byte for byte: the same association. Once the
    peer has sent anything, or for a server, there is nothing to repeat."""
    client = dtls.DtlsEndpoint(cert, True, cert.fingerprint())
    server = dtls.DtlsEndpoint(cert, False, cert.fingerprint())
    assert server.start(0.0) == [] and server.repeat_first_flight() == []
    hello = client.start(time.monotonic())
    assert hello and client.repeat_first_flight() == hello
    replies = [d for pkt in client.repeat_first_flight() for d in server.receive(pkt, 0.0)]
    assert replies
    for pkt in replies:
        client.receive(pkt, 0.0)
    assert client.repeat_first_flight() == []


def test_a_certificate_not_matching_the_fingerprint_fails(cert):
    client = dtls.DtlsEndpoint(cert, True, dtls.Certificate().fingerprint())
    server = dtls.DtlsEndpoint(dtls.Certificate(), False, cert.fingerprint())
    with pytest.raises(dtls.DtlsError, match="fingerprint"):
        run_pair(client, server)


def test_garbage_is_dropped_and_the_handshake_still_works(cert):
    server = dtls.DtlsEndpoint(cert, False, cert.fingerprint())
    for junk in (b"\x16\xfe\xfd" + bytes(10) + b"\x00\x05hello", b"\x17" * 40, b"\x14"):
        assert server.receive(junk, 0.0) == []  # DTLS discards bad records (RFC 6347 4.1.2.7)
    run_pair(dtls.DtlsEndpoint(cert, True, cert.fingerprint()), server)
    assert server.keys is not None


def test_split_records_keeps_records_whole():
    recs = [b"\x16\xfe\xfd" + bytes(8) + len(p).to_bytes(2, "big") + p for p in (b"a" * 700, b"b" * 700, b"c")]
    assert dtls.split_records(b"".join(recs)) == [recs[0], recs[1] + recs[2]]


# -- against OpenSSL's command-line peer over real UDP --------------------------------------

def write_peer_cert(tmp_path):
    peer = dtls.Certificate()
    (tmp_path / "c.pem").write_bytes(peer.cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(peer.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return peer


def drive(endpoint, sock, peer_addr, proc, deadline_s=10.0):
    """A minimal I/O shell: datagrams and timers in, datagrams out, until keys or failure."""
    start = time.monotonic()
    for d in endpoint.start(time.monotonic()):
        sock.sendto(d, peer_addr)
    while endpoint.keys is None:
        now = time.monotonic()
        assert now - start < deadline_s, proc.stdout.read1() if proc.poll() is not None else "timeout"
        wake = endpoint.deadline()
        ready, _, _ = select.select([sock], [], [], 0.1 if wake is None else max(0.0, min(0.1, wake - now)))
        if ready:
            data, addr = sock.recvfrom(65535)
            peer_addr = addr
            out = endpoint.receive(data, time.monotonic())
        elif wake is not None and time.monotonic() >= wake:
            out = endpoint.handle_timeout(time.monotonic())
        else:
            out = []
        for d in out:
            sock.sendto(d, peer_addr)
    return peer_addr


def keying_material(proc) -> bytes:
    output = b""
    deadline = time.monotonic() + 10
    while b"Keying material: " not in output or not output.rstrip(b" ").endswith(b"\n"):
        assert time.monotonic() < deadline, output
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            chunk = proc.stdout.read1(65536)
            assert chunk, output
            output += chunk
    return bytes.fromhex(re.search(rb"Keying material: ([0-9A-Fa-f]+)", output).group(1).decode())


def expected_keys(material: bytes, key_len=16, salt_len=14):
    ck, sk = material[:key_len], material[key_len:2 * key_len]
    cs, ss = material[2 * key_len:2 * key_len + salt_len], material[2 * key_len + salt_len:]
    return ck + cs, sk + ss


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_we_serve_openssl_s_client(cert, tmp_path):
    peer = write_peer_cert(tmp_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    proc = subprocess.Popen(
        ["openssl", "s_client", "-dtls1_2", "-connect", f"127.0.0.1:{sock.getsockname()[1]}",
         "-use_srtp", "SRTP_AES128_CM_SHA1_80", "-keymatexport", "EXTRACTOR-dtls_srtp",
         "-keymatexportlen", "60", "-cert", str(tmp_path / "c.pem"), "-key", str(tmp_path / "k.pem")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        server = dtls.DtlsEndpoint(cert, False, peer.fingerprint())
        drive(server, sock, None, proc)
        client_key, server_key = expected_keys(keying_material(proc))
        assert server.keys.profile == "SRTP_AES128_CM_SHA1_80"
        assert (server.keys.local, server.keys.remote) == (server_key, client_key)
    finally:
        stop(proc)
        sock.close()


def test_we_connect_to_openssl_s_server(cert, tmp_path):
    peer = write_peer_cert(tmp_path)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-dtls1_2", "-accept", f"127.0.0.1:{port}", "-verify", "1",
         "-use_srtp", "SRTP_AEAD_AES_128_GCM", "-keymatexport", "EXTRACTOR-dtls_srtp",
         "-keymatexportlen", "56", "-cert", str(tmp_path / "c.pem"), "-key", str(tmp_path / "k.pem")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        client = dtls.DtlsEndpoint(cert, True, peer.fingerprint("sha-1"))
        time.sleep(0.3)  # s_server binds after it loads its key
        drive(client, sock, ("127.0.0.1", port), proc)
        client_key, server_key = expected_keys(keying_material(proc), 16, 12)
        assert client.keys.profile == "SRTP_AEAD_AES_128_GCM"
        assert (client.keys.local, client.keys.remote) == (client_key, server_key)
        # and the keys make working SRTP contexts
        ctx = srtp.SrtpContext(client.keys.profile, client.keys.local, True)
        c = sdes.Crypto(1, sdes.SUITES_BY_NAME["AEAD_AES_128_GCM"], client_key[:16], client_key[16:])
        pkt = bytes([0x80, 0, 0, 7]) + bytes(8) + b"x" * 20
        assert srtp.SrtpContext.from_sdes(c, False).unprotect(ctx.protect(pkt)) == pkt
    finally:
        stop(proc)
        sock.close()
