"""Differential: subscriptions to parties with refused media, and ``all``, beside 10.5.

Found by a stateful fuzz run: ``subscribe request`` with ``ICE: force`` to a party that had
a refused media (port 0) failed with "Internal error" (there is no RTP stream to speak ICE
on). Comparing the neighbourhood with 10.5 turned up three more differences, each fixed:

- ``flags: [all]`` takes the parties that offered or answered (10.5's FROM_TAG and TO_TAG
  parties): not a callee that has not answered yet (we subscribed to it, with an empty
  format list), nor a publisher (10.5: "No call participant specified").
- A refused media of a subscription offer names the interface it would have used, in the
  family of the publisher's own c= (we wrote ``0.0.0.0``); the session's c= is rewritten
  only where a media goes by it, as in offers.
- An offer whose media are all refused keeps the body's family in the session c= (an IPv6
  body got our IPv4 address).
"""

from __future__ import annotations

import pytest
from differential import DaemonPair, answer, delete, offer, sdp
from test_diff_pubsub import _mask_made, subscribe

V4 = ("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.10", "t=0 0")
V6 = ("v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=-", "c=IN IP6 2001:db8::10", "t=0 0")
REFUSED_THEN_AUDIO = sdp(*V4, "m=audio 0 RTP/AVP 0", "m=audio 6000 RTP/AVP 0")
AUDIO_THEN_REFUSED = sdp(*V4, "m=audio 6000 RTP/AVP 0", "m=audio 0 RTP/AVP 0",
                         "m=video 0 RTP/AVP 96")
ALL_REFUSED = sdp(*V4, "m=audio 0 RTP/AVP 0")
ALL_REFUSED_V6 = sdp(*V6, "m=audio 0 RTP/AVP 0")
REFUSED_OWN_C = sdp(*V4, "m=audio 0 RTP/AVP 0", "c=IN IP4 192.0.2.11")
NO_SESSION_C = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0",
                   "m=audio 0 RTP/AVP 0", "c=IN IP4 192.0.2.10",
                   "m=audio 6000 RTP/AVP 0", "c=IN IP4 192.0.2.10")
AUDIO = sdp(*V4, "m=audio 6000 RTP/AVP 0 8")
B = sdp("v=0", "o=- 2 2 IN IP4 192.0.2.2", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
        "m=audio 7000 RTP/AVP 8")


def _subscriptions(body: str) -> list[dict]:
    """An offer, then subscriptions to its party: plain, with ICE, towards IPv6."""
    return [offer(body), subscribe(**{"from-tag": "A"}),
            subscribe("S2", **{"from-tag": "A", "ICE": "force"}),
            subscribe("S3", **{"from-tag": "A", "address-family": "IP6"}),
            subscribe("S4", **{"from-tag": "A", "ICE": "force", "rtcp-mux": ["require"]}),
            subscribe("S5", **{"from-tag": "A", "rtcp-mux": ["require"]}),
            subscribe("S6", **{"from-tag": "A", "rtcp-mux": ["offer"]}),
            delete()]


SCENARIOS = {
    "plain": _subscriptions(AUDIO),
    "refused first": _subscriptions(REFUSED_THEN_AUDIO),
    "refused after": _subscriptions(AUDIO_THEN_REFUSED),
    "all refused": _subscriptions(ALL_REFUSED),
    "all refused, IPv6": _subscriptions(ALL_REFUSED_V6),
    "refused with its own c=": _subscriptions(REFUSED_OWN_C),
    "no session c=": _subscriptions(NO_SESSION_C),
    "all, callee not answered yet": [
        offer(AUDIO), subscribe(flags=["all"]), answer(B),
        subscribe("S2", flags=["all"]), delete()],
    "all, refused media only": [offer(ALL_REFUSED), subscribe(flags=["all"]), delete()],
    "all, publisher only": [
        {"command": "publish", "from-tag": "P", "sdp": AUDIO, "_mask": _mask_made},
        subscribe(flags=["all"]), subscribe("S2", **{"from-tag": "P"}), delete()],
}


@pytest.fixture(scope="module")
def pair():
    daemons = DaemonPair(interfaces=("127.0.0.1", "::1"),
                         ranges=((22000, 22999), (23000, 23999)))
    yield daemons
    daemons.stop()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_subscribe_refused_as_rtpengine(pair, name):
    pair.compare(SCENARIOS[name], name)
