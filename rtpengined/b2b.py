"""``--b2b-url`` and ``--xmlrpc-format``: the XML-RPC requests that ask the signalling side
(a B2BUA such as SEMS, or Kamailio) to end the SIP dialogs of a call the media proxy ended
because its media stopped (timeout, silent timeout, offer timeout; not the final timeout,
not a delete), as rtpengine 10.5 makes them.

Sans-I/O: ``teardown_requests`` turns the call into (URL, method, parameters); the daemon's
``xmlrpc_sender`` sends them. ``%%`` in the URL stands for the address of the ng client
that created the call, or the one an offer gave as ``xmlrpc-callback``. The formats:

* 0 (SEMS): ``di("sbc", "postControlCmd", tag, "teardown")`` for each party with a tag;
* 1 (call-id only): ``teardown(call-id)``;
* 2 (Kamailio): ``dlg.terminate_dlg(call-id, from-tag, to-tag)`` for each party and each
  party it sends to, a pair named once whichever way round.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .model import Call

# The reasons a call ends for that make the requests (10.5's media timeouts).
MEDIA_TIMEOUTS = frozenset({"timeout", "silent_timeout", "offer_timeout"})
SEMS, CALL_ID, KAMAILIO = 0, 1, 2


class Teardown(NamedTuple):
    url: str
    method: str
    params: tuple[str, ...]


def callback_address(text: str) -> str | None:
    """An ``xmlrpc-callback`` option's address as 10.5 reads it (an IPv4 or IPv6 address;
    None for anything else, which 10.5 warns about and ignores)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def teardown_requests(call: Call, url: str, fmt: int, callback: str | None = None
                      ) -> list[Teardown]:
    """The requests that end ``call``'s dialogs (none for a format 10.5 does not know)."""
    if "%%" in url:
        prefix, _, suffix = url.partition("%%")
        url = prefix + (callback or call.proxy_address()) + suffix
    tagged = [party for party in call.monologues if party.tag]
    if fmt == SEMS:
        return [Teardown(url, "di", ("sbc", "postControlCmd", party.tag, "teardown"))
                for party in tagged]
    if fmt == CALL_ID:
        return [Teardown(url, "teardown", (call.call_id,))]
    if fmt != KAMAILIO:
        return []
    out: list[Teardown] = []
    paired: dict[str, str] = {}  # to-tag -> from-tag of a pair already named
    for party in tagged:
        for other in (*party.subscribers, *party.pubsub_subscribers):
            if not other.tag or paired.get(other.tag) == party.tag:
                continue
            out.append(Teardown(url, "dlg.terminate_dlg", (call.call_id, party.tag, other.tag)))
            paired[party.tag] = other.tag
    return out
