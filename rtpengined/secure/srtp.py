"""SRTP/SRTCP protection for one direction of one stream, over libsrtp (pylibsrtp).

A relay leg needs two contexts per peer: an inbound one built from the peer's key (unprotect
what it sends) and an outbound one built from our key (protect what we send it). With SDES the
keys come from the `a=crypto` lines (the peer's offer/answer and ours); with DTLS-SRTP from the
keying material the handshake exports (see `dtls.SrtpKeys`). libsrtp does the cryptography and
the replay window; this module only maps suites/profiles and keeps the per-direction policy.
"""

from __future__ import annotations

import ctypes
import functools

import pylibsrtp

from .mki import MkiContext, mki_bytes
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
# libsrtp has no profile for these SDES suites (RFC 6188's AES-256 counter mode, RFC 4568's
# NULL cipher), but its crypto policy can name them directly: (cipher type, cipher key
# length with salt, RTP auth tag length). Every one authenticates with HMAC-SHA1 (20-byte
# key); SRTCP always carries the 80-bit tag (RFC 4568 6.2). Not here: F8 (not in libsrtp 2)
# and AES-192, whose session keys libsrtp derives otherwise than rtpengine and the Perl
# SRTP of rtpengine's test harness do (tests/test_interop_srtp_suites.py shows it): libsrtp 2
# runs its key derivation with AES-256 over the zero-padded key for every master key longer
# than AES-128's, where RFC 6188 derives AES-192 keys with AES-192.
_AES_ICM_128, _AES_ICM_256, _NULL_CIPHER = 1, 5, 0
_HMAC_SHA1 = 3
_CONFIDENTIALITY, _AUTHENTICATION = 1, 2
_POLICIES = {
    "AES_256_CM_HMAC_SHA1_80": (_AES_ICM_256, 46, 10),
    "AES_256_CM_HMAC_SHA1_32": (_AES_ICM_256, 46, 4),
    "AES_CM_128_HMAC_SHA1_80": (_AES_ICM_128, 30, 10),
    "AES_CM_128_HMAC_SHA1_32": (_AES_ICM_128, 30, 4),
    "NULL_HMAC_SHA1_80": (_NULL_CIPHER, 30, 10),
    "NULL_HMAC_SHA1_32": (_NULL_CIPHER, 30, 4),
}
# SDES session parameters (RFC 4568 6.3.2-6.3.4) as the services they take away (not for
# the AEAD suites, whose one transform does both).
_PARAMETERS = {
    "UNENCRYPTED_SRTP": ("rtp", _CONFIDENTIALITY),
    "UNENCRYPTED_SRTCP": ("rtcp", _CONFIDENTIALITY),
    "UNAUTHENTICATED_SRTP": ("rtp", _AUTHENTICATION),
}
_NULL_AUTH = 0
# The fields of libsrtp's srtp_crypto_policy_t, in order (all 32-bit): pylibsrtp's binding
# declares the struct opaque, so they are written through an int view, checked at import
# against what libsrtp's own profile set-up writes (``_policy_layout_ok``).
_FIELDS = ("cipher_type", "cipher_key_len", "auth_type", "auth_key_len", "auth_tag_len",
           "sec_serv")


def _policy_view(policy: pylibsrtp.Policy, which: str):
    return pylibsrtp._binding.ffi.cast(
        "int32_t *", pylibsrtp._binding.ffi.addressof(getattr(policy._policy, which)))


def _policy_layout_ok() -> bool:
    """Whether srtp_crypto_policy_t is laid out as ``_FIELDS`` in this libsrtp build: what
    libsrtp writes for AES_CM_128_HMAC_SHA1_32 read back through the view (RTP with the
    32-bit tag, RTCP with the 80-bit one, both encrypted and authenticated)."""
    ffi = pylibsrtp._binding.ffi
    if ffi.sizeof("srtp_crypto_policy_t") != 4 * len(_FIELDS):
        return False
    policy = pylibsrtp.Policy(key=bytes(30),
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32)
    rtp, rtcp = _policy_view(policy, "rtp"), _policy_view(policy, "rtcp")
    return ([rtp[i] for i in range(6)] == [_AES_ICM_128, 30, _HMAC_SHA1, 20, 4, 3]
            and [rtcp[i] for i in range(6)] == [_AES_ICM_128, 30, _HMAC_SHA1, 20, 10, 3])


_DIRECT_POLICIES = _policy_layout_ok()

# SDES suites an SrtpContext can be built for (answer() takes this as `supported`).
SUPPORTED_SUITES = ("AEAD_AES_256_GCM", "AEAD_AES_128_GCM") + (
    tuple(name for name in _POLICIES if name not in LIBSRTP_PROFILES)
    if _DIRECT_POLICIES else ()) + ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")

SrtpError = pylibsrtp.Error
REPLAY_WINDOW = 0x7FFF  # the largest replay window libsrtp takes


class SrtpContext:
    """Protects (outbound) or unprotects (inbound) SRTP and SRTCP with one master key+salt.

    Any SSRC is accepted (libsrtp's ssrc_any policies): a relay leg does not know the SSRCs in
    advance. Retransmitted packets may be protected again (allow_repeat_tx), as a relay
    forwarding a peer's retransmission must.
    """

    __slots__ = ("outbound", "profile", "_policy", "_session")

    def __init__(self, profile: str, key_salt: bytes, outbound: bool,
                 parameters: tuple[str, ...] | frozenset[str] = ()) -> None:
        """``profile``: a DTLS-SRTP profile or an SDES suite name; ``parameters``: the SDES
        session parameters of the line (``UNENCRYPTED_SRTP``...)."""
        ssrc_type = (pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound
                     else pylibsrtp.Policy.SSRC_ANY_INBOUND)
        if profile in LIBSRTP_PROFILES and not parameters:
            policy = pylibsrtp.Policy(key=key_salt, srtp_profile=LIBSRTP_PROFILES[profile],
                                      ssrc_type=ssrc_type)
        else:
            policy = _direct_policy(profile, key_salt, ssrc_type, parameters)
        policy.allow_repeat_tx = True
        # libsrtp refuses an index further behind the highest one seen than its replay
        # window, protecting as well as unprotecting: one packet whose sequence number
        # jumped ahead (or numbers started anew under the same SSRC) stopped all that
        # followed. The largest window takes any index a 16-bit sequence number can fall
        # back to, as 10.5 relays what comes; a packet seen before is still a replay
        # (4 KB per SSRC).
        policy.window_size = REPLAY_WINDOW
        self.outbound = outbound
        self.profile = profile
        self._policy = policy  # (its key, for the rollover guesses' streams of the C helper)
        self._session = pylibsrtp.Session(policy)

    @classmethod
    def from_sdes(cls, crypto: Crypto, outbound: bool) -> SrtpContext | MkiContext:
        """The context for one `a=crypto` line; behind the MKI framing if it has one."""
        context = cls(crypto.suite.name, crypto.key_salt, outbound, crypto.flags)
        if crypto.mki is None:
            return context
        return MkiContext(context, mki_bytes(*crypto.mki), crypto.suite.name, crypto.flags)

    def handles(self) -> tuple[object, int, int, int, int, int, tuple[int, ...] | None]:
        """(owner, libsrtp session, srtp_protect, srtp_unprotect, srtp_protect_rtcp,
        srtp_unprotect_rtcp, guesses) as addresses, for the relay's C loop to call libsrtp
        on this context's own session (one replay window and rollover counter whichever
        loop relays the stream); ``owner`` frees the session when it goes, so whoever holds
        the addresses keeps it. ``guesses``: what the C helper's rollover guesses call
        (``rollover_handles``), for an inbound context; None for an outbound one or where
        libsrtp does not have them. ValueError if pylibsrtp no longer looks as this
        expects."""
        try:
            ffi, lib = pylibsrtp._binding.ffi, pylibsrtp._binding.lib
            session = self._session._srtp[0]
            guesses = None
            if not self.outbound:
                policy = self._policy._policy
                guesses = rollover_handles(int(ffi.cast("uintptr_t", policy)),
                                           ffi.sizeof("srtp_policy_t"))
            return ((self._session, self._policy), int(ffi.cast("uintptr_t", session)),
                    *(int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))
                      for name in ("srtp_protect", "srtp_unprotect", "srtp_protect_rtcp",
                                   "srtp_unprotect_rtcp")), guesses)
        except (AttributeError, TypeError, IndexError) as exc:
            raise ValueError(f"pylibsrtp's session cannot be handed over: {exc}") from exc

    def protect(self, rtp: bytes) -> bytes:
        return self._session.protect(rtp)

    def unprotect(self, srtp: bytes) -> bytes:
        """Raises SrtpError on authentication failure or replay."""
        return self._session.unprotect(srtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        return self._session.protect_rtcp(rtcp)

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        return self._session.unprotect_rtcp(srtcp)


def rollover_handles(policy: int, size: int) -> tuple[int, ...] | None:
    """What the C helper needs to guess at a sender's rollover counter as 10.5 does
    (``unprotect_rtp`` in media/_relay.c): the policy's address and size, and libsrtp's
    srtp_create, srtp_dealloc, srtp_add_stream, srtp_remove_stream, srtp_get_stream_roc and
    srtp_set_stream_roc. pylibsrtp's binding declares the first four; the ROC calls are in
    the libsrtp it links (2.x exports them) and are looked up there, in the same loaded
    library. None where they are not."""
    calls = _rollover_calls()
    return None if calls is None else (policy, size, *calls)


@functools.cache
def _rollover_calls() -> tuple[int, ...] | None:
    ffi, lib = pylibsrtp._binding.ffi, pylibsrtp._binding.lib
    try:
        library = ctypes.CDLL(pylibsrtp._binding.__file__)
        roc_calls = [ctypes.cast(getattr(library, name), ctypes.c_void_p).value
                     for name in ("srtp_get_stream_roc", "srtp_set_stream_roc")]
    except (OSError, AttributeError):
        return None
    if not all(roc_calls):
        return None
    return (*(int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))
              for name in ("srtp_create", "srtp_dealloc", "srtp_add_stream",
                           "srtp_remove_stream")), *roc_calls)


def _direct_policy(profile: str, key_salt: bytes, ssrc_type: int,
                   parameters: tuple[str, ...] | frozenset[str]) -> pylibsrtp.Policy:
    """A libsrtp policy for a suite without a libsrtp profile, or with session parameters:
    the crypto policy's fields written as libsrtp's own set-up functions would."""
    unknown = set(parameters) - set(_PARAMETERS)
    if not _DIRECT_POLICIES or unknown or profile not in _POLICIES:
        raise ValueError(f"SRTP profile {profile} {sorted(parameters)} is not supported by "
                         "libsrtp here")
    cipher, key_len, tag_len = _POLICIES[profile]
    if len(key_salt) != key_len:
        raise ValueError(f"{profile} needs {key_len} bytes of key and salt")
    # set up as AES_CM_128_HMAC_SHA1_80 (pylibsrtp takes any key at least that long), then
    # made the suite
    policy = pylibsrtp.Policy(key=key_salt,
                              srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
                              ssrc_type=ssrc_type)
    services = {"rtp": _CONFIDENTIALITY | _AUTHENTICATION,
                "rtcp": _CONFIDENTIALITY | _AUTHENTICATION}
    if cipher == _NULL_CIPHER:
        services = {"rtp": _AUTHENTICATION, "rtcp": _AUTHENTICATION}
    for name in parameters:
        which, service = _PARAMETERS[name]
        services[which] &= ~service
    for which, tag in (("rtp", tag_len), ("rtcp", 10)):
        view = _policy_view(policy, which)
        if services[which] & _AUTHENTICATION:
            fields = (cipher, key_len, _HMAC_SHA1, 20, tag, services[which])
        else:  # as libsrtp's own "null auth" policies: no auth transform, no tag
            fields = (cipher, key_len, _NULL_AUTH, 0, 0, services[which])
        for i, value in enumerate(fields):
            view[i] = value
    return policy
