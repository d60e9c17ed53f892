"""``generate RTCP`` in the control plane, without sockets: which media and streams get it,
how long they keep it, what the relay is told and what Redis stores (the relay's side and
the reports themselves: ``test_diff_generate_rtcp.py``, beside rtpengine 10.5)."""

from __future__ import annotations

import pytest

from rtpengined.media.channel import RTCP_CONSUMED, RTCP_GENERATED
from rtpengined.ngoptions import Options
from rtpengined.redis.layout import MEDIA_RTCP_GEN, decode_call, dumps, encode_call, loads
from rtpengined.redis.restore import interface_index, restore_call
from tests.test_calls_model import FakeBinder, make_core, ng, sdp_body


@pytest.mark.parametrize(("message", "want"), [
    ({"flags": ["generate-RTCP"]}, True),
    ({"flags": ["generate RTCP"]}, True),  # (spaces are dashes in flags, as 10.5 reads them)
    ({"flags": ["generate-rtcp"]}, True),
    ({"generate RTCP": "on"}, True),
    ({"generate-RTCP": "on"}, True),
    ({"generate rtcp": "off"}, False),
    ({"generate-rtcp": "off"}, False),
    ({"generate RTCP": "yes"}, None),  # (10.5 knows on and off only)
    ({"flags": ["generate"]}, None),
    ({}, None),
])
def test_the_flag_and_the_key(message, want):
    assert Options.from_message(message).generate_rtcp is want


def _streams(core, call_id: str):
    call = core.calls.calls[call_id]
    return [(media, stream) for mono in call.monologues for media in mono.medias
            for stream in media.streams]


def _offer_answer(core, call_id: str, offer: dict | None = None, answer: dict | None = None):
    ids = {"call-id": call_id, "from-tag": "a"}
    ng(core, command="offer", sdp=sdp_body(2000), **ids, **(offer or {}))
    ng(core, command="answer", sdp=sdp_body(3000, "192.0.2.20"), **ids, **{"to-tag": "b"},
       **(answer or {}))


def test_both_media_get_it_and_keep_it_until_off():
    core, _ = make_core(FakeBinder())
    _offer_answer(core, "g", offer={"flags": ["generate-RTCP"]})
    cname = core.calls.instance_id
    streams = _streams(core, "g")
    assert len(streams) == 4
    for media, stream in streams:
        assert media.rtcp_gen
        bits = RTCP_CONSUMED | (RTCP_GENERATED if stream is media.rtp else 0)
        assert stream.rtcp_gen[:2] == (bits, cname) and stream.rtcp_gen[3] is None
        assert (0, 8000) in stream.rtcp_gen[2]  # (the clock rates of its party's rtpmaps)
    # a re-INVITE that does not say keeps it (new ports included)
    ng(core, command="offer", sdp=sdp_body(2010), **{"call-id": "g", "from-tag": "a"})
    assert all(s.rtcp_gen is not None for m, s in _streams(core, "g") if not s.closed)
    ng(core, command="offer", sdp=sdp_body(2010), **{"call-id": "g", "from-tag": "a",
                                                      "generate RTCP": "off"})
    assert all(not m.rtcp_gen and s.rtcp_gen is None for m, s in _streams(core, "g"))


def test_a_plain_call_has_none_and_tells_the_relay_nothing():
    core, _ = make_core(FakeBinder())
    _offer_answer(core, "p")
    assert all(not m.rtcp_gen and s.rtcp_gen is None and s.rare is None
               for m, s in _streams(core, "p"))


def test_redis_keeps_it_as_10_5s_media_flag():
    core, _ = make_core(FakeBinder())
    _offer_answer(core, "r", answer={"generate RTCP": "on"})
    doc = encode_call(core.calls.calls["r"], 5, interface_index(core.calls))
    flags = [int(v["media_flags"]) for k, v in doc.items() if k.startswith("media-")]
    assert flags and all(f & MEDIA_RTCP_GEN for f in flags)
    other, clock = make_core(FakeBinder())
    call = restore_call(other.calls, decode_call("r", loads(dumps(doc))), clock(),
                        foreign=True)
    for mono in call.monologues:
        for media in mono.medias:
            assert media.rtcp_gen
            assert media.rtp.rtcp_gen[:2] == (RTCP_CONSUMED | RTCP_GENERATED,
                                              other.calls.instance_id)
