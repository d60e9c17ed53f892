"""Differential: how often our unanswered ICE checks go out, beside rtpengine 10.5.

An ICE offerer whose candidate never answers (a browser behind a firewall that drops our
checks, a candidate that is gone): 10.5 sends the first check at once and retransmits it
after 100 ms, doubling the wait each time (100, 200, 400, 800 ms ...). A peer that loses the
first check (a NAT binding not yet open, a busy host) then gets the next one 100 ms later;
rtpengined used to wait 500 ms, doubling, so ICE took seconds longer to complete after one
lost packet.
"""

from __future__ import annotations

import socket
import time

import pytest
from differential import running, start_ours, start_reference

from rtpengined.secure import stun

DAEMONS = {
    "rtpengine": lambda: start_reference(26600, 26699),
    "rtpengined": lambda: start_ours(26700, 26799),
}
# 10.5's transmissions of one check, in seconds after the first (each wait doubled)
WANT = (0.0, 0.1, 0.3, 0.7, 1.5)
SLACK = 0.06  # timer granularity (10.5's timer thread ticks) and a loaded machine


@pytest.fixture(params=list(DAEMONS))
def daemon(request):
    with running(DAEMONS[request.param]) as process:
        yield process


def _checks(sock: socket.socket, until: float) -> list[tuple[float, bytes]]:
    """The binding requests that reach ``sock`` before ``until`` (monotonic), with times."""
    got = []
    while (left := until - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            break
        if stun.demux(data) != "stun":
            continue
        message = stun.parse(data)
        if message.method == stun.BINDING and message.cls == stun.REQUEST:
            got.append((time.monotonic(), message.transaction_id))
    return got


def test_unanswered_check_retransmitted_as_rtpengine(daemon):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n"
           "a=ice-ufrag:brws\r\na=ice-pwd:browserpasswordbrowserpass\r\n"
           f"a=candidate:1 1 UDP 2130706431 127.0.0.1 {port} typ host\r\na=sendrecv\r\n")
    try:
        reply = daemon.request({"command": "offer", "call-id": "ice-pacing", "from-tag": "A",
                                "sdp": sdp})
        assert reply["result"] in ("ok", b"ok"), reply
        got = _checks(silent, time.monotonic() + WANT[-1] + 0.5)
    finally:
        daemon.request({"command": "delete", "call-id": "ice-pacing"})
        silent.close()
    assert got, "no checks"
    first_id = got[0][1]
    times = [when - got[0][0] for when, tid in got if tid == first_id]
    assert len(times) == len(WANT), times
    for have, want in zip(times, WANT, strict=True):
        assert abs(have - want) <= SLACK, (times, WANT)
