"""Differential: a sequence number jump on an SDES-SRTP <-> RTP call, beside rtpengine 10.5.

One packet far ahead (a sender's glitch, or numbers started anew under the same SSRC), then
the stream goes on where it was. 10.5 protects and relays what follows. We protected with
libsrtp's default replay window, which refuses an index more than 128 behind the highest
sent: the direction towards the SRTP party stopped for good (found by an attack pass).
"""

from __future__ import annotations

import re
import socket
import struct
import time

import pytest
from differential import default_pair_fixture  # noqa: F401  (registers default_pair)

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

SEQUENCE = [*range(20), 5000, *range(20, 60)]


def _body(port: int, protocol: str = "RTP/AVP", extra: str = "") -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} {protocol} 0\r\n{extra}a=sendrecv\r\n")


def _rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x4444) + bytes(160)


def _count(sock: socket.socket) -> int:
    sock.settimeout(0.3)
    got = 0
    while True:
        try:
            sock.recv(2048)
        except TimeoutError:
            return got
        got += 1


def _relayed(daemon, call_id: str, from_srtp: bool) -> list[int]:
    """Packets arriving before the jump, of the jump, and of the 40 after it."""
    secure, plain = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    try:
        for sock in (secure, plain):
            sock.bind(("127.0.0.1", 0))
        crypto = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
        ids = {"call-id": call_id, "from-tag": "A"}
        offer = daemon.request({"command": "offer", **ids, "transport-protocol": "RTP/AVP",
                                "sdp": _body(secure.getsockname()[1], "RTP/SAVP",
                                             f"a={crypto.format()}\r\n")})
        answer = daemon.request({"command": "answer", **ids, "to-tag": "B",
                                 "sdp": _body(plain.getsockname()[1])})
        to_secure_side = int(re.search(r"m=audio (\d+)", answer["sdp"]).group(1))
        to_plain_side = int(re.search(r"m=audio (\d+)", offer["sdp"]).group(1))
        protect = SrtpContext.from_sdes(crypto, outbound=True).protect
        sender, target, receiver = ((secure, to_secure_side, plain) if from_srtp
                                    else (plain, to_plain_side, secure))
        counts, batch = [], []
        for seq in [*SEQUENCE, None]:
            if seq is None or seq == 5000 or seq == 20 and batch == [5000]:
                counts.append(_count(receiver))
            if seq is None:
                break
            batch = [seq]
            sender.sendto(protect(_rtp(seq)) if from_srtp else _rtp(seq),
                          ("127.0.0.1", target))
            time.sleep(0.01)
        daemon.request({"command": "delete", "call-id": call_id})
        return counts
    finally:
        secure.close()
        plain.close()


@pytest.mark.parametrize("from_srtp", [False, True], ids=["to the SRTP party", "from it"])
def test_a_sequence_jump_does_not_stop_the_srtp_leg_as_rtpengine(default_pair, from_srtp):
    name = f"seq-jump-{int(from_srtp)}"
    want = _relayed(default_pair.reference, name, from_srtp)
    assert want[1:] == [1, 40] and want[0] >= 17  # (endpoint learning may take the first)
    have = _relayed(default_pair.ours, name, from_srtp)
    assert have[1:] == want[1:]
