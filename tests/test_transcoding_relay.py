"""Offer/answer transcoding over real sockets, in the daemon: the relay converts between the
G.711 laws only while the negotiation says so, also into and out of SRTP legs, and the
call's counters and ``query`` show it.

(``test_diff_transcoding.py`` compares the converted packets with rtpengine 10.5's.)"""

from __future__ import annotations

import struct

from cli_helpers import cli
from hardening_helpers import ng as ng_request
from relay_helpers import party

from rtpengined.media import g711
from rtpengined.model import Endpoint
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

PORTS = {"port_min": 49000, "port_max": 49199}  # (used by no other test)


async def ng(daemon, message: dict) -> dict:
    return await ng_request(daemon.address("udp-ng"), message)


def body(port: int, formats: str, version: int = 1, *extra: str) -> str:
    return "\r\n".join(["v=0", f"o=- 1 {version} IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1",
                        "t=0 0", f"m=audio {port} RTP/AVP {formats}", *extra,
                        "a=sendrecv"]) + "\r\n"


def media_port(sdp: str) -> int:
    return int(next(line.split()[1] for line in sdp.splitlines() if line.startswith("m=audio")))


def local(port: int) -> Endpoint:
    return Endpoint("127.0.0.1", port)


def rtp(pt: int, seq: int, payload: bytes, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


async def test_a_reinvite_without_transcoding_stops_the_conversion(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    ids = {"call-id": "tc-reinvite", "from-tag": "A"}
    offer = await ng(daemon, {"command": "offer", **ids, "sdp": body(alice.endpoint.port, "0"),
                              "codec": {"transcode": ["PCMA"]}})
    assert " RTP/AVP 0 8\r\n" in offer["sdp"]
    answer = await ng(daemon, {"command": "answer", **ids, "to-tag": "B",
                               "sdp": body(bob.endpoint.port, "8")})
    assert " RTP/AVP 0\r\n" in answer["sdp"]
    to_bob, to_alice = media_port(answer["sdp"]), media_port(offer["sdp"])
    payload = bytes(range(160))
    await alice.send(rtp(0, 1, payload), local(to_bob))
    data, _ = await bob.receive()
    assert data[1] == 8 and data[12:] == payload.translate(g711.ULAW_TO_ALAW)
    assert data[8:12] != struct.pack("!I", 0x1234)  # the converted direction's own SSRC
    await bob.send(rtp(8, 7, payload, ssrc=0x9999), local(to_alice))
    data, _ = await alice.receive()
    assert data[1] == 0 and data[12:] == payload.translate(g711.ALAW_TO_ULAW)

    query = await ng(daemon, {"command": "query", "call-id": "tc-reinvite"})
    flags = [query["tags"][tag]["medias"][0]["flags"] for tag in ("A", "B")]
    assert all("transcoding" in f for f in flags), flags

    # Both now take PCMA: packets pass as they came (the C loop may relay them again).
    await ng(daemon, {"command": "offer", **ids, "to-tag": "B",
                      "sdp": body(alice.endpoint.port, "8", 2)})
    await ng(daemon, {"command": "answer", **ids, "to-tag": "B",
                      "sdp": body(bob.endpoint.port, "8", 2)})
    for seq in range(2, 5):
        packet = rtp(8, seq, payload)
        await alice.send(packet, local(to_bob))
        assert (await bob.receive())[0] == packet
    query = await ng(daemon, {"command": "query", "call-id": "tc-reinvite"})
    assert all("transcoding" not in query["tags"][tag]["medias"][0]["flags"]
               for tag in ("A", "B"))
    totals = query["totals"]["RTP"]
    assert totals["packets"] == 5 and totals["errors"] == 0


async def test_conversion_into_an_srtp_leg_and_out_of_it(make_daemon):
    """The answerer speaks SDES-SRTP and PCMA, the offerer plain PCMU: converted packets are
    protected on the way to it, and its SRTP is decrypted before conversion."""
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    ids = {"call-id": "tc-srtp", "from-tag": "A"}
    offer = await ng(daemon, {"command": "offer", **ids, "sdp": body(alice.endpoint.port, "0"),
                              "codec": {"transcode": ["PCMA"]},
                              "transport-protocol": "RTP/SAVP"})
    ours = next(line[9:] for line in offer["sdp"].splitlines()
                if line.startswith("a=crypto:") and "AES_CM_128_HMAC_SHA1_80" in line)
    offered = sdes.parse(ours)
    theirs = (ours.split()[0]
              + " AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c")
    bob_sdp = body(bob.endpoint.port, "8", 1, f"a=crypto:{theirs}").replace("RTP/AVP", "RTP/SAVP")
    answer = await ng(daemon, {"command": "answer", **ids, "to-tag": "B", "sdp": bob_sdp})
    assert answer["result"] == "ok", answer
    to_bob, to_alice = media_port(answer["sdp"]), media_port(offer["sdp"])
    bob_in = SrtpContext(offered.suite.name, offered.key_salt, outbound=False)
    bob_out = SrtpContext(offered.suite.name, sdes.parse(theirs).key_salt, outbound=True)
    payload = bytes(range(160))
    await alice.send(rtp(0, 1, payload), local(to_bob))
    data, _ = await bob.receive()
    plain = bob_in.unprotect(data)
    assert plain[1] == 8 and plain[12:] == payload.translate(g711.ULAW_TO_ALAW)
    await bob.send(bob_out.protect(rtp(8, 9, payload)), local(to_alice))
    data, _ = await alice.receive()
    assert data[1] == 0 and data[12:] == payload.translate(g711.ALAW_TO_ULAW)



async def test_srtp_passed_end_to_end_is_not_touched_by_inject_dtmf(make_daemon):
    """Both legs SDES-SRTP with their own keys passed through: the relay cannot read the
    packets, so inject DTMF leaves them as they come (their authentication stays valid)."""
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    ids = {"call-id": "tc-sealed", "from-tag": "A"}
    crypto = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QjnnaukLn7iwASAs0YLzPUplJkjOhTZK2dvOwo6c"
    options = {"flags": ["inject DTMF"], "DTLS": "off", "ICE": "remove"}
    offer = await ng(daemon, {"command": "offer", **ids, **options, "sdp": body(
        alice.endpoint.port, "0", 1, crypto).replace("RTP/AVP", "RTP/SAVP")})
    answer = await ng(daemon, {"command": "answer", **ids, "to-tag": "B", **options,
                               "sdp": body(bob.endpoint.port, "0", 1, crypto).replace(
                                   "RTP/AVP", "RTP/SAVP")})
    assert answer["result"] == "ok", answer
    sealed = rtp(0, 1, bytes(170))  # (stands for an SRTP packet: 160 + a 10-byte tag)
    await alice.send(sealed, local(media_port(answer["sdp"])))
    assert (await bob.receive())[0] == sealed
    await bob.send(sealed, local(media_port(offer["sdp"])))
    assert (await alice.receive())[0] == sealed


async def test_statistics_cli_and_metrics_count_the_transcoders(make_daemon):
    """``statistics``, ``list transcoders`` and ``/metrics``-bound stats name each
    conversion chain as 10.5 does, with the packets that went through it; the call's two
    converting medias are "transcoded media"."""
    daemon = await make_daemon(**PORTS)
    alice, bob = await party(), await party()
    ids = {"call-id": "tc-stats", "from-tag": "A"}
    await ng(daemon, {"command": "offer", **ids, "sdp": body(alice.endpoint.port, "0"),
                      "codec": {"transcode": ["PCMA"]}})
    answer = await ng(daemon, {"command": "answer", **ids, "to-tag": "B",
                               "sdp": body(bob.endpoint.port, "8")})
    for seq in range(1, 11):
        await alice.send(rtp(0, seq, bytes(160)), local(media_port(answer["sdp"])))
        await bob.receive()
    stats = (await ng(daemon, {"command": "statistics"}))["statistics"]
    assert stats["currentstatistics"]["transcodedmedia"] == 2
    chains = {t["chain"]: t for t in stats["transcoders"]}
    assert list(chains) == ["PCMU/8000 -> PCMA/8000", "PCMA/8000 -> PCMU/8000"]
    assert {k: chains["PCMU/8000 -> PCMA/8000"][k] for k in ("num", "packets", "bytes",
                                                              "samples")} == {
        "num": 1, "packets": 10, "bytes": 1600, "samples": 1600}
    assert chains["PCMA/8000 -> PCMU/8000"] == {"chain": "PCMA/8000 -> PCMU/8000", "num": 1,
                                               "packets": 0, "bytes": 0, "samples": 0}
    lines = (await cli(daemon.address("cli"), "list transcoders")).splitlines()
    assert lines[0] == "PCMU/8000 -> PCMA/8000: 1 transcoders"
    assert lines[1].endswith(" packets/s") and lines[-1] == "PCMA/8000 -> PCMU/8000: 1 transcoders"
    await ng(daemon, {"command": "delete", "call-id": "tc-stats", "delete-delay": 0})
    stats = (await ng(daemon, {"command": "statistics"}))["statistics"]
    assert stats["currentstatistics"]["transcodedmedia"] == 0
    # (as 10.5's, the chains outlive their calls: no transcoders, the counts kept)
    chains = {t["chain"]: t for t in stats["transcoders"]}
    assert {k: chains["PCMU/8000 -> PCMA/8000"][k] for k in ("num", "packets", "bytes")} == {
        "num": 0, "packets": 10, "bytes": 1600}
    lines = (await cli(daemon.address("cli"), "list transcoders")).splitlines()
    assert "PCMU/8000 -> PCMA/8000: 0 transcoders" in lines
