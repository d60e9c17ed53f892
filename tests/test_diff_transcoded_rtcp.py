"""Differential: the RTCP of a call that converts (A offers PCMU and ``transcode`` G.722,
B answers G.722), compared with rtpengine 10.5 over loopback sockets.

Each converted direction goes out under an SSRC of the relay's own, so the parties'
reports are translated on the way: a sender report goes on under the output SSRC its
receiver gets the media from, with what that output sent (RTP timestamp, packet and
octet counts), and a report block about the output SSRC a party received names the SSRC
it stands for again. The call's quality figures (MOS, round-trip times) come out the same
as in a call that does not convert. Both daemons run the same exchange in lockstep.
"""

from __future__ import annotations

import select
import struct
import time
from contextlib import ExitStack

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    loopback_call,
)
from test_diff_quality import _plain, _rr, _same, _sr

A_SSRC, B_SSRC = 0xAAAA, 0xBBBB


def _drain(sock) -> list[bytes]:
    out = []
    while select.select([sock], [], [], 0.05)[0]:
        out.append(sock.recv(2048))
    return out


def _reports(packets: list[bytes]) -> list[bytes]:
    return [p for p in packets if len(p) >= 8 and p[1] in (200, 201)]


def _lsr(report: bytes) -> int:
    """The LSR naming a sender report: the middle 32 bits of its NTP time."""
    seconds, fraction = struct.unpack_from("!II", report, 8)
    return ((seconds & 0xFFFF) << 16) | (fraction >> 16)


def _exchange(daemons: list, settle: float) -> list[tuple]:
    """For each daemon: (what each party saw of the other's reports, the query's SSRC).
    ``settle``: seconds of RTP and RTCP before the reports looked at (past endpoint
    learning, the relay's C loop would carry plain streams)."""
    with ExitStack() as stack:
        calls = [stack.enter_context(loopback_call(
            daemon, "transcoded-rtcp", "0", "9", offer_options={"codec": {"transcode": ["G722"]}},
            a_attributes=("a=rtcp:{port}",), b_attributes=("a=rtcp:{port}",)))
            for daemon in daemons]
        seen: list[dict] = [{} for _ in daemons]

        def send(party: str, data, rtcp: bool) -> None:
            """``data``: bytes, or what makes them from what that daemon's party saw."""
            for index, (socks, to_b, to_a) in enumerate(calls):
                port = (to_b if party == "A" else to_a) + (1 if rtcp else 0)
                packet = data if isinstance(data, bytes) else data(seen[index])
                socks[party].sendto(packet, ("127.0.0.1", port))

        def audio(seqs: range) -> None:
            # (timestamps from 1000: a first one of 0 is a case apart)
            for seq in seqs:
                send("A", struct.pack("!BBHII", 0x80, 0, seq, 1000 + 160 * seq, A_SSRC)
                     + b"\xff" * 160, False)
                send("B", struct.pack("!BBHII", 0x80, 9, seq, 1000 + 160 * seq, B_SSRC)
                     + b"\x00" * 160, False)
                time.sleep(0.02)

        audio(range(10))
        if settle:
            send("A", _sr(A_SSRC, 90, 0), True)
            send("B", _sr(B_SSRC, 190, 0), True)
            time.sleep(settle)
            audio(range(10, 15))
        time.sleep(0.1)
        for index, (socks, _, _) in enumerate(calls):
            for party in "AB":  # the SSRC each party gets the converted media under
                media = [p for p in _drain(socks[party]) if p[1] < 200]
                seen[index][party + " media"] = {p[8:12] for p in media}
        observed: list[dict] = [{} for _ in daemons]
        for round_ in range(2):
            send("A", _sr(A_SSRC, 100 + round_, 0x12340000), True)
            send("B", _sr(B_SSRC, 200 + round_, 0x56780000), True)
            time.sleep(0.1)
            for index, (socks, _, _) in enumerate(calls):
                for party in "AB":
                    [report] = _reports(_drain(socks[party]))
                    own = seen[index][party + " media"]
                    observed[index][f"{party} gets SR {round_}"] = (
                        {report[4:8]} == own, report[8:28].hex())
                    seen[index][party + " lsr"] = _lsr(report)
            # each reports about the SSRC it gets the other's media under
            send("B", lambda s: _rr(B_SSRC, ((int.from_bytes(next(iter(s["B media"])), "big"),
                                             (13 << 24) | 5, 3, 80, s["B lsr"], 655),)), True)
            time.sleep(0.05)
            send("A", lambda s: _rr(A_SSRC, ((int.from_bytes(next(iter(s["A media"])), "big"),
                                             0, 3, 160, s["A lsr"], 655),)), True)
            time.sleep(0.1)
            for index, (socks, _, _) in enumerate(calls):
                for party in "AB":
                    [report] = _reports(_drain(socks[party]))
                    own = seen[index][party + " media"]
                    named = struct.unpack_from("!I", report, 8)[0]
                    observed[index][f"{party} gets RR {round_}"] = (
                        {report[4:8]} == own, hex(named), report[24:32].hex())
            time.sleep(1.1)  # (a second on: a new block is kept)
        queries = [_plain(daemon.request({"command": "query", "call-id": "transcoded-rtcp"})
                          .get("SSRC")) for daemon in daemons]
    return list(zip(observed, queries, strict=True))


@pytest.mark.parametrize("settle", [0.0, 3.3], ids=["fresh", "settled-streams"])
def test_reports_of_a_converting_call_as_rtpengine(default_pair, settle):
    (want, want_quality), (have, have_quality) = _exchange([default_pair.reference,
                                                            default_pair.ours], settle)
    # (10.5's own view: a sender report under the receiver's media SSRC, a block naming
    # the receiver's own SSRC again)
    assert want["B gets SR 0"][0] and want["A gets SR 0"][0]
    assert want["A gets RR 0"][:2] == (True, hex(A_SSRC))
    assert want["B gets RR 0"][:2] == (True, hex(B_SSRC))
    # (10.5 puts its own reception figures in a translated block: the loss the party's
    # own reports gave, its highest sequence number; those we pass as they came)
    assert {k: v[:2] for k, v in have.items()} == {k: v[:2] for k, v in want.items()}
    assert set(have_quality) == {str(A_SSRC), str(B_SSRC)} == set(want_quality)
    assert _same(have_quality, want_quality), (have_quality, want_quality)
