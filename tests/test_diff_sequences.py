"""Differential: call flows a SIP proxy drives through rtpengine, step by step.

Hold and resume (RFC 3264 directions and the older c=0.0.0.0), re-INVITEs that change
codecs, ports or addresses, early media (re-answers), SIP forking with via-branch, and
every way a proxy deletes a call or one of its branches.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)


def body(address: str = "192.0.2.10", port: int = 2000, media: tuple[str, ...] = (),
         version: int = 1, user: str = "alice", session: tuple[str, ...] = ()) -> str:
    lines = media or ("m=audio %d RTP/AVP 0 8 101" % port, "a=rtpmap:101 telephone-event/8000",
                      "a=fmtp:101 0-15")
    return sdp("v=0", f"o={user} 100 {version} IN IP4 {address}", "s=-", f"c=IN IP4 {address}",
               "t=0 0", *session, *lines)


A = body()
B = body("192.0.2.20", 3000, user="bob")
A_SENDONLY = sdp(
    "v=0", "o=alice 100 2 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
    "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly")
B_RECVONLY = sdp("v=0", "o=bob 100 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                 "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=recvonly")
A_INACTIVE = sdp("v=0", "o=alice 100 3 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
                 "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000",
                 "a=inactive")
B_INACTIVE = sdp("v=0", "o=bob 100 3 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                 "m=audio 3000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000", "a=inactive")
A_ZERO = sdp("v=0", "o=alice 100 4 IN IP4 192.0.2.10", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
             "m=audio 2000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000")
A_ZERO_SENDRECV = sdp("v=0", "o=alice 100 4 IN IP4 192.0.2.10", "s=-", "c=IN IP4 0.0.0.0",
                      "t=0 0", "m=audio 2000 RTP/AVP 0 8", "a=sendrecv")
A_SESSION_SENDONLY = sdp("v=0", "o=alice 100 5 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10",
                         "t=0 0", "a=sendonly", "m=audio 2000 RTP/AVP 0 8")
A_NEW_PORT = body("192.0.2.10", 2100, version=2)
A_NEW_ADDRESS = body("192.0.2.11", 2000, version=2)
A_PCMA_ONLY = body(media=("m=audio 2000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000"), version=2)
B_PCMA = body("192.0.2.20", 3000, ("m=audio 3000 RTP/AVP 8",), user="bob", version=2)
B_EARLY = body("192.0.2.20", 3000, user="bob")
B_FINAL = body("192.0.2.21", 3100, user="bob", version=2)
C = body("192.0.2.30", 4000, user="carol")
A_VIDEO = sdp("v=0", "o=alice 100 2 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
              "m=audio 2000 RTP/AVP 0", "m=video 2002 RTP/AVP 96", "a=rtpmap:96 VP8/90000")
B_VIDEO = sdp("v=0", "o=bob 100 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
              "m=audio 3000 RTP/AVP 0", "m=video 3002 RTP/AVP 96", "a=rtpmap:96 VP8/90000")
A_VIDEO_OFF = sdp("v=0", "o=alice 100 3 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
                  "m=audio 2000 RTP/AVP 0", "m=video 0 RTP/AVP 96", "a=rtpmap:96 VP8/90000")
B_VIDEO_OFF = sdp("v=0", "o=bob 100 3 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
                  "m=audio 3000 RTP/AVP 0", "m=video 0 RTP/AVP 96")


def branch(sdp_body: str, via: str, **extra) -> dict:
    return offer(sdp_body, **{"via-branch": via}, **extra)


SCENARIOS: dict[str, list[dict]] = {
    # -- hold / resume
    "hold with sendonly, resume": [offer(A), answer(B), offer(A_SENDONLY), answer(B_RECVONLY),
                                   query(), offer(A), answer(B), query(), delete()],
    "hold with inactive": [offer(A), answer(B), offer(A_INACTIVE), answer(B_INACTIVE), query(),
                           delete()],
    "old-style hold c=0.0.0.0": [offer(A), answer(B), offer(A_ZERO), answer(B), query(),
                                 offer(A), answer(B), delete()],
    "c=0.0.0.0 with sendrecv": [offer(A), answer(B), offer(A_ZERO_SENDRECV), answer(B), query(),
                                delete()],
    "c=0.0.0.0 with recvonly": [offer(A), answer(B),
                                offer(A_ZERO_SENDRECV.replace("sendrecv", "recvonly")), query(),
                                delete()],
    "c=0.0.0.0 with inactive": [offer(A), answer(B),
                                offer(A_ZERO_SENDRECV.replace("sendrecv", "inactive")), query(),
                                delete()],
    "answer puts offerer on hold with c=0.0.0.0": [
        offer(A), answer(B.replace("c=IN IP4 192.0.2.20", "c=IN IP4 0.0.0.0")), query(), delete()],
    "session-level sendonly": [offer(A), answer(B), offer(A_SESSION_SENDONLY), answer(B_RECVONLY),
                               query(), delete()],
    "callee puts caller on hold": [offer(A), answer(B),
                                   offer(B_RECVONLY.replace("recvonly", "sendonly"), "B", **{
                                       "to-tag": "A"}),
                                   answer(A.replace("sendrecv", "recvonly"), "B", "A"), query(),
                                   delete()],
    "hold with original-sendrecv": [offer(A), answer(B),
                                    offer(A_SENDONLY, flags=["original-sendrecv"]), delete()],
    "hold zero address replaced": [offer(A), answer(B), offer(A_ZERO, replace=["zero-address"]),
                                   delete()],
    # -- re-INVITEs
    "re-INVITE new port": [offer(A), answer(B), offer(A_NEW_PORT), answer(B), query(), delete()],
    "re-INVITE new address": [offer(A), answer(B), offer(A_NEW_ADDRESS), answer(B), query(),
                              delete()],
    "re-INVITE new address with port latching": [
        offer(A), answer(B), offer(A_NEW_ADDRESS, flags=["port-latching"]), answer(B), delete()],
    "re-INVITE narrowing codecs": [offer(A), answer(B), offer(A_PCMA_ONLY), answer(B_PCMA),
                                   query(), delete()],
    "re-INVITE same SDP twice": [offer(A), answer(B), offer(A), answer(B), offer(A), answer(B),
                                 delete()],
    "re-INVITE adds video": [offer(A), answer(B), offer(A_VIDEO), answer(B_VIDEO), query(),
                             delete()],
    "re-INVITE removes video": [offer(A_VIDEO), answer(B_VIDEO), offer(A_VIDEO_OFF),
                                answer(B_VIDEO_OFF), query(), delete()],
    "callee re-INVITE new port": [offer(A), answer(B),
                                  offer(body("192.0.2.20", 3100, user="bob", version=2), "B",
                                        **{"to-tag": "A"}),
                                  answer(A, "B", "A"), query(), delete()],
    "re-answer without re-offer": [offer(A), answer(B), answer(B_FINAL), query(), delete()],
    "SDP version replaced across re-INVITEs": [
        offer(A, replace=["SDP-version"]), answer(B, replace=["SDP-version"]),
        offer(A, replace=["SDP-version"]), offer(A_NEW_PORT, replace=["SDP-version"]), delete()],
    "username and session-name kept": [
        offer(A, replace=["username", "session-name"]),
        offer(body(user="changed", version=2), replace=["username", "session-name"]), delete()],
    # -- early media and forking
    "early media then final answer": [offer(A), answer(B_EARLY), answer(B_FINAL), query(),
                                      delete()],
    "forked offer, second branch answers": [
        branch(A, "z9hG4bK-1"), branch(A, "z9hG4bK-2"),
        answer(C, to_tag="C", **{"via-branch": "z9hG4bK-2"}), query(), delete()],
    "forked offer, both branches answer early": [
        branch(A, "z9hG4bK-1"), branch(A, "z9hG4bK-2"),
        answer(B, **{"via-branch": "z9hG4bK-1"}), answer(C, to_tag="C", **{"via-branch":
                                                                           "z9hG4bK-2"}),
        query(), delete()],
    "fork branch deleted by via-branch": [
        branch(A, "z9hG4bK-1"), branch(A, "z9hG4bK-2"),
        answer(B, **{"via-branch": "z9hG4bK-1"}), answer(C, to_tag="C", **{"via-branch":
                                                                           "z9hG4bK-2"}),
        delete(**{"from-tag": "A", "to-tag": "C", "via-branch": "z9hG4bK-2"}), query(),
        delete()],
    "same branch offered twice": [branch(A, "z9hG4bK-1"), branch(A, "z9hG4bK-1"), query(),
                                  delete()],
    "answer to unknown branch": [branch(A, "z9hG4bK-1"),
                                 answer(B, **{"via-branch": "z9hG4bK-9"}), query(), delete()],
    "to-tag on the initial offer": [offer(A, **{"to-tag": "B"}), answer(B), query(), delete()],
    "answer from-tag unknown": [offer(A), answer(B, from_tag="X"), query(), delete()],
    "answer swaps tags": [offer(A), answer(B), answer(A, from_tag="B", to_tag="A"), query(),
                          delete()],
    # -- delete variants
    "delete by from-tag": [offer(A), answer(B), delete(**{"from-tag": "A"}), query()],
    "delete by to-tag": [offer(A), answer(B), delete(**{"from-tag": "A", "to-tag": "B"}), query()],
    "delete by callee tag": [offer(A), answer(B), delete(**{"from-tag": "B"}), query()],
    "delete unknown tag": [offer(A), answer(B), delete(**{"from-tag": "X"}), query(), delete()],
    "delete unknown tag fatal": [offer(A), delete(**{"from-tag": "X", "flags": ["fatal"]}),
                                 delete()],
    "delete twice": [offer(A), answer(B), delete(), delete(), query()],
    "delete before answer": [offer(A), delete(), query()],
    "delete via-branch only": [branch(A, "z9hG4bK-1"), delete(**{"via-branch": "z9hG4bK-1"}),
                               query()],
    "delete with delay keeps the call listed": [
        offer(A), answer(B), {"command": "delete", "delete-delay": 30},
        {"command": "list"}, query(), delete()],
    "delete with delay then re-offer revives": [
        offer(A), answer(B), {"command": "delete", "delete-delay": 30}, offer(A), answer(B),
        query(), delete()],
    "delete one fork branch with delay": [
        branch(A, "z9hG4bK-1"), branch(A, "z9hG4bK-2"),
        answer(B, **{"via-branch": "z9hG4bK-1"}), answer(C, to_tag="C", **{"via-branch":
                                                                           "z9hG4bK-2"}),
        {"command": "delete", "from-tag": "C", "delete-delay": 30}, query(), delete()],
    "delete with delay given as string": [offer(A), {"command": "delete", "delete-delay": "0"},
                                          query()],
    "delete delay spelt with a space": [offer(A), {"command": "delete", "delete delay": 0},
                                        query()],
    "query by from-tag and to-tag": [offer(A), answer(B), query(**{"from-tag": "A"}),
                                     query(**{"to-tag": "B"}), query(**{"from-tag": "X"}),
                                     delete()],
    "list after several calls": [offer(A), offer(A, **{"call-id": "{cid}-second"}),
                                 {"command": "list", "limit": 1}, {"command": "list", "limit": 0},
                                 {"command": "list", "limit": "1"},
                                 delete(), delete(**{"call-id": "{cid}-second"})],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_call_flow(pair, name):
    pair.compare(SCENARIOS[name], name)
