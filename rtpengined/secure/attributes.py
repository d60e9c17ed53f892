"""The security block of a media section, in the order rtpengine 10.5 writes it.

In its output the block follows `a=rtcp`/`a=rtcp-mux` and precedes the ICE lines
(`a=ice-ufrag`, `a=ice-pwd`, `a=candidate`): every `a=crypto`, then `a=setup`, then
`a=fingerprint`. An RTP/SAVP(F) offer gets both SDES and DTLS (the answerer picks); an answer
gets what was chosen: one `a=crypto`, or `a=setup` + `a=fingerprint`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .sdes import Crypto


def security_attributes(crypto: Sequence[Crypto] = (), setup: str | None = None,
                        fingerprint: str | None = None) -> list[str]:
    """Attribute values (without `a=`) for one media section: crypto lines, setup, fingerprint."""
    out = [c.format() for c in crypto]
    if setup is not None:
        out.append(f"setup:{setup}")
    if fingerprint is not None:
        out.append(f"fingerprint:{fingerprint}")
    return out
