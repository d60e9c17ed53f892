"""Differential: the SDP rules rtpengine's own daemon tests taught us, each probed beyond the
suite's cases (other families, answers, several medias), against rtpengine 10.5.

Both daemons run in a namespace with the interfaces of rtpengine's suite (203.0.113.1 and
2001:db8:4321::1, one logical interface), so IPv4/IPv6 choices are visible.
"""

from __future__ import annotations

from typing import Any

import pytest
from differential import answer, converse, delete, describe_difference, offer, query, sdp
from netns_helpers import NetNamespace, NsDaemonPair, namespaces_available

pytestmark = pytest.mark.skipif(namespaces_available() is not None,
                                reason=namespaces_available() or "")

HEAD = ["v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=x", "t=0 0"]
C4 = "c=IN IP4 198.51.100.1"


def body(*lines: str) -> str:
    return sdp(*HEAD, *lines)


@pytest.fixture(scope="module")
def pair():
    namespace = NetNamespace()
    try:
        daemons = NsDaemonPair(namespace, interfaces=("203.0.113.1", "2001:db8:4321::1"))
        try:
            yield daemons
        finally:
            daemons.stop()
    finally:
        namespace.delete()


def compare(pair: NsDaemonPair, steps: list[dict[str, Any]], name: str) -> None:
    call_id = name.replace(" ", "_")
    expected = converse(pair.reference, steps, call_id)
    got = converse(pair.ours, steps, call_id)
    for index, (step, want, have) in enumerate(zip(steps, expected, got, strict=True)):
        if want != have:
            raise AssertionError(f"step {index} ({step['command']}) differs:\n"
                                 + describe_difference(want, have))


OFFER_VIDEO = body(C4, "m=audio 2000 RTP/AVP 0 8", "m=video 2002 RTP/AVP 96 97",
                   "a=rtpmap:96 H264/90000", "a=rtpmap:97 VP8/90000")
DTMF_MIX = ["m=audio 2000 RTP/AVP 8 96 97 98 13", "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:97 telephone-event/8000", "a=rtpmap:98 telephone-event/48000",
            "a=fmtp:97 0-15"]
S1 = ["v=0", "o=- 1 5 IN IP4 198.51.100.1", "s=one", "t=0 0"]
S2 = ["v=0", "o=- 2 7 IN IP4 198.51.100.2", "s=two", "t=0 0"]
A_MUX = body(C4, "m=audio 2000 RTP/AVP 0", "a=rtcp-mux")
B_PLAIN = sdp(*HEAD, "c=IN IP4 198.51.100.3", "m=audio 2002 RTP/AVP 0")
B_MUX = B_PLAIN + "a=rtcp-mux\r\n"
BRANCH = {"x1": {"via-branch": "x1"}, "x2": {"via-branch": "x2"}}

SCENARIOS: dict[str, list[dict[str, Any]]] = {
    # A refused media names the interface it would have used, and keeps its mid.
    "rejected media keeps c= and mid": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0", "m=audio 0 RTP/AVP 0 8", "a=rtpmap:8 PCMA/8000",
                   "a=ptime:20", "a=foo:bar", "a=sendonly", "a=rtcp:5", "a=mid:x", "a=rtcp-mux")),
        delete()],
    "rejected IPv6 media": [
        offer(body("c=IN IP6 2001:db8::1", "m=audio 2000 RTP/AVP 0", "m=audio 0 RTP/AVP 0",
                   "c=IN IP6 2001:db8::1", "a=mid:1")), delete()],
    "rejected IPv6 media towards IPv4": [
        offer(body("c=IN IP6 2001:db8::1", "m=audio 2000 RTP/AVP 0", "m=audio 0 RTP/AVP 0",
                   "c=IN IP6 2001:db8::1", "a=mid:1"), **{"address-family": "IP4"}), delete()],
    "rejected first media": [
        offer(body("m=audio 0 RTP/AVP 0", C4, "m=audio 2000 RTP/AVP 0", C4)), delete()],
    "only media rejected": [offer(body(C4, "m=audio 0 RTP/AVP 0", C4)), delete()],
    "rejected media on hold": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0", "m=audio 0 RTP/AVP 0", "c=IN IP4 0.0.0.0")),
        delete()],
    "answer rejects audio with a codec never offered": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8", "m=audio 2002 RTP/AVP 8 9")),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 8 9", "m=audio 0 RTP/AVP 0")),
        query(), delete()],
    "answer rejects video": [
        offer(OFFER_VIDEO),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 8",
                    "m=video 0 RTP/AVP 98 96", "a=rtpmap:98 X/90000")), delete()],
    # Codecs 10.5's codec library does not know (video) are kept by payload type, never
    # renumbered; with nothing in common and nothing to transcode, the answer passes as is.
    "answer video codec under another's number": [
        offer(OFFER_VIDEO),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 8",
                    "m=video 3002 RTP/AVP 99 97", "a=rtpmap:99 VP8/90000",
                    "a=rtpmap:97 H264/90000")), offer(OFFER_VIDEO), delete()],
    "answer video codec never offered": [
        offer(OFFER_VIDEO),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 8",
                    "m=video 3002 RTP/AVP 98", "a=rtpmap:98 X/90000", "a=fmtp:98 y=1")),
        delete()],
    "answer video with an audio codec": [
        offer(OFFER_VIDEO),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 8",
                    "m=video 3002 RTP/AVP 0")), delete()],
    "answer codec without rtpmap": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8 96", "a=rtpmap:96 opus/48000/2")),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 96 8")), delete()],
    "answer application codecs": [
        offer(body(C4, "m=application 2000 RTP/AVP 100", "a=rtpmap:100 x/1000")),
        answer(body("c=IN IP4 198.51.100.3", "m=application 3002 RTP/AVP 101",
                    "a=rtpmap:101 y/1000")), delete()],
    # A held connection stays null, in the family of the side it goes to.
    "IPv4 hold offered to IPv6": [
        offer(body("m=audio 2000 RTP/AVP 8", "c=IN IP4 0.0.0.0"), **{"address-family": "IP6"}),
        delete()],
    "IPv6 session hold offered to IPv4": [
        offer(body("c=IN IP6 ::", "m=audio 2000 RTP/AVP 8"), **{"address-family": "IP4"}),
        delete()],
    "IPv6 hold answered": [
        offer(body("c=IN IP6 2001:db8::1", "m=audio 2000 RTP/AVP 8")),
        answer(body("c=IN IP6 ::", "m=audio 3000 RTP/AVP 8")),
        offer(body("c=IN IP6 ::", "m=audio 2000 RTP/AVP 8")), delete()],
    # m=message is copied; it gets the session's own c= when it has none.
    "message media": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0", "c=IN IP4 198.51.100.1",
                   "m=message 2002 TCP/MSRP *")), delete()],
    "message media with attributes": [
        offer(body(C4, "m=message 2002 TCP/MSRP *", "b=AS:10", "a=path:msrp://x",
                   "a=sendonly", "m=audio 2000 RTP/AVP 0", C4)), delete()],
    # single codec: the answer's first real codec, plus telephone-event and CN.
    "single codec keeps DTMF": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8 9 13 101", "a=rtpmap:101 telephone-event/8000")),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 13 8 0 101",
                    "a=rtpmap:101 telephone-event/8000"), flags=["single codec"]), delete()],
    "single codec on two medias": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8", "m=audio 2002 RTP/AVP 0 8")),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 3000 RTP/AVP 8 0",
                    "m=audio 3002 RTP/AVP 0 8"), flags=["single codec"]),
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8", "m=audio 2002 RTP/AVP 0 8")), delete()],
    "single codec in an offer does nothing": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8"), flags=["single codec"]), delete()],
    # strip-extmap: a=extmap at both levels (not extmap-allow-mixed).
    "strip extmap": [
        offer(body(C4, "a=extmap:1 urn:s", "m=audio 2000 RTP/AVP 0",
                   "a=extmap:2/sendonly urn:x", "a=extmap-allow-mixed"),
              flags=["strip extmap"]), delete()],
    "extmap kept without the flag": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0", "a=extmap:2 urn:x")), delete()],
    # Filtering codecs takes telephone-event/CN without a codec of their rate along.
    "strip leaves DTMF of another rate": [offer(body(C4, *DTMF_MIX), codec={"strip": ["PCMA"]}),
                                          delete()],
    "strip flag leaves DTMF of another rate": [
        offer(body(C4, *DTMF_MIX), flags=["codec-strip-opus"]), delete()],
    "strip of an absent codec changes nothing": [
        offer(body(C4, "m=audio 2000 RTP/AVP 96 97 98 13", *DTMF_MIX[1:]),
              codec={"strip": ["G729"]}), delete()],
    "mask flag in an offer": [offer(body(C4, *DTMF_MIX), flags=["codec-mask-PCMA"]), delete()],
    "mask in an answer is ignored": [
        offer(body(C4, *DTMF_MIX)),
        answer(body("c=IN IP4 198.51.100.3", *DTMF_MIX), codec={"mask": ["opus"]}),
        answer(body("c=IN IP4 198.51.100.3", *DTMF_MIX), flags=["codec-mask-opus"]), delete()],
    "strip in an answer": [
        offer(body(C4, *DTMF_MIX)),
        answer(body("c=IN IP4 198.51.100.3", *DTMF_MIX), codec={"strip": ["PCMA"]}), delete()],
    # ``codec: {offer}``: a stripped or masked codec named there comes back, in the list's
    # order, before the telephone-event/CN kept; one not stripped stays where it is.
    "offer brings stripped codecs back in its order": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8 9 101", "a=rtpmap:101 telephone-event/8000"),
              codec={"strip": ["all"], "offer": ["PCMA", "PCMU", "telephone-event"]}),
        answer(body("c=IN IP4 198.51.100.3", "m=audio 2002 RTP/AVP 8 101",
                    "a=rtpmap:101 telephone-event/8000")), delete()],
    "offer of a stripped codec goes before telephone-event": [
        offer(body(C4, *DTMF_MIX), codec={"strip": ["PCMA"], "offer": ["PCMA"]}), delete()],
    "offer of a masked codec": [
        offer(body(C4, "m=audio 2000 RTP/AVP 8 96 97 98", *DTMF_MIX[1:]),
              codec={"mask": ["opus", "PCMA"], "offer": ["opus"]}), delete()],
    "offer flag": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8 9"),
              flags=["codec-strip-all", "codec-offer-G722", "codec-offer-PCMU"]), delete()],
    "offer of a codec not stripped changes nothing": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 8 9"), codec={"offer": ["G722", "PCMU"]}),
        delete()],
    # Several sessions in one body.
    "two sessions": [
        offer(sdp(*S1, "m=audio 2000 RTP/AVP 0", C4, *S2, "m=audio 2002 RTP/AVP 8",
                  "c=IN IP4 198.51.100.2")), delete()],
    "two sessions with session c=, replace everything": [
        offer(sdp(*S1, C4, "m=audio 2000 RTP/AVP 0", *S2, "c=IN IP4 198.51.100.2",
                  "m=audio 2002 RTP/AVP 8", "m=audio 2004 RTP/AVP 8"),
              replace=["origin", "session-connection", "SDP-version"]), delete()],
    "two sessions, second IPv6": [
        offer(sdp(*S1, C4, "m=audio 2000 RTP/AVP 0", *S2, "c=IN IP6 2001:db8::1",
                  "m=audio 2002 RTP/AVP 8")), delete()],
    "two sessions, second on hold": [
        offer(sdp(*S1, C4, "m=audio 2000 RTP/AVP 0", *S2, "c=IN IP4 0.0.0.0",
                  "m=audio 2002 RTP/AVP 8")), delete()],
    "two sessions, own directions": [
        offer(sdp(*S1, C4, "a=sendonly", "m=audio 2000 RTP/AVP 0", *S2,
                  "c=IN IP4 198.51.100.2", "a=recvonly", "a=foo", "m=audio 2002 RTP/AVP 8")),
        delete()],
    "two sessions answered by one": [
        offer(sdp(*S1, C4, "m=audio 2000 RTP/AVP 0", *S2, "c=IN IP4 198.51.100.2",
                  "m=audio 2002 RTP/AVP 8")),
        answer(sdp(*S1, "c=IN IP4 198.51.100.5", "m=audio 3000 RTP/AVP 0",
                   "m=audio 3002 RTP/AVP 8")), query(), delete()],
    "SDP version over sessions of different version lengths": [
        offer(sdp(*S1, C4, "m=audio 2000 RTP/AVP 0", *S2, C4, "m=audio 2002 RTP/AVP 0"),
              replace=["SDP-version"]),
        offer(sdp(*S1, C4, "m=audio 2000 RTP/AVP 0",
                  *[S2[0], "o=- 2 99999999999 IN IP4 198.51.100.2", *S2[2:]], C4,
                  "m=audio 2002 RTP/AVP 0"), replace=["SDP-version"]),
        offer(sdp(*S1, C4, "m=audio 2004 RTP/AVP 0", *S2, C4, "m=audio 2002 RTP/AVP 0"),
              replace=["SDP-version"]), delete()],
    "m= lines with trailing blanks": [
        offer(body(C4, "m=audio 2000 RTP/AVP 0 ", "m=audio 0 RTP/AVP 8 ",
                   "m=application 0 * ")), delete()],
    # rtcp-mux: each fork's answer is negotiated with its own offer's options.
    "rtcp-mux demux then offer, re-offered": [
        offer(A_MUX, **{"rtcp-mux": ["demux"]}), offer(A_MUX, **{"rtcp-mux": ["offer"]}),
        answer(B_PLAIN), query(), delete()],
    "rtcp-mux forks, second answers": [
        offer(A_MUX, **{"rtcp-mux": ["demux"]}, **BRANCH["x1"]),
        offer(A_MUX, **{"rtcp-mux": ["offer"]}, **BRANCH["x2"]),
        answer(B_PLAIN, **BRANCH["x2"]), query(), delete()],
    # A leg using rtcp-mux keeps it on re-offers, whatever the options, without a fallback
    # RTCP port; the offerer then gets the answerer's choice.
    "rtcp-mux kept on a re-offer asking demux": [
        offer(A_MUX), offer(A_MUX, **{"rtcp-mux": ["demux"]}), answer(B_PLAIN), query(),
        delete()],
    "rtcp-mux in use both ways, re-offer asking demux": [
        offer(A_MUX), answer(B_MUX), offer(A_MUX, **{"rtcp-mux": ["demux"]}), answer(B_MUX),
        query(), delete()],
    "rtcp-mux refused, re-offer asking demux": [
        offer(A_MUX), answer(B_PLAIN), offer(A_MUX, **{"rtcp-mux": ["demux"]}),
        answer(B_PLAIN), query(), delete()],
    "rtcp-mux accept, answerer refuses": [
        offer(A_MUX, **{"rtcp-mux": ["accept"]}), answer(B_PLAIN), query(), delete()],
    "rtcp-mux offer and demux together": [
        offer(A_MUX, **{"rtcp-mux": ["offer", "demux"]}), answer(B_PLAIN), query(), delete()],
    "rtcp-mux callee re-offers without it": [
        offer(A_MUX), answer(B_MUX),
        offer(B_PLAIN, **{"from-tag": "B", "to-tag": "A"}),
        answer(A_MUX, **{"from-tag": "B", "to-tag": "A"}), query(), delete()],
    "rtcp-mux forks, first answers": [
        offer(A_MUX, **{"rtcp-mux": ["demux"]}, **BRANCH["x1"]),
        offer(A_MUX, **{"rtcp-mux": ["offer"]}, **BRANCH["x2"]),
        answer(B_PLAIN, **BRANCH["x1"]), delete()],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_sdp_rule(pair, name):
    compare(pair, SCENARIOS[name], name)
