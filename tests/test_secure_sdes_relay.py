"""SDES-SRTP bridged to plain RTP through the daemon, end to end.

One party is a real SRTP endpoint (libsrtp through pylibsrtp, keys from the SDP exchanged
with the daemon), the other plain RTP. Packets go both ways, RTP and RTCP; what the plain
party receives must be byte for byte what the SRTP party protected, and what the SRTP party
decrypts byte for byte what the plain party sent.
"""

from __future__ import annotations

import itertools
import re
import socket
import struct

import pylibsrtp
import pytest
import trio

from rtpengined.protocol import bencode
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext
from tests.conftest import udp_request

_cookies = itertools.count()


@pytest.fixture
async def srtp_daemon(make_daemon):
    return await make_daemon(port_min=47000, port_max=47499)


async def ng(daemon, **message) -> dict:
    cookie = f"s{next(_cookies)}".encode()
    reply = await udp_request(daemon.address("udp-ng"), cookie + b" " + bencode.encode(message))
    assert reply is not None and reply.startswith(cookie + b" ")
    return bencode.decode(reply[len(cookie) + 1:])


def body(port: int, protocol: str = "RTP/AVP", crypto: list[str] = ()) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} {protocol} 0", *[f"a={c}" for c in crypto], "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def port_of(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


def cryptos(sdp: str) -> list[sdes.Crypto]:
    return [sdes.parse(v) for v in re.findall(r"^a=(crypto:.*?)\r$", sdp, re.M)]


async def bound_pair() -> tuple[trio.socket.SocketType, trio.socket.SocketType, int]:
    """RTP and RTCP sockets on ports N and N+1."""
    for _attempt in range(50):
        rtp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await rtp.bind(("127.0.0.1", 0))
            port = rtp.getsockname()[1]
            await rtcp.bind(("127.0.0.1", port + 1))
            return rtp, rtcp, port
        except OSError:
            rtp.close()
            rtcp.close()
    raise RuntimeError("no free port pair")


def rtp(seq: int, ssrc: int) -> bytes:
    payload = bytes((seq * 7 + i) & 0xFF for i in range(160))
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def rtcp(ssrc: int, count: int) -> bytes:
    """A sender report (28 bytes)."""
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 1, 2, count * 160, count, count * 172)


async def exchange(srtp_socks, plain_socks, srtp_port: int, plain_port: int,
                   srtp_out: SrtpContext, srtp_in: SrtpContext) -> None:
    """Both directions, RTP then RTCP: the SRTP party protects/unprotects with libsrtp."""
    s_rtp, s_rtcp = srtp_socks
    p_rtp, p_rtcp = plain_socks
    with trio.fail_after(10):
        for seq in range(1, 6):
            sent = rtp(seq, 0x5157A001)
            await s_rtp.sendto(srtp_out.protect(sent), ("127.0.0.1", srtp_port))
            data, _ = await p_rtp.recvfrom(2048)
            assert data == sent
            back = rtp(seq, 0x9A1A0002)
            await p_rtp.sendto(back, ("127.0.0.1", plain_port))
            data, _ = await s_rtp.recvfrom(2048)
            assert data != back and srtp_in.unprotect(data) == back
        for count in range(1, 3):
            report = rtcp(0x5157A001, count)
            await s_rtcp.sendto(srtp_out.protect_rtcp(report), ("127.0.0.1", srtp_port + 1))
            data, _ = await p_rtcp.recvfrom(2048)
            assert data == report
            report = rtcp(0x9A1A0002, count)
            await p_rtcp.sendto(report, ("127.0.0.1", plain_port + 1))
            data, _ = await s_rtcp.recvfrom(2048)
            assert srtp_in.unprotect_rtcp(data) == report


@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32",
                                   "AEAD_AES_128_GCM", "AEAD_AES_256_GCM"])
async def test_plain_offerer_srtp_answerer(srtp_daemon, suite):
    """Plain offer sent on as RTP/SAVP; the SDES answer picks ``suite``."""
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    call = f"plain-srtp-{suite}"
    offer = await ng(srtp_daemon, command="offer", **{"call-id": call, "from-tag": "a",
                                                      "transport-protocol": "RTP/SAVP"},
                     sdp=body(a_port))
    ours = next(c for c in cryptos(offer["sdp"]) if c.suite.name == suite)
    theirs = sdes.generate(ours.tag, suite)
    answer = await ng(srtp_daemon, command="answer",
                      **{"call-id": call, "from-tag": "a", "to-tag": "b"},
                      sdp=body(b_port, "RTP/SAVP", [theirs.format()]))
    assert "a=crypto" not in answer["sdp"] and " RTP/AVP " in answer["sdp"]
    await exchange((b_rtp, b_rtcp), (a_rtp, a_rtcp), port_of(offer["sdp"]),
                   port_of(answer["sdp"]), SrtpContext.from_sdes(theirs, outbound=True),
                   SrtpContext.from_sdes(ours, outbound=False))
    await check_query(srtp_daemon, call)
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()


async def test_sdes_offerer_plain_answerer(srtp_daemon):
    """SDES offer sent on as RTP/AVP; our answer's a=crypto keys the way back."""
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    call = "srtp-plain"
    mine = [sdes.generate(1, "AES_CM_128_HMAC_SHA1_80"), sdes.generate(2, "AEAD_AES_128_GCM")]
    offer = await ng(srtp_daemon, command="offer", **{"call-id": call, "from-tag": "a",
                                                      "transport-protocol": "RTP/AVP"},
                     sdp=body(a_port, "RTP/SAVP", [c.format() for c in mine]))
    assert "a=crypto" not in offer["sdp"] and " RTP/AVP " in offer["sdp"]
    answer = await ng(srtp_daemon, command="answer",
                      **{"call-id": call, "from-tag": "a", "to-tag": "b"}, sdp=body(b_port))
    [answered] = cryptos(answer["sdp"])
    assert answered.tag == 1 and answered.suite.name == "AES_CM_128_HMAC_SHA1_80"
    assert " RTP/SAVP " in answer["sdp"]
    await exchange((a_rtp, a_rtcp), (b_rtp, b_rtcp), port_of(answer["sdp"]),
                   port_of(offer["sdp"]), SrtpContext.from_sdes(mine[0], outbound=True),
                   SrtpContext.from_sdes(answered, outbound=False))
    await check_query(srtp_daemon, call)
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()


async def test_forged_srtp_is_dropped(srtp_daemon):
    """A packet that fails authentication is counted as an error and not relayed."""
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    call = "srtp-forged"
    mine = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    offer = await ng(srtp_daemon, command="offer", **{"call-id": call, "from-tag": "a",
                                                      "transport-protocol": "RTP/AVP"},
                     sdp=body(a_port, "RTP/SAVP", [mine.format()]))
    answer = await ng(srtp_daemon, command="answer",
                      **{"call-id": call, "from-tag": "a", "to-tag": "b"}, sdp=body(b_port))
    wrong = SrtpContext.from_sdes(sdes.generate(1, "AES_CM_128_HMAC_SHA1_80"), outbound=True)
    right = SrtpContext.from_sdes(mine, outbound=True)
    target = ("127.0.0.1", port_of(answer["sdp"]))
    await a_rtp.sendto(wrong.protect(rtp(1, 7)), target)
    await a_rtp.sendto(right.protect(rtp(2, 7)), target)
    with trio.fail_after(10):
        data, _ = await b_rtp.recvfrom(2048)
    assert data == rtp(2, 7)  # the forged one never arrived
    with trio.move_on_after(5):
        while True:
            query = await ng(srtp_daemon, command="query", **{"call-id": call})
            if query["totals"]["RTP"]["errors"] >= 1:
                break
            await trio.sleep(0.05)
    assert query["totals"]["RTP"]["errors"] == 1
    del offer
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()


async def test_suite_libsrtp_cannot_do_is_dropped(srtp_daemon):
    """An answer 10.5 would give (first offered suite, here AES_192_CM, whose libsrtp
    version does not interoperate) that the relay cannot protect: the SDP is 10.5's, and the
    relay drops and counts the packets instead of passing SRTP on to the plain party (or
    plain RTP to the SRTP one)."""
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    call = "srtp-unsupported"
    mine = sdes.generate(1, "AES_192_CM_HMAC_SHA1_80")
    offer = await ng(srtp_daemon, command="offer", **{"call-id": call, "from-tag": "a",
                                                      "transport-protocol": "RTP/AVP"},
                     sdp=body(a_port, "RTP/SAVP", [mine.format()]))
    answer = await ng(srtp_daemon, command="answer",
                      **{"call-id": call, "from-tag": "a", "to-tag": "b"}, sdp=body(b_port))
    [answered] = cryptos(answer["sdp"])
    assert answered.suite.name == "AES_192_CM_HMAC_SHA1_80"
    await a_rtp.sendto(rtp(1, 7) + bytes(10), ("127.0.0.1", port_of(answer["sdp"])))
    await b_rtp.sendto(rtp(1, 8), ("127.0.0.1", port_of(offer["sdp"])))
    with trio.move_on_after(5):
        while True:
            query = await ng(srtp_daemon, command="query", **{"call-id": call})
            if query["totals"]["RTP"]["errors"] >= 2:
                break
            await trio.sleep(0.05)
    assert query["totals"]["RTP"]["errors"] == 2
    for sock in (a_rtp, b_rtp):
        with trio.move_on_after(0.2):
            data, _ = await sock.recvfrom(2048)
            raise AssertionError(f"relayed although it cannot be protected: {data!r}")
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()


async def check_query(daemon, call: str) -> None:
    """Counters see the relayed packets (5 RTP and 2 RTCP each way), none as errors."""
    expected = {"packets": 10, "errors": 0}
    with trio.move_on_after(5):
        while True:
            totals = (await ng(daemon, command="query", **{"call-id": call}))["totals"]
            if totals["RTP"]["packets"] >= 10 and totals["RTCP"]["packets"] >= 4:
                break
            await trio.sleep(0.05)
    assert {k: totals["RTP"][k] for k in expected} == expected
    assert totals["RTCP"]["packets"] == 4 and totals["RTCP"]["errors"] == 0


def test_pylibsrtp_rejects_what_it_cannot_authenticate():
    """The premise of the forged-packet test: a wrong key fails in libsrtp."""
    a = SrtpContext.from_sdes(sdes.generate(1, "AES_CM_128_HMAC_SHA1_80"), outbound=True)
    b = SrtpContext.from_sdes(sdes.generate(1, "AES_CM_128_HMAC_SHA1_80"), outbound=False)
    with pytest.raises(pylibsrtp.Error):
        b.unprotect(a.protect(rtp(1, 7)))


async def test_reinvite_rekeys_and_keeps_the_peer_context(srtp_daemon):
    """A re-offer brings our keys again (the SRTP party uses what it says: the line its
    answer chose, same key, as 10.5); the SRTP party keeping its key keeps its sequence
    going (the relay's inbound context, with its replay window, is not rebuilt)."""
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    call = "srtp-reinvite"
    keys = {"call-id": call, "from-tag": "a"}
    theirs = None
    sender = None
    for round_ in range(2):
        offer = await ng(srtp_daemon, command="offer", **keys,
                         **{"transport-protocol": "RTP/SAVP"}, sdp=body(a_port))
        ours = next(c for c in cryptos(offer["sdp"]) if c.suite.name == "AES_CM_128_HMAC_SHA1_80")
        if theirs is None:
            theirs = sdes.generate(ours.tag, ours.suite)
            sender = SrtpContext.from_sdes(theirs, outbound=True)
        answer = await ng(srtp_daemon, command="answer", **keys, **{"to-tag": "b"},
                          sdp=body(b_port, "RTP/SAVP", [theirs.format()]))
        receiver = SrtpContext.from_sdes(ours, outbound=False)
        with trio.fail_after(10):
            for seq in range(1 + 5 * round_, 6 + 5 * round_):
                sent = rtp(seq, 0x5157A001)
                await b_rtp.sendto(sender.protect(sent), ("127.0.0.1", port_of(offer["sdp"])))
                data, _ = await a_rtp.recvfrom(2048)
                assert data == sent
                back = rtp(seq, 0x9A1A0002)
                await a_rtp.sendto(back, ("127.0.0.1", port_of(answer["sdp"])))
                data, _ = await b_rtp.recvfrom(2048)
                assert receiver.unprotect(data) == back
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()


async def test_sdes_both_legs_rekeyed_when_the_answer_picks_our_suite(srtp_daemon):
    """SDES offer sent on as SDES; the answerer picks a suite only we offered, so the legs
    have different keys: each side decrypts what the daemon re-encrypted for it."""
    a_rtp, a_rtcp, a_port = await bound_pair()
    b_rtp, b_rtcp, b_port = await bound_pair()
    call = "srtp-srtp-rekeyed"
    mine = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    offer = await ng(srtp_daemon, command="offer", **{"call-id": call, "from-tag": "a",
                                                      "DTLS": "off"},
                     sdp=body(a_port, "RTP/SAVP", [mine.format()]))
    offered = cryptos(offer["sdp"])
    assert offered[0] == mine  # the offerer's own line first
    ours_b = next(c for c in offered if c.suite.name == "AEAD_AES_128_GCM")
    theirs = sdes.generate(ours_b.tag, "AEAD_AES_128_GCM")
    answer = await ng(srtp_daemon, command="answer",
                      **{"call-id": call, "from-tag": "a", "to-tag": "b"},
                      sdp=body(b_port, "RTP/SAVP", [theirs.format()]))
    [ours_a] = cryptos(answer["sdp"])
    assert ours_a.tag == 1 and ours_a.suite.name == "AES_CM_128_HMAC_SHA1_80"
    assert ours_a.key_salt != mine.key_salt
    a_out, a_in = SrtpContext.from_sdes(mine, True), SrtpContext.from_sdes(ours_a, False)
    b_out, b_in = SrtpContext.from_sdes(theirs, True), SrtpContext.from_sdes(ours_b, False)
    # (each party sends to the port in the SDP it was given)
    from_a, from_b = port_of(answer["sdp"]), port_of(offer["sdp"])
    with trio.fail_after(10):
        for seq in range(1, 6):
            sent = rtp(seq, 0xA)
            await a_rtp.sendto(a_out.protect(sent), ("127.0.0.1", from_a))
            data, _ = await b_rtp.recvfrom(2048)
            assert b_in.unprotect(data) == sent
            back = rtp(seq, 0xB)
            await b_rtp.sendto(b_out.protect(back), ("127.0.0.1", from_b))
            data, _ = await a_rtp.recvfrom(2048)
            assert a_in.unprotect(data) == back
        report = rtcp(0xA, 1)
        await a_rtcp.sendto(a_out.protect_rtcp(report), ("127.0.0.1", from_a + 1))
        data, _ = await b_rtcp.recvfrom(2048)
        assert b_in.unprotect_rtcp(data) == report
    for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
        sock.close()
