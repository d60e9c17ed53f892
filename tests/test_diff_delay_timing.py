"""Differential: the release timing of a ``block DTMF`` delay buffer, on both daemons.

rtpengine's ``t/auto-daemon-tests-delay-timing.pl`` (tag mr10.5.3.5; it runs only on its
author's host) sends audio every 20 ms into a ``block DTMF`` with a trigger and a 2 s
``delay-buffer``, then telephone-events (not the trigger: they pass) and more audio, and
checks that every packet comes out unchanged and the buffer's length after it was sent,
within 10 ms; once plain, once with ``inject DTMF`` (the transcoding path: a new SSRC).
The same here with a 200 ms buffer: the packets alike on both daemons, and each daemon's
delays around 200 ms (``test_diff_delay_buffer`` compares the packets with a 1 ms buffer;
this is the timing of a long one, against 10.5's).
"""

from __future__ import annotations

import statistics
import struct
import time

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    loopback_call,
)

from rtpengined.media import dtmf

TE = ("a=rtpmap:101 telephone-event/8000",)
AUDIO = b"\x00" * 160
DELAY = 0.2
SEQ, TS = 1000, 3000


def _plan() -> list[tuple[int, int, int, bytes]]:
    """(marker and pt, seq, ts, payload), one every 20 ms, numbered as the suite numbers
    them (from 1000, timestamps from 3000): 20 audio frames, a ``5`` as nine events and its
    end three times (one timestamp), 10 audio frames."""
    plan = [(0, SEQ + n, TS + 160 * n, AUDIO) for n in range(20)]
    for n in range(12):
        end = n >= 9
        plan.append((101 | (0x80 if n == 0 else 0), SEQ + 20 + n, TS + 160 * 20,
                     dtmf.event_payload(5, 10, end, 160 * min(n + 1, 10))))
    plan += [(0, SEQ + n, TS + 160 * n, AUDIO) for n in range(32, 42)]
    return plan


def _run(daemon, call_id: str, flags: list[str]) -> tuple[list, list[float]]:
    """What B receives (marker and pt, seq, ts, payload, SSRC kept?) and each packet's
    time from A's sending it to B's receiving it."""
    options = {"flags": flags} if flags else {}
    with loopback_call(daemon, call_id, "0 101", "0 101", options, options, TE, TE) as (
            sockets, port, _):
        reply = daemon.request({"command": "block DTMF", "call-id": call_id, "from-tag": "A",
                                "trigger": "##", "trigger-end": "#",
                                "DTMF-security-trigger": "silence",
                                "delay-buffer": int(DELAY * 1000)})
        assert reply["result"] == "ok"
        a, b = sockets["A"], sockets["B"]
        b.setblocking(False)
        plan = _plan()
        sent: dict[int, float] = {}
        got: list = []
        delays: list[float] = []
        start = time.monotonic()
        index = 0
        end = start + 0.02 * len(plan) + DELAY + 0.3
        while time.monotonic() < end:
            now = time.monotonic()
            while index < len(plan) and start + 0.02 * index <= now:
                pt, seq, ts, payload = plan[index]
                sent[seq] = time.monotonic()
                a.sendto(struct.pack("!BBHII", 0x80, pt, seq, ts, 0x1234) + payload,
                         ("127.0.0.1", port))
                index += 1
            try:
                data = b.recv(2048)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            pt, seq, ts, ssrc = struct.unpack("!xBHII", data[:12])
            got.append((pt, seq, ts, data[12:], ssrc == 0x1234))
            if seq in sent:
                delays.append(time.monotonic() - sent[seq])
        return got, delays


@pytest.mark.parametrize("flags", [[], ["inject DTMF"]], ids=["plain", "inject-DTMF"])
def test_a_long_delay_buffer_releases_on_time_as_rtpengine(default_pair, flags):
    want, want_delays = _run(default_pair.reference, "delay-timing", flags)
    have, have_delays = _run(default_pair.ours, "delay-timing", flags)
    assert have == want
    # (every packet, in order; with ``inject DTMF`` the audio after the key is stamped on
    # from the key's end, 1600 where it was sent 1920 on: 10.5's encoder clock)
    assert [(pt, seq) for pt, seq, *_ in want] == [(pt, seq) for pt, seq, _, _ in _plan()]
    for delays in (want_delays, have_delays):
        # (the suite: each within 10 ms; here the median within 15 ms and no packet out
        # more than 60 ms early, a busy shared host being no timing lab: 10.5 ran 14 ms
        # late for a stretch of its suite once, and load can only make a packet late; a
        # buffer not holding, or holding twice, is far off either way)
        assert abs(statistics.median(delays) - DELAY) < 0.015, delays
        assert all(d > DELAY - 0.06 for d in delays), delays
