"""Trickle ICE SDP fragments (RFC 8840 ``application/trickle-ice-sdpfrag``), without I/O.

rtpengine 10.5 takes candidates a party gathers after its SDP as an ng ``offer`` (or
``answer``) with the ``fragment`` flag whose ``sdp`` is such a fragment: no ``v=``/``o=``
needed, ``m=`` lines only to say which media (by ``a=mid``, else by position) the
``a=candidate`` lines that follow belong to, ``a=ice-ufrag``/``a=ice-pwd`` at session or
media level. It answers a bare ``ok`` (no SDP: nothing is sent on), or ``Failed to parse
SDP`` for lines that are not SDP. Candidates for a call or party it cannot use yet (no such
call, or the party's leg has no trickling ICE yet) are kept for 3 s and applied after that
party's next offer or answer. This module parses fragments, merges candidates into what a
party's SDP gave, and keeps the pending ones; ``offer_answer.trickle`` applies them.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from typing import NamedTuple

from .. import sdp as sdpmod

MAX_CANDIDATES = 100  # per component of a leg, as 10.5 (MAX_ICE_CANDIDATES)
MAX_AGE = 3.0  # seconds a fragment for a call or party not ready yet is kept (10.5)
MAX_PENDING = 4096  # (call-id, tag) keys kept at most: the oldest go first

Candidate = tuple[str, int, int]  # (address, port, priority), as offer_answer.webrtc keeps them


class FragmentMedia(NamedTuple):
    """One ``m=`` section of a fragment: which media, and what it adds."""

    index: int  # position among the fragment's m= lines (0-based)
    mid: str | None
    ufrag: str | None  # media level, else session level
    pwd: str | None
    candidates: tuple[Candidate, ...]  # component 1 (RTP, or RTP+RTCP muxed), UDP only
    candidates_rtcp: tuple[Candidate, ...]  # component 2
    end: bool  # a=end-of-candidates


def parse_fragment(body: str) -> list[FragmentMedia]:
    """The medias of a fragment; ``sdp.SdpError('Failed to parse SDP')`` for a body that is not
    SDP lines. The leading ``v=0`` a full SDP has is optional (10.5 takes fragments without)."""
    if not body.strip():
        return []
    head = "" if body.lstrip().startswith("v=") else "v=0\r\n"
    parsed = sdpmod.parse(head + body, added=len(head))
    medias = []
    for index, section in enumerate(parsed.medias):
        def first(name: str, section=section) -> str | None:
            values = section.attributes(name) or parsed.session_attributes(name)
            return values[0].strip() if values else None

        mids = section.attributes("mid")
        rtp, rtcp = candidates(section.attributes("candidate"))
        medias.append(FragmentMedia(index, mids[0].strip() if mids else None, first("ice-ufrag"),
                                    first("ice-pwd"), rtp, rtcp,
                                    section.has_attribute("end-of-candidates")
                                    or bool(parsed.session_attributes("end-of-candidates"))))
    return medias


def candidates(values: list[str]) -> tuple[tuple[Candidate, ...], tuple[Candidate, ...]]:
    """UDP candidates of components 1 and 2 from ``a=candidate`` values (others skipped:
    foundation component transport priority address port typ type ...)."""
    found: dict[str, list[Candidate]] = {"1": [], "2": []}
    for value in values:
        parts = value.split()
        if len(parts) < 8 or parts[1] not in found or parts[2].lower() != "udp":
            continue
        try:
            port, priority = int(parts[5]), int(parts[3])
            ipaddress.ip_address(parts[4])
        except ValueError:
            continue
        # (an address we cannot send to, a port or priority out of range: never a pair; a
        # port of 99999 once made the relay worker's sendto raise and the worker restart
        # for as long as the call lasted)
        if 0 < port < 65536 and 0 <= priority < 1 << 32:
            found[parts[1]].append((parts[4], port, priority))
    return tuple(found["1"]), tuple(found["2"])


def merge(known: tuple[Candidate, ...], new: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    """``known`` plus the candidates of ``new`` at addresses not known yet; a known address
    given again with a higher priority takes it (10.5); at most ``MAX_CANDIDATES``."""
    merged = list(known)
    where = {(host, port): i for i, (host, port, _) in enumerate(merged)}
    for host, port, priority in new:
        i = where.get((host, port))
        if i is not None:
            if priority > merged[i][2]:
                merged[i] = (host, port, priority)
        elif len(merged) < MAX_CANDIDATES:
            where[(host, port)] = len(merged)
            merged.append((host, port, priority))
    return tuple(merged)


class PendingFragments:
    """Fragments waiting for their call or party, per (call-id, tag), each for ``MAX_AGE``.

    Nothing sweeps them: a key's old fragments go when it is touched, and the oldest keys
    when more than ``MAX_PENDING`` wait (fragments for calls that never come).
    """

    def __init__(self, max_keys: int = MAX_PENDING) -> None:
        self.max_keys = max_keys
        self._pending: OrderedDict[tuple[str, str], list[tuple[float, list[FragmentMedia]]]] = (
            OrderedDict())

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, call_id: str, tag: str, medias: list[FragmentMedia], now: float) -> None:
        key = (call_id, tag)
        queue = [item for item in self._pending.pop(key, []) if now - item[0] <= MAX_AGE]
        queue.append((now, medias))
        self._pending[key] = queue
        while len(self._pending) > self.max_keys:
            self._pending.popitem(last=False)

    def take(self, call_id: str, tag: str, now: float) -> list[list[FragmentMedia]]:
        """The fragments still fresh for the party, oldest first; none are kept."""
        queue = self._pending.pop((call_id, tag), None)
        if not queue:
            return []
        return [medias for received, medias in queue if now - received <= MAX_AGE]
