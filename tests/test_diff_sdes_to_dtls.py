"""An SDES offerer sent on as DTLS-SRTP, answered with DTLS (an SRTP phone calling a browser,
``transport-protocol: UDP/TLS/RTP/SAVP``): the relay terminates the answerer's DTLS and
answers the offerer with an SDES key of its own, as rtpengine 10.5 does.

Found by a differential run of random offer/answer flows: rtpengined took such an answer
for a keyless SRTP answer (no ``a=crypto`` line): it never spoke DTLS with the answerer,
refused what the answerer sent and encrypted for it with a key it did not have, so the
call had no media. Checked on both daemons with real sockets: a DTLS client (our
``secure.dtls`` over OpenSSL) and an SDES party (libsrtp) exchange media both ways, and
``query`` shows the same flags.
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
        endpoint = dtls.DtlsEndpoint(certificate, True, their_fingerprint)
        target = ("127.0.0.1", to_browser)
        for datagram in endpoint.start(time.monotonic()):
            browser.sendto(datagram, target)
        deadline = time.monotonic() + 5
        while endpoint.keys is None and time.monotonic() < deadline:
            try:
                data, _ = browser.recvfrom(4096)
            except TimeoutError:
                for datagram in endpoint.handle_timeout(time.monotonic()):
                    browser.sendto(datagram, target)
                continue
            for datagram in endpoint.receive(data, time.monotonic()):
                browser.sendto(datagram, target)
        assert endpoint.keys is not None, "no DTLS handshake with the answerer"
        keys = endpoint.keys
        browser_out = srtp.SrtpContext(keys.profile, keys.local, outbound=True)
        browser_in = srtp.SrtpContext(keys.profile, keys.remote, outbound=False)

        def exchange(sender, protect, receiver, unprotect, port, ssrc) -> list[bytes]:
            got = []
            for seq in range(1, 31):
                sender.sendto(protect(rtp(seq, ssrc)), ("127.0.0.1", port))
                time.sleep(0.01)
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                try:
                    data, _ = receiver.recvfrom(4096)
                except TimeoutError:
                    continue
                if 128 <= data[0] < 192 and not 200 <= data[1] <= 207:
                    try:
                        got.append(unprotect(data))
                    except Exception:  # noqa: BLE001  (counted as not arrived)
                        pass
            return got

        # (learning: each side's first packets also latch its address)
        to_b = exchange(phone, phone_out.protect, browser, browser_in.unprotect, to_phone, 0x1111)
        to_a = exchange(browser, browser_out.protect, phone, phone_in.unprotect, to_browser, 0x2222)
        assert len(to_b) >= 20 and to_b[-1][12:] == b"\xd5" * 160, len(to_b)
        assert len(to_a) >= 20 and to_a[-1][12:] == b"\xd5" * 160, len(to_a)
        flags = {tag: party["medias"][0]["flags"] for tag, party in
                 daemon.request({"command": "query", "call-id": "sdes-to-dtls"})["tags"].items()}
        assert "DTLS-SRTP" in flags["b"] and "SDES" in flags["a"], flags
    finally:
        phone.close()
        browser.close()
