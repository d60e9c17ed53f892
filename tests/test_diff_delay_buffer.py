"""Differential: ``block DTMF`` behind a delay buffer (``delay-buffer``, ``DTMF-delay``,
triggers), packets compared with rtpengine 10.5's byte for byte over loopback sockets.

With a delay buffer the blocked party's DTMF is replaced in its audio: in-band tones (found
by the DTMF detector) and telephone-event packets alike, including the audio just around
the key, as the block mode says (``tone``, ``silence``, ``zero``, ``DTMF``); ``DTMF-delay``
replaces a key by silence and plays it again later; a ``trigger`` switches the mode on. A
1 ms buffer keeps each scenario's packets in step with what is sent (``media_exchange``
reads what one packet makes); the longer buffer's timing is checked on our daemon alone.
"""

from __future__ import annotations

import struct
import time

import pytest
from differential import (
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    loopback_call,
    media_exchange,
)

from rtpengined.media import dtmf, g711

TE = "a=rtpmap:101 telephone-event/8000"
SILENCE = b"\xff" * 160
LOUD = b"\x00" * 160  # (µ-law 0x00: the loudest negative sample, as rtpengine's suite sends)


def _event(code: int, end: bool, duration: int) -> bytes:
    return dtmf.event_payload(code, 10, end, duration)


def _keytone(code: int, frame: int) -> bytes:
    return bytes(g711.linear_to_ulaw(s) for s in dtmf.tone(code, 10, frame * 160, 160))


def _a(pt: int, seq: int, payload: bytes, marker: bool = False, ts: int | None = None) -> tuple:
    return ("A", pt | (0x80 if marker else 0), seq, 160 * seq if ts is None else ts, 0x1234,
            payload)


def _block(**extra) -> dict:
    return {"command": "block DTMF", "from-tag": "A", **extra}


def _audio(first: int, count: int, payload: bytes = LOUD) -> list:
    return [_a(0, seq, payload) for seq in range(first, first + count)]


def _in_band(first: int, code: int, frames: int) -> list:
    """A key as in-band tones from sequence number ``first`` on."""
    return [_a(0, first + n, _keytone(code, n)) for n in range(frames)]


def _events(first: int, code: int, frames: int) -> list:
    """A key as telephone-event packets (one timestamp, the end on the last)."""
    return [_a(101, first + n, _event(code, n == frames - 1, 160 * (n + 1)), n == 0,
               ts=160 * first) for n in range(frames)]


# (A's formats and attributes, B's, offer options, the steps after two frames each way)
SCENARIOS = {
    "tone replaces in-band DTMF": (
        "0", (), "0", (), {},
        [_block(**{"DTMF-security": "tone", "delay-buffer": 1}), *_audio(3, 2),
         *_in_band(5, 5, 4), *_audio(9, 4)]),
    "silence replaces in-band DTMF": (
        "0", (), "0", (), {},
        [_block(**{"DTMF-security": "silence", "delay-buffer": 1}), *_audio(3, 2),
         *_in_band(5, 1, 4), *_audio(9, 4)]),
    "zero plays the tones of 0 over in-band DTMF": (
        "0", (), "0", (), {},
        [_block(**{"DTMF-security": "zero", "delay-buffer": 1}), *_audio(3, 2),
         *_in_band(5, 7, 4), *_audio(9, 4)]),
    "DTMF plays the digit's tones": (
        "0", (), "0", (), {},
        [_block(**{"DTMF-security": "DTMF", "digit": "9", "delay-buffer": 1}), *_audio(3, 2),
         *_in_band(5, 2, 4), *_audio(9, 4)]),
    "tone with frequency and volume": (
        "0", (), "0", (), {},
        [_block(**{"DTMF-security": "tone", "frequency": 1000, "volume": -20,
                   "delay-buffer": 1}), *_audio(3, 2), *_in_band(5, 5, 4), *_audio(9, 3)]),
    "tone replaces telephone-events": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"DTMF-security": "tone", "delay-buffer": 1}), *_audio(3, 2),
         *_events(5, 5, 3), *_audio(8, 3)]),
    "zero replaces the key of telephone-events": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"DTMF-security": "zero", "delay-buffer": 1}), *_audio(3, 2),
         *_events(5, 5, 3), *_audio(8, 3)]),
    "tone into the other law": (
        "0", (), "8", (), {"codec": {"transcode": ["PCMA"]}},
        [_block(**{"DTMF-security": "tone", "delay-buffer": 1}), *_audio(3, 2),
         *_in_band(5, 5, 4), *_audio(9, 4)]),
    "DTMF-delay plays telephone-events again later": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"trigger": "##", "trigger-end": "#", "DTMF-security-trigger": "silence",
                   "delay-buffer": 1, "DTMF-delay": 60}), *_audio(3, 2),
         *_events(5, 5, 3), *_audio(8, 6)]),
    "DTMF-delay plays in-band DTMF again later": (
        "0", (), "0", (), {},
        [_block(**{"trigger": "##", "trigger-end": "#", "DTMF-security-trigger": "silence",
                   "delay-buffer": 1, "DTMF-delay": 60}), *_audio(3, 2),
         *_in_band(5, 5, 4), *_audio(9, 7)]),
    # (the packet completing the trigger passes as before; the key's rest is decoded whole)
    "a trigger switches the mode on": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"trigger": "##", "DTMF-security-trigger": "tone", "delay-buffer": 1}),
         *_audio(3, 2), *_events(5, 11, 2), *_audio(7, 2), *_events(9, 11, 2), *_audio(11, 1)]),
    # (after the switch 10.5's new decoders decode the key again from its start, which
    # moves the numbering on by a frame; audio after a key is decided from the first packet
    # the new handlers got)
    "keys after a trigger, passing before it": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"trigger": "##", "DTMF-security-trigger": "tone", "delay-buffer": 1}),
         *_audio(3, 2), *_events(5, 11, 2), *_audio(7, 2), *_events(9, 11, 2), *_audio(11, 4),
         *_events(15, 1, 3), *_audio(18, 4), *_events(22, 2, 2), *_audio(24, 3)]),
    "keys after a trigger and its end, with DTMF-delay": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"trigger": "##", "trigger-end": "#", "DTMF-security-trigger": "tone",
                   "delay-buffer": 1, "DTMF-delay": 100}),
         *_audio(3, 2), *_events(5, 11, 2), *_audio(7, 2), *_events(9, 11, 2), *_audio(11, 3),
         *_events(14, 1, 2), *_audio(16, 3), *_events(19, 11, 2), *_audio(21, 8)]),
    "trigger-end-digits ends the mode after that many keys": (
        "0 101", (TE,), "0 101", (TE,), {},
        [_block(**{"trigger": "##", "trigger-end": "*", "trigger-end-digits": 2,
                   "DTMF-security-trigger": "tone", "delay-buffer": 1, "DTMF-delay": 60}),
         *_audio(3, 1), *_events(4, 11, 2), *_audio(6, 1), *_events(7, 11, 2), *_audio(9, 4),
         *_events(13, 1, 2), *_audio(15, 4), *_events(19, 2, 2), *_audio(21, 4),
         *_events(25, 3, 2), *_audio(27, 5)]),
    "unblocked, audio passes again": (
        "0", (), "0", (), {},
        [_block(**{"DTMF-security": "tone", "delay-buffer": 1}), *_audio(3, 2),
         {"command": "unblock DTMF", "from-tag": "A"}, *_in_band(5, 5, 4), *_audio(9, 2)]),
}


def _run(daemon, name: str, scenario: tuple) -> list:
    a_formats, a_attributes, b_formats, b_attributes, options, steps = scenario
    first = [_a(0, 1, LOUD), _a(0, 2, LOUD)]
    return media_exchange(daemon, f"delaybuffer-{name}".replace(" ", "_"), a_formats,
                          b_formats, first + steps, offer_options=options,
                          a_attributes=a_attributes, b_attributes=b_attributes)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_delay_buffer_as_rtpengine(default_pair, name):
    """10.5 on a loaded host now and then numbers one packet behind a delay buffer one
    lower than its neighbours (seen: the packet after the ``block DTMF`` numbered as the
    one before it; with a pause after the command, another one; or a tone's last frame
    made otherwise), a race of its own: its output differs from its own next run of the
    same scenario (measured under two busy loops: 1 run in 15 of one scenario; ours gave
    the same output all 15 times). So where ours differs, the scenario runs on 10.5 again,
    up to three times, and ours must equal one of those runs."""
    want = _run(default_pair.reference, name, SCENARIOS[name])
    have = _run(default_pair.ours, name, SCENARIOS[name])
    for attempt in range(3):
        if have == want:
            break
        want = _run(default_pair.reference, f"{name} again {attempt}", SCENARIOS[name])
    assert have == want


def test_a_longer_buffer_holds_the_audio_and_replaces_before_the_key(default_pair):
    """``delay-buffer: 100``: nothing comes out for 100 ms, then the audio in order, the
    frames up to 100 ms before the in-band key already replaced; an unblock with
    ``delay-buffer: 0`` sends what is held at once."""
    daemon = default_pair.ours
    call_id = "delaybuffer-long"
    with loopback_call(daemon, call_id, "0", "0") as (sockets, port, _):
        ids = {"call-id": call_id, "from-tag": "A"}
        assert daemon.request({**ids, "command": "block DTMF", "DTMF-security": "tone",
                               "delay-buffer": 100})["result"] == "ok"
        frames = [LOUD] * 5 + [_keytone(5, n) for n in range(4)] + [LOUD] * 3
        sent = time.monotonic()
        for seq, payload in enumerate(frames):
            sockets["A"].sendto(struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0x1234)
                                + payload, ("127.0.0.1", port))
            if seq < 5:  # (the key and what follows at once: it is found while the audio
                time.sleep(0.02)  # before it waits at least 80 ms more, even on a busy host)
        sockets["B"].settimeout(1)
        first = sockets["B"].recv(2048)
        assert time.monotonic() - sent >= 0.09  # (held for its 100 ms)
        assert struct.unpack("!H", first[2:4])[0] == 0 and first[12:] == LOUD
        time.sleep(0.05)
        assert daemon.request({**ids, "command": "unblock DTMF",
                               "delay-buffer": 0})["result"] == "ok"
        got = [first, *burst(sockets["B"], 0.3, 0.3)]
        assert [struct.unpack("!H", p[2:4])[0] for p in got] == list(range(len(frames)))
        replaced = [n for n, p in enumerate(got) if p[12:] not in (LOUD, frames[n])]
        # (the key starts at frame 5: frames from 100 ms before it on are the tone)
        assert replaced and replaced[0] < 5 and all(p[12:13] == b"\xff" for p in
                                                   (got[n] for n in replaced))
