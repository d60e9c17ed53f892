"""Replay rtpengine 10.5's captured offer/answer/query/delete/list exchanges (ng-captures.jsonl).

Each group runs against a fresh ``Core`` (real media sockets on 127.0.0.1, ports
18000-18999, no relay) and must produce the captured replies: same keys, order, types and
SDP text, with ports turned into tokens and times/ICE credentials masked
(``calls_helpers``). Captures that need media to have flowed are left to the relay tests.
"""

from __future__ import annotations

import random

import pytest

from rtpengined.config import Config
from rtpengined.core import Core
from rtpengined.media import NullMediaPlane
from rtpengined.protocol import bencode
from tests.calls_helpers import (
    CAPTURED_RANGE,
    OUR_RANGE,
    PortTokens,
    load_captures,
    payload,
    translate_request,
)

CAPTURES = load_captures()

# (first, last) capture indices replayed in order; `skip` are replayed but not compared.
GROUPS = {
    "basic offer/answer/query": (37, 39, set()),
    "missing keys": (17, 21, {21}),
    "list limits": (33, 36, {35, 36}),
    "delete variants": (73, 90, {79, 83}),
    "sdp rewriting": (93, 169, set()),
    "re-offers, labels, re-INVITE": (170, 181, set()),
    "errors after restart": (187, 195, set()),
    "extended offer/answer": (229, 230, set()),
    "codecs, ptime, loop-protect, versions, forks, aliases": (264, 299, {283, 299}),
    "port latching": (300, 309, set()),
    "a=rtcp address, ports closed": (311, 315, set()),
}


def replay(first: int, last: int, skip: set[int]):
    core = Core(Config(port_min=OUR_RANGE[0], port_max=OUR_RANGE[1]), media=NullMediaPlane())
    # The port walk's random steps (rtpengine's) decide now and then that a port freed
    # earlier in a group comes back, which the tokens cannot tell from a new one (about
    # one run in 300 failed, e.g. the walk of seed 71 at capture 272): one fixed walk.
    for pool in core.calls.port_pools:
        pool.rng = random.Random(0)
    captured = PortTokens(*CAPTURED_RANGE)
    ours = PortTokens(*OUR_RANGE)
    results = []
    try:
        for index in range(first, last + 1):
            record = CAPTURES[index]
            if record["transport"] != "udp" or record["response"] is None:
                continue
            request = payload(record["request"])
            if not isinstance(request, dict):
                continue
            expected = captured.normalise(payload(record["response"]))
            message = translate_request(request, captured, ours, core.calls.instance_id)
            raw = core.handle_ng(f"g{index} ".encode() + bencode.encode(message),
                                 ("127.0.0.1", 5060))
            got = ours.normalise(bencode.decode(raw[raw.find(b" ") + 1:]))
            if request.get("command") == "delete":
                # Freed ports come back later in either daemon: start new tokens.
                captured.tokens.clear()
                ours.tokens.clear()
            if index not in skip:
                results.append((index, record["note"], expected, got))
    finally:
        core.shutdown()
    return results


@pytest.mark.parametrize("group", list(GROUPS))
def test_captured_exchanges(group):
    first, last, skip = GROUPS[group]
    for index, note, expected, got in replay(first, last, skip):
        assert got == expected, f"capture {index} ({note})"
