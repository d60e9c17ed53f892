"""Audio conversion through libavcodec (PyAV): decode, resample, encode in frames.

What ``transcoding.Direction`` uses for a pair that is not the two G.711 laws (G.722, Opus;
see ``codecs``). One ``AvConverter`` per received SSRC and target codec, since decoders and
encoders keep state between packets (Opus, G.722's ADPCM). Imported by a relay worker only
when a call needs it: loading libavcodec costs tens of megabytes.
"""

from __future__ import annotations

import av

from . import native
from .codecs import AudioCodec


class AvConverter:
    """Payloads of one codec in, payloads of another out, one per ``frame`` (RTP clock
    units of the target)."""

    def __init__(self, source: AudioCodec, target: AudioCodec, frame: int) -> None:
        # (G.729: bcg729 decodes too, as in 10.5)
        self.native_decoder = (native.NativeCoder(source.decoder, False)
                               if source.decoder in native.FRAMES else None)
        if self.native_decoder is None:
            self.decoder = av.CodecContext.create(source.decoder, "r")
            self.decoder.sample_rate = source.sample_rate
            self.decoder.layout = "mono"
        self.source_rate = source.sample_rate
        self.resampler = av.AudioResampler(format="s16", layout="mono", rate=target.sample_rate)
        # (G.729 and GSM: bcg729 and libgsm encode, as in 10.5; libavcodec only decodes)
        self.native = (native.NativeCoder(target.encoder, True)
                       if target.encoder in native.FRAMES else None)
        if self.native is None:
            self.encoder = av.CodecContext.create(target.encoder, "w")
            self.encoder.sample_rate = target.sample_rate
            self.encoder.layout = "mono"
            self.encoder.format = "s16"
            if target.bit_rate:
                self.encoder.bit_rate = target.bit_rate
        self.samples = frame * target.sample_rate // target.clock_rate  # per frame
        self.sample_rate = target.sample_rate
        self.buffer = bytearray()  # resampled audio (16-bit mono) not encoded yet
        self.decoded = 0  # samples decoded and resampled so far (the transcoder statistics)
        self.pts = 0
        # Comfort noise: one frame of noise per packet, as 10.5 sends it (libavcodec's
        # decoder makes 80 ms a packet; the rest waits for the next CN packet).
        self.one_frame = source.decoder == "comfortnoise"

    def push(self, payload: bytes) -> list[bytes]:
        """Decode one payload; the payloads of the frames it completes (maybe none). A
        payload the decoder refuses yields nothing (counted by nobody: as a lost packet)."""
        if not payload:
            return []  # (an empty packet would tell the decoder the stream ended)
        if not self._decode(payload):
            return []
        return self._encode(1 if self.one_frame else 0)

    def fill(self, payload: bytes) -> bytes | None:
        """One frame that fills a gap (``dtx``): what the decoder makes of ``payload`` (comfort
        noise parameters, decoded only when less than a frame is left: one continuous noise
        whatever the gap's length), silence without one."""
        self._fill_buffer(payload, self.samples)
        out = self._encode(1)
        return out[0] if out else None

    def linear(self, payload: bytes, count: int) -> bytes:
        """``count`` samples (16-bit) of what ``fill`` encodes, not encoded (for a G.711
        output, which frames them with its own pending samples)."""
        self._fill_buffer(payload, count)
        size = count * 2
        samples = bytes(self.buffer[:size])
        del self.buffer[:size]
        return samples

    def _fill_buffer(self, payload: bytes, count: int) -> None:
        size = count * 2
        while len(self.buffer) < size and payload:
            before = len(self.buffer)
            if not self._decode(payload) or len(self.buffer) == before:
                break  # (a decoder that gives nothing for it: silence makes up the rest)
        if len(self.buffer) < size:
            self.buffer += bytes(size - len(self.buffer))

    def _decode(self, payload: bytes) -> bool:
        if self.native_decoder is not None:
            pcm = self.native_decoder.decode(payload)
            if pcm is None:
                return False
            if self.source_rate == self.sample_rate:
                self.buffer += pcm
                self.decoded += len(pcm) // 2
                return True
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
            frame.planes[0].update(pcm)
            frame.sample_rate = self.source_rate
            decoded = [frame]
        else:
            try:
                decoded = self.decoder.decode(av.Packet(payload))
            except (av.error.FFmpegError, ValueError):
                return False
        for frame in decoded:
            for resampled in self.resampler.resample(frame):
                self.buffer += bytes(resampled.planes[0])[:resampled.samples * 2]
                self.decoded += resampled.samples
        return True

    def _encode(self, limit: int) -> list[bytes]:
        """The payloads of the whole frames buffered (at most ``limit``, 0: all)."""
        out: list[bytes] = []
        size = self.samples * 2
        while len(self.buffer) >= size and not (limit and len(out) >= limit):
            if self.native is not None:
                out.append(self.native.encode(bytes(self.buffer[:size])))
                del self.buffer[:size]
                continue
            frame = av.AudioFrame(format="s16", layout="mono", samples=self.samples)
            frame.planes[0].update(bytes(self.buffer[:size]))
            del self.buffer[:size]
            frame.sample_rate = self.sample_rate
            frame.pts = self.pts
            self.pts += self.samples
            try:
                out.extend(bytes(packet) for packet in self.encoder.encode(frame))
            except (av.error.FFmpegError, ValueError):
                continue
        return out
