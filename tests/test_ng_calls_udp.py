"""The call commands over real UDP ng against an in-process daemon (spec §8 items 13-38).

Byte-level agreement with rtpengine's replies is checked by ``test_ng_calls_golden``; here
the same behaviour is exercised end to end, including real media sockets and one relayed
call. Endpoint learning, strict source and asymmetric relaying (items 27-29) are the
relay's tests.
"""

from __future__ import annotations

import itertools
import re
import socket

import pytest
import trio

from rtpengined.protocol import bencode
from tests.conftest import udp_request

_cookies = itertools.count()


@pytest.fixture
async def calls_daemon(make_daemon):
    return await make_daemon(port_min=41000, port_max=41999)


async def ng(daemon, **message) -> dict:
    cookie = f"u{next(_cookies)}".encode()
    reply = await udp_request(daemon.address("udp-ng"), cookie + b" " + bencode.encode(message))
    assert reply is not None and reply.startswith(cookie + b" ")
    return bencode.decode(reply[len(cookie) + 1:])


def sdp_body(port: int = 2000, address: str = "192.0.2.10", extra: str = "",
             formats: str = "0 8 101") -> str:
    return ("v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n"
            f"c=IN IP4 {address}\r\nt=0 0\r\nm=audio {port} RTP/AVP {formats}\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n" + extra)


def media_port(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


def keys(call_id: str, from_tag: str = "a", **extra) -> dict:
    return {"call-id": call_id, "from-tag": from_tag, **extra}


async def test_offer_rewrites_to_own_address_and_even_port(calls_daemon):
    reply = await ng(calls_daemon, command="offer", **keys("u13"), sdp=sdp_body())
    assert list(reply) == ["sdp", "result"] and reply["result"] == "ok"
    sdp = reply["sdp"]
    port = media_port(sdp)
    assert 41000 <= port <= 41999 and port % 2 == 0
    assert "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n" in sdp
    assert "c=IN IP4 127.0.0.1\r\n" in sdp
    assert sdp.endswith("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
                        f"a=sendrecv\r\na=rtcp:{port + 1}\r\n")
    # The advertised port is really ours: the kernel refuses a second bind.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        with pytest.raises(OSError):
            probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize("command,message,reason", [
    ("offer", {}, "No SDP body in message"),
    ("offer", {"sdp": "v=0"}, "No call-id in message"),
    ("offer", {"sdp": "v=0", "call-id": "x"}, "No from-tag in message"),
    ("answer", {"sdp": "v=0", "call-id": "x", "from-tag": "a"}, "No to-tag in message"),
    ("answer", {"sdp": sdp_body(), "call-id": "nosuch", "from-tag": "a", "to-tag": "b"},
     "Unknown call-id"),
    ("offer", {"sdp": "garbage", "call-id": "x", "from-tag": "a"}, "Failed to parse SDP"),
    ("offer", {"sdp": "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 2 RTP/AVP 0\r\n",
               "call-id": "x", "from-tag": "a"}, "Incomplete SDP specification"),
    ("query", {"call-id": "nosuch"}, "Unknown call-id"),
    ("query", {"call id": "x"}, "No call-id in message"),
    ("list", {"limit": -1}, "invalid limit, must be >= 0"),
    ("delete", {"call-id": "nosuch", "flags": ["fatal"]},
     "Call-ID not found or tags didn't match"),
])
async def test_error_replies(calls_daemon, command, message, reason):
    assert await ng(calls_daemon, command=command, **message) == {
        "result": "error", "error-reason": reason}
    assert await ng(calls_daemon, command="list") == {"calls": [], "result": "ok"}


async def test_relay_between_offer_and_answer_ports(calls_daemon):
    """Item 17: A→answer port reaches B from the offer port, and back; RTCP likewise."""
    socks = {}
    for name in ("a_rtp", "a_rtcp", "b_rtp", "b_rtcp"):
        socks[name] = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a_port = b_port = 0
    for _attempt in range(20):
        try:
            await socks["a_rtp"].bind(("127.0.0.1", 0))
            a_port = socks["a_rtp"].getsockname()[1]
            await socks["a_rtcp"].bind(("127.0.0.1", a_port + 1))
            break
        except OSError:
            socks["a_rtp"].close()
            socks["a_rtcp"].close()
            socks["a_rtp"] = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks["a_rtcp"] = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _attempt in range(20):
        try:
            await socks["b_rtp"].bind(("127.0.0.1", 0))
            b_port = socks["b_rtp"].getsockname()[1]
            await socks["b_rtcp"].bind(("127.0.0.1", b_port + 1))
            break
        except OSError:
            socks["b_rtp"].close()
            socks["b_rtcp"].close()
            socks["b_rtp"] = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks["b_rtcp"] = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    offer = await ng(calls_daemon, command="offer", **keys("relay"),
                     sdp=sdp_body(a_port, "127.0.0.1"))
    answer = await ng(calls_daemon, command="answer", **keys("relay", **{"to-tag": "b"}),
                      sdp=sdp_body(b_port, "127.0.0.1"))
    p_offer, p_answer = media_port(offer["sdp"]), media_port(answer["sdp"])
    rtp = bytes([0x80, 0]) + b"\x00\x01" + b"\x00" * 8 + b"\xff" * 160
    # A receiver report with one report block. (RTP sent to an RTCP port is dropped, as
    # 10.5 drops it: tests/test_diff_rtcp_validate.py.)
    rtcp = bytes([0x81, 201, 0, 7]) + b"\x00\x00\x00\x01" + b"\x00" * 24
    with trio.fail_after(5):
        for sender, target, receiver, source, packet in (
            ("a_rtp", p_answer, "b_rtp", p_offer, rtp),
            ("b_rtp", p_offer, "a_rtp", p_answer, rtp),
            ("a_rtcp", p_answer + 1, "b_rtcp", p_offer + 1, rtcp),
            ("b_rtcp", p_offer + 1, "a_rtcp", p_answer + 1, rtcp),
        ):
            await socks[sender].sendto(packet, ("127.0.0.1", target))
            data, address = await socks[receiver].recvfrom(2048)
            assert data == packet and address == ("127.0.0.1", source)
    expected = {"RTP": {"packets": 2, "bytes": 344, "errors": 0},
                "RTCP": {"packets": 2, "bytes": 64, "errors": 0}}
    # The relay publishes counters after forwarding: poll until they arrive.
    with trio.move_on_after(3):
        while (query := await ng(calls_daemon, command="query",
                                 **{"call-id": "relay"}))["totals"] != expected:
            await trio.sleep(0.05)
    assert query["totals"] == expected
    assert query["tags"]["a"]["medias"][0]["codec"] == "PCMU/8000"
    for sock in socks.values():
        sock.close()


async def test_reoffers_keep_ports_and_callee_reinvite(calls_daemon):
    first = await ng(calls_daemon, command="offer", **keys("re"), sdp=sdp_body())
    again = await ng(calls_daemon, command="offer", **keys("re"), sdp=sdp_body())
    assert again["sdp"] == first["sdp"]
    answer = await ng(calls_daemon, command="answer", **keys("re", **{"to-tag": "b"}),
                      sdp=sdp_body(3000, "192.0.2.20"))
    reinvite = await ng(calls_daemon, command="offer",
                        **keys("re", "b", **{"to-tag": "a"}), sdp=sdp_body(3000, "192.0.2.20"))
    assert media_port(reinvite["sdp"]) == media_port(answer["sdp"])
    moved = await ng(calls_daemon, command="offer", **keys("re"), sdp=sdp_body(2010))
    assert media_port(moved["sdp"]) != media_port(first["sdp"])
    latched = await ng(calls_daemon, command="offer", **keys("re"), sdp=sdp_body(2020),
                       flags=["port-latching"])
    assert media_port(latched["sdp"]) == media_port(moved["sdp"])


async def test_sdp_options_over_udp(calls_daemon):
    sdp = (await ng(calls_daemon, command="offer", **keys("o1"), sdp=sdp_body(),
                    replace=["origin"]))["sdp"]
    assert "o=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\n" in sdp
    sdp = (await ng(calls_daemon, command="offer", **keys("o2"), sdp=sdp_body(),
                    **{"rtcp-mux": ["require"]}))["sdp"]
    assert sdp.endswith(f"a=rtcp:{media_port(sdp)}\r\na=rtcp-mux\r\n")
    sdp = (await ng(calls_daemon, command="offer", **keys("o3"), sdp=sdp_body(),
                    flags=["no-rtcp-attribute"]))["sdp"]
    assert "a=rtcp" not in sdp
    sdp = (await ng(calls_daemon, command="offer", **keys("o4"), sdp=sdp_body(),
                    flags=["full-rtcp-attribute"]))["sdp"]
    assert sdp.endswith(f"a=rtcp:{media_port(sdp) + 1} IN IP4 127.0.0.1\r\n")
    sdp = (await ng(calls_daemon, command="offer", **keys("o5"),
                    sdp=sdp_body(address="0.0.0.0")))["sdp"]
    assert "c=IN IP4 0.0.0.0\r\n" in sdp and "a=sendonly\r\n" in sdp
    sdp = (await ng(calls_daemon, command="offer", **keys("o6"), sdp=sdp_body(),
                    ICE="force"))["sdp"]
    port = media_port(sdp)
    assert re.search(r"a=ice-ufrag:\w{8}\r\na=ice-pwd:\w{26}\r\n", sdp)
    assert re.search(rf"a=candidate:\w{{16}} 1 UDP 2130706431 127.0.0.1 {port} typ host", sdp)
    assert re.search(rf"a=candidate:\w{{16}} 2 UDP 2130706430 127.0.0.1 {port + 1} typ host",
                     sdp)
    sdp = (await ng(calls_daemon, command="offer", **keys("o7"), sdp=sdp_body(),
                    **{"media address": "203.0.113.5"}))["sdp"]
    assert "c=IN IP4 203.0.113.5\r\n" in sdp
    reply = await ng(calls_daemon, command="offer", **keys("o8"), sdp=sdp_body(),
                     flags=["no-such-flag"], **{"bogus key": "x"})
    assert list(reply) == ["sdp", "result"]


async def test_sip_source_address_and_label_in_query(calls_daemon):
    await ng(calls_daemon, command="offer", **keys("src"), sdp=sdp_body(), label="caller",
             flags=["SIP-source-address"], **{"received from": ["IP4", "198.51.100.7"]})
    query = await ng(calls_daemon, command="query", **{"call-id": "src"})
    assert list(query) == ["created", "created_us", "last signal", "SSRC", "tags", "totals",
                           "result"]
    tag = query["tags"]["a"]
    assert tag["label"] == "caller"
    stream = tag["medias"][0]["streams"][0]
    assert stream["endpoint"] == stream["advertised endpoint"] == {
        "family": "IPv4", "address": "198.51.100.7", "port": 2000}
    untagged = query["tags"]["<untagged 1>"]
    assert untagged["tag"] == "" and untagged["medias"][0]["streams"][0]["endpoint"] == {}


async def test_list_and_delete_lifecycle(calls_daemon):
    for call_id in ("l1", "l2", "l3"):
        await ng(calls_daemon, command="offer", **keys(call_id), sdp=sdp_body())
    assert (await ng(calls_daemon, command="list"))["calls"] == ["l1", "l2", "l3"]
    assert (await ng(calls_daemon, command="list", limit=0))["calls"] == []
    assert (await ng(calls_daemon, command="list", limit="2"))["calls"] == ["l1", "l2"]
    assert await ng(calls_daemon, command="delete", **{"call-id": "nosuch"}) == {
        "warning": "Call-ID not found or tags didn't match", "result": "ok"}
    reply = await ng(calls_daemon, command="delete", **keys("l1"))
    assert reply["result"] == "ok" and set(reply["tags"]) == {"a", "<untagged 1>"}
    assert "l1" in (await ng(calls_daemon, command="list"))["calls"]  # delete delay 30 s
    assert (await ng(calls_daemon, command="query", **{"call-id": "l1"}))["result"] == "ok"
    offer = await ng(calls_daemon, command="offer", **keys("l2"), sdp=sdp_body())
    port = media_port(offer["sdp"])
    reply = await ng(calls_daemon, command="delete", **keys("l2"), **{"delete-delay": 0})
    assert list(reply)[-1] == "result" and "totals" in reply
    assert "l2" not in (await ng(calls_daemon, command="list"))["calls"]
    # Released to the pool (the relay closes its copy of the socket asynchronously).
    pool = calls_daemon.core.calls.port_pools[0]
    assert port not in pool.in_use and pool.used == 8  # l1 (delete delay) and l3 remain
    assert await ng(calls_daemon, command="delete", **{"call-id": "l3", "delete delay": "0"}) \
        == {"result": "ok"}


async def test_loop_protect_returns_own_sdp_unchanged(calls_daemon):
    first = await ng(calls_daemon, command="offer", **keys("lp1"), sdp=sdp_body(),
                     flags=["loop-protect"])
    assert re.search(r"\r\nt=0 0\r\na=rtpengine:[0-9a-f]{12}\r\nm=", first["sdp"])
    second = await ng(calls_daemon, command="offer", **keys("lp2"), sdp=first["sdp"],
                      flags=["loop-protect"])
    assert second == {"sdp": first["sdp"], "result": "ok"}
    assert (await ng(calls_daemon, command="list"))["calls"] == ["lp1"]
