"""Differential: ``play DTMF`` into a call set up with ``inject DTMF``, packets compared with
rtpengine 10.5's byte for byte over loopback sockets.

Towards a party that takes telephone-event: RFC 4733 events (marker, the start timestamp
on every packet, the duration counting up, the end packet three times, sequence numbers
going on); towards one that does not: the key's tone in its G.711 codec, sample for sample,
then silence for the pause. Queued events follow each other on the frames' timestamps.
Plus ``play DTMF``'s answers: before the party sent anything, a bad code, no inject flag.
"""

from __future__ import annotations

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    media_exchange,
)

TE = "a=rtpmap:96 telephone-event/8000"


def _run(daemon, call_id: str, a_formats: str, b_formats: str, steps: list,
         offer_options: dict | None = None, flags: tuple = ("inject DTMF",)) -> list:
    """A offers, B answers (both with ``flags``, telephone-event as 96 where named); each
    step is a packet A sends (its seq, in the offer's first codec; (seq, pt) names another),
    or a ``play DTMF`` message (``media_exchange`` notes its result)."""
    packets = []
    for step in steps:
        if isinstance(step, dict):
            packets.append({"command": "play DTMF", **step})
            continue
        seq, pt = step if isinstance(step, tuple) else (step, int(a_formats.split()[0]))
        packets.append(("A", pt, seq, 160 * seq, 0x1234, b"\x00" * 160))
    return media_exchange(daemon, call_id, a_formats, b_formats, packets,
                          {"flags": list(flags), **(offer_options or {})},
                          {"flags": list(flags)},
                          (TE,) if " 96" in a_formats else (), (TE,) if " 96" in b_formats else ())


def _press(code, **extra) -> dict:
    return {"from-tag": "A", "code": code, **extra}


SCENARIOS = {
    # RFC 4733 towards B: one event of 100 ms, then two queued, one with the defaults
    "events": ("0 8 96", "0 8 96", [1, 2, _press("0", volume=10, duration=100), *range(3, 12),
                                    _press("5"), _press(9, volume=3, duration=150, pause=200),
                                    *range(12, 52)]),
    # a tone towards B (no telephone-event): sample-exact ends inside frames
    "tones": ("0 8", "0 8", [1, 2, _press("C", volume=5, duration=120, pause=110),
                             _press("4", volume=3, duration=150, pause=100), *range(3, 20)]),
    "tones in A-law": ("8", "8", [1, _press("#", volume=12, duration=100), *range(2, 9)]),
    # a payload type the party never offered has no conversion to inject into (10.5's error)
    "an unoffered payload type": ("8", "8", [(1, 0), _press("#", duration=100), (2, 8), 3]),
    "tones, transcoded": ("0", "8", [1, _press("D", volume=7, duration=100), *range(2, 9)]),
    "answers": ("0 96", "0 96", [_press("1"), 1, _press("X"), _press(16), _press("12"),
                                 {"from-tag": "B", "code": "1"}, _press("1", duration=50),
                                 *range(2, 8)]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_play_dtmf_as_rtpengine(default_pair, name):
    a_formats, b_formats, steps = SCENARIOS[name]
    options = {"codec": {"transcode": ["PCMA"]}} if "transcoded" in name else None
    want = _run(default_pair.reference, f"dtmf-{name}", a_formats, b_formats, steps, options)
    have = _run(default_pair.ours, f"dtmf-{name}", a_formats, b_formats, steps, options)
    assert have == want


def test_without_inject_dtmf_play_dtmf_is_ok_and_nothing_is_heard(default_pair):
    steps = [1, _press("1", duration=100), *range(2, 9)]
    want = _run(default_pair.reference, "dtmf-noflag", "0 96", "0 96", steps, flags=())
    have = _run(default_pair.ours, "dtmf-noflag", "0 96", "0 96", steps, flags=())
    assert have == want
