"""Differential: ``block DTMF`` / ``unblock DTMF`` on the media, packets compared with
rtpengine 10.5's byte for byte over loopback sockets.

A blocked party's RFC 4733 telephone-event packets go nowhere in the default mode
(``drop``), with ``off`` and with a mode name 10.5 does not know; its audio passes as it
came, in-band tones included, without renumbering (no delay buffer). ``zero`` and
``DTMF`` pass the events (10.5 restamps them, which we do not copy). A block on the call covers both parties; a party's unblock does
not lift it, a call's unblock lifts a party's only with ``all``. ``silence``, ``tone`` and
``random`` are a deliberate difference: 10.5 turns each event into the key's tones, we drop
it (``dtmf_block``).
"""

from __future__ import annotations

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    media_exchange,
)

from rtpengined.media import dtmf, g711

TE = "a=rtpmap:101 telephone-event/8000"
SILENCE = b"\xff" * 160


def _event(code: int, end: bool, duration: int) -> bytes:
    return dtmf.event_payload(code, 10, end, duration)


def _tone(code: int, offset: int) -> bytes:
    return bytes(g711.linear_to_ulaw(s) for s in dtmf.tone(code, 10, offset, 160))


def _a(pt: int, seq: int, payload: bytes, marker: bool = False, ts: int | None = None) -> tuple:
    return ("A", pt | (0x80 if marker else 0), seq, 160 * seq if ts is None else ts, 0x1234,
            payload)


def _b(pt: int, seq: int, payload: bytes, marker: bool = False, ts: int | None = None) -> tuple:
    return ("B", pt | (0x80 if marker else 0), seq, 160 * seq if ts is None else ts, 0x4321,
            payload)


# A's key 5 as events (one timestamp), audio after it, then the key as in-band tones
KEY_FROM_A = [_a(101, 3, _event(5, False, 160), True), _a(101, 4, _event(5, True, 320), ts=480),
              _a(0, 5, SILENCE), _a(0, 6, _tone(3, 0)), _a(0, 7, _tone(3, 160))]


def _block(**extra) -> dict:
    return {"command": "block DTMF", **extra}


def _unblock(**extra) -> dict:
    return {"command": "unblock DTMF", **extra}


SCENARIOS = {
    "default mode drops the party's events": [_block(**{"from-tag": "A"}), *KEY_FROM_A],
    "drop named": [_block(**{"from-tag": "A", "DTMF-security": "drop"}), *KEY_FROM_A],
    "off drops too": [_block(**{"from-tag": "A", "DTMF-security": "off"}), *KEY_FROM_A],
    "an unknown mode drops": [_block(**{"from-tag": "A", "DTMF-security": "foo"}), *KEY_FROM_A],
    "the other party's events pass": [_block(**{"from-tag": "A"}),
                                      _b(101, 3, _event(6, False, 160), True),
                                      _b(101, 4, _event(6, True, 320), ts=480)],
    "a call block covers both": [_block(), _a(101, 3, _event(5, False, 160), True),
                                 _b(101, 3, _event(6, False, 160), True), _a(0, 4, SILENCE)],
    "a party's unblock leaves the call's": [_block(), _unblock(**{"from-tag": "A"}),
                                            _a(101, 3, _event(5, False, 160), True)],
    "a call's unblock leaves the party's": [_block(**{"from-tag": "A"}), _unblock(),
                                            _a(101, 3, _event(5, False, 160), True)],
    "a call's unblock with all lifts it": [_block(**{"from-tag": "A"}),
                                           _unblock(flags=["all"]),
                                           _a(101, 3, _event(5, False, 160), True)],
    "unblocked, events pass again": [_block(**{"from-tag": "A"}),
                                     _a(101, 3, _event(5, False, 160), True),
                                     _unblock(**{"from-tag": "A"}),
                                     _a(101, 4, _event(7, False, 160), True), _a(0, 5, SILENCE)],
    "an unknown party": [_block(**{"from-tag": "X"}), _a(101, 3, _event(5, False, 160), True)],
}


def _run(daemon, name: str, steps: list) -> list:
    first = [_a(0, 1, SILENCE), _b(0, 1, SILENCE), _a(0, 2, SILENCE)]
    return media_exchange(daemon, f"dtmfblock-{name}".replace(" ", "_"), "0 101", "0 101",
                          first + steps, a_attributes=(TE,), b_attributes=(TE,))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_block_dtmf_as_rtpengine(default_pair, name):
    want = _run(default_pair.reference, name, SCENARIOS[name])
    have = _run(default_pair.ours, name, SCENARIOS[name])
    assert have == want


@pytest.mark.parametrize("mode", ["silence", "tone", "random"])
def test_modes_that_render_tones_in_10_5_drop_the_events_here(default_pair, mode):
    """The deliberate difference: 10.5 sends the blocked key on as its tones; we drop the
    events, and everything else (audio, in-band tones) goes as 10.5 sends it."""
    steps = [_block(**{"from-tag": "A", "DTMF-security": mode}), *KEY_FROM_A]
    want = _run(default_pair.reference, f"tones-{mode}", steps)
    have = _run(default_pair.ours, f"tones-{mode}", steps)
    assert want[4] and want[4][0][0] == 0  # 10.5: the event as audio (payload type 0)
    assert have[4] == [] and have[5] == []  # ours: the events go nowhere
    assert have[:4] == want[:4] and have[6:] == want[6:]  # the audio around them as 10.5's


@pytest.mark.parametrize("mode", ["zero", "DTMF"])
def test_modes_that_pass_the_events(default_pair, mode):
    """The events go on as they came, as in 10.5, but for the timestamps: 10.5 (without a
    delay buffer) sends the events with RTP timestamp 0 and moves the audio after them by
    two frames, which we take for a defect and do not copy (we pass them untouched)."""
    steps = [_block(**{"from-tag": "A", "DTMF-security": mode}), *KEY_FROM_A]
    want = _run(default_pair.reference, f"pass-{mode}", steps)
    have = _run(default_pair.ours, f"pass-{mode}", steps)
    assert [[p[2] for p in packets] for packets in want[4:]] == [[0], [0], [1120], [1280], [1440]]
    assert [[p[2] for p in packets] for packets in have[4:]] == [[480], [480], [800], [960], [1120]]

    def untimed(replies: list) -> list:
        return [[p[:2] + p[3:] for p in r] if isinstance(r, list) else r for r in replies]

    assert untimed(have) == untimed(want)
