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


# -- DTMF between tones and telephone-event (10.5's DTMF transcoding) ----------------------

def _tone_frames(code: int, volume: int, frames: int, law: str = "PCMU") -> list[bytes]:
    """A key's tone as a phone sends it in G.711, ``frames`` frames of 20 ms."""
    from rtpengined.media import dtmf as tones

    encode = tones.ENCODERS[law]
    samples = tones.tone(code, volume, 0, 160 * frames)
    return [bytes(encode(v) for v in samples[i * 160:(i + 1) * 160]) for i in range(frames)]


def _audio(sender: str, pt: int, seqs: range, base: int, ssrc: int, payloads=None) -> list:
    payloads = payloads or [b"\xff" if pt == 0 else b"\xd5"] * len(seqs)
    return [(sender, pt, base + n, 3000 + 160 * n, ssrc,
             payloads[i] if len(payloads[i]) == 160 else payloads[i] * 160)
            for i, n in enumerate(seqs)]


def _event(sender: str, pt: int, seq: int, ts: int, ssrc: int, code: int, duration: int,
           end: bool = False, volume: int = 10) -> tuple:
    return (sender, pt, seq, ts, ssrc,
            bytes((code, (0x80 if end else 0) | volume)) + duration.to_bytes(2, "big"))


def _key_press(sender: str, pt: int, base: int, ssrc: int, code: int, volume: int,
               law: str = "PCMU") -> list:
    """Two frames of silence, a key held for three frames, four of silence."""
    quiet = b"\xff" if law == "PCMU" else b"\xd5"
    payloads = [quiet, quiet, *_tone_frames(code, volume, 3, law), *[quiet] * 4]
    return _audio(sender, pt, range(len(payloads)), base, ssrc, payloads)


def _events_sent(sender: str, pt: int, audio_pt: int, base: int, ssrc: int, code: int,
                 volume: int, packets: int) -> list:
    """Audio, a key as telephone-event (``packets`` packets, the last the end three times),
    audio again."""
    quiet = b"\xff" if audio_pt == 0 else b"\xd5"
    steps = _audio(sender, audio_pt, range(2), base, ssrc, [quiet, quiet])
    start = 3000 + 320
    for n in range(packets):
        last = n == packets - 1
        for repeat in range(3 if last else 1):
            steps.append(_event(sender, pt, base + 2 + n + repeat, start, ssrc, code,
                                160 * (n + 1), end=last, volume=volume))
    tail = base + 2 + packets + 2
    steps += [(sender, audio_pt, tail + n, start + 160 * (packets + n), ssrc, quiet * 160)
              for n in range(3)]
    return steps


TRANSCODE_EVENT = {"codec": {"transcode": ["telephone-event"]}}
INTERWORKING = {
    # upstream 14419 (PCM to RFC DTMF transcoding): A's tones become B's events, B's
    # events become A's tones
    "tones to events": ("0", "0 96", TRANSCODE_EVENT, _key_press("A", 0, 1000, 0x1234, 8, 15)),
    "tones to events, key # and A-law": ("8", "8 96", TRANSCODE_EVENT,
                                         _key_press("A", 8, 1000, 0x1234, 11, 8, "PCMA")),
    "events to tones": ("0", "0 96", TRANSCODE_EVENT,
                        _events_sent("B", 96, 0, 2000, 0x5678, 8, 16, 3)),
    "events to tones, a long key in A-law": ("8", "8 96", TRANSCODE_EVENT,
                                             _events_sent("B", 96, 8, 2000, 0x5678, 5, 12, 6)),
    # upstream 14736 (reverse DTMF transcoding): always transcode, both ways
    "always transcode, events to tones": ("0 96", "0", {"flags": ["always transcode"]},
                                          _events_sent("A", 96, 0, 1000, 0x1234, 3, 10, 4)),
    "always transcode, tones to events": ("0 96", "0", {"flags": ["always transcode"]},
                                          _key_press("B", 0, 2000, 0x5678, 9, 10)),
    "no option: the tones pass as audio": ("0", "0", {}, _key_press("A", 0, 1000, 0x1234, 8, 15)),
}


@pytest.mark.parametrize("name", list(INTERWORKING))
def test_dtmf_between_tones_and_events_as_rtpengine(default_pair, name):
    a_formats, b_formats, options, steps = INTERWORKING[name]

    def run(daemon):
        return media_exchange(daemon, f"dtmfx-{name}", a_formats, b_formats, steps, options,
                              {}, (TE,) if " 96" in a_formats else (),
                              (TE,) if " 96" in b_formats else ())

    want = run(default_pair.reference)
    have = run(default_pair.ours)
    assert have == want
