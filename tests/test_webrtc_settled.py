"""A WebRTC leg once its handshake is done and its peer known: the C loop relays its SRTP
(the worker's ``settle``), and everything that is not media from that peer still reaches the
leg's Python logic (``drain_webrtc``) unchanged. Run against both relay loops, with the same
expectations: the peer's STUN consent checks are answered, the daemon's own consent checks
keep coming (its timers run while the stream is relayed in C), SRTP from another source is
not relayed and not counted, a packet that fails authentication is an error only, and the
stream's counters are the same in both loops (packets and bytes counted decrypted).

The party is the no-rtcp-mux answerer of ``test_webrtc_rtcp_port`` (the project's own
sans-I/O WebRTC leg on two real sockets); the daemon is the controlling ICE agent.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import time

from hardening_helpers import child_pids

from rtpengined.secure import stun
from tests.test_webrtc_relay import ng, plain_sdp, rtp
from tests.test_webrtc_rtcp_port import Party, daemon, socket_pair, udp_socket  # noqa: F401

DEADLINE = 20.0


def rtp_stats(daemon) -> dict:  # noqa: F811  (the fixture's name)
    reply = ng(daemon, command="query", **{"call-id": "settled"})
    return reply["tags"]["party"]["medias"][0]["streams"][0]["stats"]


def receive(sock: socket.socket, timeout: float) -> bytes | None:
    """A datagram waiting on ``sock`` or arriving within ``timeout`` s (0: only one waiting)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return sock.recv(65536)
        except BlockingIOError:
            if time.monotonic() >= end:
                return None
            time.sleep(0.005)


def test_settled_webrtc_leg_keeps_consent_and_its_peer(daemon):  # noqa: F811
    party = Party()
    plain_rtp, plain_rtcp = socket_pair()
    stranger = udp_socket()
    try:
        offer = ng(daemon, command="offer", **{
            "call-id": "settled", "from-tag": "phone", "sdp": plain_sdp(plain_rtp.getsockname()[1]),
            "transport-protocol": "UDP/TLS/RTP/SAVPF", "ICE": "force"})
        sent = offer["sdp"]
        ng(daemon, command="answer", **{"call-id": "settled", "from-tag": "phone",
                                        "to-tag": "party", "sdp": party.answer_sdp()})
        party.start(sent)
        deadline = time.monotonic() + DEADLINE
        while not party.ready():
            assert time.monotonic() < deadline, "ICE/DTLS did not finish"
            party.pump(0.05)
        leg, sock = party.legs[1], party.socks[0]
        daemon_port = leg.peer  # where the party sends to: the daemon's RTP port
        # the first media (retried until the daemon has the keys: copies are replays there)
        while receive(plain_rtp, 0) != rtp(1, 0xAB):
            assert time.monotonic() < deadline, "no media relayed from the DTLS party"
            sock.sendto(leg.outbound.protect(rtp(1, 0xAB)), daemon_port)
            party.pump(0.1)
        time.sleep(0.2)
        while receive(plain_rtp, 0) is not None:
            pass
        before = rtp_stats(daemon)

        # settled: media from the peer, byte for byte
        for seq in range(2, 7):
            sock.sendto(leg.outbound.protect(rtp(seq, 0xAB)), daemon_port)
            assert receive(plain_rtp, DEADLINE) == rtp(seq, 0xAB)

        # the peer's consent check (STUN from the peer) is answered
        ufrag = next(line.split(":", 1)[1] for line in sent.splitlines()
                     if line.startswith("a=ice-ufrag:"))
        pwd = next(line.split(":", 1)[1] for line in sent.splitlines()
                   if line.startswith("a=ice-pwd:"))
        request = stun.Message(stun.BINDING, stun.REQUEST)
        request.add(stun.USERNAME, f"{ufrag}:Pa7y".encode())
        request.add(stun.PRIORITY, struct.pack("!I", 2122260223))
        request.add(stun.ICE_CONTROLLED, os.urandom(8))
        sock.sendto(request.encode(pwd.encode()), daemon_port)
        # ... and the daemon's own consent checks keep coming (every 4-6 s)
        answered = checked = False
        end = time.monotonic() + 8.0
        while not (answered and checked):
            assert time.monotonic() < end, f"answered {answered}, checked by the daemon {checked}"
            data = receive(sock, 0.05)
            if data is None:
                continue
            message = stun.parse(data)
            if message.cls == stun.SUCCESS and message.transaction_id == request.transaction_id:
                answered = True
            elif message.cls == stun.REQUEST:
                checked = True
                for reply, address in leg.receive(data, daemon_port, time.monotonic()):
                    sock.sendto(reply, address)

        # one burst (the worker stopped while it queues up, so the C loop receives it in one
        # batch): media, a consent check, media, the stranger's, media: the check is
        # answered, the peer's media relayed in order, the stranger's not
        workers = child_pids(daemon.proc.pid)
        assert workers, "no relay worker found"
        second = stun.Message(stun.BINDING, stun.REQUEST)
        second.add(stun.USERNAME, f"{ufrag}:Pa7y".encode())
        second.add(stun.PRIORITY, struct.pack("!I", 2122260223))
        second.add(stun.ICE_CONTROLLED, os.urandom(8))
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            sock.sendto(leg.outbound.protect(rtp(50, 0xAB)), daemon_port)
            sock.sendto(second.encode(pwd.encode()), daemon_port)
            sock.sendto(leg.outbound.protect(rtp(51, 0xAB)), daemon_port)
            stranger.sendto(leg.outbound.protect(rtp(52, 0xAB)), daemon_port)
            sock.sendto(leg.outbound.protect(rtp(53, 0xAB)), daemon_port)
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        for seq in (50, 51, 53):
            assert receive(plain_rtp, DEADLINE) == rtp(seq, 0xAB)
        answered = False
        end = time.monotonic() + DEADLINE
        while not answered:
            assert time.monotonic() < end, "the consent check in the burst was not answered"
            data = receive(sock, 0.05)
            if data is None:
                continue
            message = stun.parse(data)
            if message.cls == stun.SUCCESS and message.transaction_id == second.transaction_id:
                answered = True
            elif message.cls == stun.REQUEST:
                for reply, address in leg.receive(data, daemon_port, time.monotonic()):
                    sock.sendto(reply, address)

        # SRTP the peer's keys protect, from another source: not relayed, not counted
        stranger.sendto(leg.outbound.protect(rtp(100, 0xAB)), daemon_port)
        assert receive(plain_rtp, 0.5) is None
        # the peer's next packet still is (the stranger's index was not taken from it)
        sock.sendto(leg.outbound.protect(rtp(101, 0xAB)), daemon_port)
        assert receive(plain_rtp, DEADLINE) == rtp(101, 0xAB)
        # a packet that fails authentication: an error, not a packet, not relayed
        forged = bytearray(leg.outbound.protect(rtp(102, 0xAB)))
        forged[-1] ^= 0xFF
        sock.sendto(bytes(forged), daemon_port)
        assert receive(plain_rtp, 0.5) is None
        sock.sendto(leg.outbound.protect(rtp(103, 0xAB)), daemon_port)
        assert receive(plain_rtp, DEADLINE) == rtp(103, 0xAB)

        after = rtp_stats(daemon)
        assert after["packets"] - before["packets"] == 10  # 2..6, 50, 51, 53, 101, 103
        assert after["bytes"] - before["bytes"] == 10 * len(rtp(1, 0xAB))  # decrypted
        assert after["errors"] - before["errors"] == 1
    finally:
        for s in (*party.socks, plain_rtp, plain_rtcp, stranger):
            s.close()
