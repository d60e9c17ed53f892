"""Differential: ``play media`` / ``stop media`` beside rtpengine 10.5, packets compared over
loopback sockets.

The media is a WAV file made here (a 100 ms 440 Hz tone, 16-bit mono at 8 kHz), sent as a
``blob`` or named as a ``file``. What each party receives is compared packet for packet:
marker and payload type, sequence numbers and timestamps relative to the first packet, the
SSRC (one per party, kept across playbacks) and, for G.711, the payload bytes; G.722 and
Opus through a resampler and encoder build of their own: the packet count and timestamps.
Plus the answers: duration, the errors, the party and media rules.
"""

from __future__ import annotations

import io
import math
import socket
import struct
import time
import wave

import pytest
from differential import (
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    sdp,
)


def _tone(millis: int = 100, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        count = rate * millis // 1000
        wav.writeframes(b"".join(
            struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * n / rate)))
            for n in range(count)))
    return out.getvalue()


TONE = _tone()


class _Call:
    """A call between A and B on loopback sockets; B answers unless ``answer`` is None."""

    def __init__(self, daemon, call_id: str, a: str = "8", b: str | None = "8",
                 a_attributes: tuple = (), b_attributes: tuple = ()) -> None:
        self.daemon = daemon
        self.call_id = call_id
        self.sockets = {}
        for name in "AB":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            self.sockets[name] = sock
        self.ssrcs: dict[int, int] = {}
        self.payload_types = {int(pt) for pt in f"{a} {b or ''}".split()}
        self.request({"command": "offer", "from-tag": "A", "ICE": "remove",
                      "sdp": self.body("A", a, a_attributes)})
        if b is not None:
            self.request({"command": "answer", "from-tag": "A", "to-tag": "B", "ICE": "remove",
                          "sdp": self.body("B", b, b_attributes)})

    def body(self, name: str, formats: str, attributes: tuple) -> str:
        direction = () if any(a.endswith(("send", "recv", "only", "inactive"))
                              for a in attributes) else ("a=sendrecv",)
        return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                   f"m=audio {self.sockets[name].getsockname()[1]} RTP/AVP {formats}",
                   *attributes, *direction)

    def request(self, message: dict) -> dict:
        return self.daemon.request({"call-id": self.call_id, **message})

    def answer_of(self, message: dict) -> tuple:
        reply = self.request(message)
        return reply.get("result"), reply.get("error-reason"), reply.get("duration")

    def _read(self, name: str, first: float, gap: float) -> list[bytes]:
        """What ``name`` received until ``gap`` passed without a packet, this call's codecs
        only (a packet of an earlier test's call, sent to a port the kernel gave this socket
        again, is not)."""
        sock = self.sockets[name]
        sock.settimeout(first)
        raw = []
        while True:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                return raw
            sock.settimeout(gap)
            if len(data) >= 12 and data[1] & 0x7F in self.payload_types:
                raw.append(data)

    def received(self, name: str, first: float = 1.0, gap: float = 0.5,
                 payloads: bool = True) -> list:
        """(marker|pt, seq and ts relative to the first packet, which SSRC, payload; None for
        a codec whose encoder build differs, as Opus's frame sizes do) of what ``name``
        received."""
        raw = self._read(name, first, gap)
        out = []
        for data in raw:
            _, pt, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
            base_seq, base_ts = struct.unpack("!2xHI", raw[0][:8])
            out.append((pt, (seq - base_seq) % 65536, (ts - base_ts) % 2**32,
                        self.ssrcs.setdefault(ssrc, len(self.ssrcs)),
                        data[12:] if payloads else None))
        return out

    def raw_headers(self, name: str) -> list[tuple[int, int, int]]:
        return [struct.unpack("!2xHII", data[:12]) for data in self._read(name, 1.0, 0.5)]

    def close(self) -> None:
        self.request({"command": "delete"})
        for sock in self.sockets.values():
            sock.close()


def _both(pair, scenario, name: str):
    have = scenario(pair.ours, f"player-{name}")
    want = scenario(pair.reference, f"player-{name}")
    return want, have


def _play(call: _Call, party: str = "A", **extra) -> tuple:
    return call.answer_of({"command": "play media", "from-tag": party, "blob": TONE, **extra})


def test_a_played_tone_arrives_as_in_10_5(default_pair):
    def scenario(daemon, call_id):
        call = _Call(daemon, call_id)
        try:
            return [_play(call), call.received("A"), call.received("B", first=0.2)]
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "basic")
    assert have == want
    assert len(want[1]) == 5 and want[1][0][0] == 0x88  # (marker on the first packet only)


def test_a_second_playback_goes_on_with_the_ssrc_sequence_and_clock(default_pair):
    def scenario(daemon, call_id):
        call = _Call(daemon, call_id)
        try:
            _play(call, "B")
            first = call.raw_headers("B")
            time.sleep(0.3)
            _play(call, "B")
            second = call.raw_headers("B")
            seq_step = (second[0][0] - first[-1][0]) % 65536
            # the clock moved by the time since the last packet (~0.8 s at 8 kHz: the read's
            # wait, then the sleep), not by one frame: 10.5 rebases a new playback on its
            # last packet's time
            ts_step = (second[0][1] - first[-1][1]) % 2**32
            return (len(first), len(second), seq_step, second[0][2] == first[0][2],
                    5000 < ts_step < 12000)
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "again")
    assert have == want == (5, 5, 1, True, True)


@pytest.mark.parametrize(("name", "b", "attributes", "exact"), [
    ("PCMU when the offer had it", "0", (), True),
    ("the answer's codecs the offer had", "0 8", (), True),
    ("none in common: the answer's first", "101 0", ("a=rtpmap:101 telephone-event/8000",), True),
    ("a codec the relay cannot make is passed over", "3 8", (), True),
    ("the party's packet time", "8", ("a=ptime:30",), True),
    ("G.722", "9", (), False),
    ("G.723.1 in 30 ms frames", "4", (), True),
    ("Opus", "96", ("a=rtpmap:96 opus/48000/2",), False),
])
def test_the_party_is_played_in_its_codec_as_in_10_5(default_pair, name, b, attributes, exact):
    offer = b if b in ("0", "96", "9", "4") else "8"

    def scenario(daemon, call_id):
        call = _Call(daemon, call_id, a=offer, b=b,
                     a_attributes=attributes if b == "96" else (), b_attributes=attributes)
        try:
            return [_play(call, "B"), call.received("B", payloads=exact)]
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "codec-" + name)
    assert have == want


def test_repeat_times_plays_the_media_again_without_a_gap(default_pair):
    def scenario(daemon, call_id):
        call = _Call(daemon, call_id)
        try:
            return [_play(call, **{"repeat-times": 3}), call.received("A")]
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "repeat")
    assert have == want
    assert len(want[1]) == 15


def test_a_party_that_only_offered_and_every_party_with_all(default_pair):
    def scenario(daemon, call_id):
        offered = _Call(daemon, call_id + "-offer", b=None)
        both = _Call(daemon, call_id + "-all")
        try:
            return [_play(offered), offered.received("A"),
                    both.answer_of({"command": "play media", "flags": ["all"], "blob": TONE}),
                    both.received("A"), both.received("B")]
        finally:
            offered.close()
            both.close()

    want, have = _both(default_pair, scenario, "parties")
    assert have == want


@pytest.mark.parametrize("delete", [
    {"from-tag": "A", "delete-delay": 30},  # (the branch stays 30 s)
    {"delete-delay": 30},  # (the whole call stays 30 s)
], ids=["party", "call"])
def test_a_delayed_delete_stops_the_player_at_once(default_pair, delete):
    """``delete`` stops what is played to the parties at once, also when the call stays for
    its delete delay (10.5; rtpengine's suite caught the rest of a 100 ms tone arriving at
    the next case's sockets on the same addresses): only what left before the delete."""
    def scenario(daemon, call_id):
        call = _Call(daemon, call_id)
        try:
            long_tone = _tone(millis=1000)
            played = call.answer_of({"command": "play media", "from-tag": "A",
                                     "blob": long_tone})
            first = call._read("A", 1.0, 0.0001)[:1]  # (the first packet only)
            deleted = call.request({"command": "delete", **delete}).get("result")
            time.sleep(0.05)  # (what the worker sent before it had the delete)
            call.sockets["A"].settimeout(0.01)
            try:
                while True:
                    call.sockets["A"].recv(4096)
            except TimeoutError:
                pass
            return [played[0], len(first), deleted, len(call._read("A", 0.3, 0.3))]
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "delayed-delete-" + "-".join(delete))
    assert have == want == ["ok", 1, "ok", 0]


def test_a_file_and_stop_media(default_pair, tmp_path):
    path = tmp_path / "tone.wav"
    path.write_bytes(_tone(400))

    def scenario(daemon, call_id):
        call = _Call(daemon, call_id)
        try:
            started = call.answer_of({"command": "play media", "from-tag": "A",
                                      "file": str(path)})
            time.sleep(0.1)
            stopped = call.answer_of({"command": "stop media", "from-tag": "A"})
            headers = call.raw_headers("A")
            again = call.answer_of({"command": "stop media", "from-tag": "A"})
            return started, stopped, 3 <= len(headers) <= 8, again
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "file")
    assert have == want
    assert want[0][2] == 400


def test_answers_and_errors_as_in_10_5(default_pair, tmp_path):
    text = tmp_path / "not-media.txt"
    text.write_text("hello\n" * 50)

    def scenario(daemon, call_id):
        call = _Call(daemon, call_id)
        held = {name: _Call(daemon, f"{call_id}-{name}", b=None, a_attributes=(f"a={name}",))
                for name in ("sendonly", "recvonly", "inactive")}
        try:
            out = [call.answer_of({"command": "stop media", "from-tag": "B"})]
            for message in (
                {"from-tag": "A"},
                {"blob": TONE},
                {"from-tag": "A", "blob": ""},
                {"from-tag": "A", "blob": b"not a media file" * 8},
                {"from-tag": "A", "file": "/nonexistent/tone.wav"},
                {"from-tag": "A", "file": str(text)},
                {"from-tag": "A", "db-id": 5},
                {"from-tag": "X", "blob": TONE},
                {"label": "nobody", "blob": TONE},
            ):
                out.append(call.answer_of({"command": "play media", **message}))
            # a party whose play failed has its player: stop media is ok
            out.append(call.answer_of({"command": "stop media", "from-tag": "A"}))
            out.append(daemon.request({"command": "play media", "call-id": "no-such-call",
                                       "from-tag": "A", "blob": TONE}).get("error-reason"))
            out.append(daemon.request({"command": "stop media", "call-id": "no-such-call",
                                       "from-tag": "A"}).get("error-reason"))
            for name, held_call in held.items():
                out.append((name, _play(held_call), len(held_call.received("A", first=0.4))))
            return out
        finally:
            call.close()
            for held_call in held.values():
                held_call.close()

    want, have = _both(default_pair, scenario, "errors")
    assert have == want


def test_a_party_whose_sdes_keys_pass_end_to_end_gets_it_encrypted_with_its_key(default_pair):
    """SRTP offered and answered with SDES: the relay passes each party's packets as they
    are, so the played ones are encrypted with the key the party was given (the other
    party's): decrypted here with it, they are the tone as 10.5 sends it."""
    import base64

    from pylibsrtp import Policy, Session

    keys = {"A": "eMlRvW8mWU4WodT9JOvAM+pn6I0/EXOhT9n0KeKk",
            "B": "DVM+BTeYX2UI1LaA9bgXrcBEDBxoItA9/39fSoRF"}

    def scenario(daemon, call_id):
        call = _Call.__new__(_Call)
        call.daemon, call.call_id, call.ssrcs, call.sockets = daemon, call_id, {}, {}
        call.payload_types = {8}
        for name in "AB":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            call.sockets[name] = sock

        def body(name):
            return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                       f"m=audio {call.sockets[name].getsockname()[1]} RTP/SAVP 8",
                       "a=sendrecv", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{keys[name]}")

        try:
            call.request({"command": "offer", "from-tag": "A", "ICE": "remove", "DTLS": "off",
                          "sdp": body("A")})
            call.request({"command": "answer", "from-tag": "A", "to-tag": "B", "ICE": "remove",
                          "sdp": body("B")})
            reply = _play(call)
            session = Session(Policy(key=base64.b64decode(keys["B"]),
                                     ssrc_type=Policy.SSRC_ANY_INBOUND))
            clear = []
            for data in call._read("A", 1.0, 0.5):  # (SRTP keeps the header in the clear)
                try:
                    clear.append(session.unprotect(data)[12:])
                except Exception:  # noqa: BLE001  (not this call's key: another call's)
                    continue
            return reply, clear
        finally:
            call.close()

    want, have = _both(default_pair, scenario, "srtp")
    assert have == want
    assert len(want[1]) == 5
