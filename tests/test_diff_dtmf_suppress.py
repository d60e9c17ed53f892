"""Differential: the audio a party sends while its telephone-event lasts, in a direction
the relay converts, compared with rtpengine 10.5's packets byte for byte.

Phones often go on sending audio beside the RFC 4733 events of a key. Where 10.5
transcodes a direction it drops that audio from the event's first packet to its end (the
receiver gets the event, or its tones, alone, numbered on without a gap), unless the
audio's timestamp is more than 80,000 away from the event's (an end that never came);
``--dtmf-no-suppress`` sends the audio on too. A direction that passes as it came passes
everything. Each scenario runs with and without the option.
"""

from __future__ import annotations

import pytest
from differential import DaemonPair, media_exchange
from test_diff_dtmf import TE, _event

TRANSCODE_PCMA = {"codec": {"transcode": ["PCMA"]}}
QUIET = {0: b"\xff", 8: b"\xd5", 9: b"\x00"}


@pytest.fixture(scope="module", params=[[], ["--dtmf-no-suppress"]],
                ids=["suppressed", "dtmf-no-suppress"])
def pair(request):
    daemons = DaemonPair(request.param, ranges=((29000, 29499), (29500, 29999)))
    yield daemons
    daemons.stop()


def _key_with_audio(sender: str, audio_pt: int, event_pt: int, base: int, ssrc: int,
                    code: int, packets: int, end: bool = True, after: int = 4,
                    first_ts: int = 3000, jump: int = 0) -> list:
    """Two audio packets, a key of ``packets`` event packets (the end three times, when
    ``end``) each followed by audio of the same time, then ``after`` audio packets
    (``jump`` added to their timestamps)."""
    quiet = QUIET[audio_pt] * 160
    steps, seq, ts = [], base, first_ts
    for _ in range(2):
        steps.append((sender, audio_pt, seq, ts, ssrc, quiet))
        seq, ts = seq + 1, ts + 160
    start = ts
    for n in range(packets):
        last = end and n == packets - 1
        for _ in range(3 if last else 1):
            steps.append(_event(sender, event_pt, seq, start, ssrc, code, 160 * (n + 1),
                                end=last))
            seq += 1
        steps.append((sender, audio_pt, seq, ts, ssrc, quiet))
        seq, ts = seq + 1, ts + 160
    for _ in range(after):
        steps.append((sender, audio_pt, seq, ts + jump, ssrc, quiet))
        seq, ts = seq + 1, ts + 160
    return steps


def _two_keys(sender: str, audio_pt: int, base: int, ssrc: int) -> list:
    first = _key_with_audio(sender, audio_pt, 96, base, ssrc, 1, 3, after=2)
    seq, ts = first[-1][2] + 1, first[-1][3] + 160
    return first + _key_with_audio(sender, audio_pt, 96, seq, ssrc, 9, 2, first_ts=ts)


SCENARIOS = {
    # (A's codecs, B's, offer options, answer options, steps)
    "transcoded, the offerer's key": (
        "0 96", "8 96", TRANSCODE_PCMA, {}, _key_with_audio("A", 0, 96, 1000, 0x1234, 5, 4)),
    "transcoded, the answerer's key": (
        "0 96", "8 96", TRANSCODE_PCMA, {}, _key_with_audio("B", 8, 96, 2000, 0x5678, 7, 3)),
    "transcoded, two keys, repeated ends": (
        "0 96", "8 96", TRANSCODE_PCMA, {}, _two_keys("A", 0, 1000, 0x1234)),
    "transcoded into G.722": (
        "0 96", "9 96", {"codec": {"transcode": ["G722"]}}, {},
        _key_with_audio("A", 0, 96, 1000, 0x1234, 2, 3)),
    "transcoded into G.729": (
        "0 96", "18 96", {"codec": {"transcode": ["G729"]}}, {},
        _key_with_audio("A", 0, 96, 1000, 0x1234, 0, 3)),
    "events to tones": (
        "0", "0 96", {"codec": {"transcode": ["telephone-event"]}}, {},
        _key_with_audio("B", 0, 96, 2000, 0x5678, 8, 4)),
    "always transcode": (
        "0 96", "0", {"flags": ["always transcode"]}, {},
        _key_with_audio("A", 0, 96, 1000, 0x1234, 3, 4)),
    "a new packet time": (
        "0 96", "0 96", {"ptime": 30}, {}, _key_with_audio("A", 0, 96, 1000, 0x1234, 4, 5)),
    "an end that never comes, audio far on": (
        "0 96", "8 96", TRANSCODE_PCMA, {},
        _key_with_audio("A", 0, 96, 1000, 0x1234, 6, 3, end=False, jump=90000)),
    "an end that never comes, audio near": (
        "0 96", "8 96", TRANSCODE_PCMA, {},
        _key_with_audio("A", 0, 96, 1000, 0x1234, 6, 3, end=False)),
    "passed as it came": (
        "0 96", "0 96", {}, {}, _key_with_audio("A", 0, 96, 1000, 0x1234, 5, 4)),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_audio_during_a_key_as_rtpengine(pair, name):
    a_formats, b_formats, offer_options, answer_options, steps = SCENARIOS[name]

    def run(daemon):
        return media_exchange(daemon, f"suppress-{name}", a_formats, b_formats, steps,
                              offer_options, answer_options,
                              (TE,) if " 96" in a_formats else (),
                              (TE,) if " 96" in b_formats else ())

    want = run(pair.reference)
    assert run(pair.ours) == want
