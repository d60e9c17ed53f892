"""What a re-offer changes at once in query, as rtpengine 10.5 shows it.

Found by differential random flows (``tests/fuzz/diff_flows.py``):

- **rtcp-mux**: 10.5 sets both legs' rtcp-mux flag from an offer, a re-offer included, and
  the answer settles it. rtpengined showed the last answer's state until the re-offer was
  answered, so a party that started offering ``a=rtcp-mux`` (or stopped) showed no change.
- **An address of another family than the local port's**: an IPv6 party on an IPv4-only
  interface that re-offers from a new IPv6 address. 10.5 ignores the new address (with a
  warning: its IPv4 socket cannot send there) and keeps the first one as the endpoint; only
  the advertised endpoint moves. rtpengined moved both.
- **New local ports keep what is known of the party**: when the other side moves (its
  answer from a new address) the party gets new ports; 10.5 only swaps the stream's
  sockets, its endpoint stays. rtpengined's new streams started from the SDP's address.
"""

from __future__ import annotations

import pytest
from differential import (
    answer,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)


def body(host: str, port: int, mux: bool = False, rtcp: int | None = None) -> str:
    family = 6 if ":" in host else 4
    lines = ["v=0", f"o=- 1 1 IN IP{family} {host}", "s=x", f"c=IN IP{family} {host}",
             "t=0 0", f"m=audio {port} RTP/AVP 0 8"]
    lines += [f"a=rtcp:{rtcp}"] if rtcp is not None else []
    lines += ["a=rtcp-mux"] if mux else []
    return sdp(*lines)


A, B = "198.51.100.1", "198.51.100.2"


@pytest.mark.parametrize("options", [{}, {"rtcp-mux": ["demux"]}, {"rtcp-mux": ["accept"]},
                                     {"rtcp-mux": ["reject"]}, {"rtcp-mux": ["offer"]}])
@pytest.mark.parametrize("first_mux,again_mux", [(False, True), (True, False), (True, True)])
@pytest.mark.parametrize("who", ["A", "B"])
def test_rtcp_mux_shown_from_a_reoffer(default_pair, who, first_mux, again_mux, options):
    other = "B" if who == "A" else "A"
    hosts = {"A": (A, 2000), "B": (B, 3000)}
    default_pair.compare([
        offer(body(A, 2000, first_mux)),
        answer(body(B, 3000, first_mux)),
        {**offer(body(*hosts[who], again_mux)), "from-tag": who, "to-tag": other, **options},
        query(),
        {**answer(body(*hosts[other], again_mux)), "from-tag": who, "to-tag": other},
        query(),
    ], f"reoffer-mux-{who}-{first_mux}-{again_mux}-{options}")


@pytest.mark.parametrize("answerer_moves", [False, True])
def test_an_ipv6_party_reoffers_from_a_new_address(default_pair, answerer_moves):
    default_pair.compare([
        offer(body("2001:db8::44", 2000)),
        answer(body(B, 3000)),
        query(),
        {**offer(body("2001:db8::19", 4000)), "to-tag": "B"},
        query(),
        answer(body("198.51.100.9" if answerer_moves else B, 6000 if answerer_moves else 3000)),
        query(),
    ], f"reoffer-ipv6-{answerer_moves}")


def test_an_ipv4_party_among_ipv6_ones_moves(default_pair):
    """The check is the family of the local port: a new IPv4 address moves the endpoint."""
    default_pair.compare([
        offer(body(A, 2000)),
        answer(body(B, 3000)),
        {**offer(body("198.51.100.3", 4000)), "to-tag": "B"},
        query(),
        answer(body("198.51.100.9", 6000)),
        query(),
    ], "reoffer-ipv4-moves")
