"""The G.729 (bcg729) and GSM (libgsm) coders the relay converts with, used directly."""

from __future__ import annotations

import math
import struct

import pytest

from rtpengined.media import codecs, native
from rtpengined.media.avcodec import AvConverter


def _tone(samples: int, frequency: int = 440) -> bytes:
    return b"".join(struct.pack("=h", int(8000 * math.sin(2 * math.pi * frequency * n / 8000)))
                    for n in range(samples))


def _frequency(pcm: bytes) -> float:
    values = struct.unpack(f"={len(pcm) // 2}h", pcm)
    rising = sum(1 for x, y in zip(values, values[1:], strict=False) if x < 0 <= y)
    return rising * 8000 / len(values)


@pytest.mark.parametrize(("name", "frame", "size"), [("bcg729", 80, 10), ("libgsm", 160, 33)])
def test_round_trip_keeps_the_tone(name, frame, size):
    assert native.available(name)
    encoder, decoder = native.NativeCoder(name, True), native.NativeCoder(name, False)
    pcm = _tone(frame * 20)
    bits = encoder.encode(pcm + bytes(frame))  # (half a frame more: left out)
    assert len(bits) == 20 * size
    out = decoder.decode(bits)
    assert out is not None and len(out) == 20 * frame * 2
    assert abs(_frequency(out[:len(pcm)]) - 440) < 25
    encoder.close()
    encoder.close()  # (twice is nothing)


@pytest.mark.parametrize("name", ["bcg729", "libgsm"])
def test_payloads_of_no_whole_frame_are_refused(name):
    decoder = native.NativeCoder(name, False)
    assert decoder.decode(b"\x00" * 7) is None
    assert decoder.decode(b"") == b""


def test_g729_silence_descriptor_decodes_to_comfort_noise():
    decoder = native.NativeCoder("bcg729", False)
    out = decoder.decode(native.NativeCoder("bcg729", True).encode(_tone(80)) + b"\x00\x00")
    assert out is not None and len(out) == 2 * 80 * 2


def test_an_unknown_coder_is_not_available():
    assert not native.available("g7231")
    with pytest.raises(OSError):
        native.NativeCoder("g7231", True)


def test_without_the_library_the_codec_is_not_convertible():
    """As 10.5 built without bcg729: G.729 is not offered for conversion (both ways)."""
    assert codecs.convertible("PCMU", "G729") and codecs.convertible("G729", "PCMU")
    saved = native._libraries.get("bcg729")
    native._libraries["bcg729"] = None  # (what a machine without libbcg729 ends with)
    try:
        assert not codecs.convertible("PCMU", "G729")
        assert not codecs.convertible("G729", "PCMA")
        assert codecs.convertible("PCMU", "GSM")
    finally:
        native._libraries["bcg729"] = saved


@pytest.mark.parametrize(("target", "size"), [("g729", 20), ("gsm", 33)])
def test_converter_frames_pcmu_into_the_codec(target, size):
    """The relay's converter: 20 ms of PCMU in, one 20 ms packet of the codec out (G.729:
    two 10 ms frames back to back), and back to PCMU."""
    pcmu, known = codecs.CODECS["pcmu"], codecs.CODECS[target]
    into = AvConverter(pcmu, known, known.frame(20))
    back = AvConverter(known, pcmu, 160)
    from rtpengined.media import g711
    tone = bytes(g711.linear_to_ulaw(v) for v in struct.unpack("=800h", _tone(800)))
    packets = [p for i in range(5) for p in into.push(tone[160 * i:160 * (i + 1)])]
    assert [len(p) for p in packets] == [size] * 5
    audio = b"".join(p for packet in packets for p in back.push(packet))
    assert len(audio) == 800
    linear = b"".join(struct.pack("=h", g711.ulaw_to_linear(b)) for b in audio)
    assert abs(_frequency(linear) - 440) < 25
