"""The media player's core (``rtpengined.media.player``) without sockets: what a media file
becomes (frames in the target codec, repeats, the remainder), the RTP it goes out in (marker,
sequence numbers, timestamps and their clock across playbacks, pacing), and ``probe``."""

from __future__ import annotations

import io
import math
import os
import struct
import wave

import pytest

from rtpengined.media import g711
from rtpengined.media.codecs import CODECS
from rtpengined.media.player import Playback, PlaybackError, Player, probe


def _wav(samples: list[int], rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


TONE = [int(9000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(800)]  # 100 ms


def _payloads(playback: Playback) -> list[bytes]:
    out = []
    while (payload := playback.next_payload()) is not None:
        out.append(payload)
    return out


def test_g711_frames_are_the_samples_encoded_one_packet_time_each():
    payloads = _payloads(Playback(_wav(TONE), CODECS["pcma"], 160))
    assert payloads == [bytes(g711.linear_to_alaw(s) for s in TONE[i:i + 160])
                        for i in range(0, 800, 160)]
    ulaw = _payloads(Playback(_wav(TONE), CODECS["pcmu"], 160))
    assert ulaw[0] == bytes(g711.linear_to_ulaw(s) for s in TONE[:160])


def test_what_fills_no_last_frame_is_not_sent_and_repeats_go_on_without_a_gap():
    assert len(_payloads(Playback(_wav(TONE), CODECS["pcma"], 240))) == 3  # 720 of 800
    repeated = _payloads(Playback(_wav(TONE), CODECS["pcma"], 240, repeat=3))
    assert len(repeated) == 10  # 2400 samples: the remainder carries over into the next
    assert b"".join(repeated) == bytes(g711.linear_to_alaw(s) for s in TONE * 3)


def test_resampled_codecs_and_other_sample_rates():
    assert len(_payloads(Playback(_wav(TONE), CODECS["g722"], 160))) == 4  # (resampler delay)
    assert [len(p) for p in _payloads(Playback(_wav(TONE), CODECS["g722"], 160))] == [160] * 4
    wideband = _wav([int(9000 * math.sin(n / 7)) for n in range(4410)], rate=44100)
    assert len(_payloads(Playback(wideband, CODECS["pcma"], 160))) == 4  # 100 ms at 8 kHz
    assert len(_payloads(Playback(_wav(TONE), CODECS["opus"], 960))) >= 3


def test_probe_gives_the_duration_and_refuses_what_is_no_media(tmp_path):
    assert probe(_wav(TONE)) == 100
    path = tmp_path / "tone.wav"
    path.write_bytes(_wav(TONE * 3))
    assert probe(str(path)) == 300
    for bad in (b"RIFF" + b"\0" * 40, b"plain text\n" * 20, str(tmp_path / "missing.wav")):
        with pytest.raises(PlaybackError):
            probe(bad)


def test_only_regular_files_are_opened(tmp_path):
    """A FIFO would block the control plane's read (nothing ever writes it), a device or a
    URL is no media file here: each is refused before libavformat sees it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for name in (str(fifo), "/dev/zero", str(tmp_path), "http://127.0.0.1:9/tone.wav"):
        with pytest.raises(PlaybackError):
            probe(name)


def _header(packet: bytes) -> tuple[int, int, int, bytes]:
    first, second, seq, ts = struct.unpack("!BBHI", packet[:8])
    assert first == 0x80
    return second, seq, ts, packet[8:12]


def test_a_player_paces_marks_and_numbers_its_packets():
    player = Player()
    player.start(Playback(_wav(TONE), CODECS["pcma"], 160), 8, 160, 8000, now=100.0)
    first = player.due(100.0)
    assert len(first) == 1 and player.next_due() == pytest.approx(100.02)
    assert player.due(100.019) == []
    rest = player.due(100.5)  # late: everything due goes at once
    packets = first + rest
    assert len(packets) == 5 and player.next_due() is None  # ended with the media
    headers = [_header(p) for p in packets]
    assert [h[0] for h in headers] == [0x88, 8, 8, 8, 8]
    assert [(h[1] - headers[0][1]) % 65536 for h in headers] == [0, 1, 2, 3, 4]
    assert [(h[2] - headers[0][2]) % 2**32 for h in headers] == [0, 160, 320, 480, 640]
    assert len({h[3] for h in headers}) == 1 and headers[0][3] != b"\0\0\0\0"


def test_a_new_playback_keeps_the_ssrc_and_sequence_and_moves_the_clock_by_the_time_passed():
    player = Player()
    player.start(Playback(_wav(TONE), CODECS["pcma"], 160), 8, 160, 8000, now=10.0)
    last = _header(player.due(11.0)[-1])  # sent when due: the last at 10.08
    player.start(Playback(_wav(TONE), CODECS["pcma"], 160), 8, 160, 8000, now=10.58)
    first = _header(player.due(10.58)[0])
    assert first[0] == 0x88 and first[3] == last[3]
    assert (first[1] - last[1]) % 65536 == 1
    assert (first[2] - last[2]) % 2**32 == 4000  # 0.5 s at 8 kHz
    player.stop()
    assert player.next_due() is None and player.due(20.0) == []
