"""``--dtmf-log-dest`` in a running daemon: keys on an SDES-SRTP leg are read decrypted, a
re-INVITE without telephone-event stops the reading, and a collector that is not there
costs keys, never the daemon. (Plain keys beside 10.5: ``test_diff_dtmf_log.py``.)"""

from __future__ import annotations

import json
import logging
import re
import socket
import struct

import trio

from rtpengined.config import ListenAddress
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext
from tests.test_secure_sdes_relay import ng


def _body(port: int, protocol: str = "RTP/AVP", crypto: tuple = (), events: bool = True) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
             f"m=audio {port} {protocol} 0" + (" 101" if events else ""),
             "a=rtpmap:0 PCMU/8000", *(["a=rtpmap:101 telephone-event/8000"] if events else []),
             *[f"a={c}" for c in crypto], "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def _port(sdp: str) -> int:
    return int(re.search(r"^m=audio (\d+) ", sdp, re.M).group(1))


def _key(seq: int, ts: int, code: int, end: bool) -> bytes:
    return struct.pack("!BBHIIBBH", 0x80, 101, seq, ts, 0x1234, code, 0x8A if end else 0x0A, 640)


async def _party() -> trio.socket.SocketType:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    return sock


async def _plain_call(daemon, call_id: str) -> tuple:
    """Parties A and B on loopback sockets in a call with telephone-event both ways; A's
    socket, B's, and where A sends to."""
    a, b = await _party(), await _party()
    ids = {"call-id": call_id, "from-tag": "a"}
    await ng(daemon, command="offer", **ids, sdp=_body(a.getsockname()[1]))
    answer = await ng(daemon, command="answer", **ids, **{"to-tag": "b"},
                      sdp=_body(b.getsockname()[1]))
    return a, b, ("127.0.0.1", _port(answer["sdp"]))


async def _lines(collector, wait: float = 1.0) -> list[dict]:
    found = []
    with trio.move_on_after(wait):
        while True:
            found.append(json.loads(await collector.recv(65536)))
    return found


async def test_keys_on_an_srtp_leg_are_read_decrypted_and_stop_with_telephone_event(make_daemon):
    collector = await _party()
    daemon = await make_daemon(port_min=47500, port_max=47599,
                               dtmf_log_dest=ListenAddress("127.0.0.1", collector.getsockname()[1]))
    a, b = await _party(), await _party()
    mine = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    ids = {"call-id": "dtmf-srtp", "from-tag": "a"}
    offer = await ng(daemon, command="offer", **ids, **{"transport-protocol": "RTP/AVP"},
                     sdp=_body(a.getsockname()[1], "RTP/SAVP", (mine.format(),)))
    answer = await ng(daemon, command="answer", **ids, **{"to-tag": "b"},
                      sdp=_body(b.getsockname()[1]))
    protect = SrtpContext.from_sdes(mine, outbound=True)
    to_daemon = ("127.0.0.1", _port(answer["sdp"]))
    for seq, end in ((1, False), (2, True), (3, True)):
        await a.sendto(protect.protect(_key(seq, 800, 7, end)), to_daemon)
    [line] = await _lines(collector)
    assert (line["callid"], line["source_tag"], line["event"], line["duration"],
            line["volume"], line["source_ip"]) == ("dtmf-srtp", "a", 7, 80, 10, "127.0.0.1")
    assert sorted(line["tags"]) == ["a", "b"]
    # A re-INVITE from A without telephone-event: its payload type 101 is no longer a key.
    await ng(daemon, command="offer", **ids, **{"transport-protocol": "RTP/AVP"},
             sdp=_body(a.getsockname()[1], "RTP/SAVP", (mine.format(),), events=False))
    await ng(daemon, command="answer", **ids, **{"to-tag": "b"},
             sdp=_body(b.getsockname()[1], events=False))
    await a.sendto(protect.protect(_key(4, 1600, 8, True)), to_daemon)
    assert await _lines(collector) == []
    assert offer["result"] == "ok"
    for sock in (a, b, collector):
        sock.close()


async def test_a_collector_that_is_not_there_costs_keys_not_the_daemon(make_daemon, caplog):
    gone = await _party()
    destination = ListenAddress("127.0.0.1", gone.getsockname()[1])
    gone.close()  # (nobody listens: the kernel answers with port unreachable)
    daemon = await make_daemon(port_min=47600, port_max=47699, dtmf_log_dest=destination)
    a, b, to_daemon = await _plain_call(daemon, "dtmf-nobody")
    with caplog.at_level(logging.WARNING, logger="rtpengined.dtmf"):
        for ts in range(10):
            await a.sendto(_key(ts, 800 * (ts + 1), 1, True), to_daemon)
            await trio.sleep(0.05)
        assert (await ng(daemon, command="ping"))["result"] == "pong"
        # (every other key: the refusal of one comes back as the error of the next)
        assert daemon.core.dtmf_sinks[0].lost >= 4
    warnings = [r for r in caplog.records if r.name == "rtpengined.dtmf"]
    assert len(warnings) == 1 and "lost" in warnings[0].getMessage()
    for sock in (a, b):
        sock.close()


async def test_a_tcp_client_that_does_not_read_loses_notifications_not_replies(make_daemon, caplog):
    daemon = await make_daemon(port_min=47700, port_max=47799, dtmf_log_ng_tcp=True)
    address = daemon.address("tcp-ng")
    stuck = await trio.open_tcp_stream(*address[:2])  # (never reads)
    stuck.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a, b, to_daemon = await _plain_call(daemon, "dtmf-tcp")
    with caplog.at_level(logging.WARNING, logger="rtpengined.tcp"):
        for ts in range(3000):  # (far more than the socket buffers and the queue hold)
            await a.sendto(_key(ts, 160 * (ts + 1), 2, True), to_daemon)
            if ts % 100 == 99:
                await trio.sleep(0.02)
        with trio.fail_after(10):
            while not any("not reading" in r.getMessage() for r in caplog.records):
                await trio.sleep(0.05)
    # The daemon answers, and a client that reads gets the next key.
    reader = await trio.open_tcp_stream(*address[:2])
    await reader.send_all(b"p1 d7:command4:pinge")
    assert await reader.receive_some(100) == b"p1 d6:result4:ponge"
    await a.sendto(_key(1, 999_999, 9, True), to_daemon)
    with trio.fail_after(5):
        message = await reader.receive_some(65536)
    assert b"6:onDTMF" in message and b"5:eventi9e" in message
    for closing in (stuck, reader):
        await closing.aclose()
    for sock in (a, b):
        sock.close()


async def test_log_facility_dtmf_writes_each_key_to_syslog_as_the_collector_gets_it(
        make_daemon, tmp_path, caplog):
    collector = await _party()
    path = str(tmp_path / "log")  # (the syslog daemon's socket: not there yet)
    daemon = await make_daemon(port_min=47800, port_max=47899, log_facility_dtmf=21,
                               syslog_socket=path,
                               dtmf_log_dest=ListenAddress("127.0.0.1", collector.getsockname()[1]))
    a, b, to_daemon = await _plain_call(daemon, "dtmf-syslog")
    with caplog.at_level(logging.WARNING, logger="rtpengined.dtmf"):
        await a.sendto(_key(1, 800, 4, True), to_daemon)
        assert len(await _lines(collector)) == 1  # (the collector still gets it)
    assert daemon.core.dtmf_sinks[1].lost == 1
    assert [r.getMessage() for r in caplog.records if r.name == "rtpengined.dtmf"] == [
        "DTMF event not logged to syslog (No such file or directory); 1 lost so far"]
    syslog = trio.socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    await syslog.bind(path)  # (syslog started: the next key reaches it)
    await a.sendto(_key(2, 1600, 11, True), to_daemon)
    message = await syslog.recv(65536)
    [line] = await _lines(collector)
    # <local5 * 8 + info>, the time as RFC 3164 writes it, our name and process id
    header, _, text = message.partition(b": ")
    assert re.fullmatch(rb"<174>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d rtpengined\[\d+\]", header)
    assert json.loads(text) == line and line["event"] == 11
    for sock in (a, b, collector, syslog):
        sock.close()
