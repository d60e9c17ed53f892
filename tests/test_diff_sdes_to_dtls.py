"""An SDES offerer sent on as DTLS-SRTP, answered with DTLS (an SRTP phone calling a browser,
``transport-protocol: UDP/TLS/RTP/SAVP``): the relay terminates the answerer's DTLS and
answers the offerer with an SDES key of its own, as rtpengine 10.5 does.

Found by a differential run of random offer/answer flows: rtpengined took such an answer
for a keyless SRTP answer (no ``a=crypto`` line): it never spoke DTLS with the answerer,
refused what the answerer sent and encrypted for it with a key it did not have, so the
call had no media. Checked on both daemons with real sockets: a DTLS client (our
``secure.dtls`` over OpenSSL) and an SDES party (libsrtp) exchange media both ways, and
``query`` shows the same flags.

An offerer of DTLS beside its keys (with an ``a=setup``) gets DTLS back, as 10.5 prefers
it: the relay then terminates both handshakes; we answered it SDES.
"""

from __future__ import annotations

import base64
import re
import socket
import time

import pytest
from differential import running, start_ours, start_reference

from rtpengined.secure import dtls, srtp

DAEMONS = {
    "rtpengine": lambda: start_reference(27800, 27899),
    "rtpengined": lambda: start_ours(27900, 27999),
}
SDES_KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16 bytes of key, 14 of salt


@pytest.fixture(params=list(DAEMONS))
def daemon(request):
    with running(DAEMONS[request.param]) as process:
        yield process


def rtp(seq: int, ssrc: int, payload: bytes = b"\xd5" * 160) -> bytes:
    return bytes([0x80, 8]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big") \
        + ssrc.to_bytes(4, "big") + payload


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    return sock


def body(port: int, protocol: str, *attributes: str) -> str:
    return "\r\n".join(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                        f"m=audio {port} {protocol} 8", "a=rtpmap:8 PCMA/8000", "a=rtcp-mux",
                        *attributes]) + "\r\n"


def handshake(sock: socket.socket, endpoint: dtls.DtlsEndpoint, target: tuple,
              client: bool) -> dtls.SrtpKeys:
    """Run ``endpoint``'s handshake with the daemon over ``sock``; its SRTP keys."""
    if client:
        for datagram in endpoint.start(time.monotonic()):
            sock.sendto(datagram, target)
    deadline = time.monotonic() + 5
    while endpoint.keys is None and time.monotonic() < deadline:
        try:
            data, _ = sock.recvfrom(4096)
        except TimeoutError:
            for datagram in endpoint.handle_timeout(time.monotonic()):
                sock.sendto(datagram, target)
            continue
        if data[:1] in (b"\x14", b"\x15", b"\x16", b"\x17"):
            for datagram in endpoint.receive(data, time.monotonic()):
                sock.sendto(datagram, target)
    assert endpoint.keys is not None, "no DTLS handshake"
    return endpoint.keys


def exchange(sender: socket.socket, protect, receiver: socket.socket, unprotect, port: int,
             ssrc: int) -> list[bytes]:
    """30 packets from ``sender`` to the daemon's ``port``; what ``receiver`` got of them."""
    for seq in range(1, 31):
        sender.sendto(protect(rtp(seq, ssrc)), ("127.0.0.1", port))
        time.sleep(0.01)
    return received(receiver, unprotect)


def both_ways(a: tuple, b: tuple) -> None:
    """Each party, (socket, protect, unprotect, the daemon's port for it), sends 30 packets
    to the daemon: at least 20 must reach the other whole (learning may take the first)."""
    for (sender, protect, _, port), (receiver, _, unprotect, _), ssrc in (
            (a, b, 0x1111), (b, a, 0x2222)):
        got = exchange(sender, protect, receiver, unprotect, port, ssrc)
        assert len(got) >= 20 and got[-1][12:] == b"\xd5" * 160, len(got)


def received(sock: socket.socket, unprotect, wait: float = 1.5) -> list[bytes]:
    got = []
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            data, _ = sock.recvfrom(4096)
        except TimeoutError:
            continue
        if 128 <= data[0] < 192 and not 200 <= data[1] <= 207:
            try:
                got.append(unprotect(data))
            except Exception:  # noqa: BLE001  (counted as not arrived)
                pass
    return got


def test_sdes_phone_to_dtls_answerer(daemon):
    phone, browser = udp_socket(), udp_socket()
    try:
        key_line = base64.b64encode(SDES_KEY).decode()
        offered = daemon.request({
            "command": "offer", "call-id": "sdes-to-dtls", "from-tag": "a",
            "transport-protocol": "UDP/TLS/RTP/SAVP", "ICE": "remove",
            "sdp": body(phone.getsockname()[1], "RTP/SAVP",
                        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key_line}")})
        assert offered["result"] == "ok", offered
        to_browser = int(re.search(r"m=audio (\d+)", offered["sdp"]).group(1))
        their_fingerprint = re.search(r"a=fingerprint:(.+)", offered["sdp"]).group(1).strip()
        certificate = dtls.Certificate()
        answered = daemon.request({
            "command": "answer", "call-id": "sdes-to-dtls", "from-tag": "a", "to-tag": "b",
            "sdp": body(browser.getsockname()[1], "UDP/TLS/RTP/SAVP",
                        f"a=fingerprint:{certificate.fingerprint()}", "a=setup:active")})
        assert answered["result"] == "ok", answered
        to_phone = int(re.search(r"m=audio (\d+)", answered["sdp"]).group(1))
        ours = re.search(r"a=crypto:\d+ AES_CM_128_HMAC_SHA1_80 inline:(\S+)", answered["sdp"])
        assert ours is not None, answered["sdp"]
        phone_in = srtp.SrtpContext("AES_CM_128_HMAC_SHA1_80",
                                    base64.b64decode(ours.group(1))[:30], outbound=False)
        phone_out = srtp.SrtpContext("AES_CM_128_HMAC_SHA1_80", SDES_KEY, outbound=True)

        # The browser (DTLS client, as its a=setup:active says) completes the handshake.
        keys = handshake(browser, dtls.DtlsEndpoint(certificate, True, their_fingerprint),
                         ("127.0.0.1", to_browser), client=True)
        browser_out = srtp.SrtpContext(keys.profile, keys.local, outbound=True)
        browser_in = srtp.SrtpContext(keys.profile, keys.remote, outbound=False)
        # (learning: each side's first packets also latch its address)
        both_ways((phone, phone_out.protect, phone_in.unprotect, to_phone),
                  (browser, browser_out.protect, browser_in.unprotect, to_browser))
        flags = {tag: party["medias"][0]["flags"] for tag, party in
                 daemon.request({"command": "query", "call-id": "sdes-to-dtls"})["tags"].items()}
        assert "DTLS-SRTP" in flags["b"] and "SDES" in flags["a"], flags
    finally:
        phone.close()
        browser.close()


def _dtls_caller(caller: socket.socket, certificate: dtls.Certificate, answered: dict):
    """The caller's side once ``answered`` gave it DTLS (a=setup:active: the relay is the
    client and starts the handshake): the daemon's port for it and its SRTP contexts."""
    assert answered["result"] == "ok", answered
    assert "a=crypto" not in answered["sdp"] and "a=setup:active" in answered["sdp"]
    to_caller = int(re.search(r"m=audio (\d+)", answered["sdp"]).group(1))
    fingerprint = re.search(r"a=fingerprint:(.+)", answered["sdp"]).group(1).strip()
    keys = handshake(caller, dtls.DtlsEndpoint(certificate, False, fingerprint),
                     ("127.0.0.1", to_caller), client=False)
    return (to_caller, srtp.SrtpContext(keys.profile, keys.local, outbound=True),
            srtp.SrtpContext(keys.profile, keys.remote, outbound=False))


def test_dtls_and_keys_offerer_to_dtls_answerer(daemon):
    caller, callee = udp_socket(), udp_socket()
    try:
        key_line = base64.b64encode(SDES_KEY).decode()
        caller_cert, callee_cert = dtls.Certificate(), dtls.Certificate()
        offered = daemon.request({
            "command": "offer", "call-id": "dtls-both", "from-tag": "a", "ICE": "remove",
            "sdp": body(caller.getsockname()[1], "UDP/TLS/RTP/SAVP",
                        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key_line}",
                        f"a=fingerprint:{caller_cert.fingerprint()}", "a=setup:actpass")})
        assert offered["result"] == "ok", offered
        to_callee = int(re.search(r"m=audio (\d+)", offered["sdp"]).group(1))
        fingerprint_b = re.search(r"a=fingerprint:(.+)", offered["sdp"]).group(1).strip()
        answered = daemon.request({
            "command": "answer", "call-id": "dtls-both", "from-tag": "a", "to-tag": "b",
            "sdp": body(callee.getsockname()[1], "UDP/TLS/RTP/SAVP",
                        f"a=fingerprint:{callee_cert.fingerprint()}", "a=setup:active")})
        # the callee starts its handshake (client); the relay starts the caller's
        keys_b = handshake(callee, dtls.DtlsEndpoint(callee_cert, True, fingerprint_b),
                           ("127.0.0.1", to_callee), client=True)
        to_caller, a_out, a_in = _dtls_caller(caller, caller_cert, answered)
        b_out = srtp.SrtpContext(keys_b.profile, keys_b.local, outbound=True)
        b_in = srtp.SrtpContext(keys_b.profile, keys_b.remote, outbound=False)
        both_ways((caller, a_out.protect, a_in.unprotect, to_caller),
                  (callee, b_out.protect, b_in.unprotect, to_callee))
    finally:
        caller.close()
        callee.close()


@pytest.mark.parametrize("choice", ["the offerer's own line", "a line of ours"])
def test_dtls_and_keys_offerer_to_sdes_answerer(daemon, choice):
    """An offerer of DTLS beside its keys (with an a=setup) answered SDES is still answered
    DTLS (10.5 prefers it): the relay terminates its handshake and keys the answerer's leg
    with the line it chose; media both ways. rtpengined answered it the SDES line."""
    caller, callee = udp_socket(), udp_socket()
    try:
        key_line = base64.b64encode(SDES_KEY).decode()
        caller_cert = dtls.Certificate()
        offered = daemon.request({
            "command": "offer", "call-id": f"dtls-sdes-{choice}", "from-tag": "a",
            "ICE": "remove",
            "sdp": body(caller.getsockname()[1], "UDP/TLS/RTP/SAVP",
                        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key_line}",
                        f"a=fingerprint:{caller_cert.fingerprint()}", "a=setup:actpass")})
        assert offered["result"] == "ok", offered
        to_callee = int(re.search(r"m=audio (\d+)", offered["sdp"]).group(1))
        lines = re.findall(r"a=crypto:(\d+) (AES_CM_128_HMAC_SHA1_\d+) inline:(\S+)",
                           offered["sdp"])
        tag, suite, key = lines[0] if choice == "the offerer's own line" else lines[-1]
        callee_key = bytes(range(100, 130))
        answered = daemon.request({
            "command": "answer", "call-id": f"dtls-sdes-{choice}", "from-tag": "a",
            "to-tag": "b",
            "sdp": body(callee.getsockname()[1], "UDP/TLS/RTP/SAVP",
                        f"a=crypto:{tag} {suite} "
                        f"inline:{base64.b64encode(callee_key).decode()}")})
        to_caller, a_out, a_in = _dtls_caller(caller, caller_cert, answered)
        b_out = srtp.SrtpContext(suite, callee_key, outbound=True)
        b_in = srtp.SrtpContext(suite, base64.b64decode(key)[:30], outbound=False)
        both_ways((caller, a_out.protect, a_in.unprotect, to_caller),
                  (callee, b_out.protect, b_in.unprotect, to_callee))
    finally:
        caller.close()
        callee.close()
