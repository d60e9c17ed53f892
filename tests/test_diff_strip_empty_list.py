"""An offer whose codec options leave only telephone-event and CN, our SDP beside rtpengine
10.5's.

When a strip or mask takes every codec of the offer (G.722 and PCMU here) but leaves
telephone-event or CN, 10.5 sends an empty format list (``m=audio 0 RTP/AVP `` with nothing
after the protocol) and keeps every codec's attributes where they were, for an accepted
media as for a refused one (port 0). rtpengined did so only for telephone-event alone on
an accepted media: it kept CN in the list, and a refused media kept both (found by
differential random flows).
"""

from __future__ import annotations

import itertools

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    sdp,
)


def _body(port: int, formats: str) -> str:
    return sdp("v=0", "o=- 1 1 IN IP4 198.51.100.1", "s=-", "c=IN IP4 198.51.100.1", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", "a=rtpmap:9 G722/8000",
               "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=rtpmap:13 CN/8000",
               "a=sendrecv")


OPTIONS = {
    "strip G722": {"strip": ["G722"]},
    "mask G722": {"mask": ["G722"]},
    "strip G722 PCMU": {"strip": ["G722", "PCMU"]},
    "mask G722 PCMU": {"mask": ["G722", "PCMU"]},
    "strip all but CN": {"strip": ["all"], "except": ["CN"]},
    "strip G722 PCMU telephone-event": {"strip": ["G722", "PCMU", "telephone-event"]},
    "strip all": {"strip": ["all"]},
}
FORMATS = ["9 101", "9 0 101", "9 0 101 13", "9 0 13"]
CASES = list(itertools.product((0, 2000), FORMATS, OPTIONS))


@pytest.mark.parametrize("port,formats,option", CASES, ids=str)
def test_offer_left_with_supplementary_codecs(default_pair, port, formats, option):
    default_pair.compare([offer(_body(port, formats), codec=OPTIONS[option]), delete()],
                         f"{port} {formats} {option}")
