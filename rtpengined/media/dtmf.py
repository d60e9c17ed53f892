"""DTMF injected into a converting direction, as 10.5 sends it (``play DTMF``); sans-I/O.

A call whose offer and answer carry ``inject DTMF`` goes through the conversion path
(``transcoding.Direction``) both ways. ``play DTMF`` then queues an event on the direction
from the party named (the one "pressing" the key) towards its peer. Measured on 10.5 (its
own suite and side by side):

- Towards a party that takes telephone-event (8 kHz): RFC 4733 events replace the frames
  the direction sends. An event starts at the next frame, or, queued while another is
  pending, its own pause after that one's end. Its packets carry the timestamp of its first
  frame (which has the marker) and a duration counting up a frame at a time; the first
  frame at or after the end sends the end packet three times (sequence numbers go on).
  Between events the audio passes.
- Towards one that does not (G.711): the events queued are rendered at once, each the
  key's two frequencies at half the amplitude ``volume`` dB below full scale for its
  duration and then silence for its pause, sample-exact, and sent as a burst of frames in
  place of the next one; audio that comes in while the burst's time lasts is dropped, and
  what is left of its last frame goes out with the audio after it.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from typing import Any

from . import g711

EVENTS = "0123456789*#ABCD"  # RFC 4733 event codes 0-15
FREQUENCIES = ((941, 1336), (697, 1209), (697, 1336), (697, 1477), (770, 1209), (770, 1336),
               (770, 1477), (852, 1209), (852, 1336), (852, 1477), (941, 1209), (941, 1477),
               (697, 1633), (770, 1633), (852, 1633), (941, 1633))
_EVENT = struct.Struct("!BBH")
ENCODERS = {"PCMU": g711.linear_to_ulaw, "PCMA": g711.linear_to_alaw}


def tone(event: int, volume: int, offset: int, count: int, rate: int = 8000) -> list[int]:
    """16-bit samples ``offset`` to ``offset + count`` of a key's two tones."""
    low, high = FREQUENCIES[event]
    scale = 32767.0 / (2 * 1.122018 ** volume)  # (1.122018 = 1 dB; two tones: half each)
    step_low, step_high = 2 * math.pi * low / rate, 2 * math.pi * high / rate
    return [int(math.sin(step_low * n) * scale + math.sin(step_high * n) * scale)
            for n in range(offset, offset + count)]


class Event:
    """One queued key press: (event code, RFC volume byte, tone volume in dB, duration and
    pause in samples, the receiver's telephone-event payload type or None, the codec to
    encode a tone in when there is none)."""

    __slots__ = ("code", "rfc_volume", "tone_volume", "duration", "pause", "te_pt", "codec",
                 "chained")

    def __init__(self, code: int, rfc_volume: int, tone_volume: int, duration: int,
                 pause: int, te_pt: int | None, codec: str | None) -> None:
        self.code, self.rfc_volume, self.tone_volume = code, rfc_volume, tone_volume
        self.duration, self.pause, self.te_pt, self.codec = duration, pause, te_pt, codec
        self.chained = False  # queued while another was pending: its pause after that one


class Injector:
    """The queued events of one direction and the one playing."""

    __slots__ = ("queue", "playing", "started", "end", "next_start")

    def __init__(self) -> None:
        self.queue: deque[Event] = deque()
        self.playing: Event | None = None
        self.started = self.end = 0  # (timestamps of the event playing)
        self.next_start: int | None = None  # when a chained event may start

    def add(self, event: Event) -> None:
        event.chained = self.playing is not None or bool(self.queue)
        self.queue.append(event)

    @property
    def idle(self) -> bool:
        return self.playing is None and not self.queue

    @property
    def tones_due(self) -> bool:
        """Events to render as tones (the receiver takes no telephone-event) are queued."""
        return self.playing is None and bool(self.queue) and self.queue[0].te_pt is None

    def frame(self, ts: int, samples: int) -> list[tuple] | None:
        """The RFC 4733 packets that replace the frame of ``samples`` at timestamp ``ts``:
        (payload type, marker, timestamp, payload); None to send the frame as it is."""
        event = self.playing
        if event is not None:
            if before(ts, self.end):
                return self._rfc(event, ts, samples, False)
            self.playing = None  # (ends now: the end packet, three times)
            if self.queue and self.queue[0].chained:
                self.next_start = self.end + self.queue[0].pause
            return self._rfc(event, ts, samples, True) * 3
        if not self.queue or self.queue[0].te_pt is None:
            return None
        event = self.queue[0]
        scheduled = ts
        if event.chained and self.next_start is not None:
            if before(ts, self.next_start):
                return None
            scheduled = self.next_start
        self.queue.popleft()
        self.playing, self.started, self.end = event, ts, scheduled + event.duration
        return self._rfc(event, ts, samples, False)

    def _rfc(self, event: Event, ts: int, samples: int, end: bool) -> list[tuple]:
        duration = (ts - self.started + samples) & 0xFFFF
        payload = event_payload(event.code, event.rfc_volume, end, duration)
        return [(event.te_pt, ts == self.started and not end, self.started, payload)]

    def tones(self) -> bytes:
        """The queued tone events rendered, in order (tone, then the pause's silence), as
        G.711 bytes of the receiver's codec; they leave the queue."""
        out = bytearray()
        while self.queue and self.queue[0].te_pt is None:
            event = self.queue.popleft()
            encode = ENCODERS.get(event.codec, g711.linear_to_ulaw)
            out += bytes(encode(v) for v in tone(event.code, event.tone_volume, 0,
                                                 event.duration))
            out += _silence(event.codec, event.pause)
        self.next_start = None
        return bytes(out)


def event_code(code: Any) -> int | None:
    """A DTMF event as the ng protocol names it (``play DTMF``'s ``code``, ``block DTMF``'s
    ``digit``): 0-9, *, #, A-D as text, its number 0-15, or that number as text."""
    if isinstance(code, int) and not isinstance(code, bool):
        return code if 0 <= code <= 15 else None
    if not isinstance(code, str) or not code:
        return None
    if len(code) == 1 and code.upper() in EVENTS:
        return EVENTS.index(code.upper())
    return int(code) if code.isdigit() and int(code) <= 15 else None


def event_payload(code: int, volume: int, end: bool, duration: int) -> bytes:
    """An RFC 4733 event payload (duration in clock units, kept to 16 bits)."""
    return _EVENT.pack(code, (0x80 if end else 0) | volume, duration & 0xFFFF)


def detected(last: tuple | None, code: int, level: int, where: int, keys: list | None,
             owner: Any) -> tuple[int, int, int]:
    """One report of an audio DTMF detector (spandsp's code, 0 for "no key", and level in
    dBm0) at ``where`` samples into the stream: returns ``(key, volume, where)``, the key's
    event number (-1: none) and its RFC 4733 volume, to be passed back as ``last`` with the
    next report. When a key ends, ``(owner, key, volume, samples)`` of the one reported
    before is added to ``keys`` (the DTMF log's list), measured from that report as 10.5
    does: a key straight after another counts from its own start."""
    key = EVENTS.find(chr(code)) if code else -1
    volume = 0 if level > 0 else min(-level, 63)
    if key < 0 and last is not None and last[0] >= 0 and keys is not None:
        keys.append((owner, last[0], last[1], where - last[2]))
    return key, volume, where


def before(ts: int, limit: int) -> bool:
    """``ts`` before ``limit`` on a 32-bit RTP clock."""
    return 0 < (limit - ts) & 0xFFFFFFFF < 0x80000000


def _silence(codec: str | None, samples: int) -> bytes:
    return bytes([ENCODERS[codec](0)]) * samples if codec in ENCODERS else bytes(samples)
