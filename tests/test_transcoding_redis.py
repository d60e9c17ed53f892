"""Calls that transcode, stored in Redis and restored: the media keeps 10.5's transcode flag
(``MEDIA_FLAG_TRANSCODE``), and a restored call converts again each way it did before."""

from __future__ import annotations

from rtpengined.redis.layout import MEDIA_TRANSCODE, decode_call, dumps, encode_call, loads
from rtpengined.redis.restore import interface_index, restore_call
from tests.test_calls_model import FakeBinder, make_core, ng


def _sdp(port: int, formats: str) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {formats}\r\na=sendrecv\r\n")


def _conversions(call) -> list[tuple]:
    return [media.rtp.transcode for mono in call.monologues for media in mono.medias]


def _restored(core, call_id: str):
    doc = encode_call(core.calls.calls[call_id], 5, interface_index(core.calls))
    other, clock = make_core(FakeBinder())
    call = restore_call(other.calls, decode_call(call_id, loads(dumps(doc))), clock(),
                        foreign=True)
    return doc, other, call


def test_a_transcoding_call_converts_again_after_a_restore():
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=_sdp(2000, "0"), codec={"transcode": ["PCMA"]},
       **{"call-id": "tc", "from-tag": "A"})
    ng(core, command="answer", sdp=_sdp(3000, "8"), **{"call-id": "tc", "from-tag": "A",
                                                        "to-tag": "B"})
    before = _conversions(core.calls.calls["tc"])
    assert before == [((8, 0, "PCMA", "PCMU", 160),), ((0, 8, "PCMU", "PCMA", 160),)]
    doc, other, call = _restored(core, "tc")
    assert all(int(doc[f"media-{i}"]["media_flags"]) & MEDIA_TRANSCODE for i in (0, 1))
    assert _conversions(call) == before
    query = ng(other, command="query", **{"call-id": "tc"})
    assert all("transcoding" in query["tags"][tag]["medias"][0]["flags"] for tag in "AB")


def test_a_call_without_transcoding_restores_without_conversions():
    core, _ = make_core(FakeBinder())
    ng(core, command="offer", sdp=_sdp(2000, "0 8"), **{"call-id": "plain", "from-tag": "A"})
    ng(core, command="answer", sdp=_sdp(3000, "8"), **{"call-id": "plain", "from-tag": "A",
                                                         "to-tag": "B"})
    doc, _, call = _restored(core, "plain")
    assert not any(int(doc[f"media-{i}"]["media_flags"]) & MEDIA_TRANSCODE for i in (0, 1))
    assert _conversions(call) == [(), ()]
