"""Shared by the rtpengined.secure tests: rtpengine 10.5's SDES/DTLS SDP (captures.json beside
capture.py in tests/fixtures/rtpengine-10.5/secure/) and a real aioice peer on loopback."""

import json
import re
from pathlib import Path

import aioice

CAPTURES = json.loads((Path(__file__).parent / "fixtures" / "rtpengine-10.5" / "secure" / "captures.json")
                      .read_text())


def lines(case: str, step: str, prefix: str) -> list[str]:
    """The SDP lines starting with `prefix` (without `a=`) of one captured reply or request."""
    entry = CAPTURES[case][step]
    sdp = entry["sdp"]
    return [ln[2:] for ln in sdp.splitlines() if ln.startswith("a=" + prefix)]


def mask_key(value: str) -> str:
    """Key material is random: keep its length, so the shape (base64 without padding) shows."""
    return re.sub(r"inline:([A-Za-z0-9+/=]+)", lambda m: f"inline:<{len(m.group(1))}>", value)


async def loopback_connection(controlling):
    """A real aioice Connection with a host candidate on 127.0.0.1.

    aioice's gathering skips 127.0.0.1, so gathering runs with no interface and the loopback
    candidate is made by aioice's own get_component_candidates (real socket, real protocol).
    """
    conn = aioice.Connection(ice_controlling=controlling, components=1, use_ipv4=False, use_ipv6=False)
    await conn.gather_candidates()
    conn._local_candidates += await conn.get_component_candidates(component=1, addresses=["127.0.0.1"])
    return conn
