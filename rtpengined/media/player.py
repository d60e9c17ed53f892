"""The media player (``play media``): a media file decoded and sent to a party as RTP in its
codec, as rtpengine 10.5's player sends it; sans-I/O (the relay worker asks ``due`` what to
send and sends it from the party's stream socket).

Measured on 10.5:

- The file is decoded with libavcodec (any format it reads: WAV, MP3, ...), resampled to the
  codec's rate, mono, and encoded in frames of the party's packet time (20 ms unless its SDP
  said otherwise). What does not fill a last frame is not sent; a resampler's delay keeps the
  last few milliseconds of a resampled file back, as 10.5's does.
- The first frame leaves at once, the others one packet time apart. ``repeat-times`` plays
  the file again without a gap: the frames go on where the last one stopped.
- Each party has one player for the call's life: its SSRC (random) and sequence numbers go on
  from one playback to the next. The first packet of each playback has the marker bit. The
  first playback starts at a random timestamp; a later one at the last packet's timestamp
  plus the time that has passed since it was sent (in the codec's clock).
- Its RTCP sender reports: with the player's first packet, then every 5 to 7 s while it
  plays (``sent``, ``take_report``; the worker builds and sends them, ``rtcp_report``).

Only the relay worker imports PyAV for playing (``Playback``); the control plane opens a
file or blob with ``probe`` to answer the command (10.5 answers its duration, or an error
when libavformat cannot open it).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import struct
from collections import deque

from .codecs import AudioCodec
from .rtcp_report import next_interval

log = logging.getLogger("rtpengined.relay")

_HEADER = struct.Struct("!BBHI4s")


class PlaybackError(ValueError):
    """The media cannot be opened (not a format libavformat reads); ``reason`` as libav words
    it (what 10.5 logs: "No such file or directory", "Invalid data found when ...")."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


def _open(source: bytes | str):
    import av  # (loads libavformat: only when media is played)

    if isinstance(source, str) and not os.path.isfile(source):
        # Only a regular file: a FIFO or device would block the reader, and libavformat
        # would fetch a URL (10.5 lets it); neither is a media file on this machine.
        missing = errno.EISDIR if os.path.isdir(source) else (
            errno.EINVAL if os.path.exists(source) else errno.ENOENT)
        raise PlaybackError(f"not a regular file: {source}", os.strerror(missing))
    try:
        return av.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise PlaybackError(str(error), getattr(error, "strerror", None) or str(error)) from None


def probe(source: bytes | str) -> int:
    """Open ``source`` (a blob, or a file name) as the player will; its duration in ms (0 when
    unknown, or when it holds no audio: 10.5 then answers ok without a duration, and plays
    nothing). Raises ``PlaybackError`` when it cannot be opened."""
    container = _open(source)
    try:
        audio = container.streams.audio
        if not audio:
            return 0
        stream = audio[0]
        if stream.duration is None or stream.time_base is None:
            return 0
        return int(stream.duration * 1000 * stream.time_base.numerator
                   // stream.time_base.denominator)
    finally:
        container.close()


class Playback:
    """One playback of a media: its payloads in ``codec``, one per ``frame`` (RTP clock units),
    decoded as they are asked for. ``repeat``: how often the media is played in all."""

    def __init__(self, source: bytes | str, codec: AudioCodec, frame: int, repeat: int = 1) -> None:
        import av

        self.container = _open(source)
        audio = self.container.streams.audio
        if not audio:
            self.container.close()
            raise PlaybackError("no audio stream")
        self.stream = audio[0]
        self.packets = self.container.demux(self.stream)
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=codec.sample_rate)
        encoder = av.CodecContext.create(codec.encoder, "w")
        encoder.sample_rate = codec.sample_rate
        encoder.layout = "mono"
        encoder.format = "s16"
        if codec.bit_rate:
            encoder.bit_rate = codec.bit_rate
        self.encoder = encoder
        self.samples = frame * codec.sample_rate // codec.clock_rate
        self.sample_rate = codec.sample_rate
        self.repeat = max(1, repeat)
        self.buffer = bytearray()  # resampled audio (16-bit mono) not encoded yet
        self.pts = 0
        self.ready: deque[bytes] = deque()

    def next_payload(self) -> bytes | None:
        """The next frame's payload; None once the media (and its repeats) is played."""
        ready = self.ready
        while not ready:
            if not self._decode_more():
                return None
        return ready.popleft()

    def close(self) -> None:
        self.container.close()

    def _decode_more(self) -> bool:
        import av

        try:
            packet = next(self.packets, None)
            if packet is None or packet.size == 0:  # the end (the decoder is not flushed:
                if self.repeat <= 1:  # what it holds back stays there, as in 10.5)
                    return False
                self.repeat -= 1
                self.container.seek(0)
                self.packets = self.container.demux(self.stream)
                return True
            for frame in packet.decode():
                for resampled in self.resampler.resample(frame):
                    self.buffer += bytes(resampled.planes[0])[:resampled.samples * 2]
        except (av.error.FFmpegError, ValueError) as error:
            # (a damaged file: what is decoded so far has gone out; the playback ends)
            log.info("media playback ends early: %s", error)
            return False
        size = self.samples * 2
        buffer = self.buffer
        while len(buffer) >= size:
            frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
            frame.planes[0].update(bytes(buffer[:size]))
            del buffer[:size]
            frame.sample_rate = self.sample_rate
            frame.pts = self.pts
            self.pts += self.samples
            try:
                self.ready.extend(bytes(packet) for packet in self.encoder.encode(frame))
            except (av.error.FFmpegError, ValueError):
                continue
        return True


class Player:
    """A party's media player: the SSRC and sequence numbers its playbacks share, and the
    playback going on (None when none is)."""

    __slots__ = ("ssrc", "seq", "ts", "sent_at", "playback", "payload_type", "frame",
                 "interval", "started", "count", "protect", "packets", "octets", "report_at",
                 "report", "cname")

    def __init__(self) -> None:
        ssrc = b"\0\0\0\0"
        while ssrc == b"\0\0\0\0":
            ssrc = os.urandom(4)
        self.ssrc = ssrc
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.ts: int | None = None  # the last packet's timestamp (None before the first)
        self.sent_at = 0.0  # when it was due
        self.playback: Playback | None = None
        self.payload_type = 0
        self.frame = 160
        self.interval = 0.02
        self.started = 0.0
        self.count = 0  # packets of this playback so far
        self.protect = None  # the SRTP context of a leg the relay has none for (worker's)
        # RTCP sender reports (``rtcp_report``): what all playbacks sent (``sent``), when
        # the next report is due (the first with the first packet, as 10.5's), and the one
        # due now: (packets, octets, timestamp) as they were when it fell due.
        self.packets = 0
        self.octets = 0
        self.report_at = 0.0
        self.report: tuple[int, int, int] | None = None
        self.cname = ""  # the daemon's instance id (the worker's play message)

    def start(self, playback: Playback, payload_type: int, frame: int, clock_rate: int,
              now: float) -> None:
        """Play ``playback`` from ``now`` (one that is going on stops)."""
        self.stop()
        if self.ts is None:
            ts = 0
            while ts == 0:
                ts = int.from_bytes(os.urandom(4), "big")
        else:
            ts = (self.ts + int((now - self.sent_at) * clock_rate)) & 0xFFFFFFFF
        self.ts = (ts - frame) & 0xFFFFFFFF  # (advanced by one frame per packet sent)
        self.playback = playback
        self.payload_type = payload_type
        self.frame = frame
        self.interval = frame / clock_rate
        self.started = now
        self.count = 0

    def stop(self) -> None:
        if self.playback is not None:
            self.playback.close()
            self.playback = None

    def next_due(self) -> float | None:
        """When the next packet is due (None: nothing plays)."""
        if self.playback is None:
            return None
        return self.started + self.count * self.interval

    def due(self, now: float) -> list[bytes]:
        """The RTP packets due by ``now`` (the playback ends when the media does)."""
        out = []
        playback = self.playback
        while playback is not None:
            due = self.started + self.count * self.interval
            if due > now:
                break
            payload = playback.next_payload()
            if payload is None:
                self.stop()
                break
            marker = 0x80 if self.count == 0 else 0
            self.seq = (self.seq + 1) & 0xFFFF
            self.ts = (self.ts + self.frame) & 0xFFFFFFFF
            self.sent_at = due
            self.count += 1
            out.append(_HEADER.pack(0x80, marker | self.payload_type, self.seq, self.ts,
                                    self.ssrc) + payload)
        return out

    def sent(self, size: int, timestamp: int, now: float) -> None:
        """A played packet went out, ``size`` bytes as sent (10.5 counts an SRTP packet's
        tag too); a report falls due with the first and then every 5 to 7 s."""
        self.packets += 1
        self.octets += size
        if now >= self.report_at and self.report is None:
            self.report = (self.packets, self.octets, timestamp)
            self.report_at = now + next_interval()

    def take_report(self) -> tuple[int, int, int] | None:
        """The sender report fallen due while sending (see ``report``), once."""
        report, self.report = self.report, None
        return report
