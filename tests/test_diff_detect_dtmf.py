"""Differential: audio DTMF detection without a delay buffer (the CLI's ``call ID tag TAG
detect-dtmf 1``, ``unblock DTMF`` with the ``detect DTMF`` flag), compared with rtpengine
10.5 over loopback sockets: the packets the other party gets, byte for byte, and the lines
``--dtmf-log-dest`` gets.

10.5 then reads the party's G.711 tones with its DTMF detector: each key is logged, and
towards a party that takes telephone-event the key goes out as RFC 4733 events in place of
its tones (under the party's own SSRC, numbered on); towards one that does not, the audio
goes on as it came.
"""

from __future__ import annotations

import struct

import pytest
from differential import burst, cli, loopback_call, start_ours, start_reference
from test_diff_dtmf import _tone_frames
from test_diff_dtmf_log import _comparable, _logging

TE8 = ("a=rtpmap:101 telephone-event/8000",)
QUIET = b"\xff" * 160


def _key(code: int) -> list[bytes]:
    """Two frames of silence, a key's tones for four, five of silence (A's, in PCMU)."""
    return [QUIET] * 2 + _tone_frames(code, 10, 4) + [QUIET] * 5


SCENARIOS = {
    # (B's formats, the command that turns detection on, the frames A sends after it,
    # the command after those and the frames after it)
    "CLI, towards a party without telephone-event": (
        "0", "cli:detect-dtmf 1", _key(5), None, []),
    "CLI, towards a party that takes telephone-event": (
        "0 101", "cli:detect-dtmf 1", _key(9), None, []),
    "CLI, detection turned off again": (
        "0 101", "cli:detect-dtmf 1", _key(1), "cli:detect-dtmf 0", _key(2)),
    "unblock DTMF with detect DTMF and a delay of 0": (
        "0 101", {"command": "unblock DTMF", "from-tag": "A", "delay-buffer": 0,
                  "flags": ["detect DTMF"]}, _key(3), None, []),
    "unblock DTMF without a delay leaves it off": (
        "0 101", {"command": "unblock DTMF", "from-tag": "A", "flags": ["detect DTMF"]},
        _key(3), None, []),
}


def _run(daemon, lines, name: str) -> tuple[list, list, list]:
    b_formats, turn_on, frames, then, more = SCENARIOS[name]
    a_formats = "0 101" if "101" in b_formats else "0"
    with loopback_call(daemon, "detect", a_formats, b_formats,
                       a_attributes=TE8 if "101" in a_formats else (),
                       b_attributes=TE8 if "101" in b_formats else ()) as (parties, to_b, _):
        seq = 0
        got, replies = [], []

        def send(payload: bytes) -> None:
            nonlocal seq
            parties["A"].sendto(struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0x1234)
                                + payload, ("127.0.0.1", to_b))
            seq += 1
            got.append(burst(parties["B"]))

        def command(step) -> None:
            if isinstance(step, str):
                replies.append(cli(daemon, f"call detect tag A {step[4:]}"))
            else:
                replies.append(daemon.request({"call-id": "detect", **step}).get("result"))

        send(QUIET)
        send(QUIET)
        command(turn_on)
        for payload in frames:
            send(payload)
        if then is not None:
            command(then)
            for payload in more:
                send(payload)
    return got, _comparable(lines()), replies


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_audio_dtmf_detection_as_rtpengine(name):
    with _logging(start_reference) as (daemon, lines):
        want = _run(daemon, lines, name)
    with _logging(start_ours) as (daemon, lines):
        have = _run(daemon, lines, name)
    assert have == want
    if "leaves it off" not in name:
        assert want[1], "10.5 logged nothing: the scenario tests nothing"
