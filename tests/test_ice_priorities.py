"""Candidate priorities as rtpengine 10.5 writes them (``sdp.ice_priority``) and the
preferences it picks for candidates of ours beside a party's own
(``offer_answer.ice.passthrough_preference``), without daemons."""

from __future__ import annotations

from rtpengined.offer_answer.ice import passthrough_preference
from rtpengined.sdp import ice_priority


def test_rfc_priorities():
    assert ice_priority(126, 0, 1) == 2130706431
    assert ice_priority(126, 1, 2) == 2130706174
    assert ice_priority(0, 0, 1) == 16777215  # relay


def test_local_preference_past_65535_wraps_as_in_10_5():
    assert ice_priority(125, 65535, 1) == 2097152255
    assert ice_priority(125, 65536, 1) == 4294967295
    assert ice_priority(125, 65536, 2) == 4294967294


def test_below_the_partys_top_host_candidate():
    cands = ["a 1 UDP 2130706431 198.51.100.3 2002 typ host",
             "b 1 UDP 2130706175 2001:db8::3 2002 typ host",
             "a 2 UDP 2130706430 198.51.100.3 2003 typ host"]
    assert passthrough_preference(cands, "host", 126) == (125, 65535)


def test_walk_follows_lower_candidates_in_order():
    cands = ["h1 1 UDP 2130706175 198.51.100.3 2002 typ host",
             "h2 1 udp 2130705919 198.51.100.4 2002 typ host"]
    assert passthrough_preference(cands, "host", 126) == (126, 1)
    # Out of order: a later one at or below the priority found so far still moves it,
    # even back up (10.5 compares with the running value, not the lowest seen).
    assert passthrough_preference(cands[::-1], "host", 126) == (126, 0)


def test_candidates_10_5_does_not_parse_do_not_count():
    ignored = ["t 1 tcp 2130705663 198.51.100.6 9 typ host tcptype active",
               "m 1 UDP 2130705407 5d3c5a0e-7d9b.local 2002 typ host",
               "u 1 UDP 2130706174 198.51.100.5 2002 typ HOST",
               "s 1 UDP 1694498815 192.0.2.7 3000 typ srflx raddr 198.51.100.3 rport 2002",
               "c 2 UDP 2130706430 198.51.100.3 2003 typ host",
               "x 1 UDP notanumber 198.51.100.3 2002 typ host"]
    assert passthrough_preference(ignored, "host", 126) == (126, 0)


def test_relay_type():
    cands = ["r 1 UDP 16777215 192.0.2.9 4000 typ relay raddr 192.0.2.8 rport 4001"]
    assert passthrough_preference(cands, "relay", 0) == (0, 65535)
    assert passthrough_preference(cands, "host", 126) == (126, 0)
