"""``media.dtmf_guard`` directly (sans-I/O): the delay buffer's timing, what counts as "in a
key" around a telephone-event, the modes' samples, triggers and DTMF-delay's reproduction.
The same behaviour beside rtpengine 10.5 is in ``test_diff_delay_buffer.py``."""

from __future__ import annotations

import struct

from rtpengined.media import dtmf, g711, transcoding
from rtpengined.media.dtmf_guard import Guard, GuardSpec, dtmf_samples, tone_samples

SSRC = 0x1234


def _spec(**changes) -> GuardSpec:
    values = dict(mode="tone", delay=20, dtmf_delay=0, digit=0, frequency=400, volume=10,
                  events_in=(101,), laws_in=((0, "PCMU"),), sink_te=None)
    values.update(changes)
    return GuardSpec(**values)


def _packet(pt: int, seq: int, ts: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, SSRC) + payload


def _event(seq: int, start: int, code: int, duration: int, end: bool = False) -> bytes:
    return _packet(101, seq, start, dtmf.event_payload(code, 10, end, duration), not end)


class _Io:
    """The direction's output states and usual path, as the relay worker gives them."""

    def __init__(self) -> None:
        self.outputs: dict[bytes, transcoding._Output] = {}

    def output_for(self, ssrc: bytes) -> transcoding._Output:
        output = self.outputs.get(ssrc)
        if output is None:
            output = self.outputs[ssrc] = transcoding._Output()
            output.ssrc = ssrc
        return output

    @staticmethod
    def forward(packet: bytes) -> list[bytes]:
        return [packet]


def _release(guard: Guard, io: _Io, now: float | None) -> list[bytes]:
    return guard.release(now, io.output_for, io.forward, None)


def _ulaw(samples: list[int]) -> bytes:
    return bytes(g711.linear_to_ulaw(s) for s in samples)


def test_packets_wait_for_the_delay_then_leave_in_order():
    guard, io = Guard(_spec()), _Io()
    for seq in range(3):
        guard.push(_packet(0, seq, 160 * seq, b"\x00" * 160), now=1.0 + seq * 0.02)
    assert guard.next_due == 1.02
    assert _release(guard, io, 1.01) == []
    out = _release(guard, io, 1.045)
    assert [struct.unpack("!H", p[2:4])[0] for p in out] == [0, 1]
    assert [p[12:] for p in out] == [b"\x00" * 160] * 2
    assert [struct.unpack("!I", p[8:12])[0] for p in out] == [SSRC] * 2  # (kept)
    assert len(_release(guard, io, None)) == 1  # (a flush: all of it)


def test_telephone_events_become_the_tone_with_the_frame_after_their_end():
    guard, io = Guard(_spec(delay=1)), _Io()
    steps = [_packet(0, 1, 160, b"\x00" * 160), _event(2, 320, 5, 160),
             _event(3, 320, 5, 320), _event(4, 320, 5, 480, end=True),
             _event(5, 320, 5, 480, end=True), _packet(0, 6, 800, b"\x00" * 160),
             _packet(0, 7, 960, b"\x00" * 160)]
    for packet in steps:
        guard.push(packet, 0.0)
    out = _release(guard, io, None)
    # the repeated end makes no frame: one sequence number less from there on
    assert [struct.unpack("!HI", p[2:8]) for p in out] == [
        (1, 160), (2, 320), (3, 480), (4, 640), (5, 800), (6, 960)]
    tone = [_ulaw(tone_samples(400, 10, ts, 160)) for ts in (320, 480, 640, 800)]
    assert [p[12:] for p in out] == [b"\x00" * 160, *tone, b"\x00" * 160]


def test_zero_with_events_for_the_receiver_passes_them_with_the_key_replaced():
    guard, io = Guard(_spec(mode="zero", digit=0, delay=1, sink_te=101)), _Io()
    guard.push(_event(2, 320, 5, 160), 0.0)
    guard.push(_event(3, 320, 5, 320, end=True), 0.0)
    guard.push(_packet(0, 4, 640, b"\x00" * 160), 0.0)
    guard.push(_packet(0, 5, 800, b"\x00" * 160), 0.0)
    out = _release(guard, io, None)
    assert [p[12] for p in out[:2]] == [0, 0]  # (key 5 became 0)
    assert out[2][12:] == b"\xff" * 160  # (the frame after the end: silence)
    assert out[3][12:] == b"\x00" * 160


def test_dtmf_delay_reproduces_the_key_as_events_later():
    guard, io = Guard(_spec(mode="off", delay=1, dtmf_delay=60, sink_te=101)), _Io()
    for seq in range(1, 12):
        if 3 <= seq <= 5:
            guard.push(_event(seq, 480, 5, 160 * (seq - 2), end=seq == 5), 0.0)
        else:
            guard.push(_packet(0, seq, 160 * seq, b"\x00" * 160), 0.0)
    out = _release(guard, io, None)
    kinds = [(p[1] & 0x7F, p[1] >> 7, struct.unpack("!H", p[2:4])[0]) for p in out]
    # the key's frames are silence; 60 ms (three frames) on the key starts again as events,
    # the end three times
    assert [p[12:] for p in out[2:5]] == [b"\xff" * 160] * 3
    assert kinds[5] == (101, 1, 6)
    events = [p for p in out if p[1] & 0x7F == 101]
    assert [dtmf_end for dtmf_end in (p[13] >> 7 for p in events)] == [0, 0, 0, 1, 1, 1]
    assert {struct.unpack("!I", p[4:8])[0] for p in events} == {160 * 6}


def test_a_trigger_switches_the_mode_after_the_key_completing_it():
    guard, io = Guard(_spec(mode="off", trigger="##", trigger_mode="silence",
                            delay=1)), _Io()
    guard.push(_event(1, 160, 11, 160), 0.0)
    guard.push(_event(2, 160, 11, 320, end=True), 0.0)
    assert guard.mode == "off"
    guard.push(_event(3, 480, 11, 160), 0.0)
    assert guard.mode == "silence"
    out = _release(guard, io, None)
    assert all(p[1] & 0x7F == 101 for p in out)  # (they passed as they came)


def test_a_trigger_needs_its_keys_close_together():
    guard = Guard(_spec(mode="off", trigger="##", trigger_mode="tone"))
    guard.push(_event(1, 160, 11, 160), 0.0)
    guard.push(_event(2, 160, 11, 320, end=True), 0.0)
    guard.push(_event(3, 160 + 8000 * 3, 11, 160), 0.0)  # (3 s later: starts over)
    assert guard.mode == "off"


def test_samples_as_10_5_computes_them():
    # (10.5's 400 Hz tone at -10 dB, one period in µ-law, as it sends it)
    assert _ulaw(tone_samples(400, 10, 3000, 20)) == bytes.fromhex(
        "ffb5a79f9c9b9c9fa7b5ff35271f1c1b1c1f2735")
    assert dtmf_samples(5, 10, 0, 160) == dtmf.tone(5, 10, 0, 160)
    assert dtmf_samples(99, 10, 0, 4) == [0, 0, 0, 0]


def test_in_a_key_around_its_start_and_end():
    guard = Guard(_spec(delay=1))
    guard.push(_event(1, 1000, 5, 160), 0.0)
    guard.push(_event(2, 1000, 5, 320, end=True), 0.0)  # (ends at 1319)
    assert guard._in(guard.received, 1000 - 8, 1) is not None  # (1 ms ahead counts)
    assert guard._in(guard.received, 1000 - 9, 1) is None
    assert guard._in(guard.received, 1319 + 8, 1) is not None  # (the end: strictly after)
    assert guard._in(guard.received, 1319 + 9, 1) is None


def test_a_party_changing_ssrcs_without_end_keeps_state_bounded():
    guard, io = Guard(_spec(mode="silence", delay=1)), _Io()
    for n in range(200):
        packet = struct.pack("!BBHII", 0x80, 101, n, 160 * n, n) + dtmf.event_payload(
            5, 10, False, 160)
        guard.push(packet, 0.0)
        guard.push(struct.pack("!BBHII", 0x80, 0, n, 160 * n, n) + b"\x00" * 160, 0.0)
    _release(guard, io, None)
    assert max(len(guard.tes), len(guard.offsets), len(guard.reproducing)) <= 16


def test_bad_packets_pass_or_go_without_harm():
    guard, io = Guard(_spec(mode="tone", delay=1)), _Io()
    for packet in (b"", b"\x80", b"\x00" * 12, _packet(101, 1, 0, b"\x05"),
                   _packet(101, 2, 0, b"\xff\x0a\xff\xff"), _packet(0, 3, 0, b""),
                   _packet(101, 4, 0, dtmf.event_payload(5, 10, False, 65535))):
        guard.push(packet, 0.0)
    out = _release(guard, io, None)
    assert all(isinstance(p, bytes) for p in out)


def test_trigger_end_time_switches_to_the_end_mode_later():
    guard = Guard(_spec(mode="off", trigger="#", trigger_mode="tone",
                        trigger_end_mode="silence", trigger_end_ms=500))
    guard.push(_event(1, 160, 11, 160), 10.0)
    assert guard.mode == "tone"
    guard.push(_packet(0, 2, 320, b"\x00" * 160), 10.4)
    assert guard.mode == "tone"
    guard.push(_packet(0, 3, 480, b"\x00" * 160), 10.5)
    assert guard.mode == "silence" and guard.trigger == ""


def test_keys_found_in_the_audio_are_reported_for_dtmf_logging():
    # (a party without telephone-event: the detector reads its tones; 10.5 logs its keys)
    keys: list = []
    guard = Guard(_spec(mode="silence", delay=1, events_in=()), keys=keys, owner=7)
    quiet = b"\xff" * 160
    frames = [quiet] * 2 + [_ulaw(dtmf.tone(5, 10, 160 * n, 160)) for n in range(4)] + [quiet] * 4
    for seq, payload in enumerate(frames):
        guard.push(_packet(0, seq, 160 * seq, payload), 0.0)
    [(owner, code, volume, samples)] = keys
    assert (owner, code, volume) == (7, 5, 9) and 400 <= samples <= 640  # (its level)
    unreported = Guard(_spec(mode="silence", delay=1, events_in=()))  # (no list: nobody asks)
    for seq, payload in enumerate(frames):
        unreported.push(_packet(0, seq, 160 * seq, payload), 0.0)


def test_a_detector_report_gives_key_and_volume_and_logs_the_key_it_ends():
    keys: list = []
    last = dtmf.detected(None, ord("5"), -12, 160, keys, "s1")
    assert last == (5, 12, 160) and keys == []
    last = dtmf.detected(last, ord("#"), -80, 800, keys, "s1")  # (a key straight after)
    assert last == (11, 63, 800) and keys == []  # (volume kept to 6 bits)
    last = dtmf.detected(last, 0, 0, 1600, keys, "s1")
    assert last == (-1, 0, 1600) and keys == [("s1", 11, 63, 800)]
    assert dtmf.detected(last, 0, 0, 2400, keys, "s1") == (-1, 0, 2400)  # (nothing ended)
    assert dtmf.detected((3, 5, 0), ord("A"), 2, 9, None, "s1") == (12, 0, 9)  # (no log)
    assert len(keys) == 1
