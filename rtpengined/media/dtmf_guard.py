"""``block DTMF`` behind a delay buffer: DTMF replaced in the audio, delayed, triggered, as
rtpengine 10.5 does it; sans-I/O.

Without a delay buffer a block acts on telephone-event packets only (``dtmf_block``). With
``delay-buffer`` (ms) set on the party, 10.5 holds everything the party sends for that long
and decodes its audio (G.711 here) on the way in, so that DTMF found in it (in-band tones,
by the same detector as ``detect DTMF``, or the party's telephone-event packets) can be
acted on before the audio leaves, including the audio that came up to the buffer's length
before the key was recognised. Measured on 10.5 (its ``-delay-buffer`` suite and probes):

- Audio counts as "in a key" from the key's start (less the buffer's length) to its end
  (plus the buffer's length, strictly after). ``DTMF-security`` decides what such audio
  becomes: ``silence``; ``tone`` (a sine of ``frequency`` Hz, 400, at ``volume`` dB below
  full scale, 10); ``zero``/``DTMF`` (the tones of ``digit``, ``0`` for ``zero``; silence
  when the receiver takes telephone-event, whose packets then pass with the key replaced
  by the digit); ``random`` (the tones of a random digit). Tones are computed from the
  frame's own RTP timestamp, so they continue across frames.
- In the PCM modes (``silence``, ``tone``, ``random``) the party's telephone-event packets
  are decoded to audio (one frame per duration increment) and replaced like in-band keys.
- ``DTMF-delay`` (ms): keys are first replaced by silence and reproduced that much later,
  as telephone-event packets when the receiver takes them (a new event at the frame where
  the delayed key starts, its duration counting up a frame at a time, the end sent three
  times), else as the key's tones. The block mode in force when a reproduced key plays
  decides what it becomes.
- ``trigger``: a key sequence that switches the block to ``DTMF-security-trigger``;
  ``trigger-end`` then switches it to ``DTMF-security-trigger-end`` (none: unblocked).
- The output keeps the SSRC, sequence numbering and clock the direction had; a packet that
  makes no frame (a repeated end packet) takes one off the numbering, each extra packet
  (the end sent three times) adds one.

``Guard`` is one receiving stream's: the relay worker feeds it what arrives (``push``),
and sends what it releases when its time is due (``release``) or at once when the buffer
is stopped (``flush``). Only G.711 audio is decoded; other payload types are only delayed.
"""

from __future__ import annotations

import array
import math
import random
import struct
from collections import deque
from typing import NamedTuple

from . import dtmf, g711

PCM_MODES = frozenset({"silence", "tone", "random"})  # keys become audio (10.5's PCM modes)
REPLACE_MODES = PCM_MODES | {"zero", "DTMF"}
CUTOFF_MS = 10_000  # an event further back than this (by timestamp) is stale (10.5)
DIGIT_DELAY_MS = 2_500  # a trigger's keys at most this far apart (10.5's --dtmf-digit-delay)
MAX_EVENTS = 64  # events remembered per direction (the newest decide)
MAX_HELD = 1_000
FRAME = 160  # samples per packet sent (20 ms)
MAX_SSRCS = 16  # SSRCs a direction keeps state for (a party changing SSRCs without end
# cannot grow it: the oldest's state goes)  # packets held at most (a flood cannot grow the buffer further)
_HEADER = struct.Struct("!BBHI4s")
_VOLUME = tuple(1.122018 ** n for n in range(64))  # dB below full scale as a divisor


class GuardSpec(NamedTuple):
    """What the control plane tells the relay about a party's guarded DTMF (picklable)."""

    mode: str  # the block mode in force: off, drop, silence, tone, random, zero, DTMF
    delay: int  # the delay buffer, ms (> 0)
    dtmf_delay: int  # DTMF-delay, ms
    digit: int  # event code of the replacement digit (zero/DTMF)
    frequency: int  # tone mode, Hz
    volume: int  # tones, dB below full scale
    events_in: tuple  # the party's telephone-event payload types (8 kHz)
    laws_in: tuple  # (payload type, "PCMU"/"PCMA") of the party's G.711 audio
    sink_te: int | None  # the telephone-event payload type the receiver takes
    trigger: str = ""
    trigger_end: str = ""
    trigger_mode: str = "off"
    trigger_end_mode: str = "off"
    trigger_end_ms: int = 0  # after the trigger, switch to trigger_end_mode this much later
    trigger_end_digits: int = 0  # ... or after this many more keys


class _Event:
    __slots__ = ("code", "ts", "volume", "mode", "random")

    def __init__(self, code: int, ts: int, volume: int = 0, mode: str = "off",
                 rand: int = 0) -> None:
        self.code, self.ts, self.volume, self.mode, self.random = code, ts, volume, mode, rand


class _Held:
    """A packet in the buffer: as it came (``samples`` None) or decoded to a frame;
    ``key_ts``: the timestamp that decides whether the frame is in a key."""

    __slots__ = ("due", "packet", "ts", "samples", "pt", "payload", "key_ts")

    def __init__(self, due: float, packet: bytes, ts: int, samples: list | None, pt: int,
                 payload: bytes | None, key_ts: int | None = None) -> None:
        self.due, self.packet, self.ts, self.samples = due, packet, ts, samples
        self.pt, self.payload = pt, payload
        self.key_ts = ts if key_ts is None else key_ts


class Guard:
    """One receiving stream's delay buffer and DTMF state. With ``keys``, each key the tone
    detector finds ended goes there as (``owner``, event code, volume, samples from its
    report to its end's), as 10.5 reports its DSP's keys for DTMF logging (``dtmf_log``)."""

    def __init__(self, spec: GuardSpec, keys: list | None = None, owner: int = 0) -> None:
        self.spec = spec
        self.keys = keys
        self.owner = owner
        self.mode = spec.mode
        self.trigger, self.trigger_end = spec.trigger, spec.trigger_end
        self.trigger_mode, self.trigger_end_mode = spec.trigger_mode, spec.trigger_end_mode
        self.matched = 0
        self.end_digits = spec.trigger_end_digits  # (negative: counting, as 10.5 does)
        self.end_at: float | None = None  # when trigger_end_ms switches to the end mode
        self.now = 0.0
        self.laws = dict(spec.laws_in)
        self.events_in = frozenset(spec.events_in)
        self.received: deque[_Event] = deque(maxlen=MAX_EVENTS)
        self.delayed: deque[_Event] = deque(maxlen=MAX_EVENTS)
        self.held: deque[_Held] = deque()
        self.tes: dict[bytes, list] = {}  # per SSRC: [event timestamp, samples decoded]
        # per SSRC: [detector, origin, fed, reported, the last report (code, volume, where)]
        self.detectors: dict[bytes, list] = {}
        self.offsets: dict[bytes, int] = {}  # per SSRC: output clock minus input timestamp
        self.reproducing: dict[bytes, list] = {}  # per SSRC: reproduced key, its events
        # After a trigger turned the decoding of keys on, 10.5's new audio decoder reckons
        # its frames from the first packet its handlers got (a key's, maybe): the audio's
        # timestamps for the key decisions move by that much (``rebase``: None, or the
        # first packet's timestamp once one came, or True while waiting for it).
        self.rebase: int | bool | None = None
        self.audio_shift = 0

    # -- what comes in ------------------------------------------------------------------

    @property
    def next_due(self) -> float | None:
        return self.held[0].due if self.held else None

    def push(self, packet: bytes, now: float) -> None:
        """Take one RTP packet the party sent; it waits in the buffer for ``delay`` ms."""
        if len(self.held) >= MAX_HELD:
            self.held.popleft()
        self.now = now
        if self.end_at is not None and now >= self.end_at:
            self._end_trigger()
        due = now + self.spec.delay / 1000
        if len(packet) < 12 or packet[0] >> 6 != 2:
            self.held.append(_Held(due, packet, 0, None, -1, None))
            return
        pt = packet[1] & 0x7F
        ts = int.from_bytes(packet[4:8], "big")
        payload = g711.payload(packet)
        if self.rebase is True:
            self.rebase = ts
        if pt in self.events_in and payload is not None and len(payload) >= 4:
            self.held.append(self._event_packet(packet, pt, ts, payload, due))
            return
        law = self.laws.get(pt)
        if law is None or not payload:
            self.held.append(_Held(due, packet, ts, None, pt, payload))
            return
        table = g711.LINEAR[0 if law == "PCMU" else 8]
        samples = [table[code] for code in payload]
        if not self.events_in and self._detecting:
            self._detect(packet[8:12], ts, samples)
        if self.rebase is not None:
            self.audio_shift = ((self.rebase - ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            self.rebase = None
        self.held.append(_Held(due, packet, ts, samples, pt, payload,
                               (ts + self.audio_shift) & 0xFFFFFFFF))

    @property
    def _pcm(self) -> bool:
        """Keys become audio: a PCM block mode, or DTMF-delay (first replaced by silence)."""
        return self.mode in PCM_MODES or self.spec.dtmf_delay > 0

    @property
    def _detecting(self) -> bool:
        return self.mode in REPLACE_MODES or self.spec.dtmf_delay > 0 or bool(self.trigger)

    def _event_packet(self, packet: bytes, pt: int, ts: int, payload: bytes,
                      due: float) -> _Held:
        code, flags, duration = payload[0], payload[1], int.from_bytes(payload[2:4], "big")
        pcm = self._pcm  # (as before this packet: a trigger it completes acts after it)
        mode = self.mode
        if flags & 0x80:
            self._end(ts + duration - 1)
        elif code < len(dtmf.EVENTS):
            self._start(code, ts, flags & 0x3F)
        try:
            if not pcm or not self.laws:
                return _Held(due, packet, ts, None, pt, payload)
            return self._decoded(packet, pt, ts, code, flags, duration, due)
        finally:
            if self.mode != mode:
                # A trigger switched the mode: 10.5 rebuilds its codec handlers, and the new
                # decoder decodes the key's next packet from the key's start again.
                self.tes.clear()
                if self._pcm and not pcm:
                    self.rebase = True

    def _decoded(self, packet: bytes, pt: int, ts: int, code: int, flags: int,
                 duration: int, due: float) -> _Held:
        # Decoded: the samples its duration grew by, as one frame at its place in the key.
        ssrc = packet[8:12]
        state = self.tes.get(ssrc)
        if state is None or state[0] != ts:
            state = self.tes[ssrc] = [ts, 0]
            _bound(self.tes)
        grown = duration - state[1]
        if not 0 < grown <= 8000 or code >= len(dtmf.EVENTS):  # (10.5: at most a second)
            return _Held(due, packet, ts, [], pt, None)  # (nothing new: no frame)
        samples = dtmf_samples(code, flags & 0x3F, state[1], grown)
        frame_ts = (ts + state[1]) & 0xFFFFFFFF
        state[1] = duration
        audio = next(iter(self.laws))
        return _Held(due, packet, frame_ts, samples, audio, None)

    def _detect(self, ssrc: bytes, ts: int, samples: list) -> None:
        state = self.detectors.get(ssrc)
        if state is None:
            from .dtmf_detect import Detector  # (loads libspandsp: parties that block only)

            try:
                detector = Detector()
            except OSError:
                detector = None
            state = self.detectors[ssrc] = [detector, ts, None, 0, None]
            _bound(self.detectors)
        detector, origin, fed = state[:3]
        if detector is None:
            return
        position = (ts - origin) & 0xFFFFFFFF
        if fed is not None and 0 < position - fed < 0x80000000:
            detector.fill_in(position - fed)
        state[2] = position + len(samples)
        for code, level, delay in detector.feed(array.array("h", samples)):
            state[3] += delay
            at = (origin + state[3]) & 0xFFFFFFFF
            state[4] = key, volume, _ = dtmf.detected(state[4], code, level, state[3],
                                                      self.keys, self.owner)
            if key < 0:
                self._end(at)
            else:
                self._start(key, at, volume)

    def _start(self, code: int, ts: int, volume: int) -> None:
        last = self.received[-1] if self.received else None
        if last is not None and last.code == code + 1:
            return  # (the same key going on)
        mode = self.mode  # (10.5 switches after the key is noted: it plays in the old mode)
        self._check_trigger(code, ts, last)
        self.received.append(_Event(code + 1, ts, volume))
        self.delayed.append(_Event(code + 1, (ts + self.spec.dtmf_delay * 8) & 0xFFFFFFFF,
                                   volume, mode, random.randrange(10)))

    def _end(self, ts: int) -> None:
        ts &= 0xFFFFFFFF
        self.received.append(_Event(0, ts))
        self.delayed.append(_Event(0, (ts + self.spec.dtmf_delay * 8) & 0xFFFFFFFF, 0,
                                   self.mode))

    def _check_trigger(self, code: int, ts: int, last: _Event | None) -> None:
        trigger = self.trigger
        if not trigger or self.matched >= len(trigger):
            return
        if last is not None and ((ts - last.ts) & 0xFFFFFFFF) // 8 > DIGIT_DELAY_MS:
            self.matched = 0
        if self.end_digits < 0:  # (keys after the trigger, counted while an end is set)
            self.end_digits += 1
            if self.end_digits == 0:
                self._end_trigger()
                return
        key = dtmf.EVENTS[code]
        if trigger[self.matched] == key:
            self.matched += 1
            if self.matched == len(trigger):
                self.matched = 0
                self.mode = self.trigger_mode
                self.trigger_mode = self.trigger_end_mode
                self.trigger, self.trigger_end = self.trigger_end, ""
                self.end_digits = -self.end_digits
                if self.spec.trigger_end_ms:
                    self.end_at = self.now + self.spec.trigger_end_ms / 1000
            return
        for offset in range(1, self.matched):  # a repeating prefix: "ABCABD"
            if trigger[offset:self.matched] == trigger[:self.matched - offset]:
                following = self.matched - offset
                if trigger[following] == key:
                    self.matched = following + 1
                    return
        self.matched = 1 if key == trigger[0] else 0

    def _end_trigger(self) -> None:
        """``trigger-end-time``/``-digits`` ran out: the end mode, no more triggers."""
        self.end_at = None
        if self.mode != self.trigger_end_mode:
            self.mode = self.trigger_end_mode
            self.tes.clear()
        self.trigger = ""

    # -- what goes out ------------------------------------------------------------------

    def release(self, now: float | None, output_for, forward,
                target: dict | None) -> list[bytes]:
        """The packets whose time in the buffer is over (None: all of them, the buffer
        stopped, as 10.5 flushes it). ``output_for(ssrc)``: the direction's output state
        for an SSRC (``transcoding._Output``); ``forward(packet)``: what a packet passed as
        it came becomes (the direction's usual path); ``target``: payload type -> (payload
        type, law) when the receiver was answered the other G.711 law (None: the direction
        does not transcode; else audio is stamped on the encoder's clock)."""
        out: list[bytes] = []
        held = self.held
        while held and (now is None or held[0].due <= now):
            self._send(held.popleft(), output_for, forward, target, out)
        return out

    def _send(self, item: _Held, output_for, forward, target: dict | None,
              out: list) -> None:
        samples = item.samples
        if samples is None:
            packet = item.packet
            if (item.pt in self.events_in and self.mode in ("zero", "DTMF")
                    and self._in(self.received, item.key_ts, self.spec.delay)):
                packet = packet[:len(packet) - len(item.payload)] + bytes(
                    (self.spec.digit,)) + item.payload[1:]
            out.extend(forward(packet))
            return
        packet = item.packet
        ssrc = packet[8:12]
        output = output_for(ssrc)
        if not samples:
            output.shift -= 1  # (a packet that made no frame)
            return
        offset = self.offsets.get(ssrc)
        if offset is None:
            offset = self.offsets[ssrc] = (
                0 if output.clock is None else (output.clock - item.ts) & 0xFFFFFFFF)
            _bound(self.offsets)
        stamp = (item.ts + offset) & 0xFFFFFFFF
        if target is not None and output.clock is not None:
            # Transcoded (``target``: the receiver's table): 10.5 buffers before its
            # encoder, whose clock counts the frames it made, so a jump in what came in
            # does not show (seen: a key whose end was sent three times, the audio after
            # it continuing from the key's end, not from its own later timestamps).
            offset = self.offsets[ssrc] = (output.clock - item.ts) & 0xFFFFFFFF
            stamp = output.clock
        elif output.clock is not None and dtmf.before(stamp, output.clock):
            # (audio decoded twice, after a trigger: the encoder's clock goes on)
            offset = self.offsets[ssrc] = (output.clock - item.ts) & 0xFFFFFFFF
            stamp = output.clock
        pt_out, law_out, table = self._target(item.pt, target)
        replaced, events = self._manipulate(item, samples, ssrc, stamp)
        if replaced is None and item.payload is not None and table is not None:
            body = item.payload.translate(table)
        else:
            encode = g711.encoder(law_out)
            body = bytes(encode[v & 0xFFFF] for v in (replaced if replaced is not None
                                                        else samples))
        seq = (packet[2] << 8) | packet[3]
        first = True
        if events is None:  # (the audio in packets of a frame, 20 ms: a key's decoded
            # telephone-event may bring more at once)
            events = [(pt_out, False, stamp + at, body[at:at + FRAME])
                      for at in range(0, len(body), FRAME)]
        for pt, marker, ts, payload in events:
            if not first:
                output.shift += 1
            first = False
            out.append(_HEADER.pack(0x80, pt | (0x80 if marker else 0),
                                    (seq + output.shift) & 0xFFFF, ts & 0xFFFFFFFF,
                                    output.ssrc) + payload)
        if output.clock is None:
            output.clock = output.origin = stamp
        output.clock = (stamp + len(samples)) & 0xFFFFFFFF

    def _target(self, pt: int, target: dict | None) -> tuple:
        """(payload type, law, table for unchanged audio) the receiver gets ``pt`` in."""
        law = self.laws.get(pt, "PCMU")
        entry = target.get(pt) if target else None
        if entry is None:
            return pt, law, g711.ROUND_TRIP.get(law)
        pt_out, law_out = entry
        return pt_out, law_out, (g711.ROUND_TRIP.get(law) if law == law_out
                                 else g711.TABLES.get((law, law_out)))

    @staticmethod
    def _in(events, ts: int, head: int, trail: int | None = None) -> _Event | None:
        """The key ``ts`` lies in (10.5's reckoning, ``head``/``trail`` ms around it)."""
        if trail is None:
            trail = head
        cutoff = CUTOFF_MS * 8
        start_ts = (ts + head * 8) & 0xFFFFFFFF
        end_ts = (ts - trail * 8) & 0xFFFFFFFF
        for event in reversed(events):
            if event.code:
                diff = (start_ts - event.ts) & 0xFFFFFFFF
                if diff >= 0x80000000:
                    continue
                return event if diff <= cutoff else None
            diff = (end_ts - event.ts) & 0xFFFFFFFF
            if diff >= 0x80000000 or diff == 0:
                continue
            return None
        return None

    def _manipulate(self, item: _Held, samples: list, ssrc: bytes,
                    stamp: int) -> tuple[list | None, list | None]:
        """(samples replacing the frame's or None, telephone-event packets replacing the
        frame or None), as the block mode and the keys around the frame decide."""
        mode = self.mode
        spec = self.spec
        if mode == "off" and not spec.dtmf_delay:
            return None, None
        ts = item.key_ts
        received = self._in(self.received, ts, spec.delay)
        delayed = self._in(self.delayed, ts, 0)
        count = len(samples)
        state = self.reproducing.get(ssrc)
        if mode == "off":
            if delayed is None:
                mode = "silence"
                if spec.sink_te is not None and state is not None and state[0] is not None:
                    state[1].append((0, 0, stamp))  # (the reproduced key ends here)
                if received is None:
                    return None, self._reproduce(ssrc, stamp, count)
            else:
                mode = delayed.mode
        elif received is None:
            return None, self._reproduce(ssrc, stamp, count)
        volume = spec.volume
        if mode == "off":
            if spec.sink_te is not None:
                if state is None:
                    state = self.reproducing[ssrc] = [None, []]
                    _bound(self.reproducing)
                current = state[0]
                if current is None or current[0] != delayed.code:
                    state[1].append((delayed.code, delayed.volume, stamp))
                return [0] * count, self._reproduce(ssrc, stamp, count)
            return dtmf_samples(delayed.code - 1, delayed.volume, ts, count), None
        if mode == "silence":
            return [0] * count, self._reproduce(ssrc, stamp, count)
        if mode == "tone":
            return tone_samples(spec.frequency, volume, ts, count), None
        if mode in ("zero", "DTMF"):
            if spec.sink_te is not None:
                return [0] * count, None
            return dtmf_samples(spec.digit, volume, ts, count), None
        if mode == "random":
            event = delayed or received
            return dtmf_samples(event.random if event else 0, 10, ts, count), None
        return None, None

    def _reproduce(self, ssrc: bytes, stamp: int, count: int) -> list | None:
        """The telephone-event packets of a reproduced key replacing the frame at
        ``stamp`` (its start marked, the end sent three times); None: the frame goes out."""
        state = self.reproducing.get(ssrc)
        if state is None or self.spec.sink_te is None:
            return None
        previous = current = state[0]
        pending = state[1]
        while pending and not dtmf.before(stamp, pending[0][2]):
            code, volume, at = pending.pop(0)
            current = (code, volume, stamp) if code else None
        state[0] = current
        pt = self.spec.sink_te
        if current is None:
            if previous is None:
                return None
            payload = dtmf.event_payload(previous[0] - 1, previous[1], True,
                                         (stamp - previous[2] + count) & 0xFFFF)
            return [(pt, False, previous[2], payload)] * 3
        payload = dtmf.event_payload(current[0] - 1, current[1], False,
                                     (stamp - current[2] + count) & 0xFFFF)
        return [(pt, previous is None or previous[0] != current[0], current[2], payload)]


def _bound(states: dict) -> None:
    """Keep a per-SSRC table to ``MAX_SSRCS`` entries (the oldest goes)."""
    while len(states) > MAX_SSRCS:
        states.pop(next(iter(states)))


def tone_samples(frequency: int, volume: int, offset: int, count: int,
                 rate: int = 8000) -> list[int]:
    """16-bit samples ``offset`` to ``offset + count`` of a sine (10.5's arithmetic)."""
    divisor = _VOLUME[volume] if 0 <= volume < 64 else 1.122018 ** volume
    step = frequency * 2 * math.pi / rate
    return [int(math.sin(step * n) / divisor * 32767.0) for n in range(offset, offset + count)]


def dtmf_samples(code: int, volume: int, offset: int, count: int) -> list[int]:
    """16-bit samples of a key's two tones (``dtmf.tone``); silence for no key (10.5)."""
    if not 0 <= code < len(dtmf.FREQUENCIES):
        return [0] * count
    return dtmf.tone(code, volume, offset, count)
