"""The T.38 gateway in the call model (no daemon): which side each party is on, what the
relay is told per stream, through re-offers, ``stop`` and re-INVITEs with new ports
(``offer_answer.t38``; the SDP beside 10.5 in ``test_diff_t38``, a real fax in
``test_t38_daemon``)."""

from __future__ import annotations

from test_calls_model import make_core, ng

from rtpengined.offer_answer import t38
from rtpengined.udptl import T38Options


def _image(port: int, ec: str = "t38UDPRedundancy", address: str = "192.0.2.10") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=image {port} udptl t38\r\na=T38FaxVersion:0\r\na=T38FaxUdpEC:{ec}\r\n")


def _audio(port: int, formats: str = "8 0", address: str = "192.0.2.20") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {formats}\r\na=ptime:30\r\n")


def _party(core, tag: str):
    return next(m for m in core.calls.calls["c"].monologues if m.tag == tag)


def _specs(core, tag: str) -> list:
    return [stream.t38 for stream in _party(core, tag).medias[0].streams]


def test_decode_sides_and_relay_specs():
    core, _ = make_core()
    ids = {"call-id": "c", "from-tag": "fax"}
    reply = ng(core, command="offer", **ids, **{"T.38": ["decode"]},
               sdp=_image(4000, "t38UDPFEC"))
    assert "m=audio" in reply["sdp"] and "RTP/AVP 0 8" in reply["sdp"]
    ng(core, command="answer", **ids, **{"to-tag": "pcm"}, sdp=_audio(5000, "8"))
    fax, pcm = _party(core, "fax").medias[0], _party(core, "pcm").medias[0]
    assert (fax.type, fax.protocol, pcm.type) == ("image", "udptl", "audio")
    assert fax.t38.side == "t38" and pcm.t38.side == "pcm"
    # the T.38 party's own SDP set the options (FEC over 3); the audio party's answer the codec
    assert fax.t38.options == T38Options.from_sdp({"T38FaxUdpEC": ["t38UDPFEC"],
                                                   "T38FaxVersion": ["0"]})
    assert pcm.t38.pcm == ("8", "PCMA/8000") and fax.t38.pcm == ("8", "PCMA/8000")
    rtp, rtcp = _specs(core, "pcm")
    assert rtp[0] == "pcm" and rtp[2:4] == (8, "PCMA") and rtcp is None
    assert _specs(core, "fax")[0][0] == "t38"
    # RTCP has nowhere to go across the gateway
    assert [s.blocked for s in _party(core, "pcm").medias[0].streams] == [False, True]
    core.shutdown()


def test_force_keeps_the_gateway_until_stop():
    core, _ = make_core()
    ids = {"call-id": "c", "from-tag": "pcm"}
    reply = ng(core, command="offer", **ids, **{"T.38": ["force"]}, sdp=_audio(5000, "96 0 8"))
    assert "m=image" in reply["sdp"] and "t38UDPRedundancy" in reply["sdp"]
    reply = ng(core, command="answer", **ids, **{"to-tag": "fax"}, sdp=_image(4000))
    # the audio party gets its first G.711 codec back, with its own ptime
    assert "RTP/AVP 0\r\n" in reply["sdp"] and "a=ptime:30" in reply["sdp"]
    assert _specs(core, "pcm")[0][2:] == (0, "PCMU", 30)
    # a re-offer without the list keeps it, from either party
    ng(core, command="offer", **ids, sdp=_audio(5000, "96 0 8"))
    reply = ng(core, command="offer", **{"call-id": "c", "from-tag": "fax", "to-tag": "pcm"},
               sdp=_image(4000))
    assert "m=audio" in reply["sdp"]
    assert _party(core, "fax").medias[0].t38.side == "t38"
    # stop: media passes as it is again, and the relay is told so
    ng(core, command="answer", **{"call-id": "c", "from-tag": "fax", "to-tag": "pcm"},
       sdp=_audio(5000, "0"))
    reply = ng(core, command="offer", **ids, **{"T.38": ["stop"]}, sdp=_audio(5000, "0"))
    assert "m=audio" in reply["sdp"] and "udptl" not in reply["sdp"]
    assert _party(core, "fax").medias[0].t38 is None and _party(core, "pcm").medias[0].t38 is None
    assert _specs(core, "pcm") == [None, None]
    assert not any(s.blocked for s in _party(core, "pcm").medias[0].streams)
    core.shutdown()


def test_new_ports_carry_the_gateway():
    core, _ = make_core()
    ids = {"call-id": "c", "from-tag": "pcm"}
    ng(core, command="offer", **ids, **{"T.38": ["force"]}, sdp=_audio(5000))
    ng(core, command="answer", **ids, **{"to-tag": "fax"}, sdp=_image(4000))
    before = [s.port for s in _party(core, "fax").medias[0].streams]
    # the audio party moved: the fax party gets fresh ports, still feeding the gateway
    ng(core, command="offer", **ids, sdp=_audio(5002, address="192.0.2.21"))
    after = _party(core, "fax").medias[0].streams
    assert [s.port for s in after] != before
    assert after[0].t38[0] == "t38"
    core.shutdown()


def test_gateway_options_from_flags():
    options = t38.gateway_options(frozenset({"FEC", "no-ECM", "no-V.17"}), None)
    assert options.fec_span == 3 and options.max_ec_entries == 3
    assert options.no_ecm and options.no_v17 and not options.no_v29


def test_audio_from_the_t38_party_ends_the_gateway():
    """The fax party re-offers audio (back to voice without ``stop``): nothing converts it,
    so nothing is left feeding a gateway."""
    core, _ = make_core()
    ids = {"call-id": "c", "from-tag": "fax"}
    ng(core, command="offer", **ids, **{"T.38": ["decode"]}, sdp=_image(4000))
    ng(core, command="answer", **ids, **{"to-tag": "pcm"}, sdp=_audio(5000, "8"))
    reply = ng(core, command="offer", **ids, sdp=_audio(4000, "8", "192.0.2.10"))
    assert "m=audio" in reply["sdp"]
    assert _party(core, "fax").medias[0].t38 is None and _party(core, "pcm").medias[0].t38 is None
    assert _specs(core, "fax") == [None, None] and _specs(core, "pcm") == [None, None]
    core.shutdown()
