"""The ``reset`` flag in an offer, as rtpengine 10.5 handles it.

10.5 takes both parties' medias of a ``reset`` offer as never negotiated: ICE towards the
party offered to follows the offerer's SDP again (not what the leg last did), the ICE roles
are settled anew (we control towards the party offered to), both of our ICE agents restart
with new credentials, and the party offered to shows "initialized" again only once it
answers. rtpengined ignored the flag: a re-offer with candidates to a leg that had none
went on without ICE, and on new ports when the offerer had moved (found by differential
random flows).
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)


def body(host: str, port: int, ice: str | None = None, version: int = 1) -> str:
    lines = ["v=0", f"o=- 1 {version} IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP 0 8"]
    if ice is not None:
        lines += [f"a=ice-ufrag:{ice}", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
                  f"a=candidate:1 1 UDP 2130706431 {host} {port} typ host"]
    return sdp(*lines)


# name: (first offer's ICE option, first offer's ICE, re-offerer, its address, its ICE)
SCENARIOS = {
    "ICE removed, callee re-offers from elsewhere with ICE": (
        "remove", "abcd", "B", "198.51.100.4", "efgh"),
    "ICE removed, caller re-offers with ICE": ("remove", "abcd", "A", "198.51.100.1", "abcd"),
    "ICE forced, caller re-offers without": ("force", None, "A", "198.51.100.1", None),
    "ICE forced, caller re-offers from elsewhere without": (
        "force", None, "A", "198.51.100.3", None),
    "no ICE, callee re-offers with ICE": (None, None, "B", "198.51.100.2", "efgh"),
    "ICE both ways, caller re-offers with the same credentials": (
        None, "abcd", "A", "198.51.100.1", "abcd"),
}


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "no-reset"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_reoffer_with_reset(default_pair, name, reset):
    first_option, first_ice, who, host, ice = SCENARIOS[name]
    other = "B" if who == "A" else "A"
    callee_ice = "efgh" if first_ice is not None else None
    first = offer(body("198.51.100.1", 2000, first_ice))
    if first_option is not None:
        first["ICE"] = first_option
    again = {**offer(body(host, 4000, ice, 2)), "from-tag": who, "to-tag": other}
    if reset:
        again["flags"] = ["reset"]
    default_pair.compare([
        first,
        answer(body("198.51.100.2", 3000, callee_ice)),
        again,
        query(),
        {**answer(body("198.51.100.5", 5000, "wxyz" if ice else None, 2)),
         "from-tag": who, "to-tag": other},
        query(),
    ], f"reset-{reset}")


def _ufrag(reply: dict) -> str:
    return next(line.split(":", 1)[1] for line in reply["sdp"].splitlines()
                if line.startswith("a=ice-ufrag:"))


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "no-reset"])
def test_reset_restarts_our_ice_agents(default_pair, reset):
    """Our credentials towards both parties: new after a ``reset`` offer (10.5 restarts
    both agents), the same without."""
    changed = []
    for daemon in (default_pair.reference, default_pair.ours):
        ids = {"call-id": f"reset-credentials-{reset}"}
        offered = daemon.request({**ids, **offer(body("198.51.100.1", 2000, "abcd"))})
        answered = daemon.request({**ids, **answer(body("198.51.100.2", 3000, "efgh"))})
        again = {**ids, **offer(body("198.51.100.1", 2000, "abcd", 2)), "to-tag": "B"}
        if reset:
            again["flags"] = ["reset"]
        reoffered = daemon.request(again)
        reanswered = daemon.request({**ids, **answer(body("198.51.100.2", 3000, "efgh", 2))})
        changed.append((_ufrag(offered) != _ufrag(reoffered),
                        _ufrag(answered) != _ufrag(reanswered)))
        daemon.request({**ids, "command": "delete"})
    assert changed[1] == changed[0] == ((True, True) if reset else (False, False))
