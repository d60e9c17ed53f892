"""SIP forking on the call model: which party a ``delete`` names, and what ending it ends.

A forked INVITE reaches several callees; the proxy offers each branch (``via-branch``) and
each gets its own party, untagged until it answers. Deleting one branch must end only that
branch: the call goes on for the others. rtpengine 10.5 decides this with two tables per
call (parties by tag, parties by via-branch) and, per party, the tags and branches it is
associated with. Here the same decisions are derived from the parties' offer/answer links
(``subscriptions``/``subscribers``, which keep a party once linked) and a party's
``destroyed`` mark (gone from both tables, still listed by ``query`` like 10.5 does).

Plain functions on the model: no ports, no timers (``calls`` acts on what they decide).
"""

from __future__ import annotations

from .model import Call, Monologue


def _by_tag(call: Call, tag: str) -> Monologue | None:
    return next((m for m in call.monologues if m.tag == tag and not m.destroyed), None)


def _by_branch(call: Call, via: str) -> Monologue | None:
    return next((m for m in call.monologues if m.via_branch == via and not m.destroyed), None)


def delete_target(call: Call, from_tag: str, to_tag: str | None,
                  via: str | None) -> Monologue | None:
    """The party a ``delete`` naming ``from_tag`` ends, or None (10.5's "not found").

    Without a to-tag the via-branch names the fork first; then the to-tag (else the
    from-tag) names the party; an unknown to-tag falls back to the via-branch, and last to
    the from-tag's party when its only peer is still untagged (a callee not answered yet).
    """
    if not to_tag and via:
        party = _by_branch(call, via)
        if party is not None:
            return party
    party = _by_tag(call, to_tag or from_tag)
    if party is not None:
        return party
    if via:
        party = _by_branch(call, via)
        if party is not None:
            return party
    if to_tag:
        party = _by_tag(call, from_tag)
        if party is not None and len(party.subscriptions) == 1 \
                and not party.subscriptions[0].tag:
            return party
    return None


def _linked(a: Monologue, b: Monologue) -> bool:
    return (b in a.subscriptions or b in a.subscribers or a in b.subscriptions
            or a in b.subscribers)


def _holds(holder: Monologue, other: Monologue) -> bool:
    """``holder`` keeps ``other`` among its associated tags or branches (10.5)."""
    if other.destroyed or not _linked(holder, other):
        return False
    return bool(other.tag and holder.tag) or bool(other.via_branch)


def teardown(call: Call, party: Monologue) -> tuple[list[Monologue], bool]:
    """Ending ``party``: the parties that go with it (itself first) and whether the call ends.

    A party associated with ``party`` that is left with no other association goes too
    (the callee of a plain call goes with its caller); the call ends once fewer than two
    tagged parties and no party of a via-branch remain.
    """
    gone = [party]
    for other in call.monologues:
        if other is party or other.destroyed:
            continue
        # Parties that share no tag or branch with it keep what they have.
        if not _linked(other, party) and (
                (party.tag and other.tag) or (party.via_branch and not party.tag)
                or (other.via_branch and not other.tag)):
            continue
        remaining = [m for m in call.monologues
                     if m is not other and m not in gone and _holds(other, m)]
        if not remaining:
            gone.append(other)
    left = [m for m in call.monologues if not m.destroyed and m not in gone]
    ends = sum(1 for m in left if m.tag) < 2 and not any(m.via_branch for m in left)
    return gone, ends
