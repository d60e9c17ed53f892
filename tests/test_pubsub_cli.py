"""The text CLI on a call with subscribers: a subscriber (and a published party) is of type
UNKNOWN, and its pub/sub subscriptions are listed with the (doubled) lines 10.5 prints for
offer/answer ones (captured from rtpengine 10.5's `list sessions` and `call … tag … info`)."""

from __future__ import annotations

from tests.test_calls_model import FakeBinder, make_core, ng, sdp_body


def test_call_info_lists_a_subscribers_publisher():
    core, _ = make_core(FakeBinder())
    ids = {"call-id": "c1"}
    ng(core, command="offer", sdp=sdp_body(2000), **ids, **{"from-tag": "A"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"), **ids,
       **{"from-tag": "A", "to-tag": "B"})
    ng(core, command="subscribe request", **ids, **{"from-tag": "A", "to-tag": "S"})
    ng(core, command="publish", sdp=sdp_body(4000, "192.0.2.40") + "a=sendonly\r\n", **ids,
       **{"from-tag": "P"})
    info = core.handle_cli("call c1 tag S info")
    assert info.startswith("--- Tag 'S', type: UNKNOWN, label '', branch '', callduration ")
    assert "\n---     subscribed to 'A'\n---     subscription of 'A'\n------ Media #1" in info
    assert core.handle_cli("call c1 tag P info").startswith("--- Tag 'P', type: UNKNOWN,")
    a = core.handle_cli("call c1 tag A info")
    assert "subscribed to 'S'" not in a and "subscribed to 'B'" in a
