"""ICE checks that reach us before the party's answer, on both daemons.

A browser that gets our offer (a plain phone's, sent on as ``UDP/TLS/RTP/SAVPF`` with
``ICE: force``) starts its connectivity checks as soon as it has our candidates, before its
answer has reached us. rtpengine 10.5 answers them (USERNAME and MESSAGE-INTEGRITY need only
our own credentials) and relays none of them; rtpengined used to have no agent on the leg
until the answer and relayed the checks to the phone as if they were media (found with
Chromium in ``test_diff_browser_webrtc``).
"""

from __future__ import annotations

import re
import socket
import struct
import time

import pytest
from differential import rtp_rtcp_sockets, running, start_ours, start_reference

from rtpengined.secure import stun

DAEMONS = {
    "rtpengine": lambda: start_reference(26600, 26699),
    "rtpengined": lambda: start_ours(26700, 26799),
}


@pytest.fixture(params=list(DAEMONS))
def daemon(request):
    with running(DAEMONS[request.param]) as process:
        yield process


def udp_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    sock.settimeout(2)
    return sock


def check(ufrag: str, pwd: str, peer_ufrag: str = "brws") -> bytes:
    """A controlled browser's check (Chromium's attributes, without its own extensions)."""
    msg = stun.Message(stun.BINDING, stun.REQUEST)
    msg.add(stun.USERNAME, f"{ufrag}:{peer_ufrag}".encode())
    msg.add(stun.ICE_CONTROLLED, struct.pack("!Q", 1))
    msg.add(stun.PRIORITY, struct.pack("!I", 2122194687))
    return msg.encode(pwd.encode())


def ice_offerer_sdp(port: int) -> str:
    """A plain RTP offer with ICE (ufrag AAAAAAAA, pwd B x 26): host candidates on ``port``
    and the port after it."""
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=ice-ufrag:AAAAAAAA\r\na=ice-pwd:BBBBBBBBBBBBBBBBBBBBBBBBBB\r\n"
            f"a=candidate:F1 1 UDP 2130706431 127.0.0.1 {port} typ host\r\n"
            f"a=candidate:F1 2 UDP 2130706430 127.0.0.1 {port + 1} typ host\r\n"
            "a=sendrecv\r\n")


def test_checks_before_the_answer_are_answered_not_relayed(daemon):
    phone, phone_rtcp = udp_socket(), None
    for _ in range(20):  # the phone's RTCP on the next port
        try:
            phone_rtcp = udp_socket(phone.getsockname()[1] + 1)
            break
        except OSError:
            phone.close()
            phone = udp_socket()
    assert phone_rtcp is not None
    browser = udp_socket()
    port = phone.getsockname()[1]
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
    try:
        reply = daemon.request({
            "command": "offer", "call-id": "early-checks", "from-tag": "phone", "sdp": sdp,
            "transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"]})
        offer = reply["sdp"]
        offer = offer.decode() if isinstance(offer, bytes) else offer
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", offer, re.M).group(1)
        pwd = re.search(r"^a=ice-pwd:(\S+)", offer, re.M).group(1)
        ours = int(re.search(r"^m=audio (\d+)", offer, re.M).group(1))
        answered = []
        for _ in range(3):
            request = check(ufrag, pwd)
            browser.sendto(request, ("127.0.0.1", ours))
            try:
                # (the daemon may take a moment to hand the stream to its relay)
                answered.append(stun.parse(browser.recv(2048)))
            except TimeoutError:
                continue
        assert answered, "no check answered before the answer"
        response = answered[-1]
        assert response.cls == stun.SUCCESS
        assert response.check_integrity(pwd.encode())
        assert stun.parse_xor_address(response.get(stun.XOR_MAPPED_ADDRESS),
                                      response.transaction_id) == browser.getsockname()
        # 10.5's attributes in 10.5's order
        assert [kind for kind, _ in response.attributes] == [
            stun.SOFTWARE, stun.XOR_MAPPED_ADDRESS, stun.MESSAGE_INTEGRITY, stun.FINGERPRINT]
        # a check with the wrong password is not answered as valid, and nothing reaches
        # the phone (a check is not media)
        browser.sendto(check(ufrag, "wrong" + pwd), ("127.0.0.1", ours))
        browser.sendto(check(ufrag, pwd), ("127.0.0.1", ours + 1))  # (the RTCP port too)
        for sock in (phone, phone_rtcp):
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(2048)
    finally:
        daemon.request({"command": "delete", "call-id": "early-checks"})
        for sock in (phone, phone_rtcp, browser):
            sock.close()


def test_checks_to_an_ice_offerer_start_with_the_offer(daemon):
    """An offerer with ICE candidates (plain RTP here, ``ICE: remove`` towards the callee):
    10.5 starts the leg's agent at the offer, its first check goes to the offerer's RTP
    candidate (component 1 first) before any answer, with the credentials its answer will
    carry. rtpengined used to start checking at the answer; rtpengine's own ICE client
    (``t/test-ice.pl``) cancels its check when ours comes first and then fails on the reply
    to its own, so it could not set up a call through us."""
    rtp, rtcp = rtp_rtcp_sockets()
    sdp = ice_offerer_sdp(rtp.getsockname()[1])
    try:
        reply = daemon.request({"command": "offer", "call-id": "offerer-checks",
                                "from-tag": "caller", "sdp": sdp, "ICE": "remove"})
        assert reply["result"] == "ok"
        rtp.settimeout(1.5)
        request = stun.parse(rtp.recv(2048))  # (not a timeout: a check before the answer)
        assert request.cls == stun.REQUEST and request.method == stun.BINDING
        assert request.check_integrity(b"BBBBBBBBBBBBBBBBBBBBBBBBBB")
        local_ufrag = request.get(stun.USERNAME).decode().split(":")[1]
        callee = ("v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                  "m=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n")
        reply = daemon.request({"command": "answer", "call-id": "offerer-checks",
                                "from-tag": "caller", "to-tag": "callee", "sdp": callee})
        answer = reply["sdp"].decode() if isinstance(reply["sdp"], bytes) else reply["sdp"]
        assert re.search(r"^a=ice-ufrag:(\S+)", answer, re.M).group(1) == local_ufrag
    finally:
        daemon.request({"command": "delete", "call-id": "offerer-checks"})
        rtp.close()
        rtcp.close()


def _pair_sockets(host: str) -> tuple[socket.socket, socket.socket]:
    """An RTP socket on ``host`` and its RTCP socket on the next port."""
    for _ in range(50):
        rtp = udp_socket_on(host)
        try:
            rtcp = udp_socket_on(host, rtp.getsockname()[1] + 1)
            return rtp, rtcp
        except OSError:
            rtp.close()
    raise RuntimeError("no free port pair")


def udp_socket_on(host: str, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    sock.settimeout(2)
    return sock


def _success(request: bytes, source: tuple, pwd: str) -> bytes:
    """The party's answer to one of the daemon's checks (as rtpengine's suite makes it)."""
    check = stun.parse(request)
    reply = stun.Message(stun.BINDING, stun.SUCCESS, check.transaction_id)
    reply.add(stun.XOR_MAPPED_ADDRESS, stun.xor_address(source[0], source[1],
                                                        check.transaction_id))
    return reply.encode(pwd.encode())


def test_dtls_goes_to_the_first_candidate_whose_checks_all_succeeded(daemon):
    """A DTLS offerer with ICE (``ICE: remove`` towards a plain callee), two candidates of
    two components each, the daemon controlled: the party answers the daemon's checks of
    the first candidate's RTP port and of both ports of the second, nominating nothing.
    10.5 uses the best pair whose candidate succeeded on every component at once (its
    "ICE not completed yet, but can use pair"): the ClientHellos go to the second
    candidate's two ports, none to the first's. rtpengined waited for a nomination that
    never came and sent no hello (rtpengine's suite, "ICE offer with DTLS", GH 1035)."""
    pwd = "bd5e845657ecb8d6dd8e1bc6"
    first, second = _pair_sockets("127.0.0.1"), _pair_sockets("127.0.0.2")
    socks = {"first RTP": first[0], "first RTCP": first[1],
             "second RTP": second[0], "second RTCP": second[1]}
    port1, port2 = first[0].getsockname()[1], second[0].getsockname()[1]
    sdp = ("v=0\r\no=- 2350 1824 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"a=ice-pwd:{pwd}\r\na=ice-ufrag:q2758e93\r\n"
           f"m=audio {port1} UDP/TLS/RTP/SAVPF 0\r\na=setup:actpass\r\n"
           "a=fingerprint:sha-256 DA:89:F7:04:38:D9:04:E1:9E:25:1A:43:87:8D:F5:BD:6E:4C:BB:"
           "88:12:A6:D5:FA:B1:4A:34:BC:32:C0:05:FE\r\n"
           f"a=rtcp:{port1 + 1}\r\n"
           f"a=candidate:1 1 UDP 2130706303 127.0.0.1 {port1} typ host\r\n"
           f"a=candidate:1 2 UDP 2130706302 127.0.0.1 {port1 + 1} typ host\r\n"
           f"a=candidate:2 1 UDP 2130706301 127.0.0.2 {port2} typ host\r\n"
           f"a=candidate:2 2 UDP 2130706300 127.0.0.2 {port2 + 1} typ host\r\n")
    try:
        reply = daemon.request({"command": "offer", "call-id": "usable-pair",
                                "from-tag": "caller", "sdp": sdp, "ICE": "remove",
                                "transport-protocol": "RTP/AVP", "rtcp-mux": ["demux"]})
        assert reply["result"] == "ok", reply
        checks = {name: sock.recvfrom(2048) for name, sock in socks.items()}
        for name in ("first RTP", "second RTP", "second RTCP"):
            data, source = checks[name]
            assert stun.parse(data).cls == stun.REQUEST
            socks[name].sendto(_success(data, source, pwd), source)
        hellos = set()
        end = time.monotonic() + 1.0  # (rtpengine's suite waits one second)
        while time.monotonic() < end:
            for name, sock in socks.items():
                sock.settimeout(0.02)
                try:
                    data = sock.recv(2048)
                except TimeoutError:
                    continue
                if data[:1] == b"\x16":
                    hellos.add(name)
        assert hellos == {"second RTP", "second RTCP"}
    finally:
        daemon.request({"command": "delete", "call-id": "usable-pair"})
        for sock in socks.values():
            sock.close()
