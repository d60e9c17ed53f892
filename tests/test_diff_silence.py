"""Differential: ``--silence-detect`` and ``--cn-payload`` beside rtpengine 10.5.

Towards a party whose comfort noise the relay makes (a CN our offer added that the answerer
took, or a CN the offerer accepted or got by ``always transcode``), a frame of silence goes
out as a CN packet carrying ``--cn-payload``; audio above the level, and every frame
towards a party whose CN is its own, passes as audio. Both daemons run with the same
options; what each party receives is compared byte for byte (``media_exchange``).
"""

from __future__ import annotations

import pytest
from differential import DaemonPair, media_exchange

from rtpengined.config import ConfigError, parse_args, silence_threshold

SILENT_U = b"\xff" * 160  # µ-law 0
SILENT_A = b"\xd5" * 160  # A-law 0
LOUD = bytes(range(160))
QUIET_U = b"\xce" * 160  # µ-law 988: silence at 2.5 % (1638), not at 1 % (655)
# The second sample far below zero: 10.5 checks the lower bound on it alone, so not silence.
SECOND_LOUD = b"\xff\x10" + b"\xff" * 158
# Far below zero elsewhere: the lower bound is not checked there, so silence (10.5).
OTHER_LOUD = b"\xff\xff\x10" + b"\xff" * 157


@pytest.fixture(scope="module", params=[["--silence-detect=1"],
                                        ["--silence-detect=2.5", "--cn-payload=40"]],
                ids=["1 %", "2.5 %, payload 40"])
def pair(request):
    daemons = DaemonPair(list(request.param), ranges=((26000, 26999), (27000, 27999)))
    yield daemons
    daemons.stop()


def _from_a(pt: int, payloads: list[bytes]) -> list[tuple]:
    return [("A", pt, 1000 + i, 3000 + 160 * i, 0x1234, payload)
            for i, payload in enumerate(payloads)]


def _from_b(pt: int, payloads: list[bytes]) -> list[tuple]:
    return [("B", pt, 2000 + i, 8000 + 160 * i, 0x5678, payload)
            for i, payload in enumerate(payloads)]


AUDIO = [LOUD, SILENT_U, SILENT_U, LOUD, QUIET_U, SECOND_LOUD, OTHER_LOUD, SILENT_U]
MEDIA = {
    # our offer adds CN, the answerer takes it: A's silence reaches B as CN
    "transcode CN, answer takes it": ({"codec": {"transcode": ["CN"]}}, "0", "0 13",
                                      _from_a(0, AUDIO) + _from_b(0, AUDIO)),
    # the offerer's own CN, accepted: B's silence reaches A as CN
    "always transcode, offerer has CN": ({"flags": ["always transcode"]}, "0 13", "0",
                                         _from_b(0, AUDIO) + _from_a(0, AUDIO)),
    "consume CN": ({"codec": {"consume": ["CN"]}}, "8 13", "8",
                   _from_b(8, [LOUD, SILENT_A, SILENT_A, LOUD])),
    # a CN that is the parties' own: nothing is made
    "CN of both parties": ({}, "0 13", "0 13", _from_a(0, AUDIO)),
}


@pytest.mark.parametrize("name", list(MEDIA))
def test_silence_goes_out_as_comfort_noise_as_rtpengine(pair, name):
    options, a_formats, b_formats, packets = MEDIA[name]
    call_id = f"silence-{name}".replace(" ", "_")
    want = media_exchange(pair.reference, call_id, a_formats, b_formats, packets, options)
    have = media_exchange(pair.ours, call_id, a_formats, b_formats, packets, options)
    assert have == want
    if name != "CN of both parties":
        assert any(got and got[0][0] & 0x7F == 13 for got in have)  # some CN was made


def test_silence_options_are_read_and_checked():
    config = parse_args(["--silence-detect=1", "--cn-payload=40", "--cn-payload=1"])
    assert config.silence_detect == 1.0 and config.cn_payload == [40, 1]
    assert silence_threshold(config) == 655  # (10.5: 1 % of the 32-bit range, >> 16)
    assert silence_threshold(parse_args([])) == 0
    assert parse_args([]).cn_payload == [32]
    for bad in (["--cn-payload=128"], ["--cn-payload=1", "--cn-payload=255"],
                ["--silence-detect=101"]):
        with pytest.raises(ConfigError):
            parse_args(bad)
