"""IPv6 addresses written in brackets in an SDP's ``c=`` (``c=IN IP6 [2001:db8::1]``), as
rtpengine 10.5 takes them: the address without its brackets. rtpengined refused the SDP
(``Failed to parse SDP``); an outside attack pass found it. Brackets around an IPv4
address stay an error on both.
"""

from __future__ import annotations

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    offer,
    query,
    sdp,
)


@pytest.mark.parametrize("where", ["session", "media"])
@pytest.mark.parametrize("address", ["[::1]", "[2001:db8::1]", "[2001:db8::1", "[::ffff:192.0.2.1]"])
def test_bracketed_ipv6_connection(default_pair, where, address):
    c = f"c=IN IP6 {address}"
    lines = ["v=0", "o=- 1 1 IN IP6 2001:db8::1", "s=x", *([c] if where == "session" else []),
             "t=0 0", "m=audio 2000 RTP/AVP 0", *([c] if where == "media" else [])]
    default_pair.compare([offer(sdp(*lines)), query()], f"bracketed-{where}")


def test_bracketed_ipv4_is_refused(default_pair):
    default_pair.compare([offer(sdp("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=x",
                                    "c=IN IP4 [192.0.2.1]", "t=0 0",
                                    "m=audio 2000 RTP/AVP 0"))], "bracketed-ipv4")
