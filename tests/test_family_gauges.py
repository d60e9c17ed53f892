"""The address-family session gauges are kept as calls change (``family_gauges``): after
any mix of offers, answers, re-offers in the other family, deleted branches, delete delays
running out and ended calls, they must equal a count over every call."""

from __future__ import annotations

import random

import pytest
from test_calls_model import FakeBinder, make_core, ng

from rtpengined import statsview
from rtpengined.family_gauges import IPV4, IPV6, MIXED, family_of

ADDRESSES = {"4": ("IP4", "192.0.2.{}"), "6": ("IP6", "2001:db8::{}"),
             "46": ("IP4", "192.0.2.{}")}


def _sdp(family: str, host: int, port: int) -> str:
    kind, address = ADDRESSES[family]
    address = address.format(host)
    body = (f"v=0\r\no=- 1 1 IN {kind} {address}\r\ns=-\r\nc=IN {kind} {address}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\n")
    if family == "46":  # (a second media in the other family: this side offers both)
        body += f"m=audio {port + 2} RTP/AVP 0\r\nc=IN IP6 2001:db8::{host}\r\n"
    return body


def _swept(core) -> tuple[int, int, int]:
    found = [family_of(call) for call in core.calls.calls.values()]
    return found.count(IPV4), found.count(IPV6), found.count(MIXED)


@pytest.mark.parametrize("seed", range(6))
def test_the_gauges_equal_a_count_over_every_call(seed):
    rng = random.Random(seed)
    core, clock = make_core(binder=FakeBinder(), delete_delay=rng.choice([0, 2]))
    seen = set()
    for step in range(400):
        call_id = f"c{rng.randrange(12)}"
        ids = {"call-id": call_id, "from-tag": "a"}
        action = rng.random()
        family = rng.choice(list(ADDRESSES))
        if action < 0.35:
            ng(core, command="offer", **ids, sdp=_sdp(family, 10, 2000))
        elif action < 0.65:
            ng(core, command="answer", **ids, **{"to-tag": rng.choice(["b", "c"])},
               sdp=_sdp(family, 20, 3000))
        elif action < 0.75:
            ng(core, command="delete", **ids, **{"to-tag": rng.choice(["b", "c"])})
        elif action < 0.85:
            ng(core, command="delete", **{"call-id": call_id})
        else:
            clock.now += rng.choice([0.5, 1.0, 3.0])
            core.tick()
        gauges = statsview.address_family_gauges(core)
        assert gauges == _swept(core), step
        seen.add(gauges)
    # (the run went through many states, each gauge used)
    assert len(seen) > 5 and all(any(g[i] for g in seen) for i in range(3)), seen
