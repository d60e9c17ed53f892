"""SDES keys with a master key identifier (`inline:<key>|<value>:<length>`, RFC 4568).

A party whose key carries an MKI puts that many bytes into every SRTP and SRTCP packet it
sends: after the encrypted portion (for SRTCP after the SRTCP index), before the
authentication tag (RFC 3711 3.1, 3.4). rtpengine 10.5 never gives its own keys an MKI; it
takes a party's MKI out of what the party sends before decrypting. Both daemons get the
same call and the same packets here, built by the test itself (libsrtp through pylibsrtp
for the cryptography, the MKI put in place by hand), and must deliver the same plain media.
"""

from __future__ import annotations

from contextlib import ExitStack

import pylibsrtp
import pytest

from rtpengined.secure import sdes
from rtpengined.secure.mki import MkiContext, mki_bytes
from rtpengined.secure.srtp import SrtpContext
from tests.differential import start_ours, start_reference
from tests.test_redis_sdes import _pair, _recv
from tests.test_secure_sdes_relay import body, cryptos, port_of, rtcp, rtp

KEY = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"  # 30 bytes: AES_CM_128 key and salt


@pytest.fixture(scope="module")
def daemons():
    reference = start_reference(25000, 25199)
    try:
        ours = start_ours(25200, 25399)
        try:
            yield {"rtpengine": reference, "rtpengined": ours}
        finally:
            ours.stop()
    finally:
        reference.stop()


def _libsrtp(line: str, outbound: bool) -> pylibsrtp.Session:
    """A libsrtp session for a line's key, with no MKI of its own (the test frames it)."""
    crypto = sdes.parse(line)
    kind = (pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound
            else pylibsrtp.Policy.SSRC_ANY_INBOUND)
    profile = {"AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
               "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
               "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
               }[crypto.suite.name]
    return pylibsrtp.Session(pylibsrtp.Policy(key=crypto.key_salt, srtp_profile=profile,
                                              ssrc_type=kind))


def _with_mki(packet: bytes, mki: bytes, tag: int) -> bytes:
    """RFC 3711's layout: the MKI goes before the last ``tag`` bytes (the auth tag)."""
    return packet[: len(packet) - tag] + mki + packet[len(packet) - tag:]


SUITES = [  # (suite, SRTP tag outside the ciphertext, MKI value, length)
    ("AES_CM_128_HMAC_SHA1_80", 10, 1, 4),
    ("AES_CM_128_HMAC_SHA1_32", 4, 7, 1),
    ("AEAD_AES_128_GCM", 0, 3, 2),
]


@pytest.mark.parametrize("daemon", ["rtpengine", "rtpengined"])
@pytest.mark.parametrize(("suite", "tag", "value", "length"), SUITES,
                         ids=[s[0] for s in SUITES])
def test_offerer_with_mki_to_plain_answerer(daemons, daemon, suite, tag, value, length):
    """SDES offerer whose key has an MKI, plain answerer: what it sends (RTP and RTCP, MKI
    inside) reaches the answerer decrypted; our answer's key has no MKI, and what the
    answerer sends comes back encrypted with it."""
    engine = daemons[daemon]
    call = f"mki-offer-{suite}-{daemon}"
    material = {"AEAD_AES_128_GCM": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA"}.get(suite, KEY)
    line = f"crypto:1 {suite} inline:{material}|2^20|{value}:{length}"
    mki = mki_bytes(value, length)
    with ExitStack() as cleanup:
        a_rtp, a_rtcp, a_port = _pair(cleanup)
        b_rtp, b_rtcp, b_port = _pair(cleanup)
        ids = {"call-id": call, "from-tag": "a"}
        offer = engine.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                                "sdp": body(a_port, "RTP/SAVP", [line])})
        assert offer["result"] == "ok", offer
        answer = engine.request({"command": "answer", **ids, "to-tag": "b",
                                 "sdp": body(b_port)})
        assert answer["result"] == "ok", answer
        [ours] = cryptos(answer["sdp"])
        assert ours.suite.name == suite and ours.mki is None
        to_b_side, to_a_side = port_of(offer["sdp"]), port_of(answer["sdp"])
        sender, receiver = _libsrtp(line, True), _libsrtp(ours.format(), False)
        for seq in range(1, 4):
            sent = rtp(seq, 0xA1A1A1A1)
            a_rtp.sendto(_with_mki(sender.protect(sent), mki, tag), ("127.0.0.1", to_a_side))
            assert _recv(b_rtp) == sent, f"RTP {seq} A -> B"
            reply = rtp(seq, 0xB1B1B1B1)
            b_rtp.sendto(reply, ("127.0.0.1", to_b_side))
            got = _recv(a_rtp)
            assert got is not None and receiver.unprotect(got) == reply, f"RTP {seq} B -> A"
        report = rtcp(0xA1A1A1A1, 1)
        rtcp_tag = 0 if tag == 0 else 10
        a_rtcp.sendto(_with_mki(sender.protect_rtcp(report), mki, rtcp_tag),
                      ("127.0.0.1", to_a_side + 1))
        assert _recv(b_rtcp) == report, "RTCP A -> B"
        # Without its MKI the same party's packet does not decrypt: dropped, not relayed.
        a_rtp.sendto(sender.protect(rtp(9, 0xA1A1A1A1)), ("127.0.0.1", to_a_side))
        assert _recv(b_rtp) is None
        engine.request({"command": "delete", "call-id": call})


@pytest.mark.parametrize("daemon", ["rtpengine", "rtpengined"])
def test_plain_offerer_to_answerer_with_mki(daemons, daemon):
    """Plain offerer, SDES answerer whose answer line's key has an MKI (it picked one of
    the daemon's suites and brings its own key): its SRTP with the MKI reaches the offerer
    decrypted; what the offerer sends reaches it encrypted with the daemon's key, without
    MKI."""
    engine = daemons[daemon]
    call = f"mki-answer-{daemon}"
    with ExitStack() as cleanup:
        a_rtp, _a_rtcp, a_port = _pair(cleanup)
        b_rtp, _b_rtcp, b_port = _pair(cleanup)
        ids = {"call-id": call, "from-tag": "a"}
        offer = engine.request({"command": "offer", **ids, "transport-protocol": "RTP/SAVP",
                                "sdp": body(a_port)})
        assert offer["result"] == "ok", offer
        offered = {c.suite.name: c for c in cryptos(offer["sdp"])}
        chosen = offered["AES_CM_128_HMAC_SHA1_80"]
        line = f"crypto:{chosen.tag} AES_CM_128_HMAC_SHA1_80 inline:{KEY}|300:1"
        answer = engine.request({"command": "answer", **ids, "to-tag": "b",
                                 "sdp": body(b_port, "RTP/SAVP", [line])})
        assert answer["result"] == "ok", answer
        to_a_side, to_b_side = port_of(answer["sdp"]), port_of(offer["sdp"])
        sender, receiver = _libsrtp(line, True), _libsrtp(chosen.format(), False)
        for seq in range(1, 4):
            sent = rtp(seq, 0xB2B2B2B2)
            # |300:1 is one byte: 10.5 keeps the low byte of the value (0x2c)
            b_rtp.sendto(_with_mki(sender.protect(sent), b"\x2c", 10), ("127.0.0.1", to_b_side))
            assert _recv(a_rtp) == sent, f"RTP {seq} B -> A"
            back = rtp(seq, 0xA2A2A2A2)
            a_rtp.sendto(back, ("127.0.0.1", to_a_side))
            got = _recv(b_rtp)
            assert got is not None and receiver.unprotect(got) == back, f"RTP {seq} A -> B"
        engine.request({"command": "delete", "call-id": call})


@pytest.mark.parametrize(("suite", "tag"), [(s, t) for s, t, _v, _n in SUITES])
def test_mki_context_frames_as_rfc_3711(suite, tag):
    """Our MKI framing on its own: what it protects is libsrtp's packet with the MKI before
    the tag, and it reads that layout back; a packet too short for its MKI is an error."""
    material = {"AEAD_AES_128_GCM": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA"}.get(suite, KEY)
    line = f"crypto:1 {suite} inline:{material}|66051:3"
    crypto = sdes.parse(line)
    mki = b"\x01\x02\x03"
    out = SrtpContext.from_sdes(crypto, outbound=True)
    assert isinstance(out, MkiContext) and out.mki == mki
    plain = rtp(5, 0x01020304)
    framed = out.protect(plain)
    bare = _libsrtp(line, True).protect(plain)
    assert len(framed) == len(bare) + 3
    assert framed[len(framed) - tag - 3: len(framed) - tag] == mki
    assert SrtpContext.from_sdes(crypto, outbound=False).unprotect(framed) == plain
    report = rtcp(0x01020304, 3)
    framed_rtcp = out.protect_rtcp(report)
    rtcp_tag = 0 if tag == 0 else 10
    assert framed_rtcp[len(framed_rtcp) - rtcp_tag - 3: len(framed_rtcp) - rtcp_tag] == mki
    assert SrtpContext.from_sdes(crypto, outbound=False).unprotect_rtcp(framed_rtcp) == report
    with pytest.raises(ValueError):
        SrtpContext.from_sdes(crypto, outbound=False).unprotect(b"\x80" + bytes(12))


def test_mki_value_as_10_5_fills_it():
    assert mki_bytes(1, 4) == b"\0\0\0\x01"
    assert mki_bytes(300, 1) == b"\x2c"
    assert mki_bytes(0x01020304, 6) == b"\0\0\x01\x02\x03\x04"
    assert mki_bytes(2**40 + 5, 4) == b"\0\0\0\x05"
