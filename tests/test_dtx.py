"""DTX handling (``--dtx-delay``) without sockets: the buffer's timer as 10.5's runs, and how a
converted direction numbers and stamps the frames that fill a gap."""

from __future__ import annotations

import struct

from rtpengined.media import transcoding
from rtpengined.media.dtx import DISCARD, FILL, MAX_HELD, PACKET, STOP, DtxBuffer, DtxSettings

SSRC = b"\x00\x00\x56\x78"


def _rtp(seq: int, ts: int, pt: int = 0, samples: int = 160) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, 0x5678) + b"\x40" * samples


def _buffer(**settings) -> DtxBuffer:
    return DtxBuffer(DtxSettings(**{"delay": 0.01, **settings}), 8000, SSRC)


def _kinds(steps) -> list[str]:
    return [kind for kind, _ in steps]


def test_packets_wait_the_delay_then_go_one_per_tick_and_a_gap_is_filled():
    buffer = _buffer()
    assert buffer.push(_rtp(1, 1000), now=10.0, samples=160) is True  # arm the timer
    assert buffer.next_at == 10.01
    assert buffer.push(_rtp(2, 1160), now=10.005, samples=160) is False  # (running)
    assert buffer.tick(10.01) == [(PACKET, _rtp(1, 1000))]
    assert abs(buffer.next_at - 10.03) < 1e-9
    assert buffer.tick(10.03) == [(PACKET, _rtp(2, 1160))]
    assert buffer.tick(10.05) == [(FILL, None)] and buffer.head_ts == 1320
    assert buffer.tick(10.07) == [(FILL, None)] and buffer.head_ts == 1480
    buffer.push(_rtp(3, 1640), now=10.08, samples=160)
    assert buffer.tick(10.09) == [(PACKET, _rtp(3, 1640))]
    assert buffer.audio_type == 0


def test_a_packet_two_frames_ahead_waits_for_its_tick():
    buffer = _buffer()
    buffer.push(_rtp(1, 1000), now=0.0, samples=160)
    buffer.tick(0.01)
    buffer.push(_rtp(3, 1320), now=0.015, samples=160)  # (2 lost)
    assert _kinds(buffer.tick(0.03)) == [FILL]
    assert _kinds(buffer.tick(0.05)) == [PACKET]
    # a jump back, or more than 0.2 s ahead, is a reset: taken at once
    buffer.push(_rtp(4, 9_000_000), now=0.06, samples=160)
    assert _kinds(buffer.tick(0.07)) == [PACKET] and buffer.head_ts == 9_000_000


def test_drift_with_a_shift_moves_the_timer():
    buffer = _buffer(shift=0.005)
    buffer.push(_rtp(1, 1000), now=0.0, samples=160)
    buffer.tick(0.01)
    # late: it waited less than the delay when its tick came -> the timer waits 5 ms
    buffer.push(_rtp(2, 1160), now=0.028, samples=160)
    assert _kinds(buffer.tick(0.03)) == [PACKET]
    assert abs(buffer.next_at - 0.055) < 1e-9
    # a timestamp the timer has passed: dropped, and the timer waits again
    assert _kinds(buffer.tick(0.055)) == [FILL]  # (head 1320)
    buffer.push(_rtp(3, 1320), now=0.056, samples=160)
    buffer.push(_rtp(4, 1480), now=0.057, samples=160)
    steps = buffer.tick(0.075)
    assert _kinds(steps) == [DISCARD, PACKET] and steps[1][1] == _rtp(4, 1480)


def test_an_overflowing_queue_speeds_the_timer_up_or_drops():
    """Six packets at once (100 ms of audio) with --dtx-buffer=3 --dtx-lag=40: a shift
    speeds the timer up; without one, packets are dropped until the queue is in bounds."""
    for shift, expected in ((0.005, [PACKET]), (0.0, [DISCARD, DISCARD, DISCARD, PACKET])):
        buffer = _buffer(shift=shift, buffer=3, lag=0.04)
        for n in range(1, 7):
            buffer.push(_rtp(n, 1000 + 160 * (n - 1)), now=0.0, samples=160)
        steps = buffer.tick(0.01)
        assert _kinds(steps) == expected, shift
        assert abs(buffer.next_at - (0.03 - shift)) < 1e-9


def test_dtmf_events_keep_their_timestamp_and_without_a_shift_the_clock_steps_back():
    buffer = _buffer(shift=0.005)
    event = _rtp(1, 1000, pt=101, samples=4)
    buffer.push(event, now=0.0, dtmf=True)
    buffer.push(_rtp(2, 1000, pt=101, samples=4), now=0.0, dtmf=True)
    assert _kinds(buffer.tick(0.01)) == [PACKET]
    assert _kinds(buffer.tick(0.03)) == [PACKET]  # (same timestamp: not late, an event)
    assert buffer.audio_type is None
    buffer = _buffer(shift=0.0)
    buffer.push(_rtp(1, 1000), now=0.0, samples=160)
    buffer.tick(0.01)
    buffer.push(_rtp(2, 1000), now=0.02, samples=160)  # a repeated timestamp
    assert _kinds(buffer.tick(0.03)) == [PACKET] and buffer.head_ts == 1000 - 160


def test_max_dtx_ends_the_filling_and_stop_gives_back_what_waits():
    buffer = _buffer(max_dtx=1.0)
    buffer.push(_rtp(1, 1000), now=0.0, samples=160)
    buffer.tick(0.01)
    assert _kinds(buffer.tick(0.5)) == [FILL]
    assert buffer.tick(1.0) == [(STOP, None)] and buffer.next_at is None
    assert buffer.push(_rtp(2, 1160), now=2.0, samples=160) is True  # (armed again)
    assert buffer.stop() == [_rtp(2, 1160)] and buffer.next_at is None


def test_filled_frames_are_numbered_and_stamped_on_between_the_packets():
    direction = transcoding.Direction()
    conversions = {0: (8, None, 160)}  # PCMU as it is, framed anew (the table path)
    direction.rewrite(_rtp(2000, 4000), conversions)
    direction.rewrite(_rtp(2001, 4160), conversions)
    fills = [direction.fill(SSRC, 8, b"\x11" * 160, 160) for _ in range(2)]
    assert [struct.unpack_from("!HI", packet, 2) for [packet] in fills] == [(2002, 4320), (2003, 4480)]
    [after] = direction.rewrite(_rtp(2002, 4640), conversions)
    assert struct.unpack_from("!HI", after, 2) == (2004, 4640)
    # G.711 samples go through the framing: 240 of them make one frame and wait with 80
    [one] = direction.fill(SSRC, 8, b"\x22" * 240, 160, samples=True)
    assert struct.unpack_from("!HI", one, 2) == (2005, 4800)
    two = direction.fill(SSRC, 8, b"\x33" * 240, 160, samples=True)
    assert [struct.unpack_from("!H", p, 2)[0] for p in two] == [2006, 2007]
    assert two[0][12:] == b"\x22" * 80 + b"\x33" * 80
    # a packet dropped before conversion leaves no hole in the numbering
    direction.discard(_rtp(2003, 4800), conversions)
    [last] = direction.rewrite(_rtp(2004, 4960), conversions)
    assert struct.unpack_from("!H", last, 2)[0] == 2008
    assert direction.fill(b"\x00\x00\x00\x01", 8, b"", 160) == []  # (nothing of it yet)


def test_a_flood_holds_at_most_max_held_packets_the_oldest_going_first():
    buffer = _buffer()
    for n in range(MAX_HELD + 50):
        buffer.push(_rtp(n, 160 * n), now=0.0, samples=160)
    assert len(buffer.packets) == MAX_HELD and buffer.packets[0][1] == 160 * 50
