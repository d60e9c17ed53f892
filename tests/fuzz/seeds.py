"""Real protocol messages that mutations start from (ng envelopes of every command)."""

SDP = (
    b"v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\nm=audio 2000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\na=sendrecv\r\n"
)


def _offer(command: bytes, extra: bytes = b"") -> bytes:
    return (b"s1 d7:command%d:%s7:call-id5:fz-018:from-tag1:a6:to-tag1:b3:sdp%d:%s%se"
            % (len(command), command, len(SDP), SDP, extra))


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
]
