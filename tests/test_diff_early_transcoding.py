"""Differential: early media in a call that transcodes, beside rtpengine 10.5 over real
sockets.

Found by rtpengine's t/test-transcode.pl: A offers PCMU only with ``codec: {transcode:
[G722]}`` (B is offered PCMU and G722), and B, a G.722 phone, sends RTP right after the
offer, before its answer. 10.5 sets up its codec handlers at the offer: what B sends in a
codec A was not offered reaches A converted into A's first codec from the first packet on,
B's PCMU goes to A under the same converted SSRC, and the answer carries the same output
on (sequence numbers and the encoder's clock continue). A's packets before the answer go
nowhere: 10.5 learns no address on B's side before B's SDP (its stream is not "filled"),
so A sends only after the answer here.
"""

from __future__ import annotations

import math
import re
import socket
import struct

import av
import pytest
from differential import (
    answer,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    sdp,
)

from rtpengined.media import g711

TRANSCODE_G722 = {"codec": {"transcode": ["G722"]}}


def _tone(rate: int, count: int, frequency: int = 440) -> list[list[int]]:
    """``count`` 20 ms frames of a sine at ``rate`` Hz, as linear samples."""
    size = rate // 50
    return [[int(8000 * math.sin(2 * math.pi * frequency * (i * size + k) / rate))
             for k in range(size)] for i in range(count)]


def _g722_tone(count: int) -> list[bytes]:
    """``count`` G.722 payloads of 20 ms of a 440 Hz tone (libavcodec's encoder)."""
    encoder = av.CodecContext.create("g722", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 16000, "mono", "s16"
    payloads: list[bytes] = []
    for index, samples in enumerate(_tone(16000, count + 2)):
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(samples))
        frame.sample_rate = 16000
        frame.planes[0].update(struct.pack(f"<{len(samples)}h", *samples))
        frame.pts = index * len(samples)
        payloads += [bytes(packet) for packet in encoder.encode(frame)]
    return payloads[:count]


G722 = _g722_tone(9)
PCMU = bytes(g711.linear_to_ulaw(s) for s in _tone(8000, 1)[0])


def _body(port: int, formats: str) -> str:
    return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", "a=sendrecv")


def _media_line(reply: dict) -> str:
    text = reply["sdp"].decode() if isinstance(reply["sdp"], bytes) else reply["sdp"]
    return re.search(r"m=audio \d+ (.*)\r\n", text).group(1)


def early_exchange(daemon, call_id: str, a_formats: str, b_formats: str, steps: list,
                   offer_options: dict, expected: list | None = None) -> list:
    """A offers ``a_formats`` (with ``offer_options``), B's packets may follow at once;
    the step "answer" is B's answer of ``b_formats``, a step ("reoffer", B's formats, A's)
    a re-offer from B that A answers. Each packet step is (sender, pt, seq,
    ts, ssrc, payload); noted is what the other party receives for it: (pt, seq, ts,
    payload, SSRC kept?, which output SSRC) each. The call is deleted at the end.

    ``expected``: another daemon's result for the same steps (the reference's). Where it
    received packets, the first is waited for longer: a relay worker converting its first
    packets on a loaded machine can take over half a second, and a packet that comes after
    its step is over would be counted against the next one."""
    sockets = {}
    for name in "AB":
        sockets[name] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sockets[name].bind(("127.0.0.1", 0))
    try:
        ids = {"call-id": call_id, "from-tag": "A", "ICE": "remove"}
        reply = daemon.request({"command": "offer", **ids, **offer_options,
                                "sdp": _body(sockets["A"].getsockname()[1], a_formats)})
        out: list = [_media_line(reply)]
        ports = {"B": int(re.search(r"m=audio (\d+)", reply["sdp"]).group(1))}
        seen: dict[int, int] = {}
        for step in steps:
            if step == "answer":
                reply = daemon.request({"command": "answer", **ids, "to-tag": "B",
                                        "sdp": _body(sockets["B"].getsockname()[1], b_formats)})
                out.append(_media_line(reply))
                ports["A"] = int(re.search(r"m=audio (\d+)", reply["sdp"]).group(1))
                continue
            if step[0] == "reoffer":  # B re-offers step[1], A answers step[2]
                reverse = {"call-id": call_id, "from-tag": "B", "to-tag": "A", "ICE": "remove"}
                for command, name, formats in (("offer", "B", step[1]), ("answer", "A", step[2])):
                    reply = daemon.request({"command": command, **reverse,
                                            "sdp": _body(sockets[name].getsockname()[1], formats)})
                    out.append(_media_line(reply))
                    ports["B" if name == "A" else "A"] = int(
                        re.search(r"m=audio (\d+)", reply["sdp"]).group(1))
                continue
            sender, pt, seq, ts, ssrc, payload = step
            sockets[sender].sendto(struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload,
                                   ("127.0.0.1", ports[sender]))
            got = []
            wanted = expected is not None and bool(expected[len(out)])
            for data in burst(sockets["B" if sender == "A" else "A"],
                              first=5.0 if wanted else 0.5):
                _, got_pt, got_seq, got_ts, got_ssrc = struct.unpack("!BBHII", data[:12])
                got.append((got_pt, got_seq, got_ts, data[12:], got_ssrc == ssrc,
                            seen.setdefault(got_ssrc, len(seen))))
            out.append(got)
        daemon.request({"command": "delete", "call-id": call_id})
        return out
    finally:
        for sock in sockets.values():
            sock.close()


def _b(pt: int, index: int, payload: bytes) -> tuple:
    return ("B", pt, 100 + index, 1000 + 160 * index, 0x2222, payload)


def _a(index: int) -> tuple:
    return ("A", 0, 500 + index, 8000 + 160 * index, 0x1111, PCMU)


# B's G.722 and one PCMU packet before the answer, the same after it, then A's PCMU.
BEFORE = [*(_b(9, i, G722[i]) for i in range(6)), _b(0, 6, PCMU)]
EARLY = [*BEFORE, "answer", *(_b(9, 7 + i, G722[6 + i]) for i in range(3)), _b(0, 10, PCMU),
         _a(0), _a(1), _a(2)]
# The same, B sending only the codec it answered after its answer.
EARLY_THEN_PCMU = [*BEFORE, "answer", _b(0, 7, PCMU), _b(0, 8, PCMU), _a(0), _a(1)]

SCENARIOS = {
    "B answers G722": ("9", EARLY),
    "B answers PCMU and G722": ("0 9", EARLY),
    # (the added codec first: A's PCMU goes to B as G.722, though B takes PCMU too)
    "B answers G722 and PCMU": ("9 0", EARLY),
    "B answers PCMU": ("0", EARLY_THEN_PCMU),
}


def _headers(result: list) -> list:
    """The SDP lines as they are; of each packet all but the payload (the G.722 decoder
    and resampler are each daemon's libavcodec), and its payload's length."""
    return [got if isinstance(got, str)
            else [(pt, seq, ts, len(payload), kept, ssrc) for pt, seq, ts, payload, kept, ssrc
                  in got] for got in result]


def _frequency(payloads: list[bytes]) -> float:
    linear = [g711.ulaw_to_linear(code) for code in b"".join(payloads)]
    rising = sum(1 for x, y in zip(linear, linear[1:], strict=False) if x < 0 <= y)
    return rising * 8000 / len(linear)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_early_media_is_transcoded_from_the_offer_as_rtpengine(default_pair, name):
    """What each party receives, before and after the answer, is 10.5's packet for packet:
    payload types, sequence numbers, timestamps, SSRCs and payload sizes. B's G.722 before
    the answer reaches A as PCMU (the 440 Hz tone B sent), not as the G.722 A cannot
    take."""
    b_formats, steps = SCENARIOS[name]
    call_id = f"early-{name}".replace(" ", "_")
    want = early_exchange(default_pair.reference, call_id, "0", b_formats, steps,
                          TRANSCODE_G722)
    have = early_exchange(default_pair.ours, call_id, "0", b_formats, steps, TRANSCODE_G722, want)
    assert _headers(have) == _headers(want)
    early = [packet for got in have[1:len(BEFORE) + 1] for packet in got]
    assert len(early) >= 5 and all(packet[0] == 0 and len(packet[3]) == 160
                                   for packet in early)
    # (the decoder's first frame starts from silence)
    assert abs(_frequency([packet[3] for packet in early[1:]]) - 440) < 30


def _party(port: int, formats: str) -> str:
    return sdp("v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", "a=sendrecv")


QUERIES = {
    # (the media B sends from is "transcoding" from the offer on, in 10.5's query)
    "transcode G722, query before the answer": [
        offer(_party(2000, "0"), **TRANSCODE_G722), query(), answer(_party(3000, "9")),
        query(), delete()],
    "transcode G722, answer PCMU": [
        offer(_party(2000, "0"), **TRANSCODE_G722), query(), answer(_party(3000, "0")),
        query(), delete()],
    "transcode G722, answer G722 and PCMU": [
        offer(_party(2000, "0"), **TRANSCODE_G722), answer(_party(3000, "9 0")), query(),
        delete()],
    "transcode a codec the offer has, query before the answer": [
        offer(_party(2000, "8 0"), codec={"transcode": ["PCMU"]}), query(), delete()],
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_before_the_answer_as_rtpengine(default_pair, name):
    default_pair.compare(QUERIES[name], name)


def _a8(index: int) -> tuple:
    return ("A", 8, 520 + index, 9000 + 160 * index, 0x1111, PCMU)


# After the answer: B sends a codec it was offered but did not answer. 10.5 keeps the codec
# handlers it set up at the offer, so a codec the offer added (G722, PCMA) reaches A
# converted (the SSRC kept, numbered from the packet, what passes untouched), while a codec
# of A's own that B left out, or one B was never offered, passes as it came.
UNANSWERED = {
    "B answers PCMU, then sends the added G722": (
        "0", "0", TRANSCODE_G722,
        ["answer", _b(0, 0, PCMU), *(_b(9, 1 + i, G722[i]) for i in range(3)), _b(0, 4, PCMU),
         _a(0)]),
    "B answers PCMU, then sends the added PCMA": (
        "0", "0", {"codec": {"transcode": ["PCMA"]}},
        ["answer", _b(0, 0, PCMU), _b(8, 1, PCMU), _b(8, 2, PCMU), _a(0)]),
    "B answers PCMU, then sends A's PCMA and the added G722": (
        "0 8", "0", TRANSCODE_G722,
        ["answer", _b(0, 0, PCMU), _b(8, 1, PCMU), _b(8, 2, PCMU),
         *(_b(9, 3 + i, G722[i]) for i in range(3)), _a(0)]),
    "B answers PCMU, then sends PCMA it was never offered": (
        "0", "0", TRANSCODE_G722, ["answer", _b(0, 0, PCMU), _b(8, 1, PCMU), _a(0)]),
    "B answers G722, A sends its PCMA B left out": (
        "0 8", "9", TRANSCODE_G722,
        ["answer", _b(9, 0, G722[0]), _a(0), _a(1), _a8(2), _a8(3), _a(4)]),
    "no transcoding: B answers PCMU, then sends PCMA": (
        "0 8", "0", {}, ["answer", _b(0, 0, PCMU), _b(8, 1, PCMU), _a(0)]),
}


@pytest.mark.parametrize("name", list(UNANSWERED))
def test_a_codec_the_answer_left_out_as_rtpengine(default_pair, name):
    """What each party receives when the answerer sends a codec it did not answer is
    10.5's packet for packet (payload types, numbers, timestamps, SSRCs kept or not)."""
    a_formats, b_formats, options, steps = UNANSWERED[name]
    call_id = f"unanswered-{name}".replace(" ", "_").replace(",", "").replace("'", "")
    want = early_exchange(default_pair.reference, call_id, a_formats, b_formats, steps, options)
    have = early_exchange(default_pair.ours, call_id, a_formats, b_formats, steps, options, want)
    assert _headers(have) == _headers(want)


def _a_pcma(index: int) -> tuple:
    return ("A", 8, 540 + index, 11000 + 160 * index, 0x1111, PCMU)


TRANSCODE_PCMA = {"codec": {"transcode": ["PCMA"]}}
# B took the PCMA the offer added, then re-offers with it first. 10.5 keeps that codec
# marked for transcoding: B is answered PCMA whatever A answers, and the relay goes on
# converting A's PCMU into it (and B's PCMA into PCMU).
_BEFORE_REOFFER = ["answer", _b(8, 0, PCMU), _a(0), _a(1)]
REOFFERED = {
    "A answers PCMU": [*_BEFORE_REOFFER, ("reoffer", "8 0", "0"),
                       _b(8, 1, PCMU), _a(2), _a(3)],
    "A answers PCMU and PCMA": [*_BEFORE_REOFFER, ("reoffer", "8 0", "0 8"),
                                _b(8, 1, PCMU), _a(2), _a_pcma(3), _a(4)],
    "B puts PCMU first": [*_BEFORE_REOFFER, ("reoffer", "0 8", "0"), _b(0, 1, PCMU), _a(2)],
}


@pytest.mark.parametrize("name", list(REOFFERED))
def test_a_reoffer_keeps_the_codec_transcoded_for_as_rtpengine(default_pair, name):
    """The answer to B's re-offer, and what each party receives after it, as 10.5's."""
    call_id = f"reoffered-{name}".replace(" ", "_")
    want = early_exchange(default_pair.reference, call_id, "0", "8", REOFFERED[name],
                          TRANSCODE_PCMA)
    have = early_exchange(default_pair.ours, call_id, "0", "8", REOFFERED[name],
                          TRANSCODE_PCMA, want)
    assert _headers(have) == _headers(want)


def _sdp(port: int, formats: str, *extra: str) -> str:
    return sdp("v=0", f"o=- 1 {port} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {port} RTP/AVP {formats}", *extra, "a=sendrecv")


def _b_reoffers(b_formats: str, a_formats: str, *, b_extra=(), a_extra=(), **options) -> list:
    return [offer(_sdp(5000, b_formats, *b_extra), tag="B", **{"to-tag": "A"}),
            answer(_sdp(4000, a_formats, *a_extra), from_tag="B", to_tag="A", **options)]


_EVENT_A = ("a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16")
_EVENT_B = ("a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15")
_PCMA_CALL = [offer(_sdp(4000, "0"), **TRANSCODE_PCMA), answer(_sdp(5000, "8"))]
REOFFER_SDPS = {
    # (the kept codec's clock rate is touched: no telephone-event at it, either side's)
    "telephone-event on both sides": [
        offer(_sdp(4000, "0 101", *_EVENT_A), **TRANSCODE_PCMA),
        answer(_sdp(5000, "8 96", *_EVENT_B)),
        *_b_reoffers("8 0 96", "0 101", b_extra=_EVENT_B, a_extra=_EVENT_A), query()],
    "B re-offers twice": [*_PCMA_CALL, *_b_reoffers("8 0", "0"), *_b_reoffers("8 0", "0 8"),
                          query()],
    "A re-offers in between": [*_PCMA_CALL, offer(_sdp(4000, "0")), answer(_sdp(5000, "8")),
                               *_b_reoffers("8 0", "0"), query()],
    "A re-offers afterwards": [*_PCMA_CALL, *_b_reoffers("8 0", "0"), offer(_sdp(4000, "0")),
                               answer(_sdp(5000, "8 0")), *_b_reoffers("8 0", "0"), query()],
    "B had answered PCMA and PCMU": [offer(_sdp(4000, "0"), **TRANSCODE_PCMA),
                                     answer(_sdp(5000, "8 0")), *_b_reoffers("8 0", "0"),
                                     query()],
    "single codec": [*_PCMA_CALL, *_b_reoffers("8 0", "0 8", flags=["single-codec"]),
                     query()],
    # (only the first codec counts: PCMA was never B's, G.722 comes second)
    "G722 kept, PCMA first": [offer(_sdp(4000, "0"), **TRANSCODE_G722),
                              answer(_sdp(5000, "9")), *_b_reoffers("8 9 0", "0"), query()],
    "G722 kept first": [offer(_sdp(4000, "0"), **TRANSCODE_G722), answer(_sdp(5000, "9")),
                        *_b_reoffers("9 8 0", "0"), query()],
    "B had answered PCMU": [offer(_sdp(4000, "0"), **TRANSCODE_PCMA),
                            answer(_sdp(5000, "0")), *_b_reoffers("8 0", "0"), query()],
}


@pytest.mark.parametrize("name", list(REOFFER_SDPS))
def test_reoffer_sdps_after_transcoding_as_rtpengine(default_pair, name):
    default_pair.compare(REOFFER_SDPS[name], name)
