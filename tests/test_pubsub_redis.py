"""Publish/subscribe calls in Redis: stored as rtpengine 10.5 stores them (subscribers'
streams after the sink in ``rtp_sinks``/``rtcp_sinks``, ``subscriptions-N`` entries with
the offer/answer and RTCP-only fields), and restored with their links and copies."""

from __future__ import annotations

import json
import os

from rtpengined.redis.layout import decode_call, dumps, encode_call, loads
from rtpengined.redis.restore import interface_index, restore_call
from tests.conftest import FIXTURES_ROOT
from tests.test_calls_model import FakeBinder, make_core, ng, sdp_body

# rtpengine 10.5's document for: offer A, answer B, `subscribe request` from-tag A
# (to-tag S, flag `mirror RTCP`), `subscribe answer`.
CAPTURE = os.path.join(FIXTURES_ROOT, "redis-rtpengine-10.5-pubsub-call.json")


def _subscribed_call(core, call_id: str = "ps") -> None:
    ids = {"call-id": call_id}
    ng(core, command="offer", sdp=sdp_body(2000), **ids, **{"from-tag": "A"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"), **ids,
       **{"from-tag": "A", "to-tag": "B"})
    reply = ng(core, command="subscribe request", **ids,
               **{"from-tag": "A", "to-tag": "S", "flags": ["mirror RTCP"]})
    assert reply["result"] == "ok", reply
    answer = sdp_body(4000, "192.0.2.30") + "a=recvonly\r\n"
    assert ng(core, command="subscribe answer", sdp=answer, **ids, **{"to-tag": "S"}) == {
        "result": "ok"}


def _no_times(reply: dict) -> dict:
    for tag in reply["tags"].values():
        for media in tag["medias"]:
            for stream in media["streams"]:
                stream.pop("last packet")
    return reply


def _sinks(doc: dict) -> dict:
    """Each stream's sink list by owner (party tag, RTCP or not): stream order may differ."""

    def owner(i: str) -> tuple[str, bool]:
        stream = doc[f"stream-{i}"]
        media = doc["media-" + stream["media"]]
        tag = doc["tag-" + media["tag"]]["tag"]
        return tag, stream["component"] == "2"

    count = int(doc["json"]["num_streams"])
    return {owner(str(i)): ([owner(x) for x in doc[f"rtp_sinks-{i}"]],
                            [owner(x) for x in doc[f"rtcp_sinks-{i}"]]) for i in range(count)}


def _subscriptions(doc: dict) -> dict:
    """``subscriptions-N`` by party tag, the other party named by tag too."""
    tags = {str(i): doc[f"tag-{i}"]["tag"] for i in range(int(doc["json"]["num_tags"]))}
    return {tags[i]: [(tags[e.split("/")[0]], e.split("/", 1)[1])
                      for e in doc[f"subscriptions-{i}"]] for i in tags}


def test_stored_as_rtpengine_stores_a_subscription():
    core, _ = make_core(FakeBinder())
    _subscribed_call(core)
    doc = encode_call(core.calls.calls["ps"], 5, interface_index(core.calls))
    with open(CAPTURE, encoding="utf-8") as handle:
        want = json.load(handle)
    assert _subscriptions(doc) == _subscriptions(want)
    ours, theirs = _sinks(doc), _sinks(want)
    # 10.5 also names the publisher as the sink of the subscriber's RTP (it relays only
    # its RTCP there); we give that stream no sink
    theirs[("S", False)] = ([], [])
    assert ours == theirs


def test_restored_subscription_queries_and_copies_as_before():
    core, _ = make_core(FakeBinder())
    _subscribed_call(core)
    before = _no_times(ng(core, command="query", **{"call-id": "ps"}))
    text = dumps(encode_call(core.calls.calls["ps"], 5, interface_index(core.calls)))
    other, clock = make_core(FakeBinder())
    call = restore_call(other.calls, decode_call("ps", loads(text)), clock(), foreign=True)
    after = _no_times(ng(other, command="query", **{"call-id": "ps"}))
    assert after["tags"] == before["tags"]
    a, _b, s = call.monologues
    assert a.medias[0].rtp.extra_sinks == (s.medias[0].rtp,)
    assert a.medias[0].rtcp.extra_sinks == (s.medias[0].rtcp,)
    assert s.medias[0].source is a.medias[0] and s.mirror_rtcp
    assert s.medias[0].rtcp.sink is a.medias[0].rtcp
    # and it can be ended after the restore
    assert ng(other, command="unsubscribe", **{"call-id": "ps", "to-tag": "S"}) == {
        "result": "ok"}
    # (the copies stop; the mirrored RTCP still goes to the publisher, as 10.5 keeps it)
    assert a.medias[0].rtp.extra_sinks == () and s.medias[0].rtcp.sink is a.medias[0].rtcp


def test_restore_rtpengines_subscription_document():
    core, clock = make_core(FakeBinder())
    with open(CAPTURE, encoding="utf-8") as handle:
        stored = decode_call("ps1", json.load(handle))
    call = restore_call(core.calls, stored, clock(), foreign=True)
    reply = ng(core, command="query", **{"call-id": "ps1"})
    assert reply["tags"]["S"]["subscriptions"] == [{"tag": "A", "type": "pub/sub"}]
    assert {"tag": "S", "type": "pub/sub"} in reply["tags"]["A"]["subscribers"]
    assert reply["tags"]["A"]["subscriptions"] == [
        {"tag": "B", "type": "offer/answer"}, {"tag": "S", "type": "pub/sub"}]
    a, _b, s = call.monologues
    assert a.medias[0].rtp.extra_sinks == (s.medias[0].rtp,) and s.mirror_rtcp


def test_egress_subscription_is_stored_and_restored():
    """``egress`` is the last field of the subscriber's ``subscriptions-N`` entry (10.5),
    and a restored subscriber's streams copy what goes on again."""
    core, _ = make_core(FakeBinder())
    ids = {"call-id": "eg"}
    ng(core, command="offer", sdp=sdp_body(2000), **ids, **{"from-tag": "A"})
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"), **ids,
       **{"from-tag": "A", "to-tag": "B"})
    ng(core, command="subscribe request", **ids,
       **{"from-tag": "A", "to-tag": "S", "flags": ["egress"]})
    ng(core, command="subscribe answer", sdp=sdp_body(4000, "192.0.2.30") + "a=recvonly\r\n",
       **ids, **{"to-tag": "S"})
    doc = encode_call(core.calls.calls["eg"], 5, interface_index(core.calls))
    assert doc["subscriptions-2"] == ["0/0/0/0/1"]
    assert doc["subscriptions-0"] == ["1/0/1/0/0"]
    other, clock = make_core(FakeBinder())
    call = restore_call(other.calls, decode_call("eg", loads(dumps(doc))), clock(),
                        foreign=True)
    s = call.monologues[2]
    assert s.egress and all(stream.egress for stream in s.medias[0].streams)
    assert not any(stream.egress for stream in call.monologues[0].medias[0].streams)
