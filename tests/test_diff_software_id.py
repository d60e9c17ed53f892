"""Differential: ``--software-id``, the name the daemon gives itself to other systems.

10.5 keeps the value with every byte that is not an ASCII letter, digit or '-' made '-',
and names itself by it in the SOFTWARE attribute of its STUN messages (ICE checks and the
answers to them), in the ``s=`` line of an SDP it makes (``publish``, a subscription to
several parties) and as the common name of its DTLS certificate. Both daemons run with the
same value; each place must carry the same canonical name.
"""

from __future__ import annotations

import re
import socket

import pytest
from differential import rtp_rtcp_sockets, running, start_ours, start_reference
from test_diff_dtls_early import dtls_call, offer_sdp, port_in, text
from test_diff_webrtc_early_checks import ice_offerer_sdp

from rtpengined.config import canonical_software_id
from rtpengined.secure import dtls, stun

GIVEN = "Acme SBC/2.1 (lab)"
CANONICAL = "Acme-SBC-2-1--lab-"
DAEMONS = {
    "rtpengine": lambda: start_reference(26800, 26899, [f"--software-id={GIVEN}"]),
    "rtpengined": lambda: start_ours(26900, 26999, [f"--software-id={GIVEN}"]),
}


@pytest.fixture(scope="module", params=list(DAEMONS))
def daemon(request):
    with running(DAEMONS[request.param]) as process:
        yield process


def test_the_value_is_canonical_as_rtpengine_keeps_it():
    assert canonical_software_id(GIVEN) == CANONICAL
    assert canonical_software_id("rtpengine-10.5") == "rtpengine-10-5"
    # each byte of a UTF-8 character (10.5 itself takes one only in a UTF-8 locale)
    assert canonical_software_id("sbc-\u00fc") == "sbc---"


def test_ice_checks_name_the_software(daemon):
    """The check the daemon sends an ICE offerer, and its answer to the offerer's check."""
    rtp, rtcp = rtp_rtcp_sockets()
    sdp = ice_offerer_sdp(rtp.getsockname()[1])
    try:
        reply = daemon.request({"command": "offer", "call-id": "software-ice",
                                "from-tag": "caller", "sdp": sdp, "ICE": "remove"})
        assert reply["result"] == "ok"
        rtp.settimeout(2)
        data, source = rtp.recvfrom(2048)
        request = stun.parse(data)
        assert request.cls == stun.REQUEST
        assert request.get(stun.SOFTWARE) == CANONICAL.encode()
        local_ufrag = request.get(stun.USERNAME).decode().split(":")[1]
        check = stun.Message(stun.BINDING, stun.REQUEST)
        check.add(stun.USERNAME, f"{local_ufrag}:AAAAAAAA".encode())
        check.add(stun.ICE_CONTROLLED, bytes(8))
        check.add(stun.PRIORITY, (2122194687).to_bytes(4, "big"))
        answer = daemon.request({"command": "answer", "call-id": "software-ice",
                                 "from-tag": "caller", "to-tag": "callee",
                                 "sdp": offer_sdp(30000, "RTP/AVP", "")})
        pwd = re.search(r"^a=ice-pwd:(\S+)", text(answer["sdp"]), re.M).group(1)
        rtp.sendto(check.encode(pwd.encode()), source)
        while True:  # the daemon's checks go on; its answer to ours says the same name
            message = stun.parse(rtp.recv(2048))
            assert message.get(stun.SOFTWARE) == CANONICAL.encode()
            if message.cls != stun.REQUEST:
                assert message.cls == stun.SUCCESS
                break
    finally:
        daemon.request({"command": "delete", "call-id": "software-ice"})
        rtp.close()
        rtcp.close()


def test_an_sdp_of_its_own_names_the_software(daemon):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        sdp = offer_sdp(sock.getsockname()[1], "RTP/AVP", "")
        reply = daemon.request({"command": "publish", "call-id": "software-publish",
                                "from-tag": "P", "sdp": sdp.replace("sendrecv", "sendonly")})
        assert re.findall(r"^s=(.*)\r$", text(reply["sdp"]), re.M) == [CANONICAL]
    finally:
        daemon.request({"command": "delete", "call-id": "software-publish"})
        sock.close()


def test_the_dtls_certificate_names_the_software(daemon):
    """The daemon's certificate, as it sends it in its handshake (DTLS 1.2 sends it in the
    clear), has the name as its subject's common name."""
    certificate = dtls.Certificate()
    phone, phone_rtcp, callee, sdp = dtls_call(f"a=fingerprint:{certificate.fingerprint()}\r\n",
                                               mux=True)
    try:
        daemon.request({"command": "offer", "call-id": "software-dtls", "from-tag": "phone",
                        "sdp": sdp, "transport-protocol": "RTP/AVP"})
        reply = daemon.request({"command": "answer", "call-id": "software-dtls",
                                "from-tag": "phone", "to-tag": "callee",
                                "sdp": offer_sdp(callee.getsockname()[1], "RTP/AVP", "")})
        to_phone = text(reply["sdp"])
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r$", to_phone, re.M).group(1)
        endpoint = dtls.DtlsEndpoint(certificate, client=False, remote_fingerprint=fingerprint)
        sent = b""
        phone.settimeout(2)
        while endpoint.keys is None:
            data, source = phone.recvfrom(4096)  # (a timeout fails the test)
            sent += data
            for datagram in endpoint.receive(data, 0.0):
                phone.sendto(datagram, source)
        assert source[1] == port_in(to_phone)
        # (a UTF8String of the common name, in the subject and the issuer alike)
        assert sent.count(b"\x0c" + bytes((len(CANONICAL),)) + CANONICAL.encode()) == 2
    finally:
        daemon.request({"command": "delete", "call-id": "software-dtls"})
        for sock in (phone, phone_rtcp, callee):
            sock.close()
