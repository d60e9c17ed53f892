"""SRTP master key identifiers (MKI, RFC 3711 3.1): where they sit in a packet, nothing more.

An `a=crypto` line may end its key with `|<value>:<length>` (RFC 4568): the party then
carries that many bytes of MKI in every SRTP and SRTCP packet it sends. libsrtp can only do
this with a key table set up through calls pylibsrtp does not expose, but no cryptography
touches the MKI: it is not encrypted and not authenticated. So a context for a line with an
MKI is the line's ordinary context (pylibsrtp's or the C helper's) behind this framing: the
MKI is taken out of what arrives before libsrtp sees it, and put into what libsrtp produced
before it leaves. Like rtpengine 10.5, an arriving MKI is removed, not compared: a relay leg
has one master key, so there is nothing for it to select.

Where the MKI goes (RFC 3711 3.1 and 3.4, RFC 7714 for AEAD): after the encrypted portion
(for SRTCP after the E flag and SRTCP index), before the authentication tag; an AEAD suite's
tag is inside its ciphertext and a transform without authentication has no tag, so there it
is the last field. SRTCP is always authenticated (UNAUTHENTICATED_SRTP is about SRTP only).
"""

from __future__ import annotations

from typing import Protocol

from .sdes import SUITES_BY_NAME

_SRTCP_TAG = 10  # HMAC-SHA1-80 on SRTCP for every HMAC suite (RFC 4568 6.2)
_RTP_HEADER = 12
_SRTCP_MIN = 8 + 4  # an RTCP header and the E flag with the SRTCP index


class Transform(Protocol):
    def protect(self, rtp: bytes) -> bytes: ...
    def unprotect(self, srtp: bytes) -> bytes: ...
    def protect_rtcp(self, rtcp: bytes) -> bytes: ...
    def unprotect_rtcp(self, srtcp: bytes) -> bytes: ...


def tag_lengths(suite: str, parameters: tuple[str, ...] | frozenset[str] = ()) -> tuple[int, int]:
    """(SRTP, SRTCP) bytes that follow the MKI: the authentication tags outside the
    ciphertext. ValueError for a suite name that is not an SDES suite."""
    found = SUITES_BY_NAME.get(suite)
    if found is None:
        raise ValueError(f"no MKI framing for {suite}")
    if found.aead:
        return 0, 0
    rtp = 0 if "UNAUTHENTICATED_SRTP" in parameters else found.rtp_tag_len
    return rtp, _SRTCP_TAG


def mki_bytes(value: int, length: int) -> bytes:
    """The MKI field for `|<value>:<length>`: the value in network order in ``length``
    bytes. As 10.5 fills it: from the value's low 32 bits, zeros in front of a longer field
    and the last bytes of a shorter one (so `|300:1` is one byte 0x2c, not an error)."""
    word = (value & 0xFFFFFFFF).to_bytes(4, "big")
    return word[4 - length:] if length <= 4 else bytes(length - 4) + word


class MkiContext:
    """One direction's SRTP context for a key with an MKI: ``inner`` does the cryptography,
    this only removes or inserts the MKI. Same four methods as the contexts it wraps, so
    the relay's drains use it unchanged; a packet too short to hold the MKI raises
    ValueError (the drains count it as an error, as a failed authentication)."""

    __slots__ = ("inner", "mki", "_rtp_tag", "_rtcp_tag")

    def __init__(self, inner: Transform, mki: bytes, suite: str,
                 parameters: tuple[str, ...] | frozenset[str] = ()) -> None:
        if not mki:
            raise ValueError("an empty MKI")
        self.inner = inner
        self.mki = bytes(mki)
        self._rtp_tag, self._rtcp_tag = tag_lengths(suite, parameters)

    def protect(self, rtp: bytes) -> bytes:
        return self._insert(self.inner.protect(rtp), self._rtp_tag)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        return self._insert(self.inner.protect_rtcp(rtcp), self._rtcp_tag)

    def unprotect(self, srtp: bytes) -> bytes:
        return self.inner.unprotect(self._remove(srtp, self._rtp_tag, _RTP_HEADER))

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        return self.inner.unprotect_rtcp(self._remove(srtcp, self._rtcp_tag, _SRTCP_MIN))

    def _insert(self, packet: bytes, tag: int) -> bytes:
        cut = len(packet) - tag
        return packet[:cut] + self.mki + packet[cut:]

    def _remove(self, packet: bytes, tag: int, minimum: int) -> bytes:
        end = len(packet) - tag
        start = end - len(self.mki)
        if start < minimum:
            raise ValueError("packet too short for its MKI")
        return packet[:start] + packet[end:]
