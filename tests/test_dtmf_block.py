"""``block DTMF`` in the call model (no sockets): which streams drop which payload types,
through re-INVITEs, per mode, party and call (``dtmf_block``; the media itself beside 10.5
in ``test_diff_dtmf_block``)."""

from __future__ import annotations

from test_calls_model import make_core, ng

from rtpengined import dtmf_block
from rtpengined.model import Call, CallMedia, Monologue, Stream


def _sdp(port: int, pt: int = 101, address: str = "192.0.2.10") -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 {pt}\r\na=rtpmap:{pt} telephone-event/8000\r\n")


def _of_streams(core, tag: str, name: str) -> list:
    """A field of each stream of the party ``tag`` of call "c", in media order."""
    call = core.calls.calls["c"]
    party = next(m for m in call.monologues if m.tag == tag)
    return [getattr(s, name) for media in party.medias for s in media.streams]


def _call() -> tuple:
    """A core with call "c": A (tag a, telephone-event 101) offered, B (96) answered; the
    core and A's ids."""
    core, _ = make_core()
    ids = {"call-id": "c", "from-tag": "a"}
    ng(core, command="offer", **ids, sdp=_sdp(2000))
    ng(core, command="answer", **ids, **{"to-tag": "b"}, sdp=_sdp(3000, 96, "192.0.2.20"))
    return core, ids


def _dropped(core, tag: str) -> list[tuple]:
    return _of_streams(core, tag, "dropped_types")


def test_block_follows_reinvites_and_lifts():
    core, ids = _call()
    assert _dropped(core, "a") == [(), ()]
    assert ng(core, command="block DTMF", **ids)["result"] == "ok"
    assert _dropped(core, "a") == [(101,), (101,)]  # RTP and RTCP stream of its media
    assert _dropped(core, "b") == [(), ()]
    # a re-INVITE from the blocked party with new ports and another payload type
    ng(core, command="offer", **ids, sdp=_sdp(2002, 100))
    ng(core, command="answer", **ids, **{"to-tag": "b"}, sdp=_sdp(3000, 96, "192.0.2.20"))
    assert _dropped(core, "a") == [(100,), (100,)]
    assert ng(core, command="unblock DTMF", **ids)["result"] == "ok"
    assert _dropped(core, "a") == [(), ()]
    core.shutdown()


def test_modes_and_call_wide_block():
    core, ids = _call()
    for mode, dropped in (("zero", ()), ("DTMF", ()), ("off", (101,)), ("tone", (101,)),
                          ("whatever", (101,)), ("drop", (101,))):
        ng(core, command="block DTMF", **ids, **{"DTMF-security": mode})
        assert _dropped(core, "a")[0] == dropped, mode
    ng(core, command="unblock DTMF", **ids)
    ng(core, command="block DTMF", **{"call-id": "c"})
    assert _dropped(core, "a")[0] == (101,) and _dropped(core, "b")[0] == (96,)
    ng(core, command="unblock DTMF", **ids)  # (the call's block stays)
    assert _dropped(core, "a")[0] == (101,)
    ng(core, command="unblock DTMF", **{"call-id": "c"})
    assert _dropped(core, "a")[0] == () and _dropped(core, "b")[0] == ()
    core.shutdown()


def test_apply_reports_only_streams_that_change():
    media = CallMedia(index=1, type="audio", protocol="RTP/AVP",
                      rtpmaps={"0": "PCMU/8000", "101": "telephone-event/8000",
                               "102": "TELEPHONE-EVENT/16000"})
    stream = Stream(interface=None, port=2000)  # type: ignore[arg-type]
    media.streams = [stream]
    party = Monologue(tag="a", created=0.0)
    party.medias = [media]
    call = Call(call_id="c", created=0.0, last_signal=0.0, monologues=[party])
    updated: list[Stream] = []
    dtmf_block.apply(call, updated.append)
    assert updated == [] and stream.dropped_types == ()
    party.block_dtmf = True
    dtmf_block.apply(call, updated.append)
    dtmf_block.apply(call, updated.append)
    assert updated == [stream] and stream.dropped_types == (101, 102)


def _guards(core, tag: str) -> list:
    return _of_streams(core, tag, "guard")


def test_a_delay_buffer_gives_the_rtp_streams_a_guard_through_reinvites():
    """``delay-buffer``: the party's RTP streams hold what comes (``dtmf_guard``), with the
    mode, the settings and the payload types of both sides; the events are not dropped
    then; a trigger waiting for its keys (no block yet) keeps the guard through a
    re-INVITE; ``unblock DTMF`` with ``delay-buffer: 0`` ends it."""
    core, ids = _call()
    assert ng(core, command="block DTMF", **ids, **{
        "DTMF-security": "tone", "delay-buffer": 20, "frequency": 1000, "volume": -20,
        "DTMF-delay": 60})["result"] == "ok"
    rtp, rtcp = _guards(core, "a")
    assert rtcp is None and _dropped(core, "a") == [(), ()]
    spec = dtmf_block.GuardSpec(*rtp)
    assert (spec.mode, spec.delay, spec.dtmf_delay, spec.frequency, spec.volume) == (
        "tone", 20, 60, 1000, 20)
    assert spec.events_in == (101,) and spec.laws_in == ((0, "PCMU"),) and spec.sink_te == 96
    ng(core, command="block DTMF", **ids, **{"trigger": "##", "DTMF-security-trigger": "zero",
                                              "delay-buffer": 1})
    assert not core.calls.calls["c"].monologues[0].block_dtmf  # (waiting for the keys)
    ng(core, command="offer", **ids, sdp=_sdp(2002, 100))
    ng(core, command="answer", **ids, **{"to-tag": "b"}, sdp=_sdp(3000, 96, "192.0.2.20"))
    spec = dtmf_block.GuardSpec(*_guards(core, "a")[0])
    assert (spec.mode, spec.trigger, spec.trigger_mode, spec.events_in) == (
        "off", "##", "zero", (100,))
    ng(core, command="unblock DTMF", **ids, **{"delay-buffer": 0})
    assert _guards(core, "a") == [None, None]
    core.shutdown()


def _detect(core, tag: str) -> list:
    return _of_streams(core, tag, "detect")


def test_detect_dtmf_reads_the_partys_g711_audio_and_names_the_receivers_event_type():
    core, ids = _call()
    assert _detect(core, "a") == [None, None]
    # (an unblock sets it only with a delay, as 10.5; a block with a mode that replaces)
    ng(core, command="unblock DTMF", **ids, flags=["detect DTMF"])
    assert _detect(core, "a") == [None, None]
    ng(core, command="unblock DTMF", **ids, flags=["detect DTMF"], **{"delay-buffer": 0})
    assert _detect(core, "a") == [(((0, "PCMU"),), 96), None]  # (RTP only; B's type 96)
    assert _detect(core, "b") == [None, None]
    # behind a delay buffer the buffer's own detector reads the tones: no second one
    ng(core, command="block DTMF", **ids, flags=["detect DTMF"],
       **{"DTMF-security": "tone", "delay-buffer": 20})
    call = core.calls.calls["c"]
    assert _detect(core, "a") == [None, None] and call.monologues[0].detect_dtmf
    ng(core, command="unblock DTMF", **ids, **{"delay-buffer": 0})  # (the flag not given)
    assert _detect(core, "a") == [None, None] and not call.monologues[0].detect_dtmf
    core.shutdown()


def test_detect_spec_without_g711_audio_or_receiver_events():
    media = CallMedia(index=1, type="audio", protocol="RTP/AVP", formats=["8", "9"],
                      rtpmaps={"8": "PCMA/8000", "9": "G722/8000"})
    sink = CallMedia(index=1, type="audio", protocol="RTP/AVP", formats=["0", "96"],
                     rtpmaps={"0": "PCMU/8000", "96": "telephone-event/48000"})
    assert dtmf_block.detect_spec(media, sink) == (((8, "PCMA"),), -1)  # (no 8 kHz events)
    opus = CallMedia(index=1, type="audio", protocol="RTP/AVP", formats=["96"],
                     rtpmaps={"96": "opus/48000/2"})
    assert dtmf_block.detect_spec(opus, sink) is None  # (nothing in G.711 to read)
