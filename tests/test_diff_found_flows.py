"""Random offer/answer flows that once differed from rtpengine 10.5, replayed as found.

``tests/fuzz/diff_flows.py`` draws random calls (offers with SDES, DTLS, ICE, rtcp-mux,
refused media; re-offers by either party; the options proxies send) and reports the first
reply that differs from 10.5's. Each flow here differed until the fix its ``why`` names;
``tests/fixtures/found-flows.json`` holds its requests exactly as the tool sent them (the
answers built from 10.5's replies), and both daemons get them again: every reply must
match, with each daemon's own keys, fingerprints and ids masked as the tool masks them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    mask_own_values,
)

FLOWS = json.loads((Path(__file__).parent / "fixtures" / "found-flows.json").read_text())["flows"]


@pytest.mark.parametrize("flow", FLOWS, ids=[f"seed-{flow['seed']}" for flow in FLOWS])
def test_found_flow_matches_rtpengine(default_pair, flow):
    steps = [{**step, "_mask": mask_own_values} for step in flow["steps"]]
    default_pair.compare(steps, f"found-{flow['seed']}")


FINGERPRINT = ":".join(["AB"] * 32)


def _sdp(host: str, version: int, media: str, *extra: str) -> str:
    return "".join(f"{line}\r\n" for line in (
        "v=0", f"o=- 1 {version} IN IP4 {host}", "s=x", f"c=IN IP4 {host}", "t=0 0", media,
        *extra))


def test_dtls_off_in_a_re_offer_to_a_dtls_only_leg(default_pair):
    """A browser's DTLS offer sent on plain and answered: its leg is DTLS alone. A re-offer
    to it with ``DTLS: off`` still offers it DTLS: 10.5 reads the option only for a leg
    that has neither DTLS nor SDES (it used to be offered plain RTP/SAVPF without keys)."""
    browser = _sdp("198.51.100.1", 1, "m=audio 2000 UDP/TLS/RTP/SAVPF 0",
                   f"a=fingerprint:sha-256 {FINGERPRINT}", "a=setup:actpass")
    steps = [
        {"command": "offer", "from-tag": "A", "transport-protocol": "RTP/AVP", "ICE": "remove",
         "sdp": browser},
        {"command": "answer", "from-tag": "A", "to-tag": "B",
         "sdp": _sdp("198.51.100.2", 1, "m=audio 3000 RTP/AVP 0")},
        {"command": "offer", "from-tag": "B", "to-tag": "A", "DTLS": "off",
         "sdp": _sdp("198.51.100.2", 2, "m=audio 3000 RTP/AVP 0")},
        {"command": "query"},
    ]
    default_pair.compare([{**step, "_mask": mask_own_values} for step in steps],
                         "dtls-off-dtls-only")


@pytest.mark.parametrize("rtcp_lines", [(), ("a=rtcp:7000",)], ids=["no-a-rtcp", "a-rtcp"])
def test_a_refusing_re_offer_names_the_rtcp_port_of_its_sdp(default_pair, rtcp_lines):
    """A re-offer refusing its media (port 0): query shows each RTCP stream of the refusing
    party at its SDP's a=rtcp port, else at port 1, the fallback RTCP stream of a leg on
    rtcp-mux too (they kept the port the party gave before)."""
    a = "198.51.100.1"
    first = _sdp(a, 1, "m=audio 2000 RTP/AVP 0", "a=rtcp-mux", "a=rtcp:2001",
                 "m=audio 2002 RTP/AVP 8")
    refusing = _sdp("198.51.100.3", 2, "m=audio 0 RTP/AVP 0", *rtcp_lines,
                    "m=audio 0 RTP/AVP 8", *(("a=rtcp:7002",) if rtcp_lines else ()))
    steps = [
        {"command": "offer", "from-tag": "A", "rtcp-mux": ["accept"], "sdp": first},
        {"command": "answer", "from-tag": "A", "to-tag": "B",
         "sdp": _sdp("198.51.100.2", 1, "m=audio 3000 RTP/AVP 0", "a=rtcp-mux",
                     "m=audio 3002 RTP/AVP 8")},
        {"command": "offer", "from-tag": "A", "to-tag": "B", "sdp": refusing},
        {"command": "answer", "from-tag": "A", "to-tag": "B",
         "sdp": _sdp("198.51.100.2", 2, "m=audio 0 RTP/AVP 0", "m=audio 0 RTP/AVP 8")},
        {"command": "query"},
    ]
    default_pair.compare([{**step, "_mask": mask_own_values} for step in steps],
                         f"refused-rtcp-{len(rtcp_lines)}")
