"""The packets of a call direction the relay converts or repacketizes, as 10.5 sends them;
sans-I/O.

A direction converts when the receiver was answered another codec than the sender may
send (``codec_negotiation.conversions``: the G.711 laws by table, G.722 and Opus through
libavcodec, ``Codecs``) and repacketizes when the offer changed the
packet time (``ptime``, ``ptime-reverse``). 10.5 then sends everything in that direction
under an SSRC of its own, one per SSRC received, converted packets and those passed as they
came alike. Measured on 10.5 (offer/answer with ``codec: {transcode}``, ``accept``,
``always transcode``, ``ptime``):

- Audio goes out in frames of the receiver's packet time (what our SDP told it; 20 ms when
  nothing did), whatever the sizes it came in: what is left over waits for the next packet.
  The frames carry a plain 12-byte header (no CSRCs, extension, padding or marker).
- Their timestamps are the encoder's own clock: the first packet's timestamp, then one
  frame's samples more per frame sent (gaps and jumps in what comes in do not show).
- Sequence numbers are the received ones plus a shift. A packet that fills no frame takes
  one off the shift, each frame after the first of a packet adds one, so the output counts
  on without gaps.
- The packets go through 10.5's packet sequencer first: in order, a packet up to 100 ahead
  of the next expected one waits for the ones missing before it until they come, ten are
  waiting, or the newest is 60 ms (by timestamp) past the last one decoded; a packet up to
  100 behind (a late duplicate) is dropped; any other jump is a reset that moves the shift
  so that the output continues where it was.
- A packet passed as it came (the receiver takes its codec as it is) keeps its timestamp
  and its sequence number plus the shift.

telephone-event packets (RFC 4733) go through the sequencer with the audio when the
receiver takes them under another payload type or clock rate (``Events``): an event starts
at the encoder clock's position, its durations are scaled to the receiver's rate, its end
moves the clock past it, as measured on 10.5.

Towards a party whose comfort noise the relay makes, with ``--silence-detect``, a G.711
frame whose samples are all at or below the threshold goes out as a CN packet (payload
``--cn-payload``) in its place, as 10.5 does (its check of the lower bound looks at the
packet's second sample only, for every sample; so does ours).

DTMF events ``play DTMF`` queued on a direction replace its frames (``dtmf``). RTCP is
translated by the relay worker (``worker._translate_rtcp``) from the outputs' SSRCs and
what each sent (``_Output.sent``). Each ``Direction`` is one stream's: the relay worker keeps it on the stream it
reads from.
"""

from __future__ import annotations

import array
import logging
import os
import struct

from . import codecs, dtmf, g711

log = logging.getLogger("rtpengined.relay")

DUPLICATE_WINDOW = 100  # sequence numbers either side of the next expected one (10.5)
FRAME = 160  # samples per frame when no packet time is known: 20 ms at 8 kHz
MAX_WAITING = 10  # out-of-order packets the sequencer holds before it gives up on a gap
# Past the last decoded packet by 60 ms of the target's clock (10.5 reckons the received
# timestamps' difference in the output codec's rate): give up on a gap.
FORCE_AFTER = 480  # (8 kHz targets)
MAX_TONE_STEP = 8000  # samples of tone one telephone-event packet may add (1 s)
# Audio is suppressed while a telephone-event lasts, unless its timestamp is this far (in
# the sender's clock units) from the event's: then the event is taken as over (10.5).
SUPPRESS_SPAN = 80000
_HEADER = struct.Struct("!BBHI4s")


class _Output:
    """One received SSRC's output: its SSRC, the shift of its sequence numbers, the
    sequence number the sequencer expects next and the timestamp it last decoded (None
    before the first converted packet), packets waiting for a gap to fill, the encoder's
    clock, and samples that fill no frame yet."""

    __slots__ = ("ssrc", "shift", "expected", "last_ts", "waiting", "clock", "pending",
                 "converters", "burst_until", "event", "origin", "dtmf", "sent", "pressed",
                 "released")

    def __init__(self) -> None:
        self.ssrc = os.urandom(4)
        self.shift = 0
        self.expected: int | None = None
        self.last_ts: int | None = None
        self.waiting: dict[int, bytes] = {}
        self.clock: int | None = None
        self.pending = b""
        self.converters: dict[Codecs, object] = {}  # libavcodec conversions (stateful)
        self.burst_until: int | None = None  # DTMF tones sent ahead: input before it drops
        self.event: tuple[int, int] | None = None  # (received timestamp, duration) of an event
        self.origin = 0  # the clock's first value (an encoder's pts count from it)
        self.dtmf: _Dtmf | None = None  # tones detected, or turned into tones (``_Dtmf``)
        # What went out: (packets, octets with their headers, the last one's timestamp),
        # the counts 10.5 puts in the sender reports it passes on for this output (None:
        # nothing yet).
        self.sent: tuple[int, int, bytes] | None = None
        # The timestamp of the telephone-event the sender is in (None: none), and of the
        # last one that ended (its repeated end packets change nothing): audio received
        # meanwhile is suppressed (``Direction.suppress``).
        self.pressed: int | None = None
        self.released: int | None = None


class _Dtmf:
    """DTMF state of one output: the tone detector fed from its audio, the keys it reported
    (code, volume, timestamp relative to the clock's origin) not sent yet, the key being
    sent; and the telephone-event turned into tones (its timestamp, code, volume, samples
    rendered, ended)."""

    __slots__ = ("detector", "fed", "reported", "last", "events", "current", "tone")

    def __init__(self) -> None:
        self.detector = None
        self.fed: int | None = None  # input samples fed (None: nothing yet)
        self.reported = 0  # where the detector's last report was
        self.last: tuple[int, int, int] | None = None  # that report: (code or -1, volume, where)
        self.events: list[tuple[int, int, int]] = []
        self.current: tuple[int, int, int] | None = None
        self.tone: list | None = None


class Codecs:
    """A conversion through libavcodec (``avcodec.AvConverter``), for a conversions table:
    each received SSRC gets converters of its own (``new``), made on its first packet."""

    __slots__ = ("source", "target", "frame", "stamp_shift")

    def __init__(self, source, target, frame: int) -> None:
        self.source, self.target, self.frame = source, target, frame
        # (10.5 stamps a G.729 packet with its last 10 ms frame's time, bcg729 handing it
        # one frame at a time)
        self.stamp_shift = frame - 80 if target.encoder == "bcg729" and frame > 80 else 0

    # Equal conversions are one: a re-INVITE that leaves a conversion as it was keeps each
    # SSRC's converter and its state (10.5 keeps its codec handlers; upstream case 3950's
    # comfort noise goes on where it was).
    def __eq__(self, other: object) -> bool:
        return (type(other) is Codecs and other.source == self.source
                and other.target == self.target and other.frame == self.frame)

    def __hash__(self) -> int:
        return hash((self.source, self.target, self.frame))

    def new(self):
        """A converter; one that yields nothing if libavcodec cannot make one here (a
        build without the codec): the call's audio stops in that direction, the relay
        goes on."""
        try:
            from .avcodec import AvConverter  # (loads libavcodec: only workers that convert)
            return AvConverter(self.source, self.target, self.frame)
        except Exception:  # noqa: BLE001  (ImportError, av.error.*: whatever the build lacks)
            log.warning("cannot convert %s to %s here: libavcodec (PyAV) lacks it",
                        self.source.name, self.target.name)
            return _Silent()


def _silent(piece: bytes, law: tuple, threshold: int) -> bool:
    """Every sample of a G.711 frame at or below ``threshold`` (10.5's silence detection
    checks the upper bound per sample; the lower one only on the packet's second one)."""
    return all(law[code] <= threshold for code in set(piece))


class Events:
    """telephone-event from one clock rate (and payload type) to another, for a conversions
    table: the events keep their codes and flags, their durations are scaled. ``shift``:
    how much later than the audio's clock 10.5 stamps them (``event_shift``)."""

    __slots__ = ("rate_in", "rate_out", "shift")

    def __init__(self, rate_in: int, rate_out: int, shift: int = 0) -> None:
        self.rate_in, self.rate_out, self.shift = rate_in, rate_out, shift

    def __eq__(self, other: object) -> bool:
        return (type(other) is Events and other.rate_in == self.rate_in
                and other.rate_out == self.rate_out and other.shift == self.shift)

    def __hash__(self) -> int:
        return hash((self.rate_in, self.rate_out, self.shift))


def event_shift(codec_out: str, frame: int) -> int:
    """How much later than the audio's clock 10.5 stamps a telephone-event in a direction
    whose audio goes out converted into ``codec_out`` in frames of ``frame`` RTP clock
    units: half a frame for G.722 (its encoder runs at twice the RTP clock; measured at
    20 and 30 ms), none for the others measured (G.711, G.729, GSM, G.723.1, Opus)."""
    return frame // 2 if codec_out == "G722" else 0


class Tones:
    """telephone-event (8 kHz) to a party that takes none: the keys' tones in its G.711 law,
    as 10.5 renders them (``dtmf.tone``): each event packet adds the samples its duration
    grew by, from the clock's position, sent as the frames they complete."""

    __slots__ = ("law",)

    def __init__(self, law: str) -> None:
        self.law = law

    def __eq__(self, other: object) -> bool:
        return type(other) is Tones and other.law == self.law

    def __hash__(self) -> int:
        return hash(("tones", self.law))


def _force_after(convert) -> int:
    """How far (in the target's clock) past the last decoded packet a gap is given up."""
    kind = type(convert)
    if kind is Codecs:
        return convert.target.clock_rate * 60 // 1000
    if kind is Events:
        return convert.rate_out * 60 // 1000
    return FORCE_AFTER


class Tally:
    """What went into each conversion since the last ``take``, by (codec in, codec out) as
    the conversions name them: [packets, payload bytes, samples decoded], counted as 10.5
    counts its transcoders (every packet on its way in, the samples the decoder and
    resampler made). The relay worker sends it to the control plane (``statistics``'
    transcoders)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}

    def packet(self, conversion: tuple, size: int) -> None:
        counts = self._counts(conversion)
        counts[0] += 1
        counts[1] += size

    def samples(self, conversion: tuple, count: int) -> None:
        self._counts(conversion)[2] += count

    def _counts(self, conversion: tuple) -> list[int]:
        key = (conversion[5], conversion[6])
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = [0, 0, 0]
        return counts

    def take(self) -> list[tuple[str, str, int, int, int]]:
        """The counts so far, as (codec in, codec out, packets, bytes, samples); reset."""
        counts, self.counts = self.counts, {}
        return [(*key, *values) for key, values in counts.items()]


class _Silent:
    """The converter of a conversion libavcodec cannot do: nothing comes out."""

    decoded = 0

    @staticmethod
    def push(payload: bytes) -> list[bytes]:
        return []


def filler(codec_out: str, frame: int):
    """What fills DTX gaps in ``codec_out`` (``avcodec.AvConverter.fill``: comfort noise or
    silence, in frames of ``frame`` clock units); None if libavcodec cannot here."""
    target = codecs.codec(codec_out)
    if target is None:
        return None
    try:
        from .avcodec import AvConverter  # (loads libavcodec: only workers that fill gaps)
        return AvConverter(codecs.CODECS["cn"], target, frame)
    except Exception:  # noqa: BLE001  (ImportError, av.error.*: whatever the build lacks)
        log.warning("cannot fill DTX gaps in %s here: libavcodec (PyAV) lacks it", codec_out)
        return None


class Direction:
    """The output SSRCs of one direction, by received SSRC (bytes), and the DTMF events
    ``play DTMF`` queued on it (``dtmf.Injector``, made by the first). With ``keep_ssrc``
    (a subscriber's converted copies) each output goes out under the SSRC it came with.
    With ``passes`` (a direction that passes through but for codecs the offer added, as
    10.5 relays it) what is not converted goes out exactly as it came, its sequence number
    unshifted. With a ``tally``, what goes into each conversion is counted there. With
    ``keys``, each key the tone detector finds ended goes there as (``owner``, event code,
    volume, samples from its report to its end's), as 10.5 reports a DSP key for DTMF
    logging (``dtmf_log``).

    With ``suppress`` (10.5's default; ``--dtmf-no-suppress`` turns it off) the audio a
    sender sends while one of its telephone-events lasts is not converted: the receiver
    gets the event (or its tones) alone, numbered on without a gap; audio whose timestamp
    is more than ``SUPPRESS_SPAN`` away from the event's ends it (a lost end packet)."""

    __slots__ = ("outputs", "dtmf", "keep_ssrc", "passes", "tally", "keys", "owner",
                 "suppress")

    def __init__(self, keep_ssrc: bool = False, passes: bool = False,
                 tally: Tally | None = None, keys: list | None = None, owner: int = 0,
                 suppress: bool = True) -> None:
        self.outputs: dict[bytes, _Output] = {}
        self.dtmf: dtmf.Injector | None = None
        self.keep_ssrc = keep_ssrc
        self.passes = passes
        self.tally = tally
        self.keys = keys
        self.owner = owner
        self.suppress = suppress

    def inject(self, event: dtmf.Event) -> None:
        if self.dtmf is None:
            self.dtmf = dtmf.Injector()
        self.dtmf.add(event)

    def rewrite(self, packet: bytes, conversions: dict) -> list[bytes]:
        """``_rewrite``, what goes out counted on the packet's output (``_Output.sent``)."""
        out = self._rewrite(packet, conversions)
        if out:
            output = self.outputs.get(packet[8:12])
            if output is not None:
                sent = output.sent
                packets, octets = (0, 0) if sent is None else sent[:2]
                output.sent = (packets + len(out), octets + sum(map(len, out)), out[-1][4:8])
        return out

    def _rewrite(self, packet: bytes, conversions: dict) -> list[bytes]:
        """What goes out for ``packet``: framed anew (and converted) when ``conversions``
        (payload type -> (payload type out, a G.711 table, None, ``Codecs`` or ``Events``,
        RTP clock units per frame[, silence detection: (CN payload type, threshold, CN
        payload)])) names its payload type, as many frames as the packets it
        releases complete (none: a duplicate, waiting, or too little yet); else as it came,
        renumbered."""
        if len(packet) < 12 or packet[0] >> 6 != 2:
            return [packet]
        if self.passes and (packet[1] & 0x7F) not in conversions:
            return [packet]
        ssrc = packet[8:12]
        output = self.outputs.get(ssrc)
        if output is None:
            output = self.output_for(ssrc)
        seq = (packet[2] << 8) | packet[3]
        conversion = conversions.get(packet[1] & 0x7F)
        if conversion is None:
            out_seq = (seq + output.shift) & 0xFFFF
            return [packet[:2] + bytes((out_seq >> 8, out_seq & 0xFF)) + packet[4:8]
                    + output.ssrc + packet[12:]]
        tally = self.tally
        if tally is not None:  # (as 10.5 counts: every packet in, duplicates too)
            bounds = g711.payload_bounds(packet)
            tally.packet(conversion, bounds[1] - bounds[0] if bounds is not None else 0)
        expected = output.expected
        waiting = output.waiting
        if expected is None:
            expected = seq
        else:
            ahead = (seq - expected) & 0xFFFF
            if ahead >= DUPLICATE_WINDOW:
                if ahead > 0xFFFF - DUPLICATE_WINDOW:
                    return []  # a late duplicate
                output.shift -= seq - expected  # a reset: the output goes on unbroken
                waiting.clear()
                expected = seq
        if seq in waiting:
            return []
        waiting[seq] = packet
        ts = int.from_bytes(packet[4:8], "big")
        out: list[bytes] = []
        while waiting:
            ready = waiting.pop(expected, None)
            if ready is None:
                last = output.last_ts
                late = (ts - last) & 0xFFFFFFFF if last is not None else 0
                force = _force_after(conversion[1])
                if len(waiting) < MAX_WAITING and not force <= late < 0x80000000:
                    break  # wait for the missing ones
                expected = min(waiting, key=lambda n: (n - expected) & 0xFFFF)
                ready = waiting.pop(expected)
            expected = (expected + 1) & 0xFFFF
            self._frame(output, ready, conversions.get(ready[1] & 0x7F, conversion), out)
        output.expected = expected
        return out

    def output_for(self, ssrc: bytes, keep: bool = False) -> _Output:
        """The output of a received SSRC, made on first use: under an SSRC of its own, or
        the received one (``keep``, or a direction that keeps them all)."""
        output = self.outputs.get(ssrc)
        if output is None:
            output = self.outputs[ssrc] = _Output()
            if keep or self.keep_ssrc:
                output.ssrc = ssrc
        return output

    def fill(self, ssrc: bytes, pt_out: int, payload: bytes, frame: int,
             samples: bool = False) -> list[bytes]:
        """What the relay made to fill a gap (``dtx``) in what goes out for ``ssrc``, as a
        packet between the last one and the next would: a frame (``payload``), or with
        ``samples`` G.711 samples that go through the framing with those pending (none,
        one or more frames). Numbered on from the last packet, the packets after it
        shifted on; stamped on the encoder's clock. Nothing before anything of ``ssrc``
        was converted."""
        output = self.outputs.get(ssrc)
        if output is None or output.clock is None or output.expected is None:
            return []
        if samples:
            pending = output.pending + payload
            count = len(pending) // frame
            pieces = [pending[index * frame:(index + 1) * frame] for index in range(count)]
            output.pending = pending[count * frame:]
        else:
            pieces = [payload]
        out = []
        seq = output.expected - 1
        for piece in pieces:
            output.shift += 1  # (the first: the number of the packet the gap stands for)
            out.append(_HEADER.pack(0x80, pt_out, (seq + output.shift) & 0xFFFF,
                                    output.clock & 0xFFFFFFFF, output.ssrc) + piece)
            output.clock += frame
        return out

    def discard(self, packet: bytes, conversions: dict) -> None:
        """A packet dropped before conversion (``dtx``: it came too late): the sequencer
        takes it, nothing goes out, and the numbering and clock go on as if it never was."""
        if len(packet) < 12:
            return
        ssrc = packet[8:12]
        output = self.outputs.get(ssrc)
        before = (output.shift, output.clock) if output is not None else None
        self.rewrite(packet, conversions)
        output = self.outputs[ssrc]
        if before is not None and output.clock is not None:
            output.shift, output.clock = before[0] - 1, before[1]
        else:
            output.shift -= 1

    def _frame(self, output: _Output, packet: bytes, conversion: tuple, out: list) -> None:
        """Decode one packet the sequencer released into the frames it completes."""
        ts = int.from_bytes(packet[4:8], "big")
        last = output.last_ts
        if last is None or 0 < (ts - last) & 0xFFFFFFFF < 0x80000000:
            output.last_ts = ts
        payload = g711.payload(packet)
        if payload is None:
            return
        pt_out, convert, frame = conversion[:3]
        silence = conversion[3] if len(conversion) > 3 else None
        detect = conversion[4] if len(conversion) > 4 else None
        if output.clock is None:
            output.clock = output.origin = ts  # (10.5 starts the encoder's clock there)
        if type(convert) is Events or type(convert) is Tones:
            if len(payload) >= 4 and output.released != ts:
                # (as 10.5 follows a sender's key: a start until its end; ts 0 counts as 1)
                if payload[1] & 0x80:
                    output.released, output.pressed = ts, None
                else:
                    output.pressed = ts or 1
            if type(convert) is Events:
                self._event(output, packet, ts, payload, pt_out, convert, out)
            else:
                self._tone_event(output, packet, payload, pt_out, convert, frame, out)
            return
        pressed = output.pressed
        if pressed is not None and self.suppress:
            if abs(ts - pressed) <= SUPPRESS_SPAN:
                output.shift -= 1  # (the audio of a key: not sent, numbered on without it)
                return
            output.pressed = None
        if detect is not None:
            self._detect(output, packet, ts, payload)
        if output.burst_until is not None:
            # Audio wholly inside the time of DTMF tones sent ahead is dropped; a packet
            # reaching past their end follows what was left of their last frame.
            if not dtmf.before(output.burst_until, (ts + len(payload)) & 0xFFFFFFFF):
                output.shift -= 1
                return
            output.burst_until = None
        injector = self.dtmf
        if injector is not None and injector.tones_due and type(convert) is not Codecs:
            self._tones(output, packet, ts, pt_out, frame, out)
            return
        tally = self.tally
        if type(convert) is Codecs:
            converter = output.converters.get(convert)
            if converter is None:
                converter = output.converters[convert] = convert.new()
            before = converter.decoded
            pieces = converter.push(payload)
            if tally is not None:
                tally.samples(conversion, converter.decoded - before)
        else:  # G.711: the samples are the bytes (converted by a table, or kept)
            if tally is not None:
                tally.samples(conversion, len(payload))
            pending = output.pending + (payload.translate(convert) if convert is not None
                                        else payload)
            count = len(pending) // frame
            pieces = [pending[index * frame:(index + 1) * frame] for index in range(count)]
            output.pending = pending[count * frame:]
        if not pieces:
            output.shift -= 1
            return
        seq = (packet[2] << 8) | packet[3]
        clock = output.clock
        shift = convert.stamp_shift if type(convert) is Codecs else 0
        first = True
        law = None
        if silence is not None:
            law = g711.LINEAR.get(pt_out)
            source = g711.LINEAR.get(packet[1] & 0x7F)
            # (the packet's second sample decides the lower bound for all: 10.5's quirk)
            if (law is None or source is None or len(payload) < 2
                    or source[payload[1]] < -silence[1]):
                silence = None
        # (-1: keys read for reporting only, the audio goes on as it is)
        detected = output.dtmf if detect is not None and detect >= 0 else None
        for piece in pieces:
            replaced = (injector.frame(clock & 0xFFFFFFFF, frame)
                        if injector is not None and not injector.idle else None)
            if replaced is None and detected is not None and (detected.events
                                                              or detected.current):
                replaced = _detected_frame(detected, (clock - output.origin) & 0xFFFFFFFF,
                                           output.origin, frame, detect)
            if replaced is None and silence is not None and _silent(piece, law, silence[1]):
                replaced = ((silence[0], False, clock, silence[2]),)
            for pt, marker, stamp, body in replaced or ((pt_out, False, clock + shift, piece),):
                if not first:
                    output.shift += 1
                first = False
                # (no marker on audio, as 10.5; a DTMF event's first packet has it)
                out.append(_HEADER.pack(0x80, (pt_out if pt is None else pt) | (
                    0x80 if marker else 0), (seq + output.shift) & 0xFFFF,
                    stamp & 0xFFFFFFFF, output.ssrc) + body)
            clock += frame
        output.clock = clock

    def _event(self, output: _Output, packet: bytes, ts: int, payload: bytes, pt_out: int,
               convert: Events, out: list) -> None:
        """One telephone-event packet, its duration in the receiver's rate, on the encoder's
        clock as 10.5 puts it there: the event replaces the audio, so each packet moves the
        clock on by what its duration grew, and is stamped where the clock was less the
        duration before (the event's start while the sender's audio is suppressed; audio
        sent beside it moves the clock too, and the event's stamp with it)."""
        if len(payload) < 4:
            output.shift -= 1
            return
        event = output.event
        last = event[1] if event is not None and event[0] == ts else 0
        duration = min(int.from_bytes(payload[2:4], "big") * convert.rate_out
                       // convert.rate_in, 0xFFFF)
        start = output.clock - last
        output.clock = start + duration
        output.event = (ts, duration)
        seq = (packet[2] << 8) | packet[3]
        out.append(_HEADER.pack(0x80, pt_out | (packet[1] & 0x80), (seq + output.shift) & 0xFFFF,
                                (start + convert.shift) & 0xFFFFFFFF, output.ssrc)
                   + payload[:2] + duration.to_bytes(2, "big") + payload[4:])

    def _detect(self, output: _Output, packet: bytes, ts: int, payload: bytes) -> None:
        """Feed a G.711 packet's samples to the output's DTMF detector; its reports become
        the keys to send (at the report's position, counted in samples as 10.5 does)."""
        state = _dtmf_state(output)
        if state.detector is None:
            from .dtmf_detect import Detector  # (loads libspandsp: calls that detect only)

            try:
                state.detector = Detector()
            except OSError:
                state.detector = False
        if state.detector is False:
            return
        law = g711.LINEAR.get(packet[1] & 0x7F)
        if law is None:
            return
        position = (ts - output.origin) & 0xFFFFFFFF
        if state.fed is not None and 0 < position - state.fed < 0x80000000:
            state.detector.fill_in(position - state.fed)  # (a gap: the block restarts)
        samples = array.array("h", [law[code] for code in payload])
        state.fed = position + len(samples)
        for code, level, delay in state.detector.feed(samples):
            state.reported += delay
            state.last = key, volume, _ = dtmf.detected(state.last, code, level, state.reported,
                                                        self.keys, self.owner)
            state.events.append((key + 1, volume, state.reported))  # (0: no key)

    def _tone_event(self, output: _Output, packet: bytes, payload: bytes, pt_out: int,
                    convert: Tones, frame: int, out: list) -> None:
        """One telephone-event packet to a party that takes none: the tone samples its
        duration adds, and the frames they complete."""
        if len(payload) < 4 or payload[0] >= len(dtmf.FREQUENCIES):
            output.shift -= 1
            return
        state = _dtmf_state(output)
        ts = int.from_bytes(packet[4:8], "big")
        tone = state.tone
        if tone is None or tone[0] != ts:
            tone = state.tone = [ts, payload[0], payload[1] & 0x3F, 0, False]
        duration = int.from_bytes(payload[2:4], "big")
        if tone[4] or duration <= tone[3]:
            output.shift -= 1  # (a repeat: nothing new)
            return
        encode = dtmf.ENCODERS.get(convert.law, g711.linear_to_ulaw)
        # (at most a second per packet: a duration that jumps is no key press, and would
        # otherwise make the worker render and send seconds of tone at once)
        grown = min(duration - tone[3], MAX_TONE_STEP)
        rendered = bytes(encode(v) for v in dtmf.tone(tone[1], tone[2], tone[3], grown))
        tone[3] = duration
        tone[4] = bool(payload[1] & 0x80)
        pending = output.pending + rendered
        count = _send_frames(output, packet, pt_out, pending, frame, out)
        output.pending = pending[count * frame:]

    def _tones(self, output: _Output, packet: bytes, ts: int, pt_out: int, frame: int,
               out: list) -> None:
        """DTMF tones due (``dtmf``): rendered at once from this packet's frame on and sent
        as a burst, as 10.5 does; the input until their time is over is dropped."""
        samples = self.dtmf.tones()
        count = _send_frames(output, packet, pt_out, samples, frame, out)
        output.pending = samples[count * frame:]
        output.burst_until = (ts + len(samples)) & 0xFFFFFFFF


def _dtmf_state(output: _Output) -> _Dtmf:
    state = output.dtmf
    if state is None:
        state = output.dtmf = _Dtmf()
    return state


def _send_frames(output: _Output, packet: bytes, pt_out: int, samples: bytes, frame: int,
                 out: list) -> int:
    """The whole frames of ``samples`` (G.711) as packets on the output's clock, numbered on
    from ``packet``'s sequence number; how many (none: the packet's number is skipped)."""
    seq = (packet[2] << 8) | packet[3]
    clock = output.clock
    count = len(samples) // frame
    for index in range(count):
        if index:
            output.shift += 1
        out.append(_HEADER.pack(0x80, pt_out, (seq + output.shift) & 0xFFFF,
                                clock & 0xFFFFFFFF, output.ssrc)
                   + samples[index * frame:(index + 1) * frame])
        clock += frame
    if not count:
        output.shift -= 1
    output.clock = clock
    return count


def _detected_frame(state: _Dtmf, pts: int, origin: int, frame: int,
                    pt: int) -> list[tuple] | None:
    """The telephone-event packets that replace the frame at ``pts`` (samples since the
    clock's origin) while a detected key lasts, as 10.5 sends them: a key reported by then
    starts at this frame (its first packet marked), the duration counts up a frame at a
    time, the key's end (a report of no key) sends the end packet three times; None to
    send the audio."""
    previous = state.current
    current = previous
    events = state.events
    while events and events[0][2] <= pts:
        key, volume, _ = events.pop(0)
        current = (key, volume, pts) if key else None
    state.current = current
    if current is None:
        if previous is None:
            return None
        payload = dtmf.event_payload(previous[0] - 1, previous[1], True,
                                     pts - previous[2] + frame)
        return [(pt, False, (origin + previous[2]) & 0xFFFFFFFF, payload)] * 3
    payload = dtmf.event_payload(current[0] - 1, current[1], False, pts - current[2] + frame)
    return [(pt, previous is None, (origin + current[2]) & 0xFFFFFFFF, payload)]
