"""Real protocol messages that mutations start from: ng envelopes of every command, JSON
payloads, SDP bodies, CLI lines, HTTP request targets and WebSocket messages."""

from __future__ import annotations

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\nm=audio 2000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\na=sendrecv\r\n"
)
SDP_VIDEO_ICE = (
    b"v=0\r\no=- 1 2 IN IP6 2001:db8::1\r\ns=call\r\nt=0 0\r\n"
    b"m=audio 49170 RTP/AVP 96 0\r\nc=IN IP6 2001:db8::1\r\na=rtpmap:96 opus/48000/2\r\n"
    b"a=ptime:20\r\na=rtcp:49171 IN IP6 2001:db8::1\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef0123\r\n"
    b"a=candidate:1 1 UDP 2130706431 2001:db8::1 49170 typ host\r\na=rtcp-mux\r\na=sendonly\r\n"
    b"m=video 0 RTP/AVP 97\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:97 H264/90000\r\na=inactive\r\n"
)
SDP_T38_HOLD = (
    b"v=0\no=- 5 5 IN IP4 10.0.0.1\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\n"
    b"m=image 6000 udptl t38\na=T38FaxVersion:0\nm=audio 6002/2 RTP/AVP 18\na=recvonly\n"
)
SDP_NO_C_NO_M = b"v=0\r\no=- 1 3 IN IP4 192.0.2.10\r\ns=-\r\nt=0 0\r\n"


def _offer(command: bytes, extra: bytes = b"", body: bytes = SDP) -> bytes:
    return (b"s1 d7:command%d:%s7:call-id5:fz-018:from-tag1:a6:to-tag1:b3:sdp%d:%s%se"
            % (len(command), command, len(body), body, extra))


SEEDS: list[bytes] = [
    b"c1 d7:command4:pinge",
    b'c2 {"command":"ping"}',
    b'c3 {"command":"list","limit":5}',
    b"c4 d7:command4:list5:limiti3ee",
    b"c5 d7:command10:statisticse",
    b"c6 d7:command5:query7:call-id5:fz-01e",
    b"c7 d7:command6:delete7:call-id5:fz-0112:delete-delayi0ee",
    _offer(b"offer"),
    _offer(b"offer", b"5:flagsl13:trust-address13:strict-sourcee7:replacel6:origine"),
    _offer(b"answer"),
    _offer(b"offer", b"3:ICE5:force8:rtcp-muxl7:requiree"),
    _offer(b"offer", body=SDP_VIDEO_ICE),
    _offer(b"offer", body=SDP_NO_C_NO_M),
    b"c8 d7:command12:block media7:call-id5:fz-01e",
    b"c9 d7:command9:subscribe7:call-id5:fz-0111:from-tags l1:ae",
    # transcoding and DTMF injection
    _offer(b"offer", b"5:codecd9:transcodel4:PCMA4:opus4:G722e6:acceptl4:PCMUee"),
    _offer(b"offer", b"5:flagsl11:inject-DTMF16:always-transcodee5:ptimei30e"),
    b"c10 d7:command9:play DTMF7:call-id5:fz-018:from-tag1:a4:code1:#6:volumei-5e"
    b"8:durationi120e5:pausei110ee",
    # DTMF blocking (modes, triggers) and subscriptions (egress, ICE on every address)
    b"c11 d7:command10:block DTMF7:call-id5:fz-018:from-tag1:a13:DTMF-security4:zeroe",
    b"c12 d7:command10:block DTMF7:call-id5:fz-017:trigger2:##13:DTMF-securityi3ee",
    b"c13 d7:command12:unblock DTMF7:call-id5:fz-015:flagsl3:allee",
    b"c14 d7:command17:subscribe request7:call-id5:fz-018:from-tag1:a6:to-tag1:s"
    b"5:flagsl6:egresse3:ICE5:forcee",
]

JSON_SEEDS: list[bytes] = [
    b'{"command":"ping"}',
    b'{"command":"list","limit":-1}',
    b'{"command":"query","call-id":"fz-01","flags":["x",1,true]}',
    b'{"command":"offer","call-id":"fz-j","from-tag":"a","sdp":"v=0\\r\\nc=IN IP4 1.2.3.4\\r\\n'
    b'm=audio 9 RTP/AVP 0\\r\\n","replace":["origin"],"ICE":"remove"}',
    b'{"command":"delete","call-id":"fz-j","delete-delay":0.5,"x":null}',
    b'{"command":"statistics","a":{"b":[[],{}]},"n":1e999}',
    b'{"command":"\\ud800"}',
]

SDP_SEEDS: list[bytes] = [SDP, SDP_VIDEO_ICE, SDP_T38_HOLD, SDP_NO_C_NO_M,
                          SDP.replace(b"c=IN IP4 192.0.2.10\r\n", b""),
                          SDP.replace(b"m=audio 2000", b"m=audio 70000")]

CLI_SEEDS: list[bytes] = [
    b"list totals", b"list sessions all", b"list sessions fz-01", b"list numsessions",
    b"list maxopenfiles", b"list timeout", b"list loglevel core", b"list interfaces",
    b"list jsonstats", b"list counters", b"list controltos", b"list transcoders",
    b"set maxsessions 100", b"set maxsessions -1", b"set timeout 60", b"set loglevel core 5",
    b"set controltos 16", b"set controltos 300", b"set maxcpu 50.5", b"set maxload 0x1p3",
    b"set maxbw 1e309", b"set deletedelay 30", b"params diff", b"params revert",
    b"params current", b"params start", b"terminate fz-01", b"terminate all",
    b"ksadd 3", b"ksrm 3", b"kslist", b"call fz-01 info", b"call fz-01 tag a info",
    b"debug fz-01 on", b"help", b"list help", b"set help", b"get totals",
]

HTTP_PATH_SEEDS: list[bytes] = [
    b"/ping", b"/metrics", b"/cli/list+totals", b"/cli/params%20diff", b"/cli/list+loglevel+nosuch",
    b"/cli/set+controltos+16", b"/cli/../cli/ksadd+3", b"/cli//list%2Bsessions?x=1;y",
    b"/a/./b/../../cli/list%20numsessions", b"/cli/%00", b"/cli/%zz", b"http://h/cli/x", b"/ng",
]

# The first byte picks the subprotocol (index into transports.ws.SUBPROTOCOLS).
WS_SEEDS: list[bytes] = [
    b"\0hello", b"\1list totals", b"\1params diff", b"\1set controltos 16",
    b"\2c1 d7:command4:pinge", b'\2c2 {"command":"list"}', b"\2" + _offer(b"offer"),
    b"\3d7:command4:pinge", b'\3{"command":"statistics"}',
    b'\4{"janus":"ping","transaction":"t"}', b'\4{"janus":"create","transaction":"t","id":"7"}',
    b'\4{"janus":"message","transaction":"t","session_id":1,"handle_id":2,"body":{"request":"create"}}',
    b'\4{"janus":"trickle","transaction":"t","session_id":1,"handle_id":2,"candidate":{"candidate":"x","sdpMLineIndex":0}}',
]

TARGET_SEEDS: dict[str, list[bytes]] = {
    "json-envelope": JSON_SEEDS,
    "sdp": SDP_SEEDS,
    "cli-line": CLI_SEEDS,
    "cli-framer": [line + b"\r\n" for line in CLI_SEEDS] + [b"\n\n" + b"x" * 300],
    "http-path": HTTP_PATH_SEEDS,
    "websocket": WS_SEEDS,
}


def seeds_for(target: str) -> list[bytes]:
    return TARGET_SEEDS.get(target, SEEDS)
