"""Differential: behaviour that depends on the daemon's configuration.

Each group starts its own pair (rtpengine 10.5 and rtpengined with the same options):
named interfaces with ``direction``/``interface`` keys, IPv4+IPv6 interfaces with
``address family``, and ``--max-sessions`` with and without ``supports: [load limit]``.
"""

from __future__ import annotations

import pytest
from differential import DaemonPair, answer, delete, offer, query, sdp

A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
        "m=audio 2000 RTP/AVP 0 8", "a=sendrecv")
B = sdp("v=0", "o=- 2 2 IN IP4 10.0.0.20", "s=-", "c=IN IP4 10.0.0.20", "t=0 0",
        "m=audio 3000 RTP/AVP 0", "a=sendrecv")
SUB = sdp("v=0", "o=- 3 3 IN IP4 192.0.2.30", "s=-", "c=IN IP4 192.0.2.30", "t=0 0",
          "m=audio 4000 RTP/AVP 0", "a=recvonly")
A6 = sdp("v=0", "o=- 1 1 IN IP6 2001:db8::10", "s=-", "c=IN IP6 2001:db8::10", "t=0 0",
         "m=audio 2000 RTP/AVP 0 8", "a=sendrecv")

INTERFACE_SCENARIOS: dict[str, list[dict]] = {
    "default interface is the first": [offer(A), answer(B), query(), delete()],
    "direction external to internal": [
        offer(A, direction=["external", "internal"]), answer(B, direction=["internal", "external"]),
        query(), delete()],
    "direction internal to external": [
        offer(A, direction=["internal", "external"]), answer(B), query(), delete()],
    "direction with an unknown name": [offer(A, direction=["nowhere", "internal"]), delete()],
    "direction with one entry": [offer(A, direction=["external"]), delete()],
    "interface key": [offer(A, interface="external"), delete()],
    "direction changes on re-offer": [
        offer(A, direction=["internal", "external"]), answer(B),
        offer(A, direction=["external", "internal"]), query(), delete()],
    "media address with interfaces": [
        offer(A, direction=["internal", "external"], **{"media address": "203.0.113.1"}),
        delete()],
}

FAMILY_SCENARIOS: dict[str, list[dict]] = {
    "IPv4 SDP, default family": [offer(A), query(), delete()],
    "IPv4 SDP to IPv6": [offer(A, **{"address family": "IP6"}), answer(B), query(), delete()],
    "IPv6 SDP to IPv4": [offer(A6, **{"address family": "IP4"}), delete()],
    "IPv6 SDP, no family": [offer(A6), answer(B), query(), delete()],
    "address family unknown value": [offer(A, **{"address family": "IPX"}), delete()],
    "address-family spelt with a dash": [offer(A, **{"address-family": "IP6"}), delete()],
    # ICE candidates on both addresses of the interface, for an offer and for a subscriber
    # (10.5 lists them in both; rtpengine's pubsub suite, "ICE sub").
    "ICE offer lists both addresses": [offer(A, ICE="force"), answer(B), delete()],
    "ICE subscription lists both addresses": [
        offer(A), answer(B),
        {"command": "subscribe request", "from-tag": "A", "to-tag": "S", "ICE": "force"},
        {"command": "subscribe answer", "to-tag": "S", "sdp": SUB},
        query(), delete()],
}

LIMIT_SCENARIOS: dict[str, list[dict]] = {
    "second call refused": [offer(A), offer(A, **{"call-id": "{cid}-2"}),
                            offer(A, **{"call-id": "{cid}-3", "supports": ["load limit"]}),
                            offer(A), query(), delete()],
    "re-offer on an existing call is allowed": [offer(A), answer(B), offer(A), delete()],
    "load limit spelt with a dash": [offer(A), offer(A, **{"call-id": "{cid}-2",
                                                           "supports": ["load-limit"]}),
                                     delete()],
    "freed slot can be reused": [offer(A), delete(), offer(A, **{"call-id": "{cid}-2"}),
                                 delete(**{"call-id": "{cid}-2"})],
}


@pytest.fixture(scope="module")
def interfaces():
    # (each module pair its own ports: the session's default pair holds the default ranges)
    daemons = DaemonPair(interfaces=("internal/127.0.0.1", "external/127.0.0.2"),
                         ranges=((28000, 28249), (28250, 28499)))
    yield daemons
    daemons.stop()


@pytest.fixture(scope="module")
def families():
    # (a port the default pair holds on 127.0.0.1 would put this daemon's IPv4 and IPv6
    # pools out of step, and its ICE candidates' ports with them)
    daemons = DaemonPair(interfaces=("127.0.0.1", "::1"), ranges=((28500, 28749), (28750, 28999)))
    yield daemons
    daemons.stop()


@pytest.fixture(scope="module")
def limited():
    daemons = DaemonPair(extra=["--max-sessions=1"], ranges=((25400, 25549), (25550, 25699)))
    yield daemons
    daemons.stop()


@pytest.mark.parametrize("name", list(INTERFACE_SCENARIOS))
def test_named_interfaces(interfaces, name):
    interfaces.compare(INTERFACE_SCENARIOS[name], name)


@pytest.mark.parametrize("name", list(FAMILY_SCENARIOS))
def test_address_families(families, name):
    families.compare(FAMILY_SCENARIOS[name], name)


@pytest.mark.parametrize("name", list(LIMIT_SCENARIOS))
def test_session_limit(limited, name):
    limited.compare(LIMIT_SCENARIOS[name], name)
