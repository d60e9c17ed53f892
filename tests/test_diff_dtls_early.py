"""A DTLS-SRTP offerer: our ClientHello right after its offer, and DTLS preferred over the
SDES keys it offers beside, on both daemons.

rtpengine 10.5 starts the handshake towards a party whose offer has a fingerprint and
``a=setup:actpass`` or ``passive`` (so the relay will be the DTLS client) and no ICE as soon
as it handles the offer: before the answer, on the RTP port and, without rtcp-mux, on the
RTCP port, whatever the offer's ``DTLS`` flag or transport protocol. A party that offers
``a=setup:active``, or no ``a=setup``, gets nothing until its answer. rtpengine's own suite
counts on it (``t/auto-daemon-tests.pl``, "ROC reset after re-invite": an SDES offer that
also carries a fingerprint gets the hello, then its SDES answer). rtpengined used to start
the handshake only with the answer.

An offer with a fingerprint, an explicit ``a=setup`` and ``a=crypto`` lines (an SBC that
offers both, rtpengine's own SAVP offers) is answered with DTLS when the answerer is plain,
unless the answer says ``DTLS: off``; rtpengined answered its keys.
"""

from __future__ import annotations

import re
import socket

import pytest
from differential import rtp_rtcp_sockets, running, start_ours, start_reference

from rtpengined.secure import dtls

DAEMONS = {
    "rtpengine": lambda: start_reference(26800, 26899),
    "rtpengined": lambda: start_ours(26900, 26999),
}
FINGERPRINT = ("a=fingerprint:sha-256 F8:31:36:7B:ED:6D:12:CC:E8:A8:BF:C3:07:6F:FB:C4:EC:02:BE:"
               "70:12:B6:87:B6:C3:F8:47:11:49:30:E0:22\r\n")
CRYPTO = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c\r\n"
DTLS_RECORD = re.compile(rb"^\x16\xfe[\xff\xfd]", re.S)  # a DTLS 1.0/1.2 handshake record


@pytest.fixture(params=list(DAEMONS))
def daemon(request):
    with running(DAEMONS[request.param]) as process:
        yield process



def received(sock: socket.socket, wait: float) -> list[tuple[bytes, int]]:
    """What arrived within ``wait`` seconds: (first bytes, source port) of each datagram."""
    sock.settimeout(wait)
    got = []
    while True:
        try:
            data, source = sock.recvfrom(2048)
        except TimeoutError:
            return got
        got.append((data[:4], source[1]))


def dtls_call(fingerprint: str = FINGERPRINT, keys: bool = True, mux: bool = False
              ) -> tuple[socket.socket, socket.socket, socket.socket, str]:
    """A caller (RTP and RTCP sockets) that offers DTLS (actpass, ``fingerprint``: the
    attribute line), SDES keys beside it if ``keys`` (as RTP/SAVP, else UDP/TLS/RTP/SAVP) and
    rtcp-mux if ``mux``; its offer; and a plain callee's socket."""
    caller, caller_rtcp = rtp_rtcp_sockets()
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    callee.bind(("127.0.0.1", 0))
    sdp = offer_sdp(caller.getsockname()[1], "RTP/SAVP" if keys else "UDP/TLS/RTP/SAVP",
                    (CRYPTO if keys else "") + fingerprint + "a=setup:actpass\r\n"
                    + ("a=rtcp-mux\r\n" if mux else ""))
    return caller, caller_rtcp, callee, sdp


def offer_sdp(port: int, protocol: str, attributes: str) -> str:
    return ("v=0\r\no=- 1545997027 1 IN IP4 127.0.0.1\r\ns=tester\r\nc=IN IP4 127.0.0.1\r\n"
            f"t=0 0\r\nm=audio {port} {protocol} 0\r\n{attributes}a=sendrecv\r\n")


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


# (offer's attributes after the fingerprint, hello on the RTP port, hello on the RTCP port)
CASES = {
    "actpass": ("a=setup:actpass\r\n", True, True),
    "passive": ("a=setup:passive\r\n", True, True),
    "active": ("a=setup:active\r\n", False, False),
    "no setup": ("", False, False),
    "actpass with rtcp-mux": ("a=setup:actpass\r\na=rtcp-mux\r\n", True, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_handshake_starts_with_the_offer(daemon, case):
    attributes, on_rtp, on_rtcp = CASES[case]
    rtp, rtcp = rtp_rtcp_sockets()
    try:
        sdp = offer_sdp(rtp.getsockname()[1], "UDP/TLS/RTP/SAVP", FINGERPRINT + attributes)
        reply = daemon.request({"command": "offer", "call-id": f"early-{case}",
                                "from-tag": "caller", "sdp": sdp,
                                "transport-protocol": "RTP/AVP"})
        assert reply["result"] == "ok"
        got_rtp, got_rtcp = received(rtp, 0.5), received(rtcp, 0.1)
        assert bool(got_rtp) == on_rtp, got_rtp
        assert bool(got_rtcp) == on_rtcp, got_rtcp
        for first, _source in got_rtp + got_rtcp:
            assert DTLS_RECORD.match(first), first
        if got_rtp and got_rtcp:  # from the two ports the answer will give the caller
            assert got_rtcp[0][1] == got_rtp[0][1] + 1
        daemon.request({"command": "delete", "call-id": f"early-{case}"})
    finally:
        rtp.close()
        rtcp.close()


def test_an_sdes_answer_right_after_the_offer_ends_the_early_handshake(daemon):
    """The suite's "ROC reset after re-invite": the caller offers SDES and DTLS, the callee
    answers plain with ``DTLS: off`` straight away. The caller has the hello all the same,
    its answer is SDES only, and no retransmission of the hello follows."""
    caller, caller_rtcp, callee, sdp = dtls_call()
    try:
        reply = daemon.request({"command": "offer", "call-id": "early-sdes",
                                "from-tag": "caller", "sdp": sdp,
                                "transport-protocol": "RTP/AVP"})
        assert reply["result"] == "ok"
        answer = offer_sdp(callee.getsockname()[1], "RTP/AVP", "")
        reply = daemon.request({"command": "answer", "call-id": "early-sdes",
                                "from-tag": "caller", "to-tag": "callee", "sdp": answer,
                                "DTLS": "off"})
        assert reply["result"] == "ok"
        to_caller = text(reply["sdp"])
        assert "RTP/SAVP" in to_caller and "a=crypto:1 AES_CM_128_HMAC_SHA1_80" in to_caller
        assert "a=fingerprint" not in to_caller and "a=setup" not in to_caller
        first = received(caller, 0.5)
        assert len(first) == 1 and DTLS_RECORD.match(first[0][0]), first
        # (a DTLS client retransmits its hello after 1 s: none comes once SDES is chosen)
        assert received(caller, 1.5) == []
        daemon.request({"command": "delete", "call-id": "early-sdes"})
    finally:
        for sock in (caller, caller_rtcp, callee):
            sock.close()


# Offers of SDES and DTLS together to a plain answerer: (offer's protocol, its attributes
# after the a=crypto line, offer flags, answer flags, what the answer to the offerer has).
PREFERENCE = {
    "actpass": ("RTP/SAVP", FINGERPRINT + "a=setup:actpass\r\n", {}, {}, "active"),
    "active": ("RTP/SAVP", FINGERPRINT + "a=setup:active\r\n", {}, {}, "passive"),
    "passive": ("RTP/SAVP", FINGERPRINT + "a=setup:passive\r\n", {}, {}, "active"),
    "UDP/TLS": ("UDP/TLS/RTP/SAVP", FINGERPRINT + "a=setup:actpass\r\n", {}, {}, "active"),
    "the offer's DTLS off": ("RTP/SAVP", FINGERPRINT + "a=setup:actpass\r\n", {"DTLS": "off"},
                             {}, "active"),
    "the offer's SDES off": ("RTP/SAVP", FINGERPRINT + "a=setup:actpass\r\n",
                             {"SDES": ["off"]}, {}, "active"),
    "the answer's DTLS off": ("RTP/SAVP", FINGERPRINT + "a=setup:actpass\r\n", {},
                              {"DTLS": "off"}, "crypto"),
    "no setup": ("RTP/SAVP", FINGERPRINT, {}, {}, "crypto"),
    "holdconn": ("RTP/SAVP", FINGERPRINT + "a=setup:holdconn\r\n", {}, {}, "crypto"),
}


@pytest.mark.parametrize("case", list(PREFERENCE))
def test_dtls_is_preferred_over_offered_keys(daemon, case):
    protocol, attributes, offer_flags, answer_flags, expected = PREFERENCE[case]
    call = f"prefer-{case}"
    sdp = offer_sdp(40000, protocol, CRYPTO + attributes)
    reply = daemon.request({"command": "offer", "call-id": call, "from-tag": "caller",
                            "sdp": sdp, "transport-protocol": "RTP/AVP", **offer_flags})
    assert reply["result"] == "ok"
    reply = daemon.request({"command": "answer", "call-id": call, "from-tag": "caller",
                            "to-tag": "callee", "sdp": offer_sdp(40010, "RTP/AVP", ""),
                            **answer_flags})
    assert reply["result"] == "ok"
    to_caller = text(reply["sdp"])
    assert f"m=audio {port_in(to_caller)} {protocol} 0\r\n" in to_caller
    security = re.findall(r"^a=(crypto:1 AES_CM_128_HMAC_SHA1_80|setup:\w+|fingerprint:sha-256)",
                          to_caller, re.M)
    if expected == "crypto":
        assert security == ["crypto:1 AES_CM_128_HMAC_SHA1_80"], to_caller
    else:
        assert security == [f"setup:{expected}", "fingerprint:sha-256"], to_caller
    daemon.request({"command": "delete", "call-id": call})


def port_in(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+)", sdp, re.M).group(1))


def test_the_early_hello_is_the_handshake_the_answer_keeps(daemon):
    """A DTLS phone that offers keys and DTLS (actpass) and reads its socket only once it
    has the answer: the ClientHello that came before the answer completes the handshake,
    and no second one (a new association, another random) follows; rtpengined's repeat of
    the same hello with the answer is the same association."""
    certificate = dtls.Certificate()
    phone, phone_rtcp, callee, sdp = dtls_call(f"a=fingerprint:{certificate.fingerprint()}\r\n",
                                               mux=True)
    try:
        reply = daemon.request({"command": "offer", "call-id": "early-kept",
                                "from-tag": "phone", "sdp": sdp,
                                "transport-protocol": "RTP/AVP"})
        assert reply["result"] == "ok"
        reply = daemon.request({"command": "answer", "call-id": "early-kept",
                                "from-tag": "phone", "to-tag": "callee",
                                "sdp": offer_sdp(callee.getsockname()[1], "RTP/AVP", "")})
        to_phone = text(reply["sdp"])
        assert "a=setup:active" in to_phone
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r$", to_phone, re.M).group(1)
        endpoint = dtls.DtlsEndpoint(certificate, client=False, remote_fingerprint=fingerprint)
        hellos = set()
        phone.settimeout(2)
        while endpoint.keys is None:
            data, source = phone.recvfrom(4096)  # (a timeout fails the test)
            if data[:1] == b"\x16" and data[13:14] == b"\x01":  # a ClientHello record
                hellos.add(data)
            for datagram in endpoint.receive(data, 0.0):
                phone.sendto(datagram, source)
        assert len(hellos) == 1
        assert source[1] == port_in(to_phone)
        daemon.request({"command": "delete", "call-id": "early-kept"})
    finally:
        for sock in (phone, phone_rtcp, callee):
            sock.close()


def test_a_reoffer_on_an_sdes_leg_starts_no_handshake():
    """rtpengined only (10.5 sends a hello again): a re-offer of SDES and DTLS on a leg its
    first answer keyed by SDES leaves the keys in use until the new answer instead of
    dropping them for a handshake the party may never answer."""
    daemon = start_ours(26900, 26999)
    caller, caller_rtcp, callee, sdp = dtls_call()
    try:
        answer = offer_sdp(callee.getsockname()[1], "RTP/AVP", "")
        ids = {"call-id": "reoffer-sdes", "from-tag": "caller"}
        for _ in range(2):
            assert daemon.request({"command": "offer", **ids, "sdp": sdp,
                                   "transport-protocol": "RTP/AVP"})["result"] == "ok"
            reply = daemon.request({"command": "answer", **ids, "to-tag": "callee",
                                    "sdp": answer, "DTLS": "off"})
            assert "a=crypto:1 AES_CM_128_HMAC_SHA1_80" in text(reply["sdp"])
            hellos = received(caller, 0.5)
        assert hellos == []  # (the first offer's hello was read in the first round)
        query = daemon.request({"command": "query", "call-id": "reoffer-sdes"})
        streams = query["tags"]["caller"]["medias"][0]["streams"]
        assert [text(s["crypto suite"]) for s in streams] == ["AES_CM_128_HMAC_SHA1_80"] * 2
    finally:
        for sock in (caller, caller_rtcp, callee):
            sock.close()
        daemon.stop()


def test_a_phone_deaf_until_its_answer_gets_the_hello_with_the_answer():
    """rtpengined only (10.5 waits for its retransmission timer): a party that drops
    whatever comes before it has its answer, and then waits as the DTLS server, gets our
    ClientHello again as soon as the answer is handled. Without that it would wait for the
    next retransmission, which backs off (1, 2, 4 ... s) while the call rings."""
    daemon = start_ours(26900, 26999)
    certificate = dtls.Certificate()
    phone, phone_rtcp, callee, sdp = dtls_call(f"a=fingerprint:{certificate.fingerprint()}\r\n",
                                               keys=False, mux=True)
    try:
        ids = {"call-id": "deaf-phone", "from-tag": "phone"}
        assert daemon.request({"command": "offer", **ids, "sdp": sdp,
                               "transport-protocol": "RTP/AVP"})["result"] == "ok"
        # ringing for 3.5 s, deaf: hellos at 0, 1 and 3 s, the next one due at 7 s
        assert len(received(phone, 3.5)) >= 2
        reply = daemon.request({"command": "answer", **ids, "to-tag": "callee",
                                "sdp": offer_sdp(callee.getsockname()[1], "RTP/AVP", "")})
        fingerprint = re.search(r"^a=fingerprint:(.+?)\r$", text(reply["sdp"]), re.M).group(1)
        endpoint = dtls.DtlsEndpoint(certificate, client=False, remote_fingerprint=fingerprint)
        phone.settimeout(1.0)  # (well before the backed-off retransmission)
        while endpoint.keys is None:
            data, source = phone.recvfrom(4096)  # (a timeout fails the test)
            for datagram in endpoint.receive(data, 0.0):
                phone.sendto(datagram, source)
        daemon.request({"command": "delete", "call-id": "deaf-phone"})
    finally:
        for sock in (phone, phone_rtcp, callee):
            sock.close()
        daemon.stop()


@pytest.mark.parametrize("setup", ["actpass", "active", "passive"])
@pytest.mark.parametrize("keys", [False, True], ids=["DTLS", "SDES and DTLS"])
def test_query_shows_the_open_roles_until_the_answer(daemon, setup, keys):
    """Between a DTLS offer and its answer, 10.5's query flags the offerer's media
    "DTLS-SRTP" with the role(s) its a=setup leaves us; the answer settles one."""
    call = f"roles-{setup}-{keys}"
    sdp = offer_sdp(40000, "RTP/SAVP" if keys else "UDP/TLS/RTP/SAVP",
                    (CRYPTO if keys else "") + FINGERPRINT + f"a=setup:{setup}\r\n")
    daemon.request({"command": "offer", "call-id": call, "from-tag": "caller", "sdp": sdp,
                    "transport-protocol": "RTP/AVP"})
    flags = media_flags(daemon, call)
    open_roles = {"actpass": ["active", "passive"], "active": ["passive"],
                  "passive": ["active"]}[setup]
    assert [f for f in flags if f.startswith("DTLS")] == [
        "DTLS-SRTP", *(f"DTLS role {role}" for role in open_roles)], flags
    assert ("SDES" in flags) == keys
    daemon.request({"command": "answer", "call-id": call, "from-tag": "caller",
                    "to-tag": "callee", "sdp": offer_sdp(40010, "RTP/AVP", "")})
    settled = "passive" if setup == "active" else "active"
    assert [f for f in media_flags(daemon, call) if f.startswith("DTLS")] == [
        "DTLS-SRTP", f"DTLS role {settled}"]
    daemon.request({"command": "delete", "call-id": call})


@pytest.mark.parametrize("setup", ["actpass", "active", "passive"])
def test_query_after_an_sdes_answer_keeps_the_role(daemon, setup):
    """An answer with ``DTLS: off`` takes the offerer's keys; 10.5's query still flags the
    role it would have taken (no "DTLS-SRTP")."""
    call = f"role-left-{setup}"
    daemon.request({"command": "offer", "call-id": call, "from-tag": "caller",
                    "sdp": offer_sdp(40000, "RTP/SAVP",
                                     CRYPTO + FINGERPRINT + f"a=setup:{setup}\r\n"),
                    "transport-protocol": "RTP/AVP"})
    daemon.request({"command": "answer", "call-id": call, "from-tag": "caller",
                    "to-tag": "callee", "sdp": offer_sdp(40010, "RTP/AVP", ""), "DTLS": "off"})
    flags = media_flags(daemon, call)
    role = "passive" if setup == "active" else "active"
    assert [f for f in flags if f.startswith("DTLS")] == [f"DTLS role {role}"], flags
    assert "SDES" in flags
    daemon.request({"command": "delete", "call-id": call})


def media_flags(daemon, call: str) -> list[str]:
    query = daemon.request({"command": "query", "call-id": call})
    return [text(f) for f in query["tags"]["caller"]["medias"][0]["flags"]]


def _client_hello(datagram: bytes) -> dict:
    """The parts of a DTLS ClientHello 10.5 settles by its options: the records in the
    datagram, whether the handshake message came whole, its cipher suites and its groups."""
    records, pos = 0, 0
    while pos + 13 <= len(datagram):
        records += 1
        pos += 13 + int.from_bytes(datagram[pos + 11:pos + 13], "big")
    body = datagram[13:]
    length = int.from_bytes(body[1:4], "big")
    whole = int.from_bytes(body[6:9], "big") == 0 and int.from_bytes(body[9:12], "big") == length
    hello = body[12:]
    pos = 2 + 32
    pos += 1 + hello[pos]  # session id
    pos += 1 + hello[pos]  # cookie
    count = int.from_bytes(hello[pos:pos + 2], "big")
    suites = [hello[pos + 2 + i:pos + 4 + i].hex() for i in range(0, count, 2)]
    pos += 2 + count
    pos += 1 + hello[pos]  # compression methods
    end, pos = pos + 2 + int.from_bytes(hello[pos:pos + 2], "big"), pos + 2
    groups = None
    while pos < min(end, len(hello)):
        kind, size = int.from_bytes(hello[pos:pos + 2], "big"), int.from_bytes(
            hello[pos + 2:pos + 4], "big")
        if kind == 10:  # supported_groups
            data = hello[pos + 6:pos + 4 + size]
            groups = [data[i:i + 2].hex() for i in range(0, len(data), 2)]
        pos += 4 + size
    return {"records": records, "whole": whole, "suites": suites, "groups": groups,
            "size": len(datagram)}


def _first_hello(process) -> dict:
    rtp, rtcp = rtp_rtcp_sockets()
    try:
        sdp = offer_sdp(rtp.getsockname()[1], "UDP/TLS/RTP/SAVP",
                        FINGERPRINT + "a=setup:actpass\r\n")
        reply = process.request({"command": "offer", "call-id": "hello", "from-tag": "caller",
                                 "sdp": sdp, "transport-protocol": "RTP/AVP"})
        assert reply["result"] == "ok"
        rtp.settimeout(2)
        datagram = rtp.recv(4096)
        process.request({"command": "delete", "call-id": "hello"})
        return _client_hello(datagram)
    finally:
        rtp.close()
        rtcp.close()


def test_the_client_hello_is_rtpengines():
    """10.5's DTLS defaults: its cipher list (``--dtls-ciphers``), ECDHE on prime256v1
    alone, and a 1,200-byte MTU (``--dtls-mtu``): the hello goes whole, in one datagram.
    We offered OpenSSL's HIGH list and five groups, in two 256-byte fragments (a memory BIO
    leaves OpenSSL at its smallest MTU)."""
    with running(DAEMONS["rtpengine"]) as process:
        want = _first_hello(process)
    with running(DAEMONS["rtpengined"]) as process:
        have = _first_hello(process)
    assert want["records"] == 1 and want["whole"] and want["groups"] == ["0017"]
    # (10.5's OpenSSL signals secure renegotiation with the 00ff SCSV, the one in the
    # cryptography wheel with the renegotiation_info extension: the same thing)
    for hello in (want, have):
        hello["suites"] = [suite for suite in hello["suites"] if suite != "00ff"]
        del hello["size"]
    assert have == want


def test_dtls_options_reach_the_handshake():
    """``--dtls-mtu`` fragments the hello (as 10.5 does), ``--dtls-ciphers`` is the list
    it offers."""
    options = ["--dtls-mtu=576", "--dtls-ciphers=ECDHE-ECDSA-AES128-GCM-SHA256"]
    with running(lambda: start_ours(26900, 26999, options)) as process:
        hello = _first_hello(process)
    assert hello["suites"][0] == "c02b" and len(hello["suites"]) <= 2  # (+ the SCSV, if any)
    assert hello["size"] <= 576
