"""A re-offer that moves a party whose leg speaks ICE: query's endpoint stays where it was.

rtpengine 10.5 takes a stream's endpoint from the SDP only until it is filled when ICE is in
use on the leg: after that, the SDP moves the advertised endpoint and ICE (its checks and
nomination) decides where media goes. rtpengined moved the endpoint with every re-offer, so
query named the new address where 10.5 names the old one (found by differential random
flows: a re-INVITE from a new address with candidates, ICE restarts included). A leg without
ICE still moves at once, on both.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    mask_sdp_lines,
    offer,
    query,
    sdp,
)


def body(host: str, port: int, ufrag: str | None = None) -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0",
             f"m=audio {port} RTP/AVP 0 8"]
    if ufrag is not None:
        lines += [f"a=ice-ufrag:{ufrag}", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
                  f"a=candidate:1 1 UDP 2130706431 {host} {port} typ host",
                  f"a=candidate:1 2 UDP 2130706430 {host} {port + 1} typ host"]
    return sdp(*lines)


CALLEE = body("198.51.100.2", 3000)
SCENARIOS = {
    "ICE added by the re-offer": (None, "abcd"),
    "ICE, same credentials": ("abcd", "abcd"),
    "ICE restart": ("abcd", "efgh"),
    "no ICE": (None, None),
}


@pytest.mark.parametrize("ice_remove", [False, True])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_reoffer_from_a_new_address(default_pair, name, ice_remove):
    before, after = SCENARIOS[name]
    options = {"ICE": "remove"} if ice_remove else {}
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000, before)), **options},
        answer(CALLEE),
        query(),
        {**offer(body("198.51.100.3", 4000, after)), "to-tag": "B", **options},
        answer(CALLEE),
        query(),
    ], f"ice-reoffer-{name}-{ice_remove}")


@pytest.mark.parametrize("restarter", ["offerer", "answerer"])
@pytest.mark.parametrize("who", ["A", "B"])
def test_ice_roles_after_a_restart(default_pair, who, restarter):
    """A party that restarts ICE (new credentials) in a re-offer or in its answer to one:
    10.5 settles both legs' roles anew, as on a first exchange (controlling towards the
    party it sends the offer to); rtpengined kept each party's first role."""
    other = "B" if who == "A" else "A"
    hosts = {"A": ("198.51.100.1", 2000), "B": ("198.51.100.2", 3000)}
    first = {"A": "abcd", "B": "efgh"}
    again = dict(first)
    again[who if restarter == "offerer" else other] += "x"
    default_pair.compare([
        offer(body(*hosts["A"], first["A"])),
        answer(body(*hosts["B"], first["B"])),
        {**offer(body(*hosts[who], again[who])), "from-tag": who, "to-tag": other},
        {**answer(body(*hosts[other], again[other])), "from-tag": who, "to-tag": other},
        query(),
    ], f"ice-restart-roles-{who}-{restarter}")

@pytest.mark.parametrize("ice", ["optional", "force", "default", "remove"])
@pytest.mark.parametrize("with_ice", [False, True], ids=["plain-sdp", "sdp-with-ice"])
@pytest.mark.parametrize("who", ["A", "B"])
def test_ports_after_a_moved_reoffer_with_an_ice_option(default_pair, who, with_ice, ice):
    """A party re-offers from a new address with an ``ICE`` option: the other party keeps
    its ports when ICE will be spoken to it (``optional`` offers ICE, as ``force`` does:
    10.5 settles ICE before it looks for ports), else gets new ones. rtpengined gave new
    ports under ``optional`` to a party that had no ICE yet."""
    other = "B" if who == "A" else "A"
    moved = body("198.51.100.3" if who == "A" else "198.51.100.4", 4000,
                 "abcd" if with_ice else None)
    default_pair.compare([
        offer(body("198.51.100.1", 2000)),
        answer(CALLEE),
        {**offer(moved), "from-tag": who, "to-tag": other, "ICE": ice},
        {**answer(body("198.51.100.5", 5000)), "from-tag": who, "to-tag": other},
        query(),
    ], f"ice-option-moved-{who}-{with_ice}-{ice}")


@pytest.mark.parametrize("answer_ice", ["optional", "default", "force-relay"])
@pytest.mark.parametrize("first", ["force", "default"])
def test_an_agent_outlives_sdps_without_ice(default_pair, first, answer_ice):
    """An offerer that spoke ICE re-offers from a new address without it; the answer has
    ``ICE: optional``: 10.5 still has its ICE agent on that leg, so it answers with ICE
    again on the ports the leg had. rtpengined took the leg for one without ICE: no ICE in
    the answer, and new ports for the moved party."""
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000, "abcd")), "ICE": first},
        answer(CALLEE),
        {**offer(body("198.51.100.3", 4000)), "to-tag": "B"},
        {**answer(body("198.51.100.5", 5000)), "ICE": answer_ice},
        query(),
    ], f"ice-agent-kept-{first}-{answer_ice}")


@pytest.mark.parametrize("webrtc", [False, True], ids=["same-protocol", "to-webrtc"])
@pytest.mark.parametrize("rtcp", [None, 2005], ids=["next-port", "a=rtcp"])
@pytest.mark.parametrize("ice", ["abcd", None], ids=["party-ice", "ice-force"])
def test_rtcp_endpoint_of_a_muxed_leg_given_rtcp_again(default_pair, ice, rtcp, webrtc):
    """A party on rtcp-mux (accepted: its leg has one port) re-offers from a new address
    without it: its leg gets an RTCP port again. 10.5 had an RTCP stream all along, filled with the party's RTCP address (its
    a=rtcp port, else the one after its RTP port), which a leg on ICE keeps, as it keeps
    the RTP endpoint; rtpengined took the new address for RTCP alone. (Not compared: query
    between that re-offer and its answer, where 10.5 still lists the leg's one port and
    an unbound RTCP stream, and rtpengined already lists the new pair.)"""
    options = {} if ice else {"ICE": "force"}
    first = body("198.51.100.1", 2000, ice).replace(
        "m=audio 2000 RTP/AVP 0 8\r\n",
        "m=audio 2000 RTP/AVP 0 8\r\na=rtcp-mux\r\n"
        + (f"a=rtcp:{rtcp}\r\n" if rtcp else ""))
    reoffer = body("198.51.100.3", 4000, ice)
    if webrtc:  # (new ports for the leg: its RTCP stream is a new one)
        reoffer = reoffer.replace("RTP/AVP 0 8\r\n", "UDP/TLS/RTP/SAVPF 0 8\r\n"
                                  f"a=fingerprint:sha-256 {':'.join(['AB'] * 32)}\r\n"
                                  "a=setup:actpass\r\n")
    default_pair.compare([
        {**offer(first), **options, "rtcp-mux": ["accept"]},
        answer(body("198.51.100.2", 3000).replace("RTP/AVP 0 8\r\n",
                                                  "RTP/AVP 0 8\r\na=rtcp-mux\r\n")),
        query(),
        {**offer(reoffer), "to-tag": "B", **options,
         "_mask": mask_sdp_lines("a=crypto", "a=fingerprint")},
        {**answer(CALLEE), "_mask": mask_sdp_lines("a=fingerprint")},
        query(),
    ], f"ice-mux-rtcp-again-{ice}-{rtcp}-{webrtc}")


@pytest.mark.parametrize("ice", ["abcd", None], ids=["ice", "no-ice"])
@pytest.mark.parametrize("rtcp", [None, 1], ids=["next-port", "a=rtcp"])
def test_fallback_rtcp_of_a_refused_muxed_leg(default_pair, ice, rtcp):
    """A party on rtcp-mux (one port) refuses the media in a re-offer from a new address:
    10.5 still lists its fallback RTCP stream (no local socket), whose endpoint a leg on
    ICE keeps where it was filled (the first SDP's RTCP address) while the advertised one
    follows the SDP. rtpengined listed no RTCP stream for a refused RTP one."""
    first = body("198.51.100.1", 2000, ice).replace(
        "m=audio 2000 RTP/AVP 0 8\r\n", "m=audio 2000 RTP/AVP 0 8\r\na=rtcp-mux\r\n")
    refused = body("198.51.100.3", 0, ice).replace(
        "m=audio 0 RTP/AVP 0 8\r\n",
        "m=audio 0 RTP/AVP 0 8\r\na=rtcp-mux\r\n" + (f"a=rtcp:{rtcp}\r\n" if rtcp else ""))
    default_pair.compare([
        {**offer(first), "rtcp-mux": ["accept"]},
        answer(body("198.51.100.2", 3000).replace("RTP/AVP 0 8\r\n",
                                                  "RTP/AVP 0 8\r\na=rtcp-mux\r\n")),
        {**offer(refused), "to-tag": "B"},
        query(),
        answer(body("198.51.100.2", 0)),
        query(),
    ], f"ice-mux-refused-{ice}-{rtcp}")


@pytest.mark.parametrize("flag", ["strict-source", "media-handover"])
def test_fallback_rtcp_of_a_leg_with_a_source_flag(default_pair, flag):
    """``strict source`` and ``media handover`` show on the fallback RTCP stream of a leg
    on one port too (10.5)."""
    default_pair.compare([
        {**offer(body("198.51.100.1", 2000).replace(
            "RTP/AVP 0 8\r\n", "RTP/AVP 0 8\r\na=rtcp-mux\r\n")), "rtcp-mux": ["accept"],
         "flags": [flag]},
        {**answer(body("198.51.100.2", 3000).replace("RTP/AVP 0 8\r\n",
                                                     "RTP/AVP 0 8\r\na=rtcp-mux\r\n")),
         "flags": [flag]},
        query(),
    ], f"mux-{flag}")
