"""Differential: RTCP feedback between an AVPF leg and one that is not, beside rtpengine
10.5 over loopback sockets.

RTCP a party on an AVPF profile sends to a party whose leg is not AVPF loses its RTPFB
and PSFB packets on the way (10.5; ``media.rtcp_feedback``); a compound of feedback only
is not sent (an error of the stream it was for), one that does not parse is dropped (an
error of the stream it came on), and a length word that overruns leaves the rest unread.
SRTCP is decrypted before and encrypted after. The other direction, and AVPF to AVPF, pass
everything. Each party sends the same compounds; what the other party receives (decrypted)
and the query's counters of the streams that carry RTCP must be 10.5's, both while the
streams learn (Python's drains) and once settled (where the relay's C loop takes plain
streams).
"""

from __future__ import annotations

import re
import struct
import time

import pytest
from differential import (
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    rtp_rtcp_sockets,
    sdp,
)
from test_diff_quality import _plain
from test_rtcp_feedback import APP, NACK, PLI, REMB, RR, SDES, SR, header

from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

A_KEY = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")

# What each party sends, after RTP both ways and one RR each (learning the RTCP ports).
WELL_FORMED = {
    "SR, SDES, REMB": SR + SDES + REMB,
    "RR, NACK, PLI, SDES": RR + NACK + PLI + SDES,
    "PLI only": PLI,
    "NACK, PLI": NACK + PLI,
    "SR, APP": SR + APP,
    "PLI overrunning": RR + header(1, 206, 9) + PLI[4:],
    "RR overrunning": PLI + header(0, 201, 5) + RR[4:],
    "two bytes after": PLI + RR + b"\x80\xc9",
}
# 10.5 drops an unreadable compound whatever the legs (test_diff_rtcp_validate); sent by
# both parties here, so that a stream that strips and one that does not are checked alike.
UNREADABLE = {
    "short PLI": RR + header(1, 206, 1) + PLI[4:8],
    "version 1": RR + struct.pack("!BBH", 0x41, 206, 2) + PLI[4:],
}

SCENARIOS = {
    # name: (A's protocol, what B is offered, what B answers, A muxed, which party's RTCP
    # is stripped)
    "AVPF to AVP": ("RTP/AVPF", "RTP/AVP", "RTP/AVP", False, "A"),
    "SAVPF to SAVP": ("RTP/SAVPF", "RTP/SAVP", "RTP/SAVP", False, "A"),
    "SAVPF to AVP": ("RTP/SAVPF", "RTP/AVP", "RTP/AVP", False, "A"),
    "AVPF to SAVP": ("RTP/AVPF", "RTP/SAVP", "RTP/SAVP", False, "A"),
    "AVP to AVPF": ("RTP/AVP", "RTP/AVPF", "RTP/AVPF", False, "B"),
    "AVPF to AVPF": ("RTP/AVPF", "RTP/AVPF", "RTP/AVPF", False, None),
    "AVPF muxed to AVP": ("RTP/AVPF", "RTP/AVP", "RTP/AVP", True, "A"),
    # the answer decides: AVPF offered on unchanged and answered AVP strips, AVPF offered
    # on as AVP and answered AVPF does not
    "AVPF answered AVP": ("RTP/AVPF", "RTP/AVPF", "RTP/AVP", False, "A"),
    "AVP offered, AVPF answered": ("RTP/AVPF", "RTP/AVP", "RTP/AVPF", False, None),
}


def _body(port: int, protocol: str, crypto: sdes.Crypto | None, mux: bool) -> str:
    return sdp("v=0", f"o=- 1 {port} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {port} {protocol} 0", *([f"a={crypto.format()}"] if crypto else []),
               *(["a=rtcp-mux"] if mux else []), "a=sendrecv")


def _text(reply: dict) -> str:
    body = reply["sdp"]
    return body.decode() if isinstance(body, bytes) else body


def _crypto(text: str) -> sdes.Crypto | None:
    found = re.search(r"a=crypto:(.*?)\r\n", text)
    return sdes.parse_value(found.group(1)) if found else None


def _ports(text: str) -> tuple[int, int]:
    """Where a party sends its RTP and its RTCP, as the SDP it got says."""
    port = int(re.search(r"m=audio (\d+)", text).group(1))
    if "a=rtcp-mux" in text:
        return port, port
    rtcp = re.search(r"a=rtcp:(\d+)", text)
    return port, int(rtcp.group(1)) if rtcp else port + 1


def _exchange(daemon, call_id: str, scenario: tuple, settle: float) -> dict:
    a_protocol, b_protocol, b_answers, a_mux, _ = scenario
    a_rtp, a_rtcp = rtp_rtcp_sockets()
    b_rtp, b_rtcp = rtp_rtcp_sockets()
    ids = {"call-id": call_id, "from-tag": "A"}
    seen = {}
    try:
        options = {"transport-protocol": b_protocol} if b_protocol != a_protocol else {}
        options.update({"rtcp-mux": ["demux"]} if a_mux else {})
        a_key = A_KEY if "SAVP" in a_protocol else None
        to_b = _text(daemon.request({"command": "offer", **ids, "ICE": "remove", **options,
                                     "sdp": _body(a_rtp.getsockname()[1], a_protocol, a_key,
                                                  a_mux)}))
        b_in = _crypto(to_b)  # (what B decrypts with; it answers with a key of its own)
        b_key = sdes.generate(b_in.tag, b_in.suite.name) if b_in else None
        to_a = _text(daemon.request({"command": "answer", **ids, "to-tag": "B", "ICE": "remove",
                                     "sdp": _body(b_rtp.getsockname()[1], b_answers, b_key,
                                                  False)}))
        a_in = _crypto(to_a)
        a_gets_rtcp = a_rtp if a_mux else a_rtcp
        parties = {  # sender: (its RTP and RTCP sockets, where to, the receiver's RTCP socket,
                     #          its outbound context, the receiver's inbound one)
            "A": (a_rtp, a_gets_rtcp, _ports(to_a), b_rtcp,
                  a_key and SrtpContext.from_sdes(a_key, True),
                  b_in and SrtpContext.from_sdes(b_in, False)),
            "B": (b_rtp, b_rtcp, _ports(to_b), a_gets_rtcp,
                  b_key and SrtpContext.from_sdes(b_key, True),
                  a_in and SrtpContext.from_sdes(a_in, False)),
        }

        def send(sender: str, data: bytes, rtcp: bool = True) -> list[bytes] | None:
            rtp_sock, rtcp_sock, (rtp_port, rtcp_port), receiver, protect, unprotect = (
                parties[sender])
            if protect:
                data = protect.protect_rtcp(data) if rtcp else protect.protect(data)
            (rtcp_sock if rtcp else rtp_sock).sendto(
                data, ("127.0.0.1", rtcp_port if rtcp else rtp_port))
            if rtcp:
                got = burst(receiver, 0.3)
                return [unprotect.unprotect_rtcp(g) if unprotect else g for g in got]
            return None

        for seq in range(3):
            for sender, ssrc in (("A", 0xAAAA), ("B", 0xBBBB)):
                send(sender, struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + bytes(40),
                     rtcp=False)
            time.sleep(0.02)
        burst(a_rtp, 0.2)
        burst(b_rtp, 0.2)
        seen["learning"] = [send("A", RR), send("B", RR)]
        if settle:
            time.sleep(settle)
        for sender in "AB":
            compounds = dict(WELL_FORMED, **UNREADABLE)
            for name, compound in compounds.items():
                seen[f"{sender}: {name}"] = send(sender, compound)
        reply = _plain(daemon.request({"command": "query", "call-id": call_id}))
        rtcp_ports = {_ports(to_a)[1], _ports(to_b)[1]}
        seen["counters"] = {  # (of the one stream each party's RTCP reaches)
            tag: stream["stats"]
            for tag, party in reply["tags"].items() for media in party.get("medias", [])
            for stream in media.get("streams", []) if stream["local port"] in rtcp_ports}
        daemon.request({"command": "delete", "call-id": call_id})
    finally:
        for sock in (a_rtp, a_rtcp, b_rtp, b_rtcp):
            sock.close()
    return seen


@pytest.mark.parametrize("settle", [0.0, 3.3], ids=["learning", "settled-streams"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_rtcp_feedback_to_a_leg_without_avpf_as_rtpengine(default_pair, name, settle):
    scenario = SCENARIOS[name]
    call_id = f"rtcp-fb-{name}-{settle}".replace(" ", "_")
    want = _exchange(default_pair.reference, call_id, scenario, settle)
    have = _exchange(default_pair.ours, call_id, scenario, settle)
    assert have == want
    stripped = scenario[4]
    if stripped is not None:  # (the scenario does test the strip)
        assert want[f"{stripped}: PLI only"] == []
