"""Publish/subscribe media through the daemon over real sockets: a subscriber gets a copy
of what the party it subscribed to sends (RTP and RTCP, byte for byte, from its own
ports), what it sends itself goes nowhere (its RTCP to the publisher with ``mirror
RTCP``), and ``unsubscribe`` stops the copies.

Absence is checked without timing: the packet that proves the relay has handled the
one before is awaited first (a copy is sent before its original), then the
subscriber's socket is read without waiting (loopback delivery is synchronous).
"""

from __future__ import annotations

import trio
from hardening_helpers import ng as ng_request
from relay_helpers import party, rtcp_packet, rtp_packet

from rtpengined.media import g711
from rtpengined.model import Endpoint
from rtpengined.secure import sdes
from rtpengined.secure.srtp import SrtpContext

PORTS = {"port_min": 48600, "port_max": 48999}  # (used by no other test)


async def ng(daemon, message: dict) -> dict:
    return await ng_request(daemon.address("udp-ng"), message)


def sdp(rtp: Endpoint, rtcp: Endpoint | None = None, direction: str = "sendrecv") -> str:
    lines = ["v=0", f"o=- 1 1 IN IP4 {rtp.address}", "s=-", f"c=IN IP4 {rtp.address}",
             "t=0 0", f"m=audio {rtp.port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", f"a={direction}"]
    if rtcp is not None:
        lines.append(f"a=rtcp:{rtcp.port}")
    return "\r\n".join(lines) + "\r\n"


def ports(text: str) -> tuple[Endpoint, Endpoint]:
    """(RTP, RTCP) local ports an SDP from the daemon names."""
    rtp = next(int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("m=audio "))
    rtcp = next(int(ln[7:].split()[0]) for ln in text.splitlines() if ln.startswith("a=rtcp:"))
    return Endpoint("127.0.0.1", rtp), Endpoint("127.0.0.1", rtcp)


class Leg:
    """A party's RTP and RTCP sockets."""

    def __init__(self, rtp, rtcp) -> None:
        self.rtp, self.rtcp = rtp, rtcp

    def sdp(self, direction: str = "sendrecv") -> str:
        return sdp(self.rtp.endpoint, self.rtcp.endpoint, direction)


async def leg() -> Leg:
    return Leg(await party(), await party())


async def call_with_subscriber(daemon, call_id: str, flags: list[str] = ()):
    """alice calls bob; carol subscribes to alice. Returns the legs and daemon ports."""
    alice, bob, carol = await leg(), await leg(), await leg()
    offer = await ng(daemon, {"command": "offer", "call-id": call_id, "from-tag": "alice",
                              "sdp": alice.sdp()})
    answer = await ng(daemon, {"command": "answer", "call-id": call_id, "from-tag": "alice",
                               "to-tag": "bob", "sdp": bob.sdp()})
    request = await ng(daemon, {"command": "subscribe request", "call-id": call_id,
                                "from-tag": "alice", "flags": list(flags)})
    assert request["result"] == "ok", request
    assert request["from-tag"] == "alice" and "a=sendonly" in request["sdp"]
    done = await ng(daemon, {"command": "subscribe answer", "call-id": call_id,
                             "to-tag": request["to-tag"], "sdp": carol.sdp("recvonly")})
    assert done == {"result": "ok"}
    return (alice, bob, carol, ports(answer["sdp"]), ports(offer["sdp"]),
            ports(request["sdp"]), request["to-tag"])


async def test_subscriber_gets_the_publishers_rtp_and_rtcp_until_unsubscribed(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob, carol, to_alice, to_bob, to_carol, tag = await call_with_subscriber(
        daemon, "ps-1")
    for seq in range(3):
        await alice.rtp.send(rtp_packet(seq), to_alice[0])
    for seq in range(3):
        assert await bob.rtp.receive() == (rtp_packet(seq), to_bob[0])
        # the same bytes, sent from the subscriber's own port
        assert await carol.rtp.receive() == (rtp_packet(seq), to_carol[0])
    await alice.rtcp.send(rtcp_packet(), to_alice[1])
    assert await bob.rtcp.receive() == (rtcp_packet(), to_bob[1])
    assert await carol.rtcp.receive() == (rtcp_packet(), to_carol[1])
    # bob's media is not alice's: carol gets none of it
    await bob.rtp.send(rtp_packet(9, ssrc=0x2222), to_bob[0])
    assert (await alice.rtp.receive())[0] == rtp_packet(9, ssrc=0x2222)
    # what the subscriber sends goes nowhere
    await carol.rtp.send(rtp_packet(50, ssrc=0x3333), to_carol[0])
    await carol.rtcp.send(rtcp_packet(0x3333), to_carol[1])
    await alice.rtp.send(rtp_packet(10), to_alice[0])
    assert (await bob.rtp.receive())[0] == rtp_packet(10)
    assert (await carol.rtp.receive())[0] == rtp_packet(10)
    assert alice.rtp.drain_now() == alice.rtcp.drain_now() == bob.rtcp.drain_now() == 0
    assert carol.rtp.drain_now() == 0

    reply = await ng(daemon, {"command": "query", "call-id": "ps-1"})
    assert {"tag": tag, "type": "pub/sub"} in reply["tags"]["alice"]["subscribers"]
    assert reply["tags"][tag]["subscriptions"] == [{"tag": "alice", "type": "pub/sub"}]
    assert reply["tags"]["alice"]["medias"][0]["streams"][0]["stats"]["packets"] == 4

    assert await ng(daemon, {"command": "unsubscribe", "call-id": "ps-1", "to-tag": tag}) == {
        "result": "ok"}
    await alice.rtp.send(rtp_packet(11), to_alice[0])
    assert (await bob.rtp.receive())[0] == rtp_packet(11)
    assert carol.rtp.drain_now() == 0
    reply = await ng(daemon, {"command": "query", "call-id": "ps-1"})
    assert reply["tags"][tag]["subscriptions"] == []
    assert await ng(daemon, {"command": "delete", "call-id": "ps-1"}) != {}


async def test_mirror_rtcp_sends_the_subscribers_rtcp_to_the_publisher(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob, carol, to_alice, _to_bob, to_carol, _tag = await call_with_subscriber(
        daemon, "ps-2", ["mirror RTCP"])
    await carol.rtcp.send(rtcp_packet(0x3333), to_carol[1])
    # from the port alice sends her RTCP to, as if it came from bob
    assert await alice.rtcp.receive() == (rtcp_packet(0x3333), to_alice[1])
    await carol.rtp.send(rtp_packet(1, ssrc=0x3333), to_carol[0])
    await bob.rtp.send(rtp_packet(2, ssrc=0x2222), _to_bob[0])
    assert (await alice.rtp.receive())[0] == rtp_packet(2, ssrc=0x2222)  # not carol's RTP
    assert bob.rtcp.drain_now() == 0


async def test_mirror_rtcp_from_a_subscriber_muxing_rtcp_on_its_rtp_port(make_daemon):
    """A subscriber that takes rtcp-mux (as every WebRTC one does) sends its RTCP to the
    subscription's RTP port: that goes to the publisher (PLI/FIR: a keyframe for a joining
    subscriber), its RTP still nowhere."""
    daemon = await make_daemon(**PORTS)
    alice, bob = await leg(), await leg()
    carol = await party()
    ids = {"call-id": "ps-mux"}
    offer = await ng(daemon, {"command": "offer", **ids, "from-tag": "alice",
                              "sdp": alice.sdp()})
    answer = await ng(daemon, {"command": "answer", **ids, "from-tag": "alice",
                               "to-tag": "bob", "sdp": bob.sdp()})
    to_alice, to_bob = ports(answer["sdp"]), ports(offer["sdp"])
    request = await ng(daemon, {"command": "subscribe request", **ids, "from-tag": "alice",
                                "flags": ["mirror RTCP"], "rtcp-mux": ["offer"]})
    assert "a=rtcp-mux" in request["sdp"]
    to_carol = ports(request["sdp"])[0]
    body = sdp(carol.endpoint, None, "recvonly").replace("a=recvonly", "a=rtcp-mux\r\na=recvonly")
    assert await ng(daemon, {"command": "subscribe answer", **ids, "to-tag": request["to-tag"],
                             "sdp": body}) == {"result": "ok"}
    await carol.send(rtcp_packet(0x3333), to_carol)
    assert await alice.rtcp.receive() == (rtcp_packet(0x3333), to_alice[1])
    await carol.send(rtp_packet(1, ssrc=0x3333), to_carol)
    await bob.rtp.send(rtp_packet(2, ssrc=0x2222), to_bob[0])
    assert (await alice.rtp.receive())[0] == rtp_packet(2, ssrc=0x2222)  # not carol's RTP
    await alice.rtp.send(rtp_packet(3), to_alice[0])
    assert (await carol.receive())[0] == rtp_packet(3)


async def test_two_subscribers_of_a_published_party(make_daemon):
    daemon = await make_daemon(**PORTS)
    pub, carol, dave = await leg(), await leg(), await leg()
    published = await ng(daemon, {"command": "publish", "call-id": "ps-3", "from-tag": "pub",
                                  "sdp": pub.sdp("sendonly")})
    assert published["result"] == "ok" and "a=recvonly" in published["sdp"]
    to_pub = ports(published["sdp"])
    # sent before anyone subscribed (and counted): dropped, not kept for a later subscriber
    await pub.rtp.send(rtp_packet(0), to_pub[0])
    with trio.fail_after(10):
        while (await ng(daemon, {"command": "query", "call-id": "ps-3"}))["tags"]["pub"][
                "medias"][0]["streams"][0]["stats"]["packets"] < 1:
            await trio.sleep(0.01)
    targets = []
    for who in (carol, dave):
        request = await ng(daemon, {"command": "subscribe request", "call-id": "ps-3",
                                    "from-tag": "pub"})
        assert request["result"] == "ok", request
        done = await ng(daemon, {"command": "subscribe answer", "call-id": "ps-3",
                                 "to-tag": request["to-tag"], "sdp": who.sdp("recvonly")})
        assert done == {"result": "ok"}
        targets.append(ports(request["sdp"]))
    for seq in range(1, 4):
        await pub.rtp.send(rtp_packet(seq), to_pub[0])
    for who, target in zip((carol, dave), targets, strict=True):
        for seq in range(1, 4):
            assert await who.rtp.receive() == (rtp_packet(seq), target[0])
    reply = await ng(daemon, {"command": "query", "call-id": "ps-3"})
    assert len(reply["tags"]["pub"]["subscribers"]) == 2
    assert reply["tags"]["pub"]["medias"][0]["streams"][0]["stats"]["packets"] == 4


async def test_srtp_subscriber_gets_the_copies_protected_with_our_key(make_daemon):
    """``transport-protocol: RTP/SAVP``: the subscriber is offered our SDES keys; its answer
    picks one, and each copy reaches it protected with that key (plain RTP on the call)."""
    daemon = await make_daemon(**PORTS)
    alice, bob, carol = await leg(), await leg(), await leg()
    ids = {"call-id": "ps-srtp"}
    await ng(daemon, {"command": "offer", **ids, "from-tag": "alice", "sdp": alice.sdp()})
    answer = await ng(daemon, {"command": "answer", **ids, "from-tag": "alice",
                               "to-tag": "bob", "sdp": bob.sdp()})
    request = await ng(daemon, {"command": "subscribe request", **ids, "from-tag": "alice",
                                "transport-protocol": "RTP/SAVP"})
    assert " RTP/SAVP 0" in request["sdp"] and "a=setup:actpass" in request["sdp"]
    ours = next(sdes.parse(line[2:]) for line in request["sdp"].split("\r\n")
                if line.startswith("a=crypto:") and "AES_CM_128_HMAC_SHA1_80" in line)
    theirs = sdes.generate(ours.tag, "AES_CM_128_HMAC_SHA1_80")
    body = carol.sdp("recvonly").replace("RTP/AVP", "RTP/SAVP") + f"a={theirs.format()}\r\n"
    done = await ng(daemon, {"command": "subscribe answer", **ids,
                             "to-tag": request["to-tag"], "sdp": body})
    assert done == {"result": "ok"}
    to_alice, to_carol = ports(answer["sdp"]), ports(request["sdp"])
    decrypt = SrtpContext.from_sdes(ours, outbound=False)
    for seq in range(3):
        await alice.rtp.send(rtp_packet(seq), to_alice[0])
    for seq in range(3):
        data, source = await carol.rtp.receive()
        assert source == to_carol[0] and data != rtp_packet(seq)
        assert decrypt.unprotect(data) == rtp_packet(seq)
        assert (await bob.rtp.receive())[0] == rtp_packet(seq)  # the call stays plain


async def test_subscribers_of_an_sdes_call_with_keys_end_to_end(make_daemon):
    """Both parties speak SDES and the answer takes the offerer's own line: their keys pass
    end to end (rtpengine's pubsub suite, "SRTP call RTP sub"). A plain subscriber gets
    alice's media decrypted, an SRTP one gets it in its own key, and alice and bob still
    get each other's packets byte for byte as they were sent (the relay now decrypts and
    encrypts with their own keys)."""
    daemon = await make_daemon(**PORTS)
    alice, bob, plain, secure = await leg(), await leg(), await leg(), await leg()
    ids = {"call-id": "ps-e2e"}
    alice_key = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")
    bob_key = sdes.generate(1, "AES_CM_128_HMAC_SHA1_80")

    def savp(party: Leg, key: sdes.Crypto) -> str:
        return party.sdp().replace("RTP/AVP", "RTP/SAVP") + f"a={key.format()}\r\n"

    await ng(daemon, {"command": "offer", **ids, "from-tag": "alice", "sdp": savp(alice, alice_key)})
    answer = await ng(daemon, {"command": "answer", **ids, "from-tag": "alice",
                               "to-tag": "bob", "sdp": savp(bob, bob_key)})
    assert f"a={bob_key.format()}" in answer["sdp"]  # (end to end: bob's own line)
    to_alice = ports(answer["sdp"])
    alice_out = SrtpContext.from_sdes(alice_key, outbound=True)
    bob_in = SrtpContext.from_sdes(alice_key, outbound=False)
    sent = [alice_out.protect(rtp_packet(seq)) for seq in range(4)]
    await alice.rtp.send(sent[0], to_alice[0])
    assert (await bob.rtp.receive())[0] == sent[0]  # before any subscriber: as it came

    request = await ng(daemon, {"command": "subscribe request", **ids, "from-tag": "alice",
                                "transport-protocol": "RTP/AVP", "to-tag": "plain"})
    assert " RTP/AVP 0" in request["sdp"] and "a=crypto" not in request["sdp"]
    await ng(daemon, {"command": "subscribe answer", **ids, "to-tag": "plain",
                      "sdp": plain.sdp("recvonly")})
    secured = await ng(daemon, {"command": "subscribe request", **ids, "from-tag": "alice",
                                "transport-protocol": "RTP/SAVP", "to-tag": "secure"})
    ours = next(sdes.parse(line[2:]) for line in secured["sdp"].split("\r\n")
                if line.startswith("a=crypto:") and "AES_CM_128_HMAC_SHA1_80" in line)
    theirs = sdes.generate(ours.tag, "AES_CM_128_HMAC_SHA1_80")
    await ng(daemon, {"command": "subscribe answer", **ids, "to-tag": "secure",
                      "sdp": savp(secure, theirs).replace("a=sendrecv", "a=recvonly")})
    secure_in = SrtpContext.from_sdes(ours, outbound=False)
    for seq in range(1, 4):
        await alice.rtp.send(sent[seq], to_alice[0])
        assert (await plain.rtp.receive())[0] == rtp_packet(seq)
        assert secure_in.unprotect((await secure.rtp.receive())[0]) == rtp_packet(seq)
        data = (await bob.rtp.receive())[0]
        assert data == sent[seq] and bob_in.unprotect(data) == rtp_packet(seq)
    # bob to alice, in bob's key, still reaches alice as bob sent it
    to_bob = ports((await ng(daemon, {"command": "offer", **ids, "from-tag": "alice",
                                      "sdp": savp(alice, alice_key)}))["sdp"])
    back = SrtpContext.from_sdes(bob_key, outbound=True).protect(rtp_packet(9))
    await bob.rtp.send(back, to_bob[0])
    assert (await alice.rtp.receive())[0] == back


async def test_subscriber_that_answered_the_other_g711_law_gets_it_converted(make_daemon):
    """PCMU publisher, PCMA subscriber (``allow transcoding``): each payload is converted
    sample by sample, the header kept but for the payload type."""
    daemon = await make_daemon(**PORTS)
    alice, bob, carol = await leg(), await leg(), await leg()
    ids = {"call-id": "ps-g711"}
    await ng(daemon, {"command": "offer", **ids, "from-tag": "alice", "sdp": alice.sdp()})
    answer = await ng(daemon, {"command": "answer", **ids, "from-tag": "alice",
                               "to-tag": "bob", "sdp": bob.sdp()})
    request = await ng(daemon, {"command": "subscribe request", **ids, "from-tag": "alice",
                                "codec": {"transcode": ["PCMA"]}})
    assert " RTP/AVP 0 8\r\n" in request["sdp"]
    body = carol.sdp("recvonly").replace("RTP/AVP 0", "RTP/AVP 8").replace(
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000")
    refused = await ng(daemon, {"command": "subscribe answer", **ids,
                                "to-tag": request["to-tag"], "sdp": body})
    assert refused["result"] == "error"  # PCMU left out without allow transcoding
    done = await ng(daemon, {"command": "subscribe answer", **ids, "to-tag": request["to-tag"],
                             "sdp": body, "flags": ["allow transcoding"]})
    assert done == {"result": "ok"}
    packet = rtp_packet(1)
    await alice.rtp.send(packet, ports(answer["sdp"])[0])
    assert (await bob.rtp.receive())[0] == packet
    data, _ = await carol.rtp.receive()
    assert data[:1] + data[2:12] == packet[:1] + packet[2:12] and data[1] == 8
    assert data[12:] == packet[12:].translate(g711.ULAW_TO_ALAW) == b"\x2a" * 160


async def test_deleting_a_subscriber_keeps_the_call_deleting_a_party_ends_it(make_daemon):
    daemon = await make_daemon(**PORTS)
    alice, bob, carol, to_alice, to_bob, _to_carol, tag = await call_with_subscriber(
        daemon, "ps-del")
    deleted = await ng(daemon, {"command": "delete", "call-id": "ps-del", "from-tag": tag,
                                "delete-delay": 0})
    assert deleted["result"] == "ok"
    await alice.rtp.send(rtp_packet(1), to_alice[0])
    assert (await bob.rtp.receive())[0] == rtp_packet(1)
    assert carol.rtp.drain_now() == 0
    await bob.rtp.send(rtp_packet(2, ssrc=0x2222), to_bob[0])
    assert (await alice.rtp.receive())[0] == rtp_packet(2, ssrc=0x2222)
    # a new subscriber, then the publisher's side goes: the call answers on
    request = await ng(daemon, {"command": "subscribe request", "call-id": "ps-del",
                                "from-tag": "bob"})
    assert (await ng(daemon, {"command": "subscribe answer", "call-id": "ps-del",
                              "to-tag": request["to-tag"], "sdp": carol.sdp("recvonly")}))[
        "result"] == "ok"
    await bob.rtp.send(rtp_packet(3, ssrc=0x2222), to_bob[0])
    assert (await carol.rtp.receive())[0] == rtp_packet(3, ssrc=0x2222)
    assert (await alice.rtp.receive())[0] == rtp_packet(3, ssrc=0x2222)
    # the callee goes: its caller with it, and a subscriber alone does not keep the call (10.5)
    await ng(daemon, {"command": "delete", "call-id": "ps-del", "from-tag": "bob",
                      "delete-delay": 0})
    assert (await ng(daemon, {"command": "list"}))["calls"] == []
