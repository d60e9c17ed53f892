"""SRTP/SRTCP protection for one direction of one stream, over libsrtp (pylibsrtp).

A relay leg needs two contexts per peer: an inbound one built from the peer's key (unprotect
what it sends) and an outbound one built from our key (protect what we send it). With SDES the
keys come from the `a=crypto` lines (the peer's offer/answer and ours); with DTLS-SRTP from the
keying material the handshake exports (see `dtls.SrtpKeys`). libsrtp does the cryptography and
the replay window; this module only maps suites/profiles and keeps the per-direction policy.
"""

from __future__ import annotations

import pylibsrtp

from .sdes import Crypto

# SDES suite names / DTLS-SRTP profile names -> libsrtp profile ids (the four pylibsrtp exposes).
LIBSRTP_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    # RFC 5764 / RFC 7714 profile names as OpenSSL reports them
    "SRTP_AES128_CM_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "SRTP_AES128_CM_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    "SRTP_AEAD_AES_128_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    "SRTP_AEAD_AES_256_GCM": pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
# SDES suites an SrtpContext can be built for (answer() takes this as `supported`).
SUPPORTED_SUITES = ("AEAD_AES_256_GCM", "AEAD_AES_128_GCM",
                    "AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")

SrtpError = pylibsrtp.Error


class SrtpContext:
    """Protects (outbound) or unprotects (inbound) SRTP and SRTCP with one master key+salt.

    Any SSRC is accepted (libsrtp's ssrc_any policies): a relay leg does not know the SSRCs in
    advance. Retransmitted packets may be protected again (allow_repeat_tx), as a relay
    forwarding a peer's retransmission must.
    """

    __slots__ = ("outbound", "profile", "_session")

    def __init__(self, profile: str, key_salt: bytes, outbound: bool) -> None:
        try:
            profile_id = LIBSRTP_PROFILES[profile]
        except KeyError:
            raise ValueError(f"SRTP profile {profile} is not supported by libsrtp here") from None
        policy = pylibsrtp.Policy(
            key=key_salt, srtp_profile=profile_id,
            ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND)
        policy.allow_repeat_tx = True
        self.outbound = outbound
        self.profile = profile
        self._session = pylibsrtp.Session(policy)

    @classmethod
    def from_sdes(cls, crypto: Crypto, outbound: bool) -> SrtpContext:
        if crypto.flags or crypto.mki is not None:
            raise ValueError("SDES session parameters and MKI are not supported by this context")
        return cls(crypto.suite.name, crypto.key_salt, outbound)

    def protect(self, rtp: bytes) -> bytes:
        return self._session.protect(rtp)

    def unprotect(self, srtp: bytes) -> bytes:
        """Raises SrtpError on authentication failure or replay."""
        return self._session.unprotect(srtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        return self._session.protect_rtcp(rtcp)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        return self._session.unprotect_rtcp(srtcp)
