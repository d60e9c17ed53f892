"""Differential: ``generate RTCP`` (the flag, or the key ``on``/``off``), compared with
rtpengine 10.5 over loopback sockets.

With it the daemon drops the RTCP the parties send (reading it for the call's quality
figures) and sends each party reports of its own every 5 to 7 s: a sender report per SSRC
relayed to the party (what was relayed: packets, octets, last RTP timestamp) with a block
about the RTP the party sent, and an SDES chunk naming the daemon's instance id. Both
daemons run the same exchange at the same time (each waits ~8 s for its reports).
"""

from __future__ import annotations

import base64
import select
import socket
import struct
import threading
import time

import pytest
from differential import (
    audio_port,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    loopback_call,
    sdp,
)
from hardening_helpers import child_pids

A_SSRC, B_SSRC = 0xAAAA, 0xBBBB
WAIT = 8.0  # seconds: past the first report (5 to 7 s after the offer)
# Linux's SO_TIMESTAMPNS (also its control message's type): the kernel's receive time of
# each datagram, so two reports the daemon sends back to back are told apart in the order
# they were sent even when one select() wake-up returns both
SO_TIMESTAMPNS = 35


def _sr(ssrc: int, seconds: int, fraction: int) -> bytes:
    body = struct.pack("!IIIIII", ssrc, seconds, fraction, 1000, 10, 1600)
    return struct.pack("!BBH", 0x80, 200, len(body) // 4) + body


def _parse(packet: bytes) -> list:
    """A compound RTCP packet as (type, fields) per part; times and the CNAME's text as
    their shape (each daemon has its own)."""
    parts = []
    at = 0
    while at + 4 <= len(packet):
        first, kind, length = struct.unpack_from("!BBH", packet, at)
        end = at + 4 + 4 * length
        count = first & 0x1F
        if kind == 200 and at + 28 <= len(packet):
            ssrc, _ntp_s, _ntp_f, ts, packets, octets = struct.unpack_from("!IIIIII", packet,
                                                                           at + 4)
            blocks = []
            for i in range(count):
                rssrc, lost, highest, jitter, lsr, dlsr = struct.unpack_from(
                    "!IIIIII", packet, at + 28 + 24 * i)
                blocks.append((rssrc, lost, highest, jitter, lsr != 0, dlsr != 0))
            parts.append(("SR", ssrc, ts, packets, octets, tuple(blocks)))
        elif kind == 202 and at + 10 <= len(packet):
            ssrc, item, size = struct.unpack_from("!IBB", packet, at + 4)
            parts.append(("SDES", ssrc, item, size))
        else:
            parts.append((kind,))
        at = end
    return parts


def _listen(sockets: dict, until: float, start: float, got: dict, seen: dict | None = None,
            decrypt: dict | None = None) -> None:
    """Until ``until``, what each party's socket (``sockets`` by party) gets: RTCP into
    ``got`` (time since ``start``, parts; ``decrypt[party]`` applied first if given), the
    SSRC of each RTP packet into ``seen``."""
    party_of = {sock: name for name, sock in sockets.items()}
    for sock in party_of:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    # (the kernel stamps in wall-clock time; ``start`` is monotonic)
    wall_offset = time.time() - time.monotonic()
    while (left := until - time.monotonic()) > 0:
        ready, _, _ = select.select(list(party_of), [], [], left)
        for sock in ready:
            name = party_of[sock]
            data, ancillary, _flags, _source = sock.recvmsg(4096, socket.CMSG_SPACE(16))
            received = time.monotonic()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    seconds, nanoseconds = struct.unpack_from("@qq", value)
                    received = seconds + nanoseconds / 1e9 - wall_offset
            if len(data) > 1 and 192 <= data[1] <= 223:
                if decrypt is not None:
                    data = decrypt[name](data)
                got[name].append((received - start, _parse(data)))
            elif seen is not None and len(data) >= 12:
                seen[name].add(struct.unpack_from("!I", data, 8)[0])


def _exchange(daemon, call_id: str, mux: bool, options: dict, out: dict,
              b_formats: str = "0") -> None:
    """Both parties send 1 s of RTP (A its sender report half way), then listen until
    ``WAIT`` s after the offer; ``out``: what each party got that is RTCP, with the time
    since the offer, and the SSRC figures of a query."""
    rtcp = "a=rtcp-mux" if mux else "a=rtcp:{port}"
    start = time.monotonic()
    with loopback_call(daemon, call_id, "0", b_formats, offer_options=options,
                       a_attributes=(rtcp,), b_attributes=(rtcp,)) as (socks, to_b, to_a):
        a, b = socks["A"], socks["B"]
        got: dict[str, list] = {"A": [], "B": []}
        seen: dict[str, set] = {"A": set(), "B": set()}  # SSRCs of the RTP each party got

        def listen(until: float) -> None:
            _listen(socks, until, start, got, seen)

        for junk in out.pop("junk", ()):  # (before any media: it reaches every check)
            a.sendto(junk, ("127.0.0.1", to_b))
            a.sendto(junk, ("127.0.0.1", to_b + 1))
        for seq in range(50):
            a.sendto(struct.pack("!BBHII", 0x80, 0, 100 + seq, 1000 + 160 * seq, A_SSRC)
                     + b"\xff" * 160, ("127.0.0.1", to_b))
            b.sendto(struct.pack("!BBHII", 0x80, 0, 500 + seq, 9000 + 160 * seq, B_SSRC)
                     + b"\xff" * 160, ("127.0.0.1", to_a))
            if seq == 25:  # (to the RTCP port the answer named: the next one, or muxed)
                a.sendto(_sr(A_SSRC, 100, 0x12340000), ("127.0.0.1", to_b + (0 if mux else 1)))
            listen(time.monotonic() + 0.02)
        listen(start + WAIT)
        out["got"] = got
        out["seen"] = seen
        out["query"] = daemon.request({"command": "query", "call-id": call_id})


# SDES keys of the end-to-end scenario: the relay passes each party's SRTP on untouched
KEYS = {"A": "eMlRvW8mWU4WodT9JOvAM+pn6I0/EXOhT9n0KeKk",
        "B": "DVM+BTeYX2UI1LaA9bgXrcBEDBxoItA9/39fSoRF"}


def _exchange_sdes(daemon, call_id: str, out: dict) -> None:
    """As ``_exchange``, on SDES legs whose keys pass end to end (each party answered
    with the other's own line); the reports each party gets, decrypted with the key it
    decrypts the other party's SRTP with."""
    from pylibsrtp import Policy, Session

    sockets = {}
    for name in "AB":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sockets[name] = sock
    a, b = sockets["A"], sockets["B"]
    sessions = {name: (Session(Policy(key=base64.b64decode(KEYS[name]),
                                      ssrc_type=Policy.SSRC_ANY_OUTBOUND)),
                       Session(Policy(key=base64.b64decode(KEYS["B" if name == "A" else "A"]),
                                      ssrc_type=Policy.SSRC_ANY_INBOUND)))
                for name in "AB"}

    def body(name: str) -> str:
        return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                   f"m=audio {sockets[name].getsockname()[1]} RTP/SAVP 0",
                   f"a=rtcp:{sockets[name].getsockname()[1]}", "a=sendrecv",
                   f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEYS[name]}")

    try:
        start = time.monotonic()
        ids = {"call-id": call_id, "from-tag": "A", "ICE": "remove", "DTLS": "off"}
        to_a = audio_port(daemon.request({"command": "offer", **ids, "flags": ["generate-RTCP"],
                                    "sdp": body("A")}))
        to_b = audio_port(daemon.request({"command": "answer", **ids, "to-tag": "B",
                                    "sdp": body("B")}))
        got: dict[str, list] = {"A": [], "B": []}
        for seq in range(50):
            for name, sock, to, ssrc in (("A", a, to_b, A_SSRC), ("B", b, to_a, B_SSRC)):
                packet = struct.pack("!BBHII", 0x80, 0, 100 + seq, 1000 + 160 * seq, ssrc)
                sock.sendto(sessions[name][0].protect(packet + b"\xff" * 160),
                            ("127.0.0.1", to))
            time.sleep(0.02)
        _listen(sockets, start + WAIT, start, got,
                decrypt={name: sessions[name][1].unprotect_rtcp for name in "AB"})
        out["got"] = got
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in sockets.values():
            sock.close()


def _both(pair, name: str, mux: bool, options: dict, sdes: bool = False,
          b_formats: str = "0") -> tuple[dict, dict]:
    want: dict = {}
    have: dict = {}
    threads = [threading.Thread(target=_exchange_sdes, args=(daemon, name, out)) if sdes
               else threading.Thread(target=_exchange,
                                     args=(daemon, name, mux, options, out, b_formats))
               for daemon, out in ((pair.reference, want), (pair.ours, have))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "got" in want and "got" in have, "an exchange failed"
    return want, have


def _settled(got: dict, a_reported: bool = True) -> dict:
    """Each party's reports with what legitimately differs taken out: the jitter (from
    each run's own timing) is checked to be small, and whether a block names a last
    sender report, which the other party's report gives it when it went first (10.5
    files its own reports as that SSRC's sender reports), is checked against the order."""
    out = {}
    times = {party: got[party][0][0] if got[party] else None for party in "AB"}
    for party, other in (("A", "B"), ("B", "A")):
        reports = []
        for at, parts in got[party]:
            shown = []
            for part in parts:
                if part[0] == "SR":
                    blocks = []
                    for ssrc, lost, highest, jitter, lsr, dlsr in part[5]:
                        assert jitter < 40, jitter
                        assert lsr == dlsr
                        sent_report = (party == "A" and a_reported) or (
                            times[other] is not None and times[other] < at)
                        assert lsr == sent_report, (party, lsr, got)
                        blocks.append((ssrc, lost, highest))
                    part = (*part[:5], tuple(blocks))
                shown.append(part)
            reports.append(shown)
        out[party] = reports
    return out


@pytest.mark.parametrize("mux", [False, True], ids=["rtcp-port", "rtcp-mux"])
def test_generated_reports_as_rtpengine(default_pair, mux):
    want, have = _both(default_pair, f"generate-rtcp-{mux}", mux, {"flags": ["generate-RTCP"]})
    assert _settled(have["got"]) == _settled(want["got"])
    for got in (have["got"], want["got"]):
        # one report each, 5 to 7 s after the offer; A's own sender report went nowhere
        assert [len(got[party]) for party in "AB"] == [1, 1]
        assert all(4.8 <= got[party][0][0] <= 7.5 for party in "AB")
    block = _settled(have["got"])["A"][0][0][5][0]
    # A's first sequence number (100) starts 10.5's loss window with 32 packets lost
    assert block == (A_SSRC, (99 << 24) | 32, 149)


def test_off_relays_the_parties_rtcp_and_generates_nothing(default_pair):
    want, have = _both(default_pair, "generate-rtcp-off", False, {"generate RTCP": "off"})
    assert _settled(have["got"]) == _settled(want["got"])
    assert [len(have["got"][party]) for party in "AB"] == [0, 1]  # (A's report, relayed)


def test_reports_on_sdes_keys_passed_end_to_end_go_out_in_the_partys_keys(default_pair):
    """Each party's reports are SRTCP in the key its SDP gave it (the other party's, the
    relay passing the SRTP through): decrypted with it, they are 10.5's."""
    want, have = _both(default_pair, "generate-rtcp-sdes", False, {}, sdes=True)
    assert _settled(have["got"], False) == _settled(want["got"], False)
    assert [len(have["got"][party]) for party in "AB"] == [1, 1]


def test_junk_on_the_ports_changes_nothing(default_pair):
    """Datagrams too short for RTP, truncated and malformed RTCP on both of A's ports:
    dropped or relayed as any stream does (on the RTP port, without rtcp-mux, all of it is
    RTP to 10.5: relayed), and the reports come as without them."""
    junk = [b"", b"\x80", b"\x80\x00", b"\x80\x00\x00\x01" * 2 + b"\x00\x00\x00",
            b"\x80\xc8\x00\x06" + b"\x00" * 8, b"\x81\xc9\x00\x01\x00\x00",
            b"\x80\xcf\xff\xff" + b"\x00" * 12, b"\x9f\xca\x00\x02" + b"\x01" * 8]
    have: dict = {"junk": junk}
    workers = child_pids(default_pair.ours.proc.pid)
    _exchange(default_pair.ours, "generate-rtcp-junk", False, {"flags": ["generate-RTCP"]},
              have)
    assert child_pids(default_pair.ours.proc.pid) == workers  # (no relay worker restarted)
    reports = {party: [got for got in have["got"][party] if got[1] and got[1][0][0] == "SR"
                       and len(got[1][0]) > 1] for party in "AB"}
    assert [len(reports[party]) for party in "AB"] == [1, 1]
    sr = reports["B"][0][1][0]
    assert sr[:5] == ("SR", A_SSRC, 1000 + 160 * 49, 50, 50 * 172)
    # (the rest is the junk relayed, all of it within the first second)
    assert all(got[0] < 1.5 for got in have["got"]["B"] if got not in reports["B"])


def _renamed(got: dict, seen: dict) -> dict:
    """``_settled``, with each report's SSRC checked against the RTP its party got and
    named by that (a transcoding relay's own output SSRCs are random)."""
    settled = _settled(got)
    for party, reports in settled.items():
        for report in reports:
            for i, part in enumerate(report):
                assert part[1] in seen[party], (party, part, seen[party])
                report[i] = (part[0], "SSRC", *part[2:])
    return settled


def test_a_transcoded_direction_is_reported_under_its_own_ssrc(default_pair):
    """A offers PCMU and B answers PCMA (``codec: transcode``): what each party gets goes
    out under the relay's own SSRC, and so does the report about it; its losses are
    counted from the first packet (10.5's transcoder counts them, without the first
    window's losses of a relayed stream)."""
    options = {"flags": ["generate-RTCP"], "codec": {"transcode": ["PCMA"]}}
    want, have = _both(default_pair, "generate-rtcp-transcoded", False, options,
                       b_formats="8")
    assert _renamed(have["got"], have["seen"]) == _renamed(want["got"], want["seen"])
    block = _settled(have["got"])["A"][0][0][5][0]
    assert block == (A_SSRC, 0, 149)
