"""Differential: per-proxy control statistics, against rtpengine 10.5.

rtpengine lists an ng client among ``controlstatistics.proxies`` from its first message on,
so a proxy whose first request is ``statistics`` already sees itself (with no counts yet);
``list totals`` shows the same table. The clients send from addresses of a private namespace
so each test has proxies of its own. 10.5 lists proxies in hash order: compared as sets.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from netns_helpers import NetNamespace, NsDaemonPair, namespaces_available

from rtpengined.protocol import bencode

pytestmark = pytest.mark.skipif(namespaces_available() is not None,
                                reason=namespaces_available() or "")


@pytest.fixture(scope="module")
def namespace():
    ns = NetNamespace()
    yield ns
    ns.delete()


@pytest.fixture(scope="module")
def pair(namespace):
    daemons = NsDaemonPair(namespace, interfaces=("203.0.113.1",))
    yield daemons
    daemons.stop()


class Client:
    """An ng client sending from ``address`` inside the namespace."""

    def __init__(self, namespace: NetNamespace, address: str) -> None:
        with namespace.entered():
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.settimeout(3)
        self.counter = 0

    def request(self, daemon, message: dict[str, Any]) -> Any:
        self.counter += 1
        cookie = b"p%d" % self.counter
        self.sock.sendto(cookie + b" " + bencode.encode(message), ("203.0.113.1", daemon.ng_port))
        while True:
            reply = self.sock.recv(65535)
            if reply.startswith(cookie + b" "):
                return bencode.decode(reply[len(cookie) + 1:])

    def send_raw(self, daemon, payload: bytes) -> None:
        self.sock.sendto(payload, ("203.0.113.1", daemon.ng_port))

    def close(self) -> None:
        self.sock.close()


def proxies(reply: dict[str, Any], which: set[str]) -> dict[str, dict[str, Any]]:
    """The listed proxies among ``which``, with their counts (durations are timing)."""
    listed = reply["statistics"]["controlstatistics"]["proxies"]
    return {entry["proxy"]: {k: v for k, v in entry.items() if k.endswith("count")}
            for entry in listed if entry["proxy"] in which}


def run(pair, namespace, address: str, steps) -> list[Any]:
    results = []
    for daemon in pair.daemons:
        client = Client(namespace, address)
        try:
            results.append(steps(daemon, client))
        finally:
            client.close()
    return results


def test_first_request_statistics_lists_the_asking_proxy(pair, namespace):
    def steps(daemon, client):
        first = proxies(client.request(daemon, {"command": "statistics"}), {"198.51.100.5"})
        second = proxies(client.request(daemon, {"command": "statistics"}), {"198.51.100.5"})
        return first, second

    reference, ours = run(pair, namespace, "198.51.100.5", steps)
    assert ours == reference
    assert list(ours[0]) == ["198.51.100.5"]  # listed before its own request is counted


def test_message_without_cookie_registers_the_proxy(pair, namespace):
    def steps(daemon, client):
        client.send_raw(daemon, b"d7:command4:pinge")  # no cookie: dropped, no reply
        return proxies(client.request(daemon, {"command": "statistics"}), {"198.51.100.6"})

    reference, ours = run(pair, namespace, "198.51.100.6", steps)
    assert ours == reference


def test_list_totals_shows_the_proxy(pair, namespace):
    def steps(daemon, client):
        client.request(daemon, {"command": "statistics"})
        text = daemon.cli("list totals")
        return [line.split("|")[0].strip() for line in text.splitlines()
                if line.strip().startswith("198.51.100.7")]

    reference, ours = run(pair, namespace, "198.51.100.7", steps)
    assert ours == reference == ["198.51.100.7"]
