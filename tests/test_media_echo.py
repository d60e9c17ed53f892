"""``media-echo`` (10.5's ng option), on both daemons over loopback sockets.

``forward``: what the receiver of the message sends comes back to it, what the sender sends
is discarded; ``backward`` the other way round; ``both`` echoes both; ``blackhole`` discards
both. The mode stays with the call until another one is given.
"""

from __future__ import annotations

import socket
import struct
from contextlib import ExitStack

import pytest
from differential import default_pair_fixture  # noqa: F401  (registers default_pair)

from tests.test_secure_sdes_relay import body, port_of


def _rtp(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + bytes(160)


def _socket(cleanup: ExitStack) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cleanup.callback(sock.close)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.25)
    return sock, sock.getsockname()[1]


def _received(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(2048)
    except OSError:
        return None


# mode: (does A get its own packets back, does B get its own back); nothing crosses over
CASES = {"forward": (False, True), "fw": (False, True), "backward": (True, False),
         "bkw": (True, False), "both": (True, True), "blackhole": (False, False)}


@pytest.mark.parametrize("learning", ["delayed", "immediate"])
@pytest.mark.parametrize("mode", list(CASES))
@pytest.mark.parametrize("which", ["reference", "ours"])
def test_media_echo(default_pair, which, mode, learning):
    """(``immediate`` learning settles the streams at the first packet: rtpengined's C loop
    relays the echo; ``delayed``: its Python drain during the learning window.)"""
    daemon = getattr(default_pair, which)
    a_echo, b_echo = CASES[mode]
    call = {"call-id": f"echo-{which}-{mode}-{learning}", "from-tag": "a",
            "endpoint-learning": learning}
    with ExitStack() as cleanup:
        a, a_port = _socket(cleanup)
        b, b_port = _socket(cleanup)
        offer = daemon.request({"command": "offer", **call, "ICE": "remove",
                                "media-echo": mode, "sdp": body(a_port)})
        answer = daemon.request({"command": "answer", **call, "to-tag": "b", "ICE": "remove",
                                 "sdp": body(b_port)})
        to_a_side, to_b_side = port_of(answer["sdp"]), port_of(offer["sdp"])
        for seq in range(1, 3):
            sent = _rtp(seq, 0xB0B0B0B0)
            b.sendto(sent, ("127.0.0.1", to_b_side))
            back = _received(b)
            assert (back is not None) is b_echo, f"B seq {seq}"
            if back is not None:  # unchanged, SSRC too (10.5 as measured, despite its docs)
                assert back == sent
            assert _received(a) is None  # nothing crosses over
            sent = _rtp(seq, 0xA0A0A0A0)
            a.sendto(sent, ("127.0.0.1", to_a_side))
            back = _received(a)
            assert (back is not None) is a_echo, f"A seq {seq}"
            if back is not None:
                assert back == sent
            assert _received(b) is None
        daemon.request({"command": "delete", "call-id": call["call-id"]})
