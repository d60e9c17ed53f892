"""Differential: ``--log-facility-rtcp``, one syslog line per RTCP packet a party sends,
compared with rtpengine 10.5's lines byte for byte (the header's name and time aside).

Each case is a call over loopback parties; A sends a little RTP, then RTCP packets of one
shape from its RTCP port (or on its RTP port with rtcp-mux), and both daemons' lines for
the call are compared: compound packets, every extended report block 10.5 reads, the
parts it reads nothing of, and the packets it stops reading part way (10.5's quirks
included: see ``rtpengined.rtcp_log``).
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
from differential import loopback_call
from test_diff_cdr import _HEADER, _ours, _reference

FACILITY = "local4"  # (priority info of local4: <166>)


def _part(kind: int, count: int, body: bytes, version: int = 2) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack("!BBH", version << 6 | count, kind, len(body) // 4) + body


def _block(ssrc: int = 0x42) -> bytes:
    return struct.pack("!IB3sIIII", ssrc, 5, b"\x00\x01\x03", 100, 7, 0x12345678, 655)


def _sr(ssrc: int = 5, blocks: int = 1, count: int | None = None) -> bytes:
    info = struct.pack("!IIIIII", ssrc, 0xE0000001, 0x80000000, 1600, 10, 1720)
    return _part(200, blocks if count is None else count,
                 info + b"".join(_block(0x40 + i) for i in range(blocks)))


def _rr(ssrc: int = 5, blocks: int = 1) -> bytes:
    return _part(201, blocks, struct.pack("!I", ssrc) + b"".join(
        _block(0x50 + i) for i in range(blocks)))


def _sdes(ssrc: int = 5) -> bytes:
    return _part(202, 1, struct.pack("!I", ssrc) + b"\x01\x05hello\x00")


def _xr(*blocks: bytes, ssrc: int = 5) -> bytes:
    return _part(207, 0, struct.pack("!I", ssrc) + b"".join(blocks))


def _xr_block(kind: int, specific: int, body: bytes) -> bytes:
    return struct.pack("!BBH", kind, specific, len(body) // 4) + body


RR_TIME = _xr_block(4, 0, struct.pack("!II", 0xE0000002, 0x40000000))
DLRR = _xr_block(5, 0, struct.pack("!III", 0x01020304, 0x11223344, 0x00000102))
STATS = _xr_block(6, 0xE0, struct.pack("!IHHIIIIIIBBBB", 0x77, 10, 0x0120, 3, 1, 5, 9, 7, 2,
                                       64, 65, 66, 67))
VOIP = _xr_block(7, 0, struct.pack("!IBBBBHHHHBBBBBBBBBxHHH", 0x99, 1, 2, 3, 4, 500, 600, 70,
                                   80, 0xD0, 0xB0, 30, 16, 90, 127, 41, 38, 0x0F, 40, 80, 200))
LOSS_RLE = _xr_block(1, 0, struct.pack("!IHH", 0x99, 1, 9) + bytes(4))

CASES = {
    "a sender report and a source description": _sr() + _sdes(),
    "a receiver report with two blocks": _rr(blocks=2),
    "a receiver report without blocks": _rr(blocks=0),
    "an extended report of every block 10.5 reads": _rr() + _xr(RR_TIME, DLRR, STATS, VOIP),
    "an extended report alone, with a block 10.5 skips": _xr(LOSS_RLE, RR_TIME),
    "an extended report block shorter than its type": _rr() + _xr(_xr_block(
        7, 0, bytes(8)), DLRR),
    "BYE and APP add nothing": _rr() + _part(203, 1, struct.pack("!I", 5))
    + _part(204, 0, struct.pack("!I", 5) + b"name" + bytes(4)),
    "feedback after a report": _rr() + _part(205, 1, struct.pack("!II", 5, 6)),
    "a part longer than the packet": _rr() + _sdes()[:-4],
    "a sender report alone": _sr(blocks=0),
}


@pytest.fixture(scope="module", name="pair")
def pair_fixture():
    extra = [f"--log-facility-rtcp={FACILITY}"]
    with _reference(extra) as reference, _ours(extra) as ours:
        yield reference, ours


def _lines(logged, call_id: str, packet: bytes, muxed: bool,
           transcoded: bool = False) -> list[bytes]:
    attributes = ("a=rtcp-mux",) if muxed else ()
    with loopback_call(logged.daemon, call_id, "0", "8" if transcoded else "0",
                       {"codec": {"transcode": ["PCMA"]}} if transcoded else None,
                       a_attributes=attributes,
                       b_attributes=attributes) as (sockets, to_b, _):
        for seq in range(2):
            sockets["A"].sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 5)
                                + bytes(160), ("127.0.0.1", to_b))
        time.sleep(0.1)
        if muxed:
            sockets["A"].sendto(packet, ("127.0.0.1", to_b))
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
                rtcp.bind(("127.0.0.1", sockets["A"].getsockname()[1] + 1))
                rtcp.sendto(packet, ("127.0.0.1", to_b + 1))
        time.sleep(0.3)
    out = []
    logged.log.settimeout(0.3)
    try:
        while True:
            match = _HEADER.fullmatch(logged.log.recv(1 << 16))
            assert match
            if match.group(3).startswith(f"[{call_id}] ".encode()):
                out.append(match.group(1) + b" " + match.group(3))
    except TimeoutError:
        pass
    return out


@pytest.mark.parametrize("muxed", [False, True], ids=["RTCP port", "rtcp-mux"])
@pytest.mark.parametrize("case", CASES)
def test_rtcp_log_line_as_rtpengine_writes_it(pair, case, muxed):
    reference, ours = pair
    call_id = f"rtcp-{list(CASES).index(case)}-{muxed}"
    want = _lines(reference, call_id, CASES[case], muxed)
    have = _lines(ours, call_id, CASES[case], muxed)
    assert [line.split(b", ") for line in have] == [line.split(b", ") for line in want]


def test_a_transcoded_call_logs_the_packet_as_the_party_sent_it(pair):
    """Reports in a transcoded call are rewritten on their way (SSRCs, sender counts): the
    line is of the packet as it came, as 10.5 logs it before it translates."""
    reference, ours = pair
    packet = _sr(blocks=1) + _sdes()
    want = _lines(reference, "rtcp-transcoded", packet, False, transcoded=True)
    have = _lines(ours, "rtcp-transcoded", packet, False, transcoded=True)
    assert want and [line.split(b", ") for line in have] == [line.split(b", ") for line in want]
