"""The inputs that kill rtpengine 10.5 (crash-probes.txt, ng-protocol.md §7, and
``/cli/params diff`` over HTTP followed by WebSocket requests): a subprocess daemon answers
each one, keeps answering, and the calls it had are unchanged and still relay media."""

from __future__ import annotations

import os

import pytest
import trio
from cli_helpers import cli
from hardening_helpers import call_shape, live_call, module_daemon, ng, ping

from transports.http import open_client

MEDIA = ["-m", "43000", "-M", "43099", "--relay-workers=1", "--delete-delay=0"]
NO_C_NO_M = "v=0\r\no=- 1 3 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

proc = module_daemon(*MEDIA)


async def check_intact(proc, call) -> None:
    ng_address = ("127.0.0.1", proc.ng_port)
    assert proc.proc.poll() is None, "daemon died"
    assert await ping(ng_address)
    shape = call_shape(await ng(ng_address, {"command": "query", "call-id": call.call_id}))
    assert shape == call.shape
    await call.relays(seq=len(call.shape) + 1)


@pytest.fixture
async def call(proc):
    ng_address = ("127.0.0.1", proc.ng_port)
    live = await live_call(ng_address, f"probe-{trio.current_time()}")
    live.shape = call_shape(await ng(ng_address, {"command": "query", "call-id": live.call_id}))
    await live.relays(seq=1)
    yield live
    await ng(ng_address, {"command": "delete", "call-id": live.call_id})
    live.close()


@pytest.mark.parametrize(("command", "reply"), [
    ("set controltos 16", "Success"),  # 10.5: SIGSEGV
    ("ksadd 3", "Success"),  # 10.5 without redis: SIGSEGV
    ("set controltos 300", "Invalid control-tos value 300, must be between 0 and 255\n"),
    ("ksrm 3", "Success"),
])
async def test_cli_probe_answered_and_calls_intact(proc, call, command, reply):
    got = await cli(("127.0.0.1", proc.cli_port), command)
    assert got.startswith(reply), got
    await check_intact(proc, call)


@pytest.mark.parametrize("command", ["params diff", "list loglevel nosuch"])
async def test_http_cli_probe_answered_and_calls_intact(proc, call, command):
    async with open_client(f"http://127.0.0.1:{proc.http_port}", kind="cli") as client:
        body = await client.request(command.encode())  # 10.5: empty output, then SIGSEGV
    assert isinstance(body, bytes)
    await check_intact(proc, call)


async def test_http_params_diff_then_websocket_requests(proc, call):
    """The sequence that killed a real 10.5: /cli/params+diff, then a few WS requests."""
    base = f"127.0.0.1:{proc.http_port}"
    async with open_client(f"http://{base}", kind="cli") as client:
        await client.request(b"params diff")
    async with open_client(f"ws://{base}/", kind="cli") as ws_cli:
        assert b"Total calls" in await ws_cli.request(b"list totals")
        assert (await ws_cli.request(b"params diff")) is not None
        assert await ws_cli.request(b"list numsessions")
    async with open_client(f"ws://{base}/", kind="ng") as ws_ng:
        for index in range(3):
            reply = await ws_ng.request(b"w%d d7:command4:pinge" % index)
            assert reply == b"w%d d6:result4:ponge" % index
        query = await ws_ng.request(b"wq d7:command5:query7:call-id%d:%se"
                                    % (len(call.call_id), call.call_id.encode()))
        assert query.startswith(b"wq d") and query.endswith(b"6:result2:oke")
    await check_intact(proc, call)


async def test_reoffer_with_neither_c_nor_m_gets_an_error(proc, call):
    ng_address = ("127.0.0.1", proc.ng_port)
    reply = await ng(ng_address, {"command": "offer", "call-id": call.call_id, "from-tag": "alice",
                                  "sdp": NO_C_NO_M})
    assert reply["result"] == "error" and reply["error-reason"]
    # the same re-offer in the answer direction, and as a new call
    reply = await ng(ng_address, {"command": "offer", "call-id": call.call_id, "from-tag": "bob",
                                  "to-tag": "alice", "sdp": NO_C_NO_M})
    assert reply["result"] in ("error", "ok")
    reply = await ng(ng_address, {"command": "offer", "call-id": call.call_id + "-new",
                                  "from-tag": "x", "sdp": NO_C_NO_M})
    assert reply["result"] == "error"
    await check_intact(proc, call)


def _workers(pid: int) -> set[int]:
    children: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            children.update(int(p) for p in handle.read().split())
    return children


BAD_CANDIDATES = ["1 1 UDP 2130706431 127.0.0.1 99999 typ host",
                  "2 1 UDP 2130706431 127.0.0.1 -5 typ host",
                  "3 1 UDP 2130706431 no.such.host 4000 typ host",
                  "4 1 UDP 99999999999 127.0.0.1 4002 typ host"]


@pytest.mark.parametrize("how", ["answer", "trickle"])
async def test_ice_candidates_out_of_range_leave_the_relay_worker_alone(proc, call, how):
    """A candidate port above 65535 (or below 1) made the relay worker's ICE check raise
    in ``sendto``: the worker ended, came back with its streams and ran into it again,
    twice a second for as long as the call lasted. Such candidates (and names, and
    priorities beyond 32 bits) are no candidates now."""
    ng_address = ("127.0.0.1", proc.ng_port)
    before = _workers(proc.proc.pid)
    ids = {"call-id": f"bad-candidates-{how}", "from-tag": "A"}
    plain = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
             "m=audio 30000 RTP/AVP 0\r\na=sendrecv\r\n")
    reply = await ng(ng_address, {"command": "offer", **ids, "sdp": plain, "ICE": "force"})
    assert reply["result"] == "ok"
    lines = "" if how == "trickle" else "".join(f"a=candidate:{c}\r\n" for c in BAD_CANDIDATES)
    browser = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio 30002 RTP/AVP 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
               f"a=rtcp-mux\r\n{lines}a=sendrecv\r\n")
    reply = await ng(ng_address, {"command": "answer", **ids, "to-tag": "B", "sdp": browser,
                                  "ICE": "force"})
    assert reply["result"] == "ok"
    if how == "trickle":
        fragment = ("a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\nm=audio 9 RTP/AVP 0\r\n"
                    "a=mid:0\r\n" + "".join(f"a=candidate:{c}\r\n" for c in BAD_CANDIDATES))
        reply = await ng(ng_address, {"command": "offer", **ids, "from-tag": "B", "to-tag": "A",
                                      "sdp": fragment, "fragment": True})
    await trio.sleep(1.5)  # (checks every Ta; a failing worker restarted in 0.5 s)
    assert _workers(proc.proc.pid) == before
    await ng(ng_address, {"command": "delete", **ids})
    await check_intact(proc, call)


@pytest.mark.parametrize("depth", [100, 600, 950])
async def test_deeply_nested_json_is_answered(proc, call, depth):
    """JSON nested a few hundred levels deep (json.loads takes ~1,000): 10.5 answers it.
    Converting it recursed and raised past the request's error handling (a traceback and
    no reply over UDP, 500 over HTTP)."""
    from hardening_helpers import udp_request

    nested = b"[" * depth + b"]" * depth
    deep = b'{"command":"ping","x":' + nested + b"}"
    reply = await udp_request(("127.0.0.1", proc.ng_port), b"deep " + deep, 5)
    assert reply == b'deep {"result":"pong"}'
    deep = b'{"command":"list","limit":' + nested + b"}"  # (a command that reads its keys)
    reply = await udp_request(("127.0.0.1", proc.ng_port), b"deep2 " + deep, 5)
    assert reply is not None and reply.startswith(b"deep2 {") and b'"result":"ok"' in reply
    await check_intact(proc, call)
