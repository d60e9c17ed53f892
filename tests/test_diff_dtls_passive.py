"""Differential: ``--dtls-passive`` (prefer the passive DTLS role), against rtpengine 10.5.

With the option, 10.5's default of the ``DTLS`` flag and of ``DTLS-reverse`` is passive: a
browser that leaves the role open (``a=setup:actpass``) is answered passive and makes the
handshake itself, unless the request says ``DTLS: active`` (or ``DTLS-reverse: active``).
Our own offers stay ``actpass``, as they must (RFC 5763).
"""

from __future__ import annotations

import pytest
from differential import DaemonPair, answer, delete, offer, query
from test_diff_pubsub import _mask_made
from test_diff_webrtc import BROWSER_ANSWER, FIREFOX, PHONE, PLAIN, WEBRTC_BRIDGE, mask_fingerprint

SAVPF_OUT = {"transport protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force", "rtcp-mux": ["offer"]}
M = {"_mask": mask_fingerprint}
FIREFOX_ACTIVE = FIREFOX.replace("a=setup:actpass", "a=setup:active")

SCENARIOS: dict[str, list[dict]] = {}
for flags in ({}, {"DTLS": "active"}, {"DTLS": "passive"}, {"DTLS": "actpass"},
              {"DTLS": "off"}, {"DTLS-reverse": "active"}):
    name = ", ".join(f"{k} {v}" for k, v in flags.items()) or "no flag"
    SCENARIOS[f"browser offer bridged, answer with {name}"] = [
        offer(FIREFOX, **WEBRTC_BRIDGE), answer(PHONE, **flags, **M), query(), delete()]
    SCENARIOS[f"browser offer bridged with {name}, answered"] = [
        offer(FIREFOX, **WEBRTC_BRIDGE, **flags), answer(PHONE, **M), query(), delete()]
SCENARIOS["browser offer that takes the active role"] = [
    offer(FIREFOX_ACTIVE, **WEBRTC_BRIDGE), answer(PHONE, **M), query(), delete()]
SCENARIOS["plain offer to a browser"] = [
    offer(PLAIN, **SAVPF_OUT, **M), answer(BROWSER_ANSWER, **M), query(), delete()]
SCENARIOS["browser re-offer after our passive answer"] = [
    offer(FIREFOX, **WEBRTC_BRIDGE), answer(PHONE, **M), offer(FIREFOX, **WEBRTC_BRIDGE),
    answer(PHONE, DTLS="active", **M), query(), delete()]

for flags in ({}, {"DTLS": "active"}, {"DTLS-reverse": "active"},
              {"DTLS": "active", "DTLS-reverse": "active"}):
    name = ", ".join(f"{k} {v}" for k, v in flags.items()) or "no flag"
    SCENARIOS[f"browser publishing, {name}"] = [
        {"command": "publish", "from-tag": "A", "sdp": FIREFOX, **flags, "_mask": _mask_made},
        delete()]


@pytest.fixture(scope="module")
def pair():
    daemons = DaemonPair(["--dtls-passive"])
    yield daemons
    daemons.stop()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_dtls_passive(pair, name):
    pair.compare(SCENARIOS[name], name)
