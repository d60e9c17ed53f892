"""Differential: when a re-INVITE keeps our port and our ICE credentials, against rtpengine 10.5.

The rules probed (RFC 8445 9 and 10.5's behaviour):

* a party that restarts ICE (new ufrag/pwd in its re-offer) gets an answer with new
  credentials of ours too, on the same port;
* a re-offer that changes nothing keeps port and credentials;
* a re-offer from a party that moved (new address or port) keeps our port on a leg that speaks
  ICE (the checks find the party wherever it went) and so keeps the credentials; with
  ``no-port-latching`` the port changes, and new ports on an ICE leg restart our ICE (new
  credentials); without ICE the port changes as before;
* a re-offer towards a leg that already uses rtcp-mux keeps its single port (no fallback port
  is offered, so none is bound), credentials included.

The usual normaliser hides credentials entirely; here each distinct ufrag and pwd becomes a
symbol by order of appearance (U1, U2, ...), so "the same credentials as before" and "new
ones" compare between the two daemons like ports do.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from differential import (
    Normaliser,
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    describe_difference,
    offer,
    sdp,
)


class CredentialNormaliser(Normaliser):
    """Ports as usual; ICE credentials as symbols by first appearance."""

    def __init__(self, port_range: tuple[int, int]) -> None:
        super().__init__(port_range)
        self.credentials: dict[str, str] = {}

    def sdp(self, text: str) -> str:
        def symbol(match: re.Match) -> str:
            kind, value = match.group(1), match.group(2)
            key = f"{kind}:{value}"
            if key not in self.credentials:
                count = sum(1 for k in self.credentials if k.startswith(kind + ":"))
                self.credentials[key] = f"{kind[4].upper()}{count + 1}"
            return f"a=x-{kind}:{self.credentials[key]}"

        # Symbols under a name the base class leaves alone, then the real name back.
        text = super().sdp(re.sub(r"a=(ice-ufrag|ice-pwd):(\S+)", symbol, text))
        return text.replace("a=x-ice-", "a=ice-")

def converse(daemon, steps: list[dict[str, Any]], call_id: str) -> list[Any]:
    normaliser = CredentialNormaliser(daemon.port_range)
    return [normaliser.value(daemon.request({**step, "call-id": call_id})) for step in steps]


@pytest.fixture(name="pair")
def pair_fixture(default_pair):
    return default_pair


_scenarios = iter(range(1, 1000))


def compare(pair, steps: list[dict[str, Any]], name: str) -> list[Any]:
    call_id = f"ice-restart-{name}-{next(_scenarios)}"
    expected = converse(pair.reference, steps, call_id)
    got = converse(pair.ours, steps, call_id)
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want != have:
            raise AssertionError(f"step {index} differs:\n" + describe_difference(want, have))
    return got


HEAD = ["v=0", "o=- 1545997027 1 IN IP4 127.0.0.1", "s=tester", "t=0 0"]


def party(port: int, *extra: str, address: str = "127.0.0.1") -> str:
    return sdp(*HEAD, f"m=audio {port} RTP/AVP 8", f"c=IN IP4 {address}", *extra)


def ice(ufrag: str, pwd: str, port: int) -> list[str]:
    return [f"a=ice-ufrag:{ufrag}", f"a=ice-pwd:{pwd}",
            f"a=candidate:1 1 UDP 2130706303 127.0.0.1 {port} typ host",
            f"a=candidate:1 2 UDP 2130706302 127.0.0.1 {port + 1} typ host"]


def _ufrag(reply: Any) -> str:
    text = dict(reply)["sdp"]
    return re.search(r"a=ice-ufrag:(\S+)", text).group(1)


def _port(reply: Any) -> Any:
    return re.search(r"m=audio (\S+)", dict(reply)["sdp"]).group(1)


def test_party_restarting_ice_gets_new_credentials_on_the_same_port(pair):
    first = ice("q2758e93", "bd5e845657ecb8d6dd8e1bc6", 6126)
    restart = ice("qdgsdfs3", "bd5e8gssdfecb8d6dd8e1bc6", 6126)
    got = compare(pair, [
        offer(party(16478, *first), ICE="remove"),
        answer(party(16478)),
        offer(party(16478, *restart)),
        answer(party(16478)),
    ], "party-restart")
    assert _port(got[1]) == _port(got[3])
    assert _ufrag(got[1]) != _ufrag(got[3])


def test_unchanged_reoffer_keeps_credentials(pair):
    creds = ice("q2758e93", "bd5e845657ecb8d6dd8e1bc6", 6126)
    got = compare(pair, [
        offer(party(16478, *creds), ICE="remove"),
        answer(party(16478)),
        offer(party(16478, *creds)),
        answer(party(16478)),
    ], "unchanged")
    assert (_port(got[1]), _ufrag(got[1])) == (_port(got[3]), _ufrag(got[3]))


@pytest.mark.parametrize("flags", [[], ["no-port-latching"], ["port-latching"]])
def test_moved_offerer_towards_an_ice_leg(pair, flags):
    """ICE forced towards the callee: the offerer's new port keeps ours (and our ufrag),
    except with no-port-latching, where new ports mean new credentials too."""
    got = compare(pair, [
        offer(party(16478), ICE="force", flags=flags),
        offer(party(16478), ICE="force", flags=flags),
        offer(party(16480), ICE="force", flags=flags),
    ], "moved-" + "-".join(flags))
    assert _port(got[0]) == _port(got[1])
    moved = _port(got[1]) != _port(got[2])
    assert moved == ("no-port-latching" in flags)
    assert (_ufrag(got[1]) != _ufrag(got[2])) == moved


def test_moved_offerer_without_ice_gets_a_new_port(pair):
    got = compare(pair, [
        offer(party(16478)),
        offer(party(16480)),
    ], "moved-plain")
    assert _port(got[0]) != _port(got[1])


def test_reoffer_towards_a_muxed_ice_leg_after_hold_keeps_its_port(pair):
    """The caller's leg uses rtcp-mux (one port) and ICE; after a hold the callee re-offers:
    the caller keeps its port and our credentials (no ICE restart)."""
    a_ice = ["a=ice-pwd:bd5dfhdfddd8e1bc6", "a=ice-ufrag:q25293",
             "a=candidate:1 1 UDP 2130706303 127.0.0.1 4024 typ host", "a=rtcp-mux"]
    caller = {"ICE": "remove", "ICE-lite": "backward", "rtcp-mux": ["demux"]}
    got = compare(pair, [
        offer(party(4024, *a_ice), **caller),
        answer(party(4026), ICE="force"),
        offer(party(4024, *a_ice, "a=inactive"), **caller),
        answer(party(4026, "a=inactive", address="0.0.0.0"), ICE="force",
               replace=["zero-address"]),
        offer(party(4026), tag="B", **{"to-tag": "A", "ICE-lite": "forward", "ICE": "force",
                                        "rtcp-mux": ["offer"]}),
    ], "hold-mux")
    assert _port(got[1]) == _port(got[3]) == _port(got[4])
    assert _ufrag(got[1]) == _ufrag(got[3]) == _ufrag(got[4])
