"""Golden tests through real ng requests: the calls/ and teardown/ states of the capture,
created by the same offers and answers, then read over the TCP CLI port.

Our media ports come from our own range (44000-44999); port numbers the allocator picks
are masked, and the range is mapped onto the capture's 40000-40999 before comparing.
"""

from __future__ import annotations

import itertools
import re
import struct

import trio
from cli_helpers import cli, fixture, mask, sorted_lines

from rtpengined.protocol import bencode

from conftest import FIXTURES, udp_request

CONFIG = {"port_min": 44000, "port_max": 44999, "log_level": 6}
_cookies = itertools.count(1)
_PORTS = [
    (re.compile(r"\b44(\d{3})\b"), r"40\1"),  # our range onto the capture's
    (re.compile(r"(Port +127\.0\.0\.1:)\d+"), r"\1PORT"),
    (re.compile(r"(Ports used: +\d+ / +\d+ \( *[\d.]+%\)\n Last port used: +)\d+"), r"\1L"),
]


def norm(text: str) -> str:
    for pattern, replacement in _PORTS:
        text = pattern.sub(replacement, text)
    return mask(text)


def sdp(name: str) -> str:
    with open(f"{FIXTURES}/sdp/{name}.sdp") as handle:
        return handle.read()


async def ng(daemon, **message) -> dict:
    cookie = f"c{next(_cookies)}".encode()
    reply = await udp_request(daemon.address("udp-ng"), cookie + b" " + bencode.encode(message))
    assert reply is not None and reply.startswith(cookie + b" ")
    return bencode.decode(reply[len(cookie) + 1:])


async def offer(daemon, call_id, from_tag, sdp_name) -> dict:
    return await ng(daemon, command="offer", **{"call-id": call_id, "from-tag": from_tag},
                    sdp=sdp(sdp_name))


async def answer(daemon, call_id, from_tag, to_tag, sdp_name) -> dict:
    return await ng(daemon, command="answer", sdp=sdp(sdp_name),
                    **{"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag})


async def two_calls(make_daemon):
    daemon = await make_daemon(**CONFIG)
    for n in (1, 2):
        assert (await offer(daemon, f"fixture-call-{n}", f"caller{n}", f"offer{n}"))["result"] == "ok"
        reply = await answer(daemon, f"fixture-call-{n}", f"caller{n}", f"callee{n}", f"answer{n}")
        assert reply["result"] == "ok"
    return daemon


CALL_VIEWS = [
    "list_numsessions", "get_numsessions", "list_sessions_foreign", "list_counters",
    "list_interfaces", "list_transcoders", "list_totals", "list_jsonstats",
    "list_sessions_fixture-call-1", "list_sessions_fixture-call-2",
    "list_maxsessions", "list_timeout", "list_loglevel",
]


async def test_two_calls_state_matches_the_capture(make_daemon):
    daemon = await two_calls(make_daemon)
    address = daemon.address("cli")
    for name in CALL_VIEWS:
        ours = await cli(address, name.replace("_", " "))
        assert norm(ours) == norm(fixture(f"calls/{name}.txt")), name
    for name in ("list_sessions_all", "list_sessions_own"):
        ours = await cli(address, name.replace("_", " "))
        assert sorted_lines(norm(ours)) == sorted_lines(norm(fixture(f"calls/{name}.txt"))), name
    for suffix in ("info", "tag_caller1_info", "tag_callee1_info", "help", "tag_caller1_help",
                   "no_subcommand", "tag_nosuch_info", "tag", "debug", "debug_off"):
        words = "" if suffix == "no_subcommand" else " " + suffix.replace("_", " ")
        ours = await cli(address, "call fixture-call-1" + words)
        expected = fixture(f"calls/call_fixture-call-1_{suffix}.txt")
        assert norm(ours) == norm(expected), suffix


async def test_teardown_sequence_matches_the_capture(make_daemon):
    daemon = await two_calls(make_daemon)
    address = daemon.address("cli")
    assert await cli(address, "terminate fixture-call-2") == fixture(
        "teardown/terminate_fixture-call-2.txt")
    assert norm(await cli(address, "list sessions all")) == norm(
        fixture("teardown/list_sessions_all_after_terminate.txt"))
    assert (await offer(daemon, "fixture-call-3", "caller3", "offer3"))["result"] == "ok"
    assert norm(await cli(address, "list sessions fixture-call-3")) == norm(
        fixture("teardown/list_sessions_fixture-call-3_offer_only.txt"))
    assert await cli(address, "call fixture-call-3 terminate") == fixture(
        "teardown/call_fixture-call-3_terminate.txt")
    reply = await ng(daemon, command="delete", **{"call-id": "fixture-call-1", "from-tag": "caller1"})
    assert reply["result"] == "ok"
    assert norm(await cli(address, "list sessions all")) == norm(
        fixture("teardown/list_sessions_all_after_ng_delete.txt"))
    assert await cli(address, "terminate all") == fixture("teardown/terminate_all.txt")
    for name in ("list_sessions_all_final", "list_numsessions_final", "list_interfaces_final"):
        command = name.removesuffix("_final").replace("_", " ")
        assert norm(await cli(address, command)) == norm(fixture(f"teardown/{name}.txt")), name
    # Totals: counters as captured, except that no RTP went through call 1 here (the
    # capture relayed 15 packets, 2580 bytes, so it had one zero-way call less); call
    # durations differ (ours ran faster).
    no_media = [(re.compile(r"(Total relayed (?:packets|bytes)[a-z() ]*:)\d+"), r"\g<1>0"),
                (re.compile(r'("relayed(?:packets|bytes)(?:_user)?":)\d+'), r"\g<1>0"),
                (re.compile(r"(with no relayed packets :)2"), r"\g<1>3"),
                (re.compile(r'("zerowaystreams":)2'), r"\g<1>3")]

    def without_media(text: str) -> str:
        for pattern, replacement in no_media:
            text = pattern.sub(replacement, text)
        return text

    durations = re.compile(r"(call duration|calls duration[a-z ]*)( *:)[\d.]+", re.I)
    json_durations = re.compile(r'("(?:avgcallduration|totalcallsduration2?|totalcallsduration_stddev)":)[\d.]+')
    totals = durations.sub(r"\1\2D", norm(await cli(address, "list totals")))
    assert totals == durations.sub(r"\1\2D", without_media(norm(fixture("teardown/list_totals_final.txt"))))
    stats = json_durations.sub(r"\1D", norm(await cli(address, "list jsonstats")))
    assert stats == json_durations.sub(r"\1D", without_media(norm(fixture("teardown/list_jsonstats_final.txt"))))


async def test_set_maxsessions_refuses_the_next_offer_at_once(make_daemon):
    daemon = await make_daemon(**CONFIG)
    address = daemon.address("cli")
    assert await cli(address, "set maxsessions 1") == "Success setting maxsessions to 1\n"
    assert (await offer(daemon, "limit-1", "a", "offer1"))["result"] == "ok"
    refused = await offer(daemon, "limit-2", "b", "offer2")
    assert refused == {"result": "error", "error-reason": "Parallel session limit reached"}
    assert "Total rejected sessions                         :1\n" in await cli(address, "list totals")
    assert await cli(address, "set maxsessions -1") == "Success setting maxsessions to -1; disable feature\n"
    assert (await offer(daemon, "limit-2", "b", "offer2"))["result"] == "ok"


async def test_ng_statistics_equals_list_jsonstats(make_daemon):
    import json

    daemon = await two_calls(make_daemon)
    reply = await ng(daemon, command="statistics")
    assert reply["result"] == "ok"
    listed = json.loads(await cli(daemon.address("cli"), "list jsonstats"))
    ng_stats = reply["statistics"]
    assert list(ng_stats) == list(listed)
    assert ng_stats["currentstatistics"] == listed["currentstatistics"]
    assert ng_stats["totalstatistics"]["uptime"] == str(listed["totalstatistics"]["uptime"])
    assert ng_stats["interfaces"][0]["ports"]["used_pct"] == "0.80"


def _sdp(user: str, port: int, payload_types: str) -> str:
    lines = ["v=0", f"o={user} 1000 1 IN IP4 127.0.0.1", "s=fixture", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} RTP/AVP {payload_types}"]
    lines += [{"0": "a=rtpmap:0 PCMU/8000", "8": "a=rtpmap:8 PCMA/8000"}[pt] for pt in payload_types.split()]
    return "\r\n".join([*lines, "a=sendrecv", ""])


def _rtp(index: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, 1000 + index, 160000 + 160 * index, ssrc) + b"\xff" * 160


async def _receive(sock, count: int) -> None:
    for _ in range(count):
        await sock.recv(2048)


async def test_media_counters_after_rtp(make_daemon):
    """The media/ phase: 10 packets caller→callee, 5 back, through real relay sockets."""
    daemon = await make_daemon(**CONFIG)
    caller, callee = (trio.socket.socket(type=trio.socket.SOCK_DGRAM) for _ in range(2))
    with caller, callee:
        await caller.bind(("127.0.0.1", 0))
        await callee.bind(("127.0.0.1", 0))
        ids = {"call-id": "media-call", "from-tag": "caller1"}
        reply = await ng(daemon, command="offer", sdp=_sdp("caller1", caller.getsockname()[1], "0 8"), **ids)
        to_callee = int(re.search(r"m=audio (\d+)", reply["sdp"]).group(1))
        reply = await ng(daemon, command="answer", sdp=_sdp("callee1", callee.getsockname()[1], "0"),
                         **ids, **{"to-tag": "callee1"})
        to_caller = int(re.search(r"m=audio (\d+)", reply["sdp"]).group(1))
        for index in range(10):
            await caller.sendto(_rtp(index, 0x11223344), ("127.0.0.1", to_caller))
        for index in range(5):
            await callee.sendto(_rtp(index, 0x55667788), ("127.0.0.1", to_callee))
        with trio.fail_after(5):  # relayed both ways: every packet was counted on its way
            await _receive(callee, 10)
            await _receive(caller, 5)
    address = daemon.address("cli")
    wanted = (", SSRC 11223344, 10 p, 1720 b, 0 e, ", ", SSRC 55667788, 5 p, 860 b, 0 e, ")
    # The relay workers publish their counters shortly after relaying (as rtpengine's
    # kernel counters do): wait until the view shows them, within a deadline.
    with trio.fail_after(5):
        while True:
            info = await cli(address, "list sessions media-call")
            if all(text in info for text in wanted):
                break
            await trio.sleep(0.05)
    totals = await cli(address, "list totals")
    for line in (" Total relayed packets (userspace)               :15\n",
                 " Total relayed bytes (userspace)                 :2580\n",
                 " Total relayed packets                           :15\n",
                 " Userspace-only media streams                    :2\n"):
        assert line in totals
