"""SRTP contexts checked against an independent SRTP written here from RFC 3711 with AES/HMAC
primitives (its key derivation and keystream first proven on the RFC's Appendix B vectors)."""

import hashlib
import hmac
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from rtpengined.secure import sdes, srtp

MASTER_KEY = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")  # RFC 3711 B.3
MASTER_SALT = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")


def aes_cm(key: bytes, iv16: bytes, length: int) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv16)).encryptor()
    return enc.update(b"\x00" * length) + enc.finalize()


def derive(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    """RFC 3711 4.3.1 with key_derivation_rate 0: x = (label << 48) XOR master_salt."""
    x = int.from_bytes(master_salt, "big") ^ (label << 48)
    return aes_cm(master_key, (x << 16).to_bytes(16, "big"), length)


def reference_protect(rtp: bytes, roc: int, tag_len: int, master_key: bytes = MASTER_KEY,
                      master_salt: bytes = MASTER_SALT, encrypt: bool = True) -> bytes:
    """SRTP AES_CM_*_HMAC_SHA1 per RFC 3711 3.1, 4.1.1, 4.2 (header without CSRC/extension);
    the AES-256 suites derive with AES-256 (RFC 6188 7.2); ``encrypt=False`` is the NULL
    cipher or UNENCRYPTED_SRTP, ``tag_len=0`` UNAUTHENTICATED_SRTP."""
    k_e = derive(master_key, master_salt, 0, len(master_key))
    k_a = derive(master_key, master_salt, 1, 20)
    k_s = derive(master_key, master_salt, 2, 14)
    seq, = struct.unpack_from("!H", rtp, 2)
    ssrc, = struct.unpack_from("!I", rtp, 8)
    index = (roc << 16) | seq
    iv = (int.from_bytes(k_s, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    payload = rtp[12:]
    if encrypt:
        ks = aes_cm(k_e, iv.to_bytes(16, "big"), len(payload))
        payload = bytes(a ^ b for a, b in zip(payload, ks, strict=True))
    protected = rtp[:12] + payload
    tag = hmac.new(k_a, protected + struct.pack("!I", roc), hashlib.sha1).digest()[:tag_len]
    return protected + tag


def reference_protect_rtcp(rtcp: bytes, index: int, master_key: bytes = MASTER_KEY,
                           master_salt: bytes = MASTER_SALT, encrypt: bool = True) -> bytes:
    """SRTCP per RFC 3711 3.4 and 4.1.1 (labels 3-5, the E flag and index, 80-bit tag)."""
    k_e = derive(master_key, master_salt, 3, len(master_key))
    k_a = derive(master_key, master_salt, 4, 20)
    k_s = derive(master_key, master_salt, 5, 14)
    ssrc, = struct.unpack_from("!I", rtcp, 4)
    iv = (int.from_bytes(k_s, "big") << 16) ^ (ssrc << 64) ^ (index << 16)
    body = rtcp[8:]
    if encrypt:
        ks = aes_cm(k_e, iv.to_bytes(16, "big"), len(body))
        body = bytes(a ^ b for a, b in zip(body, ks, strict=True))
    sealed = rtcp[:8] + body + struct.pack("!I", (0x80000000 if encrypt else 0) | index)
    return sealed + hmac.new(k_a, sealed, hashlib.sha1).digest()[:10]


def test_reference_keystream_matches_rfc3711_b2():
    key = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
    iv = bytes.fromhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
    assert aes_cm(key, iv, 48).hex().upper() == (
        "E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0")


def test_reference_key_derivation_matches_rfc3711_b3():
    assert derive(MASTER_KEY, MASTER_SALT, 0, 16).hex().upper() == "C61E7A93744F39EE10734AFE3FF7A087"
    assert derive(MASTER_KEY, MASTER_SALT, 2, 14).hex().upper() == "30CBBC08863D8C85D49DB34A9AE1"
    assert derive(MASTER_KEY, MASTER_SALT, 1, 20).hex().upper() == "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"


def rtp(seq: int, ssrc: int = 0xCAFEBABE, payload: bytes = bytes(range(160))) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


@pytest.mark.parametrize(("suite", "tag_len"), [("AES_CM_128_HMAC_SHA1_80", 10), ("AES_CM_128_HMAC_SHA1_32", 4)])
def test_protect_matches_the_independent_srtp_and_unprotects(suite, tag_len):
    crypto = sdes.Crypto(1, sdes.SUITES_BY_NAME[suite], MASTER_KEY, MASTER_SALT)
    out = srtp.SrtpContext.from_sdes(crypto, outbound=True)
    inb = srtp.SrtpContext.from_sdes(crypto, outbound=False)
    # (sequence number, rollover counter): the sequence wraps after 65535
    packets = [(1, 0), (2, 0), (65535, 0), (0, 1), (1, 1)]
    for seq, roc in packets:
        plain = rtp(seq)
        protected = out.protect(plain)
        assert protected == reference_protect(plain, roc, tag_len)
        assert inb.unprotect(protected) == plain


def test_tampered_or_replayed_packets_are_rejected():
    c = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    out, inb = srtp.SrtpContext.from_sdes(c, True), srtp.SrtpContext.from_sdes(c, False)
    p = out.protect(rtp(10))
    bad = bytearray(p)
    bad[20] ^= 1
    with pytest.raises(srtp.SrtpError):
        inb.unprotect(bytes(bad))
    assert inb.unprotect(p) == rtp(10)
    with pytest.raises(srtp.SrtpError):
        inb.unprotect(p)


@pytest.mark.parametrize("suite", srtp.SUPPORTED_SUITES)
def test_every_supported_suite_round_trips_rtp_and_rtcp(suite):
    c = sdes.generate(1, suite)
    out, inb = srtp.SrtpContext.from_sdes(c, True), srtp.SrtpContext.from_sdes(c, False)
    other = srtp.SrtpContext.from_sdes(sdes.generate(1, suite), False)
    for seq in range(1, 50):
        assert inb.unprotect(out.protect(rtp(seq))) == rtp(seq)
    rtcp = struct.pack("!BBHI", 0x80, 200, 6, 0xCAFEBABE) + bytes(20)
    sealed = out.protect_rtcp(rtcp)
    assert sealed != rtcp and inb.unprotect_rtcp(sealed) == rtcp
    with pytest.raises(srtp.SrtpError):
        other.unprotect(out.protect(rtp(99)))


MASTER_KEY_256 = bytes(range(1, 33))


# (suite, session parameters, RTP tag length, RTP encrypted, SRTCP encrypted)
POLICY_CASES = [
    ("AES_256_CM_HMAC_SHA1_80", (), 10, True, True),
    ("AES_256_CM_HMAC_SHA1_32", (), 4, True, True),
    ("NULL_HMAC_SHA1_80", (), 10, False, False),
    ("NULL_HMAC_SHA1_32", (), 4, False, False),
    ("AES_CM_128_HMAC_SHA1_80", ("UNENCRYPTED_SRTP",), 10, False, True),
    ("AES_CM_128_HMAC_SHA1_80", ("UNENCRYPTED_SRTCP",), 10, True, False),
    ("AES_CM_128_HMAC_SHA1_32", ("UNAUTHENTICATED_SRTP",), 0, True, True),
    ("AES_256_CM_HMAC_SHA1_80", ("UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP"), 10, False, False),
]


@pytest.mark.parametrize(("suite", "parameters", "tag_len", "rtp_encrypted", "rtcp_encrypted"),
                         POLICY_CASES, ids=["-".join((c[0], *c[1])) for c in POLICY_CASES])
def test_policies_libsrtp_has_no_profile_for_match_the_rfc(suite, parameters, tag_len,
                                                          rtp_encrypted, rtcp_encrypted):
    """The suites and session parameters whose libsrtp policy we write ourselves protect
    exactly as the RFCs say (checked here against the reference above) and unprotect."""
    key = MASTER_KEY_256 if "256" in suite else MASTER_KEY
    crypto = sdes.Crypto(1, sdes.SUITES_BY_NAME[suite], key, MASTER_SALT,
                         flags=frozenset(parameters))
    out = srtp.SrtpContext.from_sdes(crypto, outbound=True)
    inb = srtp.SrtpContext.from_sdes(crypto, outbound=False)
    for seq, roc in [(1, 0), (2, 0), (65535, 0), (0, 1)]:
        plain = rtp(seq)
        protected = out.protect(plain)
        assert protected == reference_protect(plain, roc, tag_len, key, MASTER_SALT,
                                              rtp_encrypted)
        assert inb.unprotect(protected) == plain
    report = struct.pack("!BBHI", 0x80, 200, 6, 0xCAFEBABE) + bytes(range(20))
    sealed = out.protect_rtcp(report)
    index = struct.unpack_from("!I", sealed, len(sealed) - 14)[0] & 0x7FFFFFFF
    assert sealed == reference_protect_rtcp(report, index, key, MASTER_SALT, rtcp_encrypted)
    assert inb.unprotect_rtcp(sealed) == report


def test_suites_libsrtp_lacks_here_say_so():
    for suite in ("F8_128_HMAC_SHA1_80", "AES_192_CM_HMAC_SHA1_80"):
        with pytest.raises(ValueError, match="not supported"):
            srtp.SrtpContext.from_sdes(sdes.generate(1, suite), True)
    # the AEAD transform does both: its session parameters are not ours to take apart
    with pytest.raises(ValueError, match="not supported"):
        srtp.SrtpContext.from_sdes(sdes.generate(1, "AEAD_AES_128_GCM", {"UNENCRYPTED_SRTP"}), True)
    # (a key with an MKI is one libsrtp does, behind the MKI framing: tests/test_sdes_mki.py)
    assert sdes.answer(sdes.offer([]), srtp.SUPPORTED_SUITES).suite.name == "AEAD_AES_256_GCM"


def test_a_sender_whose_numbers_jump_is_still_protected():
    """One packet far ahead (a sequence number jump), then the stream goes on where it was:
    libsrtp's default window refused every later packet as a replay (protect), and the
    relay dropped that direction. The receiver decrypts them all."""
    out = srtp.SrtpContext("AES_CM_128_HMAC_SHA1_80", bytes(range(30)), outbound=True)
    back = srtp.SrtpContext("AES_CM_128_HMAC_SHA1_80", bytes(range(30)), outbound=False)
    for seq in [*range(10), 5010, *range(10, 50), 30000, 50, 51]:
        packet = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234) + bytes(160)
        out.protect(packet)  # (raised for 10 after 5010)
    packet = struct.pack("!BBHII", 0x80, 0, 52, 0, 0x1234)
    assert back.unprotect(out.protect(packet)) == packet
