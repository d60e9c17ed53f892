"""Differential: the RTCP sender report ``play media`` sends with its first packet, beside
rtpengine 10.5, over loopback sockets.

Each party has an RTP socket and an RTCP socket on the next port (or RTCP muxed). A sends
RTP (and in some scenarios an RTCP sender report) first, then media is played to it: 10.5
sends a sender report from the RTCP port facing A with the first played packet. What A's
RTCP socket receives is compared field by field: the player's SSRC and the first packet's
timestamp, the packet and octet counts, the report block about what A sent (its last
sequence number, the LSR of its sender report and a DLSR no longer than the time since A
sent it), and the SDES CNAME
(12 hex digits); the NTP time only as "now".
"""

from __future__ import annotations

import socket
import struct
import time

from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    sdp,
)
from test_diff_player import TONE
from test_secure_sdes_relay import cryptos

from rtpengined.media.rtcp_report import NTP_EPOCH
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

PARTY_SR = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0x1234, 0x5678, 0x9ABC0000, 3000, 1, 172)


def _pair() -> tuple[socket.socket, socket.socket]:
    for _attempt in range(50):
        rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp_sock.bind(("127.0.0.1", 0))
            rtcp_sock.bind(("127.0.0.1", rtp_sock.getsockname()[1] + 1))
        except OSError:
            rtp_sock.close()
            rtcp_sock.close()
            continue
        return rtp_sock, rtcp_sock
    raise RuntimeError("no free port pair")


def _port(body: str) -> int:
    return int(body.split("m=audio ")[1].split()[0])


def _rtcp_port(body: str) -> int:
    return int(body.split("a=rtcp:")[1].split()[0]) if "a=rtcp:" in body else _port(body)


def _rtp(seq: int, ts: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, seq, ts, ssrc) + b"\xd5" * 160


def _report(data: bytes, rtp_ssrc: int, rtp_ts: int, since_sr: float | None) -> tuple:
    """A sender report as the fields this test compares (``ok`` ones as booleans).
    ``since_sr``: seconds since A sent its sender report (None: it sent none). A report
    block's DLSR must be at most that (a 5 ms margin for rounding), however loaded the
    host: not a fixed bound, which a slow ``play media`` would overrun."""
    first, pt, length, ssrc, msw, lsw, ts, packets, octets = struct.unpack_from("!BBHIIIIII", data)
    now = time.time() + NTP_EPOCH
    fields = [first, pt, length, ssrc == rtp_ssrc, abs(msw + lsw / 2**32 - now) < 2,
              ts == rtp_ts, packets, octets]
    offset = 28
    for _block in range(first & 0x1F):
        source, lost, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, offset)
        fields.append((source, lost, highest, jitter, lsr,
                       since_sr is not None and 0 < dlsr <= (since_sr + 0.005) * 65536))
        offset += 24
    first, pt, length, chunk_ssrc, item, size = struct.unpack_from("!BBHIBB", data, offset)
    cname = data[offset + 10: offset + 10 + size]
    fields.append((first, pt, length, chunk_ssrc == rtp_ssrc, item, size,
                   len(cname) == 12 and all(c in b"0123456789abcdef" for c in cname),
                   data[offset + 10 + size:]))
    return tuple(fields)


def _scenario(daemon, call_id: str, *, mux: bool = False, party_sr: bool = True,
              party_rtp: bool = True, settle: bool = False, srtp: bool = False,
              answer_mux: bool = False, gaps: dict | None = None) -> tuple:
    """Offer (A) and answer (B), A's traffic, then ``play media`` to A: what A's RTCP
    socket gets (the report's fields) and the answer to the command. With ``settle``,
    ``gaps[call_id]`` gets the bounds of the time between the daemon's arrival stamps of
    A's two RTP packets: (from after the first was relayed to before the second was sent,
    from before the first was sent to after the second was relayed)."""
    a_rtp, a_rtcp = _pair()
    b_rtp, b_rtcp = _pair()
    sockets = (a_rtp, a_rtcp, b_rtp, b_rtcp)
    ids = {"call-id": call_id, "from-tag": "A"}
    mine = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80") if srtp else None
    try:
        for sock in sockets:
            sock.settimeout(1.0)
        a_attrs = ["a=sendrecv"] + (["a=rtcp-mux"] if mux else [])
        if srtp:
            a_attrs.append(f"a={mine.format()}")
        offer = daemon.request({**ids, "command": "offer", "ICE": "remove", "DTLS": "off",
                                "transport-protocol": "RTP/AVP", "sdp": sdp(
            "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
            f"m=audio {a_rtp.getsockname()[1]} RTP/{'SAVP' if srtp else 'AVP'} 8", *a_attrs)})
        assert offer["result"] == "ok", offer
        answer = daemon.request({**ids, "command": "answer", "to-tag": "B", "ICE": "remove",
                                 "sdp": sdp(
            "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
            f"m=audio {b_rtp.getsockname()[1]} RTP/AVP 8", "a=sendrecv",
            *(["a=rtcp-mux"] if answer_mux else []))})
        assert answer["result"] == "ok", answer
        to_daemon = ("127.0.0.1", _port(answer["sdp"]))
        to_daemon_rtcp = ("127.0.0.1", _rtcp_port(answer["sdp"]))
        out = SrtpContext.from_sdes(mine, outbound=True) if srtp else None
        back = SrtpContext.from_sdes(cryptos(answer["sdp"])[0], outbound=False) if srtp else None

        sr_sent = None

        def send(data: bytes, rtcp: bool) -> None:
            nonlocal sr_sent
            if rtcp:
                sr_sent = time.monotonic()
            if out is not None:
                data = out.protect_rtcp(data) if rtcp else out.protect(data)
            (a_rtp if mux or not rtcp else a_rtcp).sendto(data, to_daemon_rtcp if rtcp else to_daemon)

        if party_rtp:
            before_first = time.monotonic()
            send(_rtp(1000, 3000, 0x1234), False)
            b_rtp.recv(2048)
            if settle:  # past the learning window: the C loop relays A's streams now
                after_first = time.monotonic()
                time.sleep(3.3)
                before_second = time.monotonic()
                send(_rtp(1001, 3160, 0x1234), False)
                b_rtp.recv(2048)
                if gaps is not None:  # (each stamp lies between a send and its relay)
                    gaps[call_id] = (before_second - after_first,
                                     time.monotonic() - before_first)
                time.sleep(0.3)
        if party_sr:
            send(PARTY_SR, True)
            time.sleep(0.05)
        reply = daemon.request({**ids, "command": "play media", "blob": TONE})
        first = a_rtp.recv(2048)
        if back is not None:
            first = back.unprotect(first)
        ssrc, ts = struct.unpack_from("!I", first, 8)[0], struct.unpack_from("!I", first, 4)[0]
        reports = []
        deadline = time.monotonic() + 1.0
        sock = a_rtp if mux else a_rtcp
        sock.settimeout(0.1)
        while time.monotonic() < deadline and not reports:
            try:
                data = sock.recv(2048)
            except TimeoutError:
                continue
            if len(data) > 1 and 192 <= data[1] <= 223:
                since_sr = time.monotonic() - sr_sent if sr_sent is not None else None
                reports.append(_report(back.unprotect_rtcp(data) if back else data, ssrc, ts,
                                       since_sr))
        return reply.get("result"), reply.get("duration"), first[1], reports
    finally:
        daemon.request({"command": "delete", "call-id": call_id})
        for sock in sockets:
            sock.close()


def _both(pair, name: str, **shape) -> tuple:
    return (_scenario(pair.reference, f"player-rtcp-{name}", **shape),
            _scenario(pair.ours, f"player-rtcp-{name}", **shape))


def test_the_first_played_packet_comes_with_a_sender_report_as_in_10_5(default_pair):
    want, have = _both(default_pair, "plain", party_sr=False)
    assert have == want
    [report] = want[3]
    assert report[:3] == (0x81, 200, 12) and report[6:8] == (1, 172)
    assert report[8][:4] == (0x1234, 0, 1000, 0)


def test_the_report_block_carries_the_partys_last_sender_report(default_pair):
    want, have = _both(default_pair, "lsr")
    assert have == want
    assert want[3][0][8][4] == 0x56789ABC


def _without_jitter(result: tuple) -> tuple:
    *head, reports = result
    return (*head, [(*report[:8], (*report[8][:3], None, *report[8][4:]), *report[9:])
                    for report in reports])


def test_with_the_partys_streams_in_the_c_loop(default_pair):
    """A's second packet comes 3.3 s (at least: the sleep's, as measured) after the first,
    20 ms later by its timestamps: 10.5 reports the jitter that makes (RFC 3550's first
    step, |D| / 16: 1640 for exactly 3.3 s, one more per 2 ms the gap between its arrival
    stamps was longer; a unit of rounding either way). The test knows that gap only within
    bounds: each stamp falls between the packet's send and its relay, which a loaded
    machine can put milliseconds apart (it once saw 1648 where the sleep alone gave 1640).
    This relay does not measure jitter (0), the rest is the same."""
    gaps: dict = {}
    want = _scenario(default_pair.reference, "player-rtcp-settled", settle=True, gaps=gaps)
    have = _scenario(default_pair.ours, "player-rtcp-settled", settle=True)
    assert _without_jitter(have) == _without_jitter(want)
    assert want[3][0][8][:3] == (0x1234, 0, 1001) and want[3][0][8][4] == 0x56789ABC
    shortest, longest = (int((gap * 8000 - 160) / 16) for gap in gaps["player-rtcp-settled"])
    assert shortest - 1 <= want[3][0][8][3] <= longest + 1, (want[3][0][8][3], shortest, longest)
    assert want[3][0][8][3] >= 1640
    assert have[3][0][8][3] == 0


def test_muxed_rtcp_and_a_party_that_sent_nothing(default_pair):
    want, have = _both(default_pair, "mux", mux=True)
    assert have == want
    # rtcp-mux answered too: the report still goes to the RTP port (it once went to the
    # party's next port, where its fallback RTCP stream pointed)
    want, have = _both(default_pair, "mux-answered", mux=True, answer_mux=True)
    assert have == want and len(want[3]) == 1
    want, have = _both(default_pair, "silent", party_rtp=False, party_sr=False)
    assert have == want
    assert want[3][0][:3] == (0x80, 200, 6)


def test_an_srtp_party_gets_it_as_srtcp_in_its_keys(default_pair):
    want, have = _both(default_pair, "srtp", srtp=True)
    assert have == want
    assert want[3][0][8][4] == 0x56789ABC
