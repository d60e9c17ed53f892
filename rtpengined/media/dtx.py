"""DTX handling for converted audio (``--dtx-delay``), as rtpengine 10.5 does it; sans-I/O.

A party that stops sending for a while (discontinuous transmission: Opus or G.729 DTX, a
phone's silence suppression, a network gap) leaves a converted direction silent where
nothing arrives. With ``--dtx-delay`` 10.5 holds each received packet of a converted
stream for that long and then releases the packets on a timer, one packet time apart; when
the packet for a tick is not there, the gap is filled with a frame of audio made by the
relay: comfort noise from an RFC 3389 decoder given ``--dtx-cn-params``, else silence.
``--max-dtx`` seconds without any packet end the filling.

The timer follows the party: a packet that arrives later than the delay pushes the timer
back by ``--dtx-shift`` ms (underflow); one whose timestamp the timer has already passed
is dropped and the timer pushed back too; when more than ``--dtx-buffer`` packets holding
more than ``--dtx-lag`` ms of audio wait, the timer speeds up by ``--dtx-shift`` ms
(overflow). With ``--dtx-shift=0`` the timer stays: the input clock steps back a frame
on an underflow, and a packet is dropped on an overflow.

``DtxBuffer`` is one received SSRC's queue and timer; the relay worker feeds it packets
and asks it, when its timer is due, what to do: convert a packet, fill a gap, or stop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class DtxSettings:
    """The daemon's DTX options (seconds; ``cn_params``: the CN payload of the noise,
    empty for silence)."""

    delay: float
    max_dtx: float = 30.0
    buffer: int = 10
    lag: float = 0.1
    shift: float = 0.005
    cn_params: bytes = b""

    def to_arg(self) -> str:
        """As a relay worker's command line takes it (``from_arg``)."""
        return ",".join([repr(self.delay), repr(self.max_dtx), str(self.buffer), repr(self.lag),
                         repr(self.shift), self.cn_params.hex()])

    @classmethod
    def from_arg(cls, text: str) -> DtxSettings:
        delay, max_dtx, buffer, lag, shift, cn = text.split(",")
        return cls(float(delay), float(max_dtx), int(buffer), float(lag), float(shift),
                   bytes.fromhex(cn))


# Packets one buffer holds at most (20 s of 20 ms packets): a party flooding a converted
# port cannot grow it further; the oldest go first (10.5 sets no bound).
MAX_HELD = 1000

# What ``DtxBuffer.tick`` asks for
PACKET = "packet"  # convert and send this packet
DISCARD = "discard"  # drop this packet (it came too late): the output goes on without it
FILL = "fill"  # no packet for this tick: send a frame of noise or silence
STOP = "stop"  # nothing arrived for --max-dtx: the timer stops


class DtxBuffer:
    """One received SSRC's DTX queue and timer (10.5's DTX buffer), in the stream's RTP
    clock (``clock_rate``)."""

    __slots__ = ("settings", "clock_rate", "packets", "head_ts", "next_at", "last_push",
                 "ptime", "ssrc", "audio_type")

    def __init__(self, settings: DtxSettings, clock_rate: int, ssrc: bytes) -> None:
        self.settings = settings
        self.clock_rate = clock_rate
        self.ssrc = ssrc
        # (packet, timestamp, arrival, samples or 0, DTMF): held until their tick
        self.packets: deque[tuple[bytes, int, float, int, bool]] = deque(maxlen=MAX_HELD)
        self.head_ts: int | None = None  # the timestamp the timer stands at
        self.next_at: float | None = None  # when the timer fires next (None: stopped)
        self.last_push = 0.0
        self.ptime = 0.02  # seconds per tick: the packets' own (the last one converted)
        self.audio_type: int | None = None  # of the last audio packet converted (a gap's)

    @property
    def tspp(self) -> int:
        """Timestamp units per packet (tick)."""
        return int(self.ptime * self.clock_rate)

    def push(self, packet: bytes, now: float, samples: int = 0, dtmf: bool = False) -> bool:
        """Hold a received packet (``samples``: its audio in clock units when known);
        True when the timer must be armed (it was stopped): at ``next_at``."""
        ts = int.from_bytes(packet[4:8], "big")
        self.packets.append((packet, ts, now, samples, dtmf))
        self.last_push = now
        if self.next_at is None:
            self.next_at = now + self.settings.delay
            return True
        return False

    def tick(self, now: float) -> list[tuple[str, bytes | None]]:
        """The timer fired: what to do, in order (discarded packets, then one packet to
        convert, or a fill, or the stop), and ``next_at`` moved on (None after a stop)."""
        settings = self.settings
        steps: list[tuple[str, bytes | None]] = []
        while True:
            head = self.packets[0] if self.packets else None
            if head is not None and self.head_ts is not None:
                ts_diff = _signed(head[1] - self.head_ts)
                # (a jump back, or ahead by more than 0.2 s, is a reset: taken at once;
                # 10.5 compares 20x the delay in ms as microseconds, hence the 0.02)
                if (self.tspp * 2 <= ts_diff
                        and ts_diff / self.clock_rate <= max(settings.delay * 0.02, 0.2)):
                    head = None  # not its turn yet
            if head is None:
                break
            self.packets.popleft()
            packet, ts, arrival, samples, dtmf = head
            ts_diff = _signed(ts - self.head_ts) if self.head_ts is not None else self.tspp
            self.head_ts = ts
            if self._drift(ts_diff, now - arrival, dtmf, ts):
                steps.append((DISCARD, packet))
                continue
            if samples > 0:
                self.ptime = samples / self.clock_rate
            if not dtmf:
                self.audio_type = packet[1] & 0x7F
            steps.append((PACKET, packet))
            self._advance()
            return steps
        # no packet for this tick: DTX
        if self.head_ts is None:  # (nothing was ever taken: only discards so far)
            self._advance()
            return steps
        self.head_ts = (self.head_ts + self.tspp) & 0xFFFFFFFF
        if settings.max_dtx > 0 and now - self.last_push >= settings.max_dtx:
            steps.append((STOP, None))
            self.stop()
            return steps
        steps.append((FILL, None))
        self._advance()
        return steps

    def stop(self) -> list[bytes]:
        """Stop the timer; the packets still held (to be sent as they are converted)."""
        held = [packet for packet, *_ in self.packets]
        self.packets.clear()
        self.next_at = None
        self.head_ts = None
        return held

    def _advance(self) -> None:
        self.next_at = (self.next_at if self.next_at is not None else 0.0) + self.ptime

    def _drift(self, ts_diff: int, waited: float, dtmf: bool, ts: int) -> bool:
        """10.5's drift handling for the packet taken now; True to discard it."""
        settings = self.settings
        shift = settings.shift
        if shift:
            # it came late: the timer waits for the party (in µs, as 10.5 compares)
            if round(waited * 1e6) < round(settings.delay * 1e6):
                self.next_at += shift
            elif ts_diff < self.tspp:
                if not (ts_diff == 0 and dtmf):  # (a DTMF event's timestamps stand still)
                    self.next_at += shift
                    return True
            elif self._overflowing(ts):
                self.next_at -= shift
            return False
        if ts_diff < self.tspp:
            if not (ts_diff == 0 and dtmf):
                self.head_ts = (self.head_ts - self.tspp) & 0xFFFFFFFF
            return False
        return self._overflowing(ts)

    def _overflowing(self, ts: int) -> bool:
        """More than --dtx-buffer packets wait, spanning --dtx-lag or more."""
        if len(self.packets) < self.settings.buffer or not self.packets:
            return False
        span = _signed(self.packets[-1][1] - ts) / self.clock_rate
        return span >= self.settings.lag


def _signed(diff: int) -> int:
    """A 32-bit timestamp difference as a signed number."""
    diff &= 0xFFFFFFFF
    return diff - 0x100000000 if diff >= 0x80000000 else diff
