"""Differential: malformed requests get the same error replies, and leave calls alone.

Every error path of the ng spec §3.3/§7 that a call command can take: missing keys,
keys of the wrong bencode type (lists where strings are expected and so on), SDP that is
not SDP, and errors in the middle of a live call (which must not disturb it).
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

A = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
        "m=audio 2000 RTP/AVP 0 8")
B = sdp("v=0", "o=- 2 2 IN IP4 192.0.2.20", "s=-", "c=IN IP4 192.0.2.20", "t=0 0",
        "m=audio 3000 RTP/AVP 0")
NO_V = A.replace("v=0\r\n", "")
NO_C = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0", "m=audio 2000 RTP/AVP 0")
BAD_M = A.replace("m=audio 2000 RTP/AVP 0 8", "m=audio notaport RTP/AVP 0")
BAD_C = A.replace("c=IN IP4 192.0.2.10", "c=IN IP4")
BIG_PORT = A.replace("m=audio 2000", "m=audio 70000")
BAD_LINE = A.replace("s=-", "this is not sdp")
NO_ORIGIN = A.replace("o=- 1 1 IN IP4 192.0.2.10\r\n", "")
LF_ONLY = A.replace("\r\n", "\n")
TRAILING_SPACE = A.replace("m=audio 2000 RTP/AVP 0 8", "m=audio 2000 RTP/AVP 0 8 ")
PORT_COUNT = A.replace("m=audio 2000 RTP/AVP", "m=audio 2000/2 RTP/AVP")
UNKNOWN_PROTO = A.replace("RTP/AVP 0 8", "TCP/MSRP *")

SCENARIOS: dict[str, list[dict]] = {
    "missing sdp, call-id, from-tag": [
        {"command": "offer"}, {"command": "offer", "sdp": A},
        {"command": "offer", "sdp": A, "call-id": None}, {"command": "answer", "sdp": A},
        {"command": "answer", "sdp": A, "from-tag": "A"}],
    "sdp of the wrong type": [offer(["v=0"]), offer(5), offer({"v": "0"})],
    "call-id of the wrong type": [{"command": "offer", "sdp": A, "from-tag": "A", "call-id": 5},
                                  {"command": "offer", "sdp": A, "from-tag": "A",
                                   "call-id": ["x"]},
                                  {"command": "query", "call-id": 5},
                                  {"command": "delete", "call-id": ["x"]}],
    "from-tag of the wrong type": [offer(A, tag=["A"]), offer(A, tag=7), answer(B, from_tag=[])],
    "to-tag of the wrong type": [offer(A), answer(B, to_tag=["B"]), answer(B, to_tag=3), delete()],
    "flags not a list": [offer(A, flags="trust-address"), offer(A, flags=5), delete()],
    "flags with non-string items": [offer(A, flags=[1, ["x"], {"a": "b"}, "trust-address"]),
                                    delete()],
    "replace not a list": [offer(A, replace="origin"), delete()],
    "direction of the wrong type": [offer(A, direction="internal"), offer(A, direction=[1, 2]),
                                    delete()],
    "ICE as a list": [offer(A, ICE=["remove"]), delete()],
    "label as a list": [offer(A, label=["x"]), query(), delete()],
    "codec not a dict": [offer(A, codec=["strip", "PCMA"]), offer(A, codec="PCMA"), delete()],
    "ptime of the wrong type": [offer(A, ptime=["20"]), offer(A, ptime="abc"), delete()],
    "media address of the wrong type": [offer(A, **{"media address": ["1.2.3.4"]}), delete()],
    "media address not an address": [offer(A, **{"media address": "not-an-ip"}), delete()],
    "received from wrong shapes": [
        offer(A, **{"received from": ["IP4"]}), offer(A, **{"received from": ["IP7", "1.2.3.4"]}),
        offer(A, flags=["SIP-source-address"], **{"received from": ["IP4", "bogus"]}), query(),
        delete()],
    "delete-delay of the wrong type": [offer(A), {"command": "delete", "delete-delay": ["1"]},
                                       query()],
    "delete-delay negative": [offer(A), {"command": "delete", "delete-delay": -5}, query()],
    "list limit of the wrong type": [{"command": "list", "limit": ["5"]},
                                     {"command": "list", "limit": "abc"},
                                     {"command": "list", "limit": -1}],
    "garbage SDP": [offer("garbage"), offer(""), offer("v=0"), offer("v=0\r\n")],
    "SDP without v=": [offer(NO_V)],
    "SDP without c=": [offer(NO_C)],
    "m= with a bad port": [offer(BAD_M), offer(BIG_PORT)],
    "c= truncated": [offer(BAD_C)],
    "line that is not type=value": [offer(BAD_LINE)],
    "SDP without o=": [offer(NO_ORIGIN), delete()],
    "LF-only SDP": [offer(LF_ONLY), delete()],
    "m= with trailing space": [offer(TRAILING_SPACE), delete()],
    # 10.5 binds a port pair per counted port; rtpengined one pair (query would differ).
    "m= with port count": [offer(PORT_COUNT), delete()],
    "empty SDP": [offer(""), query(), answer(""), {"command": "list"}, delete()],
    "non-RTP protocol": [offer(UNKNOWN_PROTO), query(), delete()],
    "errors in the middle of a call change nothing": [
        offer(A), answer(B), query(), offer("garbage"), answer(NO_C), offer(A, tag=["A"]),
        answer(BAD_M), query(), delete()],
    # (what 10.5's parser refuses that ours took: found by an attack pass)
    "c= that is no address of its family": [
        offer(A.replace("c=IN IP4 192.0.2.10", f"c=IN {value}")) for value in (
            "IP4 example.com", "IP4 999.1.1.1", "IP6 ::::zz", "IP6 192.0.2.10",
            "IP4 224.1.1.1/127/3")],
    "v= other than 0, an unknown line type": [
        offer(A.replace("v=0", "v=1")), offer(A + "x=junk\r\n")],
    "CR-only line ends": [offer(A.replace("\r\n", "\r"))],
    "two c= in a media, o= or s= in a media": [
        offer(A + "c=IN IP4 192.0.2.11\r\nc=IN IP4 192.0.2.12\r\n"),
        offer(A + "o=- 1 1 IN IP4 192.0.2.10\r\n"), offer(A + "s=x\r\n")],
    "m= port counts beyond 1 to 10": [
        offer(A.replace("m=audio 2000 RTP/AVP", f"m=audio {port} RTP/AVP"))
        for port in ("2000/0", "2000/11", "1/65535", "2000/99999")],
    "answer for an unknown call": [answer(B)],
    "query and delete unknown": [query(), delete(), {"command": "delete", "flags": ["fatal"]},
                                 {"command": "delete", "from-tag": "A", "flags": ["fatal"]}],
    "unknown command": [{"command": "frobnicate"}, {"command": ""}, {"command": 5}],
    "command with different case": [{"command": "Offer", "sdp": A, "from-tag": "A"},
                                    {"command": "QUERY"}, delete()],
    "extended commands on unknown call": [
        {"command": "block media"}, {"command": "unblock media"}, {"command": "silence media"},
        {"command": "start recording"}, {"command": "stop recording"},
        {"command": "start forwarding"}, {"command": "play media"}, {"command": "stop media"},
        {"command": "play DTMF"}, {"command": "block DTMF"}, {"command": "unblock DTMF"}],
    "extended commands without call-id": [
        {"command": "block media", "call-id": None}, {"command": "start recording",
                                                      "call-id": None},
        {"command": "play DTMF", "call-id": None}],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_error(pair, name):
    pair.compare(SCENARIOS[name], name)
