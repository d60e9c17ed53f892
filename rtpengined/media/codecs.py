"""The audio codecs the relay can convert between, and which pairs it can; sans-I/O.

The two G.711 laws convert through 256-byte tables in pure Python (``g711``). G.722, G.723.1, Opus
and comfort noise (into audio) go through libavcodec, the codec library rtpengine itself
uses, by way of PyAV (``avcodec``): decoded, resampled and encoded again. G.729 and GSM are
decoded there too but encoded by bcg729 and libgsm (``native``), the libraries 10.5 links
for them; without one, its codec is not offered for conversion. PyAV is looked for, not
imported, here: the control process decides what an offer may add without loading it; a
relay worker imports it when a call first needs it. Without PyAV only the G.711 laws are
offered.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace

from . import native


@dataclass(frozen=True, slots=True)
class AudioCodec:
    name: str  # rtpmap encoding as 10.5 writes it
    clock_rate: int  # RTP timestamp units per second
    sample_rate: int  # audio samples per second (G.722: 16 kHz under an 8 kHz RTP clock)
    channels: int  # in the rtpmap (10.5 offers Opus as stereo; the relay sends mono)
    static_pt: str | None
    decoder: str | None  # libavcodec names
    encoder: str | None
    bit_rate: int = 0  # what 10.5's encoder sends (measured), 0: the codec's own
    frame_ms: int = 0  # the codec's fixed frame (G.723.1: 30 ms), 0: any packet time

    def frame(self, ptime: int) -> int:
        """RTP clock units per frame sent at ``ptime`` ms: a codec with a fixed frame gets
        its own where ``ptime`` is no multiple of it (10.5 sends G.723.1 in 30 ms)."""
        if self.frame_ms and ptime % self.frame_ms:
            ptime = self.frame_ms
        return ptime * self.clock_rate // 1000

    @property
    def rtpmap(self) -> str:
        text = f"{self.name}/{self.clock_rate}"
        return text + f"/{self.channels}" if self.channels > 1 else text


CODECS = {
    "pcmu": AudioCodec("PCMU", 8000, 8000, 1, "0", "pcm_mulaw", "pcm_mulaw"),
    "pcma": AudioCodec("PCMA", 8000, 8000, 1, "8", "pcm_alaw", "pcm_alaw"),
    "g722": AudioCodec("G722", 8000, 16000, 1, "9", "g722", "g722"),
    # G.723.1 (6.3 kbit/s, 30 ms frames), libavcodec's coder as 10.5 uses it.
    "g723": AudioCodec("G723", 8000, 8000, 1, "4", "g723_1", "g723_1", 6300, 30),
    "opus": AudioCodec("opus", 48000, 48000, 2, None, "libopus", "libopus", 32000),
    # G.729 (Annex A, 8 kbit/s, 10 ms frames; encoded without Annex B's silence
    # suppression, as 10.5 offers it: annexb=no) and GSM 06.10 (13 kbit/s, 20 ms frames).
    "g729": AudioCodec("G729", 8000, 8000, 1, "18", "bcg729", "bcg729", frame_ms=10),
    "gsm": AudioCodec("GSM", 8000, 8000, 1, "3", "gsm", "libgsm", frame_ms=20),
    # Comfort noise (RFC 3389): decoded into noise for a party that takes no CN (10.5).
    "cn": AudioCodec("CN", 8000, 8000, 1, "13", "comfortnoise", "comfortnoise"),
}
G711 = frozenset({"pcmu", "pcma"})
_HAS_PYAV = importlib.util.find_spec("av") is not None


def codec(encoding: str) -> AudioCodec | None:
    """The codec for an rtpmap encoding name (any case), if the relay knows it. A G.711 law
    at another clock rate is named with it (``PCMU/16000``): its samples come at that rate
    (10.5 converts it through its resampler, as any codec of another rate)."""
    name, _, rate = encoding.lower().partition("/")
    known = CODECS.get(name)
    if known is None or not rate or rate == str(known.clock_rate):
        return known
    if name in G711 and rate.isdigit() and 0 < int(rate) <= 192000:
        return replace(known, clock_rate=int(rate), sample_rate=int(rate))
    return None


def conversion_name(encoding: str, rate: str) -> str:
    """How a conversion names a codec of an rtpmap (encoding, clock rate): the encoding
    (lower case), with the rate when it is not the codec's own (``codec`` takes both)."""
    encoding = encoding.lower()
    known = CODECS.get(encoding)
    if known is not None and rate.isdigit() and int(rate) != known.clock_rate:
        return f"{encoding}/{rate}"
    return encoding


def playable(codec: AudioCodec) -> bool:
    """Whether the media player can send in ``codec`` (it encodes through libavcodec)."""
    return (_HAS_PYAV and codec.encoder is not None and codec.name != "CN"
            and codec.encoder not in native.FRAMES)


def _native_ok(name: str | None) -> bool:
    return name not in native.FRAMES or native.available(name)


def encodable(codec: AudioCodec) -> bool:
    """Whether the relay has an encoder for ``codec`` here (bcg729 or libgsm installed)."""
    return _native_ok(codec.encoder)


def convertible(source: str, target: str) -> bool:
    """Whether the relay can turn audio in ``source`` into ``target`` (encoding names)."""
    source_codec, target_codec = codec(source), codec(target)
    if source_codec is None or target_codec is None or source_codec == target_codec:
        return False
    return (source.lower() in G711 and target.lower() in G711
            or _HAS_PYAV and encodable(target_codec) and _native_ok(source_codec.decoder))



# (the order 10.5's ``--codecs`` lists them in)
_LISTED = ("pcma", "pcmu", "g723", "g722", "g729", "gsm", "opus")


def support_lines() -> list[str]:
    """``--codecs``: each codec the relay knows and what it can do with it here, in 10.5's
    words and layout (the name right-aligned in 20 columns): G.711 always both ways, the
    others with PyAV (and bcg729 or libgsm for G.729 and GSM); telephone-event and comfort
    noise as 10.5 lists them after the audio codecs."""
    lines = []
    for key in (*_LISTED, "telephone-event", "cn"):
        known = CODECS.get(key)
        if known is None or key in G711:  # (telephone-event: DTMF, relayed and converted)
            decode = encode = True
        else:
            decode = _HAS_PYAV and _native_ok(known.decoder)
            encode = _HAS_PYAV and encodable(known)
        status = ("fully supported" if decode and encode
                  else "supported for decoding only" if decode
                  else "supported for encoding only" if encode else "not supported")
        lines.append(f"{known.name if known is not None else key:>20}: {status}")
    return lines
