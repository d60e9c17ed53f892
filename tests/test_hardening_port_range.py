"""Ports out of range in an SDP: the relay workers keep running and every call relays.

Found by a daemon-level flow fuzz run: ``m=audio 65535`` puts the party's RTCP on port
65536, and ``a=rtcp:70000`` named one outright. The worker's first packet for such a
destination raised ``OverflowError`` in ``sendto`` (not an ``OSError``), the worker died,
and died again on restart with the same streams: every call's media stopped. 10.5 shows
65536 in ``query`` and relays nothing to it; an ``a=rtcp`` port outside 1-65535 it
ignores (its RTCP goes to the media port + 1), as we now do.
"""

from __future__ import annotations

import socket
import struct

import pytest
import trio
from hardening_helpers import call_shape, child_pids, live_call, media_port, module_daemon, ng

MEDIA = ["-m", "43100", "-M", "43199", "--relay-workers=1", "--delete-delay=0"]
RR = struct.pack("!BBHI", 0x80, 201, 1, 0x1234)  # an RTCP receiver report, no blocks
HEAD = ("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0")


def _sdp(*lines: str) -> str:
    return "\r\n".join((*HEAD, *lines, ""))

proc = module_daemon(*MEDIA)


# (the offerer's SDP, and the RTCP endpoint `query` shows for it, as 10.5 shows it)
CASES = {
    "m=audio 65535": (_sdp("m=audio 65535 RTP/AVP 0"), 65536),
    "m=audio 65535, rtcp-mux offered": (_sdp("m=audio 65535 RTP/AVP 0", "a=rtcp-mux"), 65536),
    "a=rtcp:65536": (_sdp("m=audio 30000 RTP/AVP 0", "a=rtcp:65536"), 30001),
    "a=rtcp:70000": (_sdp("m=audio 30000 RTP/AVP 0", "a=rtcp:70000"), 30001),
    "a=rtcp:-1": (_sdp("m=audio 30000 RTP/AVP 0", "a=rtcp:-1"), 30001),
    "a=rtcp:0": (_sdp("m=audio 30000 RTP/AVP 0", "a=rtcp:0"), 30001),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_rtcp_port_out_of_range_relays_on(proc, name):
    ng_address = ("127.0.0.1", proc.ng_port)
    workers = sorted(child_pids(proc.proc.pid))
    body, rtcp_shown = CASES[name]
    call_id = f"range-{name}"
    answerer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    answerer.bind(("127.0.0.1", 0))
    try:
        offer = await ng(ng_address, {"command": "offer", "call-id": call_id, "from-tag": "a",
                                      "sdp": body})
        assert offer["result"] == "ok", offer
        port = answerer.getsockname()[1]
        answer = await ng(ng_address, {"command": "answer", "call-id": call_id, "from-tag": "a",
                                       "to-tag": "b", "sdp": _sdp(f"m=audio {port} RTP/AVP 0")})
        assert answer["result"] == "ok", answer
        target = media_port(offer["sdp"])
        # The answerer's RTP and RTCP go towards the offerer: its RTCP to the bad port.
        for seq in range(1, 6):
            answerer.sendto(bytes([0x80, 0, 0, seq]) + bytes(8) + bytes(160), ("127.0.0.1", target))
            answerer.sendto(RR, ("127.0.0.1", target + 1))
            await trio.sleep(0.02)
        query = await ng(ng_address, {"command": "query", "call-id": call_id})
        streams = query["tags"]["a"]["medias"][0]["streams"]
        assert [s["endpoint"].get("port") for s in streams][-1] == rtcp_shown
        # The worker lives, and another call relays both ways.
        live = await live_call(ng_address, f"{call_id}-after")
        try:
            await live.relays(seq=1)
            shape = call_shape(await ng(ng_address, {"command": "query", "call-id": live.call_id}))
            assert shape
        finally:
            await ng(ng_address, {"command": "delete", "call-id": live.call_id})
            live.close()
        assert sorted(child_pids(proc.proc.pid)) == workers, "a relay worker was restarted"
    finally:
        await ng(ng_address, {"command": "delete", "call-id": call_id})
        answerer.close()
