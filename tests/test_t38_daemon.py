"""A real fax through the T.38 gateway of each daemon (rtpengine 10.5 and ours), over
real sockets, as rtpengine's own gateway test runs it: a fax machine on G.711 audio on one
side, one on T.38 (UDPTL) on the other, both spandsp's (``fax_terminals``), one page sent
and received in full.

The daemon paces the audio it plays to the audio party (one packet per 20 ms); the audio
machine answers each packet with one of its own, so the call runs at the line's real
speed, about 25 s per call (the rtpengine runs show the test asks what 10.5 does). The signalling beside 10.5 is in
``test_diff_t38``; the gateway's parts (UDPTL, spandsp) in ``test_t38``.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time

import pytest
from differential import running, sdp, start_ours, start_reference
from fax_terminals import (
    T30_ERR_OK,
    PcmFaxTerminal,
    T38FaxTerminal,
    make_fax_tiff,
    spandsp_available,
    tiff_page_info,
)

from rtpengined.udptl import T38Options, UdptlDecoder, UdptlEncoder

pytestmark = pytest.mark.skipif(not spandsp_available(), reason="libspandsp2 not installed")

DAEMONS = {"rtpengine": lambda: start_reference(22500, 22599),
           "rtpengined": lambda: start_ours(22600, 22699)}
IMAGE = ("a=sendrecv", "a=T38FaxVersion:0", "a=T38MaxBitRate:14400",
         "a=T38FaxRateManagement:transferredTCF", "a=T38FaxMaxBuffer:262",
         "a=T38FaxMaxDatagram:300")


def _bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _port(reply: dict) -> int:
    line = next(ln for ln in reply["sdp"].split("\r\n") if ln.startswith("m="))
    return int(line.split()[1])


def _setup(daemon, call_id: str, fax: socket.socket, pcm: socket.socket, ec: str,
           decode: bool, reinvite: bool = False, address: str = "127.0.0.1") -> tuple[int, int]:
    """Signal the call; returns the daemon's ports for the T.38 and the audio party. With
    ``decode`` the T.38 party offers (``T.38: decode``), else the audio party offers with
    ``T.38: force`` and the T.38 party answers."""
    fax_port, pcm_port = fax.getsockname()[1], pcm.getsockname()[1]
    image = sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
                f"m=image {fax_port} udptl t38", f"c=IN IP4 {address}", *IMAGE,
                f"a=T38FaxUdpEC:{ec}")
    audio = sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
                f"m=audio {pcm_port} RTP/AVP 8", f"c=IN IP4 {address}", "a=sendrecv")
    ids = {"call-id": call_id, "ICE": "remove"}
    if reinvite:  # a call with audio both ways first, then a re-INVITE into fax
        # (the fax party's SDP moves to another address, as in rtpengine's test: the audio
        # party gets new ports with the answer, its old ones linger a while)
        plain = sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
                    f"m=audio {fax_port} RTP/AVP 8", "c=IN IP4 127.0.0.8", "a=sendrecv")
        first, second = ("fax", "pcm") if decode else ("pcm", "fax")
        daemon.request({"command": "offer", "from-tag": first, **ids,
                        "sdp": audio if first == "pcm" else plain})
        daemon.request({"command": "answer", "from-tag": first, "to-tag": second, **ids,
                        "sdp": plain if first == "pcm" else audio})
    if decode:
        offered = daemon.request({"command": "offer", "from-tag": "fax", **ids,
                                  "T.38": ["decode"], "sdp": image})
        answered = daemon.request({"command": "answer", "from-tag": "fax", "to-tag": "pcm",
                                   **ids, "sdp": audio})
        assert "m=audio" in offered["sdp"] and "m=image" in answered["sdp"], (offered, answered)
        return _port(answered), _port(offered)
    offered = daemon.request({"command": "offer", "from-tag": "pcm", **ids,
                              "T.38": ["force"], "sdp": audio})
    answered = daemon.request({"command": "answer", "from-tag": "pcm", "to-tag": "fax", **ids,
                               "sdp": image})
    assert "m=image" in offered["sdp"] and "m=audio" in answered["sdp"], (offered, answered)
    return _port(offered), _port(answered)


def _rtp(seq: int, ts: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 8, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x1234) + payload


def _alaw(pcm: bytes) -> bytes:
    from rtpengined.media import g711

    table = g711.encoder("PCMA")  # (built once per process)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return bytes(table[s & 0xFFFF] for s in samples)


def _linear(payload: bytes) -> bytes:
    from rtpengined.media import t38_relay
    table = t38_relay._decoder("PCMA")
    return b"".join(table[b] for b in payload)


def fax_call(daemon, tmp_path, *, pcm_sends: bool, decode: bool, ec: str = "t38UDPRedundancy",
             limit: float = 120.0, reinvite: bool = False, address: str = "127.0.0.1") -> dict:
    """One page through the daemon's gateway; returns what happened."""
    page = str(tmp_path / "page.tif")
    received = str(tmp_path / "received.tif")
    make_fax_tiff(page)
    fax, pcm = _bound(), _bound()
    options = T38Options.from_sdp({"T38FaxUdpEC": [ec]})
    encoder, decoder = UdptlEncoder(options), UdptlDecoder(options)
    call_id = f"fax-{os.getpid()}-{time.monotonic_ns()}"
    try:
        fax_target, pcm_target = _setup(daemon, call_id, fax, pcm, ec, decode, reinvite, address)

        def send_ifp(ifp: bytes, count: int) -> None:
            packet = encoder.encode(ifp)
            for _ in range(count):
                fax.sendto(packet, ("127.0.0.1", fax_target))

        files = {"send_file": page} if not pcm_sends else {"receive_file": received}
        t38_party = T38FaxTerminal(send_ifp, calling=not pcm_sends, **files)
        files = {"send_file": page} if pcm_sends else {"receive_file": received}
        pcm_party = PcmFaxTerminal(calling=pcm_sends, **files)
        seq = ts = 0
        markers = ticks = 0
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline and not (pcm_party.done and t38_party.done):
                seq += 1
                ts += 160
                pcm.sendto(_rtp(seq, ts, _alaw(pcm_party.tx(160))), ("127.0.0.1", pcm_target))
                # the daemon's audio: one packet per 20 ms, its pace is the call's
                ready, _, _ = select.select([pcm], [], [], 1.0)
                if not ready:
                    continue
                packet = pcm.recv(2048)
                assert len(packet) == 172 and packet[1] & 0x7F == 8, packet[:12]
                markers += packet[1] >> 7
                pcm_party.rx(_linear(packet[12:]))
                t38_party.advance(160)
                ticks += 1
                while select.select([fax], [], [], 0)[0]:
                    for got_seq, ifp in decoder.feed(fax.recv(2048)):
                        t38_party.rx_ifp(got_seq, ifp)
        finally:
            result = {"pcm": pcm_party.result, "t38": t38_party.result, "ticks": ticks,
                      "markers": markers}
            pcm_party.close()
            t38_party.close()
        result["page"] = tiff_page_info(received) if os.path.exists(received) else None
        result["sent"] = tiff_page_info(page)
        return result
    finally:
        daemon.request({"command": "delete", "call-id": call_id})
        fax.close()
        pcm.close()


SHAPES = {
    # rtpengine's own gateway test: audio to T.38 after a re-INVITE into fax, each party's
    # SDP naming another address than it sends from (the first packets go astray)
    "re-INVITE, learned addresses": dict(pcm_sends=True, decode=False, reinvite=True,
                                         address="127.0.0.9"),
    "audio to T.38, T.38 offered": dict(pcm_sends=True, decode=True),
    "T.38 to audio with FEC, forced by the audio party": dict(pcm_sends=False, decode=False,
                                                              ec="t38UDPFEC"),
}
RUNS = [("rtpengine", "re-INVITE, learned addresses"), ("rtpengine", "audio to T.38, T.38 offered"),
        *(("rtpengined", shape) for shape in SHAPES)]


@pytest.mark.parametrize(("daemon_name", "shape"), RUNS)
def test_fax_page_through_gateway(daemon_name, shape, tmp_path):
    with running(DAEMONS[daemon_name]) as daemon:
        result = fax_call(daemon, tmp_path, **SHAPES[shape])
    assert result["pcm"] == T30_ERR_OK and result["t38"] == T30_ERR_OK, result
    assert result["page"] is not None and result["page"][:2] == result["sent"][:2], result
    # The gateway's audio starts once, with a marker (lost where the SDP's address was not
    # the party's and the party was not heard yet: it went there)
    assert result["markers"] == 1 or (SHAPES[shape].get("address") and not result["markers"]), (
        result)


def test_garbage_into_a_gateway_is_counted_not_fatal(tmp_path):
    """Random datagrams at both of a gateway's ports (UDPTL that is not, RTP of any shape):
    the daemon goes on answering, the call is intact, the bad UDPTL counts as errors of
    its stream and is logged once, and a fax afterwards still goes through."""
    import random

    rng = random.Random(38)
    # (at -L 4: the line it is logged in is a warning, and the test daemons log errors only)
    with running(lambda: start_ours(22600, 22699, ["-L", "4"])) as daemon:
        fax, pcm = _bound(), _bound()
        try:
            fax_target, pcm_target = _setup(daemon, "garbage", fax, pcm, "t38UDPRedundancy",
                                            decode=True)
            for n in range(3000):
                size = rng.choice([0, 1, 2, 3, 4, 5, 12, 13, 40, 172, 600, 1400])
                data = bytes(rng.getrandbits(8) for _ in range(size))
                if n % 3 == 0 and size >= 2:  # (the RTP version bits, so some reach G.711)
                    data = bytes((0x80, rng.choice([0, 8, 0x88, 101]))) + data[2:]
                target = fax_target if n % 2 else pcm_target
                (fax if n % 2 else pcm).sendto(data, ("127.0.0.1", target))
            assert daemon.request({"command": "ping"})["result"] == "pong"
            time.sleep(1.0)  # (the relay worker works through the flood meanwhile)
            reply = daemon.request({"command": "query", "call-id": "garbage"})
            assert reply["result"] == "ok", reply
            streams = reply["tags"]["fax"]["medias"][0]["streams"]
            assert streams[0]["stats"]["errors"] > 0, streams
        finally:
            daemon.request({"command": "delete", "call-id": "garbage"})
            fax.close()
            pcm.close()
        result = fax_call(daemon, tmp_path, pcm_sends=True, decode=True)
        assert result["pcm"] == T30_ERR_OK and result["t38"] == T30_ERR_OK, result
    log = daemon.proc.stderr.read().decode()
    assert log.count("UDPTL packet dropped") == 1, log[-2000:]
    assert "Traceback" not in log, log[-4000:]
