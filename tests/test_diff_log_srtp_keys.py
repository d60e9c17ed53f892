"""Differential: ``--log-srtp-keys``, the keys of each DTLS-SRTP handshake in the log.

10.5 logs them at error level once a handshake is done (so they show at any log level):
``SRTP keys, incoming:`` and a suite, master key and salt (base64), then ``outgoing``
and the other (its labels are the other way round: ``incoming`` is the daemon's own key);
what a capture needs to be decrypted. The test's DTLS peer knows
both ends' keys, so the lines each daemon logs are checked against them.
"""

from __future__ import annotations

import base64
import re

import pytest
from differential import running, start_ours, start_reference
from test_diff_dtls_early import dtls_call, offer_sdp, text

from rtpengined.secure import dtls

DAEMONS = {
    "rtpengine": lambda: start_reference(27000, 27099, ["--log-srtp-keys"]),
    "rtpengined": lambda: start_ours(27100, 27199, ["--log-srtp-keys"]),
}
LINE = re.compile(r"SRTP keys, (incoming|outgoing):.*?\n.*?--- (\S+) key (\S+) salt (\S+)")


@pytest.mark.parametrize("name", list(DAEMONS))
def test_the_handshakes_keys_are_logged(name):
    certificate = dtls.Certificate()
    phone, phone_rtcp, callee, sdp = dtls_call(f"a=fingerprint:{certificate.fingerprint()}\r\n",
                                               mux=True)
    try:
        with running(DAEMONS[name]) as daemon:
            daemon.request({"command": "offer", "call-id": "keys", "from-tag": "phone",
                            "sdp": sdp, "transport-protocol": "RTP/AVP"})
            reply = daemon.request({"command": "answer", "call-id": "keys",
                                    "from-tag": "phone", "to-tag": "callee",
                                    "sdp": offer_sdp(callee.getsockname()[1], "RTP/AVP", "")})
            fingerprint = re.search(r"^a=fingerprint:(.+?)\r$", text(reply["sdp"]), re.M).group(1)
            endpoint = dtls.DtlsEndpoint(certificate, client=False,
                                         remote_fingerprint=fingerprint)
            phone.settimeout(2)
            while endpoint.keys is None:
                data, source = phone.recvfrom(4096)  # (a timeout fails the test)
                for datagram in endpoint.receive(data, 0.0):
                    phone.sendto(datagram, source)
            phone.settimeout(0.5)  # (the daemon's last flight: its keys follow it)
            try:
                while True:
                    phone.recvfrom(4096)
            except TimeoutError:
                pass
            daemon.request({"command": "delete", "call-id": "keys"})
        logged = daemon.proc.stderr.read().decode()
    finally:
        for sock in (phone, phone_rtcp, callee):
            sock.close()
    keys = endpoint.keys
    length = dtls.SRTP_PROFILES[keys.profile][0]

    def shown(material: bytes) -> tuple[str, str]:
        return (base64.b64encode(material[:length]).decode(),
                base64.b64encode(material[length:]).decode())

    suite = {"SRTP_AES128_CM_SHA1_80": "AES_CM_128_HMAC_SHA1_80",
             "SRTP_AEAD_AES_128_GCM": "AEAD_AES_128_GCM",
             "SRTP_AEAD_AES_256_GCM": "AEAD_AES_256_GCM"}[keys.profile]
    # 10.5's labels are the other way round: "incoming" is the key the daemon protects
    # with (the phone's remote one), "outgoing" the phone's own
    assert [(d, s, k, v) for d, s, k, v in LINE.findall(logged)] == [
        ("incoming", suite, *shown(keys.remote)), ("outgoing", suite, *shown(keys.local))]
