"""The session gauges by address family (``list numsessions``' "ipv4 only", "ipv6 only" and
"ip mixed" media, ``--graphite``'s ``current_sessions_ipv4``...), kept as calls change
instead of counted over every call when asked.

A call counts once it has an offering and an answering party that advertised addresses:
IPv4 or IPv6 when both sides used that family alone, mixed otherwise (a side offering both
takes the other side's single family, as in 10.5). The call model files a call again
whenever a command, a timer or Janus may have changed its parties (the moments the call
store hears of it too: ``CallManager.changed``), and takes it out as it ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Call, Monologue

NOT_COUNTED, IPV4, IPV6, MIXED = range(4)


def _families(monologue: Monologue) -> set[str]:
    families = set()
    for media in monologue.medias:
        for stream in media.streams:
            if not stream.rtcp and stream.advertised is not None and stream.advertised.address:
                families.add(stream.advertised.family)
    return families


def family_of(call: Call) -> int:
    """Which gauge ``call`` counts in (``NOT_COUNTED`` before it has both sides)."""
    offerer = answerer = None
    for monologue in call.monologues:
        if monologue.tag_type == "FROM_TAG" and offerer is None:
            offerer = monologue
        elif monologue.tag_type == "TO_TAG" and answerer is None:
            answerer = monologue
    if offerer is None or answerer is None:
        return NOT_COUNTED
    offer, answer = _families(offerer), _families(answerer)
    if not offer or not answer:
        return NOT_COUNTED
    if len(offer) > 1 and len(answer) == 1:
        offer = answer
    elif len(answer) > 1 and len(offer) == 1:
        answer = offer
    if len(offer) > 1 or offer != answer:
        return MIXED
    return IPV4 if offer == {"IPv4"} else IPV6


class FamilyGauges:
    """The number of calls in each gauge; each call remembers where it counts."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0, 0]  # by gauge (NOT_COUNTED's is not read)

    def refile(self, call: Call) -> None:
        """``call`` may have changed: count it where it belongs now."""
        family = family_of(call)
        if family != call.family:
            self.counts[call.family] -= 1
            self.counts[family] += 1
            call.family = family

    def remove(self, call: Call) -> None:
        """``call`` ended."""
        self.counts[call.family] -= 1
        call.family = NOT_COUNTED

    def gauges(self) -> tuple[int, int, int]:
        """(ipv4, ipv6, mixed)."""
        return self.counts[IPV4], self.counts[IPV6], self.counts[MIXED]
