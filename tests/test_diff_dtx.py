"""Differential: DTX handling of converted audio (``--dtx-delay``) beside rtpengine 10.5.

Both daemons run with the same DTX options. A (PCMU) and B (PCMA) talk through a call
that converts: A sends two packets and goes quiet; the relay fills the gap, one frame per
packet time, with comfort noise from ``--dtx-cn-params`` (or silence without them) until
A sends again, then goes on with A's audio. What B receives is compared packet for packet
and byte for byte: payload type, sequence numbers and timestamps relative to the first,
the payloads. A's packets are sent as rtpengine's DTX suite sends them: each after the
last packet of the relay's was received.
"""

from __future__ import annotations

import socket
import struct
import time

import pytest
from differential import DaemonPair, sdp

from rtpengined.config import ConfigError, parse_args
from rtpengined.media.dtx import DtxSettings


@pytest.fixture(scope="module", params=[["--dtx-cn-params=10"], []], ids=["noise", "silence"])
def pair(request):
    daemons = DaemonPair(["--dtx-delay=10", "--silence-detect=1", *request.param],
                         ranges=((26000, 26999), (27000, 27999)))
    yield daemons
    daemons.stop()


class _Call:
    """A (PCMU) and B (PCMA) on loopback sockets, their call converting (``with``: offer,
    answer; deleted and closed on exit). ``send`` is A's packet of ``samples`` bytes."""

    def __init__(self, daemon, call_id: str) -> None:
        self.daemon, self.ids = daemon, {"call-id": call_id, "from-tag": "A"}

    def __enter__(self) -> _Call:
        self.a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for sock in (self.a, self.b):
                sock.bind(("127.0.0.1", 0))
            self.b.settimeout(1.0)
            offer = self.request({"command": "offer", "codec": {"transcode": ["PCMA"]},
                                  "sdp": self._body(self.a, "0")})
            assert offer["result"] == "ok", offer
            answer = self.request({"command": "answer", "to-tag": "B",
                                   "sdp": self._body(self.b, "8")})
            assert answer["result"] == "ok", answer
        except BaseException:
            self.__exit__()
            raise
        self.to_b = ("127.0.0.1", int(answer["sdp"].split("m=audio ")[1].split()[0]))
        return self

    def __exit__(self, *_exc) -> None:
        self.daemon.request({"command": "delete", "call-id": self.ids["call-id"]})
        self.a.close()
        self.b.close()

    def request(self, message: dict) -> dict:
        return self.daemon.request({**self.ids, **message})

    @staticmethod
    def _body(sock: socket.socket, formats: str) -> str:
        return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                   f"m=audio {sock.getsockname()[1]} RTP/AVP {formats}", "a=sendrecv")

    def send(self, seq: int, ts: int, samples: int = 160) -> None:
        self.a.sendto(struct.pack("!BBHII", 0x80, 0, seq, ts, 0x5678) + b"\x40" * samples,
                      self.to_b)


def _exchange(daemon, call_id: str, ptime: int, fills: int) -> list[tuple]:
    """A's two packets of ``ptime`` ms (the SDP's packet time is 20 ms), ``fills`` packets
    of the gap (two of A's packet times), A's next packet (its timestamp where the gap's
    end puts it), then two more packets: what B received."""
    samples = 8 * ptime
    got: list[bytes] = []
    with _Call(daemon, call_id) as call:

        def receive(count: int) -> None:
            for _ in range(count):
                got.append(call.b.recv(2048))

        call.send(2000, 4000, samples)
        receive(1)
        call.send(2001, 4000 + samples, samples)
        receive(samples * 2 // 160 - 1)  # (30 ms to 20: A's second packet completes two)
        receive(fills)
        call.send(2002, 4000 + samples * 4, samples)
        receive(3)
    first_seq, first_ts = struct.unpack_from("!HI", got[0], 2)
    return [(data[1], (struct.unpack_from("!H", data, 2)[0] - first_seq) & 0xFFFF,
             (struct.unpack_from("!I", data, 4)[0] - first_ts) & 0xFFFFFFFF, data[12:])
            for data in got]


@pytest.mark.parametrize(("ptime", "fills"), [(20, 2), (30, 3)], ids=["ptime 20", "ptime 30"])
def test_a_gap_in_converted_audio_is_filled_as_rtpengine_fills_it(pair, ptime, fills):
    want = _exchange(pair.reference, f"dtx-{ptime}", ptime, fills)
    have = _exchange(pair.ours, f"dtx-{ptime}", ptime, fills)
    assert have == want
    assert [seq for _, seq, _, _ in want] == list(range(len(want)))  # numbered on, no holes
    audio = b"\x68" * 160  # (A's 0x40 in A-law)
    assert want[0][3] == audio and want[-3][3] == audio
    assert all(payload != audio for _, _, _, payload in want[-2:])  # the gap again


def test_without_dtx_a_gap_stays_a_gap():
    """(Off by default, as in 10.5: nothing is made between A's packets.)"""
    daemons = DaemonPair([], ranges=((26000, 26999), (27000, 27999)))
    try:
        for daemon in (daemons.reference, daemons.ours):
            with pytest.raises(TimeoutError):
                _exchange(daemon, "no-dtx", 20, 2)
    finally:
        daemons.stop()


def test_dtx_options_are_read_and_checked():
    config = parse_args(["--dtx-delay=50", "--max-dtx=0", "--dtx-shift=0", "--dtx-buffer=5",
                         "--dtx-lag=60", "--dtx-cn-params=10", "--dtx-cn-params=2"])
    assert (config.dtx_delay, config.max_dtx, config.dtx_shift, config.dtx_buffer,
            config.dtx_lag, config.dtx_cn_params) == (50, 0, 0, 5, 60, [10, 2])
    defaults = parse_args([])
    assert (defaults.dtx_delay, defaults.max_dtx, defaults.dtx_shift, defaults.dtx_buffer,
            defaults.dtx_lag, defaults.dtx_cn_params) == (0, 30, 5, 10, 100, [])
    settings = DtxSettings(0.05, 0, 5, 0.06, 0.0, b"\x0a\x02")
    assert DtxSettings.from_arg(settings.to_arg()) == settings
    for bad in (["--dtx-cn-params=128"], ["--dtx-delay=-1"]):
        with pytest.raises(ConfigError):
            parse_args(bad)


def _after_block(daemon, call_id: str) -> int:
    """A's two packets and a gap's first frame, then ``block media`` for A: how many
    packets B still receives in the next 0.5 s."""
    with _Call(daemon, call_id) as call:
        for n in range(2):
            call.send(2000 + n, 4000 + 160 * n)
            call.b.recv(2048)
        call.b.recv(2048)  # the gap's first frame
        assert call.request({"command": "block media"})["result"] == "ok"
        call.b.settimeout(0.05)
        count = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                call.b.recv(2048)
                count += 1
            except TimeoutError:
                continue
        return count


def test_block_media_stops_the_gap_filling_too(pair):
    """A deliberate difference: ``block media`` stops what goes to B, the relay's own fill
    included. 10.5 goes on sending comfort noise for the gap (until --max-dtx)."""
    assert _after_block(pair.reference, "dtx-block") >= 15
    assert _after_block(pair.ours, "dtx-block") <= 1  # (a tick already under way)
