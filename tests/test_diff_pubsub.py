"""Differential: publish/subscribe signalling (media forking), our replies beside 10.5's.

``subscribe request`` gives an offer for a new party that gets a copy of one or more
parties' media; ``subscribe answer`` completes it, ``unsubscribe`` ends it, ``publish``
creates a party that only sends. Subscriber tags are given (``to-tag``) so both daemons
use the same; an SDP made by the daemon itself (several publishers, publish answers) has
an o= session id from the clock and the daemon's own s= name, masked here.
"""

from __future__ import annotations

import re
import socket
import struct

import pytest
from differential import (
    answer,
    burst,
    default_pair_fixture,  # noqa: F401  (registers default_pair)
    delete,
    offer,
    query,
    rtp_rtcp_sockets,
    sdp,
)

A = sdp("v=0", "o=alice 11 22 IN IP4 192.0.2.1", "s=alicesess", "c=IN IP4 192.0.2.10", "t=0 0",
        "a=foo:bar", "m=audio 6000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15", "a=ptime:20", "a=xyz", "a=sendrecv")
B = sdp("v=0", "o=bob 33 44 IN IP4 192.0.2.2", "s=bobsess", "c=IN IP4 192.0.2.20", "t=0 0",
        "m=audio 7000 RTP/AVP 8 0", "a=sendrecv")
B_SENDONLY = B.replace("a=sendrecv", "a=sendonly")
A_VIDEO = sdp("v=0", "o=alice 11 22 IN IP4 192.0.2.1", "s=alicesess", "c=IN IP4 192.0.2.10",
              "t=0 0", "m=audio 6000 RTP/AVP 0 8", "a=ptime:30", "a=sendrecv",
              "m=video 6002 RTP/AVP 96", "a=rtpmap:96 VP8/90000")
B_VIDEO = sdp("v=0", "o=bob 33 44 IN IP4 192.0.2.2", "s=bobsess", "c=IN IP4 192.0.2.20", "t=0 0",
              "m=audio 7000 RTP/AVP 8 0", "a=sendonly", "m=video 7002 RTP/AVP 96",
              "a=rtpmap:96 VP8/90000")
SUB = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.30", "s=rec", "t=0 0", "m=audio 8000 RTP/AVP 8",
          "c=IN IP4 192.0.2.30", "a=recvonly")
SUB_TWO = sdp("v=0", "o=- 1 1 IN IP4 192.0.2.30", "s=rec", "t=0 0",
              "m=audio 8000 RTP/AVP 8 0", "c=IN IP4 192.0.2.30", "a=recvonly",
              "m=audio 8002 RTP/AVP 8 0", "c=IN IP4 192.0.2.30", "a=recvonly")
SUB_WRONG_CODEC = SUB.replace("RTP/AVP 8", "RTP/AVP 0")
PUB = sdp("v=0", "o=pub 1 1 IN IP4 192.0.2.9", "s=pubs", "c=IN IP4 192.0.2.40", "t=0 0",
          "m=audio 9000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly",
          "a=ptime:20")
PUB_MUX = PUB.replace("a=ptime:20", "a=rtcp-mux\r\na=ptime:20")
PUB_MUX_SDES = PUB_MUX.replace("RTP/AVP", "RTP/SAVP").replace(
    "a=ptime:20", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:cJOJ7kxQjhFBp2fP6AYjs3vKw7CeBdWZCj0isbJv")

_MADE = re.compile(r"o=- \d+ \d+ (IN IP[46] \S+)\r\ns=rtpengine-\S+\r\n")


_KEY = re.compile(r"inline:[A-Za-z0-9+/=]+")
_FINGERPRINT = re.compile(r"(a=fingerprint:\S+) [0-9A-F:]+")


def _mask_made(reply):
    """An SDP of the daemon's own: clock-based session id and software name are symbols;
    so are random SRTP keys and the certificate's fingerprint."""
    if not isinstance(reply, list):
        return reply
    out = []
    for key, value in reply:
        if key == "sdp" and isinstance(value, str):
            value = _MADE.sub(r"o=- SID SID \1\r\ns=SOFTWARE\r\n", value)
            value = _FINGERPRINT.sub(r"\1 FP", _KEY.sub("inline:KEY", value))
        out.append((key, value))
    return out


def subscribe(to_tag: str = "S", **extra) -> dict:
    return {"command": "subscribe request", "to-tag": to_tag, "_mask": _mask_made, **extra}


def sub_answer(body: str = SUB, to_tag: str = "S", **extra) -> dict:
    return {"command": "subscribe answer", "to-tag": to_tag, "sdp": body, **extra}


def unsubscribe(to_tag: str = "S") -> dict:
    return {"command": "unsubscribe", "to-tag": to_tag}


def publish(body: str = PUB, tag: str = "P", **extra) -> dict:
    return {"command": "publish", "from-tag": tag, "sdp": body, "_mask": _mask_made, **extra}


SCENARIOS: dict[str, list[dict]] = {
    # one publisher: its own SDP mirrored (o=, s=, attributes), negotiated codecs, sendonly
    "subscribe to the caller": [offer(A), answer(B), subscribe(**{"from-tag": "A"}),
                                sub_answer(), query(), unsubscribe(), query(), delete()],
    "subscribe to the callee": [offer(A), answer(B), subscribe(**{"from-tag": "B"}),
                                sub_answer(), query(**{"from-tag": "S"}), delete()],
    "subscribe by label": [offer(A, label="caller"), answer(B, label="callee"),
                           subscribe(label="callee"), sub_answer(), query(), delete()],
    "a publisher that only receives: inactive": [
        offer(A), answer(B_SENDONLY), subscribe(**{"from-tag": "A"}),
        subscribe("T", **{"from-tag": "B"}), delete()],
    "egress and mirror RTCP flags": [offer(A), answer(B),
                                     subscribe(**{"from-tag": "A", "flags": ["egress"]}),
                                     subscribe("T", **{"from-tag": "B",
                                                       "flags": ["mirror RTCP"]}),
                                     sub_answer(to_tag="T"), query(), delete()],
    # (the publisher stays subscribed to a mirror-RTCP subscriber after unsubscribe and
    # a subscription asked again: 10.5's link the flag made goes the other way)
    "mirror RTCP: unsubscribe and subscribe again": [
        offer(A), answer(B), subscribe(**{"from-tag": "A", "flags": ["mirror RTCP"]}),
        sub_answer(), unsubscribe(), query(), subscribe(**{"from-tag": "A"}), sub_answer(),
        query(), delete()],
    # several publishers: an SDP of our own, one media per publisher media
    "subscribe to all": [offer(A), answer(B), subscribe(flags=["all"]),
                         sub_answer(SUB_TWO), query(), delete()],
    "subscribe to from-tags in order": [offer(A), answer(B),
                                        subscribe(**{"from-tags": ["B", "A"]}), delete()],
    # (not a list: names no party; a number once escaped as an internal error here)
    "from-tags not a list": [offer(A), subscribe(**{"from-tags": 7}),
                             subscribe(**{"from-tags": "A"}), subscribe(**{"from-tags": {"A": 1}}),
                             delete()],
    "from-tags given as flags": [offer(A), answer(B),
                                 subscribe(flags=["from-tags-A", "from-tags-B"]), delete()],
    "SIPREC labels and tag-medias": [offer(A_VIDEO, label="caller"), answer(B_VIDEO),
                                     subscribe(flags=["all", "SIPREC"]), delete()],
    # (one publisher with SIPREC: its own SDP rewritten, with the a=label lines; we made
    # an SDP of our own. rtpengine's mr11.5 pubsub suite, "SIPREC pause/resume")
    "SIPREC of one publisher": [offer(A, label="caller"), answer(B),
                                subscribe(**{"from-tag": "A", "flags": ["SIPREC"]}), delete()],

    "set-label names the subscriber": [offer(A), answer(B),
                                       subscribe(**{"from-tag": "A", "set-label": "rec"}),
                                       query(**{"from-tag": "S"}), delete()],
    "the same to-tag again replaces the subscription": [
        offer(A), answer(B), subscribe(**{"from-tag": "B"}), subscribe(**{"from-tag": "A"}),
        sub_answer(), query(), delete()],
    # codecs added for transcoding (the G.711 laws), SRTP towards the subscriber
    "codec transcode adds the other G.711 law": [
        offer(A), answer(B), subscribe(**{"from-tag": "B", "codec": {"transcode": ["PCMU"]}}),
        subscribe("T", **{"from-tag": "A", "flags": ["codec-transcode-PCMA"]}),
        sub_answer(SUB.replace("RTP/AVP 8", "RTP/AVP 0"), flags=["allow transcoding"]),
        query(**{"from-tag": "S"}), delete()],
    # codecs of libavcodec's with a static payload type (G.722, G.723.1) offered too, in
    # the order asked; an unknown name or a dynamic one is not (rtpengine's pubsub suite,
    # "multi subs w diff codecs")
    "codec transcode adds G722 and G723": [
        offer(A), answer(B),
        subscribe(**{"from-tag": "A", "codec": {"transcode": ["PCMA", "G722", "G723",
                                                              "nonesuch"]}}),
        subscribe("T", **{"from-tag": "B", "flags": ["codec-transcode-G723"]}),
        subscribe("U", **{"from-tag": "B", "flags": ["transcode-G722"]}),  # (10.5's spelling too)
        sub_answer(SUB.replace("RTP/AVP 8", "RTP/AVP 9"), flags=["allow transcoding"]),
        query(**{"from-tag": "S"}), delete()],
    # Opus on the first free dynamic payload types, stereo unless asked otherwise
    "codec transcode adds opus": [
        offer(A), answer(B),
        subscribe(**{"from-tag": "A", "codec": {"transcode": ["opus", "G722", "opus/48000/1"]}}),
        subscribe("T", **{"from-tag": "A", "codec": {"transcode": ["opus/48000/1", "PCMA"]}}),
        sub_answer(SUB.replace("RTP/AVP 8", "RTP/AVP 96") + "a=rtpmap:96 opus/48000/2\r\n",
                   flags=["allow transcoding"]),
        query(**{"from-tag": "S"}), delete()],
    "SRTP subscriber": [
        offer(A), answer(B),
        subscribe(**{"from-tag": "A", "transport-protocol": "RTP/SAVP",
                     "SDES": ["no-AEAD_AES_256_GCM", "no-AEAD_AES_128_GCM"]}),
        sub_answer(SUB.replace("RTP/AVP", "RTP/SAVP") + "a=crypto:5 AES_CM_128_HMAC_SHA1_80 "
                   "inline:DVM+BTeYX2UI1LaA9bgXrcBEDBxoItA9/39fSoRF\r\n"), delete()],
    "SRTP subscriber of several, SDES off": [
        offer(A), answer(B),
        subscribe(flags=["all"], **{"transport-protocol": "RTP/SAVP", "SDES": ["off"]}),
        delete()],
    "SRTP subscriber without DTLS": [
        offer(A), answer(B),
        subscribe(**{"from-tag": "B", "transport-protocol": "RTP/SAVPF", "DTLS": "off"}),
        delete()],
    # (the other spellings of off 10.5 takes, as in offers)
    "SRTP subscriber without DTLS, spelt no and disabled": [
        offer(A), answer(B),
        subscribe(**{"from-tag": "B", "transport-protocol": "RTP/SAVPF", "DTLS": "no"}),
        subscribe("T", **{"from-tag": "A", "transport-protocol": "RTP/SAVPF",
                          "DTLS": "disabled"}),
        delete()],
    # errors
    "subscribe request errors": [
        offer(A), answer(B), {"command": "subscribe request"},
        subscribe(**{"call-id": "unknown", "from-tag": "A"}),
        {"command": "subscribe request", "call-id": None, "from-tag": "A"}, delete()],
    "subscribe answer errors": [
        offer(A), answer(B), subscribe(**{"from-tag": "A"}), sub_answer(to_tag="nope"),
        {"command": "subscribe answer", "to-tag": "S"}, sub_answer(SUB_TWO),
        sub_answer(SUB_WRONG_CODEC), delete()],
    "unsubscribe errors": [offer(A), answer(B), {"command": "unsubscribe"},
                           unsubscribe("nope"), delete()],
    # publish: a recvonly answer with one codec; subscribers see that codec only
    "publish and subscribe": [publish(), subscribe(**{"from-tag": "P"}), sub_answer(),
                              query(), delete()],
    "publish with codec accept": [publish(codec={"accept": ["PCMU"]}), query(), delete()],
    # a publisher offering rtcp-mux, plain or SDES: answered rtcp-mux, a=rtcp the RTP port
    "publish with rtcp-mux": [publish(PUB_MUX), subscribe(**{"from-tag": "P"}), sub_answer(),
                              query(), delete()],
    "publish SDES with rtcp-mux": [publish(PUB_MUX_SDES), query(), delete()],
    "publish SDES": [publish(PUB_MUX_SDES.replace("a=rtcp-mux\r\n", "")), query(), delete()],
    "publish errors": [{"command": "publish", "from-tag": "P"},
                       {"command": "publish", "sdp": PUB},
                       {"command": "publish", "sdp": PUB, "call-id": "x"}],
}


@pytest.fixture
def pair(default_pair):
    return default_pair


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_pubsub(pair, name):
    pair.compare(SCENARIOS[name], name)


def _sockets(names: str) -> dict[str, socket.socket]:
    """A loopback UDP socket per party name."""
    socks = {}
    for name in names:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        socks[name] = sock
    return socks


def _body(sock: socket.socket, pt: str, direction: str) -> str:
    """A party's SDP: one audio media with ``pt`` on ``sock``'s port."""
    return sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
               f"m=audio {sock.getsockname()[1]} RTP/AVP {pt}", f"a={direction}")


def _copies(daemon, call_id: str, flags: list[str]) -> list:
    """A (PCMU) calls B (PCMA, converted), C subscribes to A with ``flags``: what B and C
    get for each of three packets of A's, as (payload type, seq, ts, SSRC, payload)."""
    socks = _sockets("ABC")
    for sock in socks.values():
        sock.settimeout(2)
    try:
        def body(name: str, pt: str, direction: str = "sendrecv") -> str:
            return _body(socks[name], pt, direction)

        ids = {"call-id": call_id, "from-tag": "A"}
        daemon.request({"command": "offer", **ids, "sdp": body("A", "0"),
                        "codec": {"transcode": ["PCMA"]}})
        answer = daemon.request({"command": "answer", **ids, "to-tag": "B",
                                 "sdp": body("B", "8")})
        to_b = int(re.search(r"m=audio (\d+)", answer["sdp"]).group(1))
        daemon.request({"command": "subscribe request", **ids, "to-tag": "C", "flags": flags})
        daemon.request({"command": "subscribe answer", "call-id": call_id, "to-tag": "C",
                        "sdp": body("C", "0", "recvonly")})
        got = []
        for seq in (1, 2, 3):
            packet = struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, 0x1234) + b"\x00" * 160
            socks["A"].sendto(packet, ("127.0.0.1", to_b))
            for name in "BC":
                data = socks[name].recv(2048)
                got.append((name, data[1], *struct.unpack("!HII", data[2:12]), data[12:]))
        daemon.request({"command": "delete", "call-id": call_id})
        return got
    finally:
        for sock in socks.values():
            sock.close()


def _converted_copies(daemon, call_id: str, answer_d: tuple[str, str] = ("9", "")) -> list:
    """A (PCMU) calls B (PCMU); C and D subscribe to A with ``transcode`` PCMA, G722 and
    opus, C answering PCMA and D ``answer_d`` (payload type, rtpmap line; G722 by default).
    For each of four packets of A's: what C and D got, as (payload type, seq, ts, SSRC,
    payload length) lists."""
    socks = _sockets("ABCD")
    try:
        def body(name: str, pt: str, direction: str = "sendrecv") -> str:
            return _body(socks[name], pt, direction)

        ids = {"call-id": call_id, "from-tag": "A"}
        daemon.request({"command": "offer", **ids, "sdp": body("A", "0")})
        answer = daemon.request({"command": "answer", **ids, "to-tag": "B",
                                 "sdp": body("B", "0")})
        to_b = int(re.search(r"m=audio (\d+)", answer["sdp"]).group(1))
        for name, (pt, rtpmap) in (("C", ("8", "")), ("D", answer_d)):
            daemon.request({"command": "subscribe request", **ids, "to-tag": name,
                            "codec": {"transcode": ["PCMA", "G722", "G723", "opus"]}})
            daemon.request({"command": "subscribe answer", "call-id": call_id, "to-tag": name,
                            "sdp": body(name, pt, "recvonly") + rtpmap,
                            "flags": ["allow transcoding"]})
        got = []
        for seq in range(4):
            packet = struct.pack("!BBHII", 0x80, 0, 4000 + seq, 7000 + 160 * seq, 0x6543)
            socks["A"].sendto(packet + b"\x00" * 160, ("127.0.0.1", to_b))
            for name in "CD":
                got.append([(data[1], *struct.unpack("!HII", data[2:12]), len(data) - 12)
                            for data in burst(socks[name])])
        daemon.request({"command": "delete", "call-id": call_id})
        return got
    finally:
        for sock in socks.values():
            sock.close()


def test_subscriber_copies_converted_to_g722_as_rtpengine(pair):
    """A subscriber that answered G.722 gets A's PCMU framed anew through libavcodec: the
    first packet fills no frame, then one frame per packet numbered and stamped from the
    first one's, under the SSRC the PCMA subscriber's copies have (10.5 gives both its own
    output SSRC, we keep the party's; the suite checks only that they are equal)."""
    results = {}
    for which, daemon in (("ref", pair.reference), ("ours", pair.ours)):
        got = _converted_copies(daemon, f"g722-copies-{which}")
        ssrc = got[0][0][3]
        assert all(copy[3] == ssrc for copies in got for copy in copies), (which, got)
        results[which] = [[copy[:3] + copy[4:] for copy in copies] for copies in got]
    assert results["ours"] == results["ref"]
    assert results["ours"][1] == [] and results["ours"][3] == [(9, 4000, 7000, 160)]


def test_subscriber_copies_converted_to_opus_as_rtpengine(pair):
    """The same with a subscriber that answered Opus (a dynamic payload type the
    subscription offered): packet for packet what 10.5 sends (the encoded bytes differ
    between libopus builds, so not their sizes)."""
    results = {}
    for which, daemon in (("ref", pair.reference), ("ours", pair.ours)):
        got = _converted_copies(daemon, f"opus-copies-{which}",
                                ("96", "a=rtpmap:96 opus/48000/2\r\n"))
        results[which] = [[copy[:3] for copy in copies] for copies in got]
    assert results["ours"] == results["ref"]
    assert any(copy[0] == 96 for copies in results["ours"] for copy in copies)


def test_egress_subscriber_gets_what_goes_on_to_the_peer(pair):
    """``egress``: the subscriber's copy is the packet the relay sends on to the other party
    (here converted to PCMA, with that leg's SSRC), where a plain subscription copies what
    the party sent; as 10.5 (rtpengine's pubsub suite, "egress sub w tc")."""
    for daemon in (pair.reference, pair.ours):
        egress = _copies(daemon, f"egress-{id(daemon)}", ["egress"])
        for to_b, to_c in zip(egress[0::2], egress[1::2], strict=True):
            assert to_b[1] == 8 and to_c[1:] == to_b[1:], (daemon, egress)
        plain = _copies(daemon, f"plain-{id(daemon)}", [])
        for seq, to_c in enumerate(plain[1::2], 1):
            assert to_c[1:] == (0, seq, 160 * seq, 0x1234, b"\x00" * 160), (daemon, plain)


# An SR with one report block and an SDES, as the subscriber sends it (SSRC 0x9876)
_SUB_RTCP = (struct.pack("!BBHI", 0x81, 200, 12, 0x9876) + b"aaaabbbb" + bytes(12)
             + struct.pack("!I", 0x6543) + bytes(20) + struct.pack("!BBHIBB", 0x81, 202, 5,
                                                                0x9876, 1, 12)
             + b"qwertyuiopqw" + bytes(2))


def _mirrored(daemon, call_id: str, mux: bool) -> list[tuple[str, str, bool]]:
    """A calls B, C subscribes to A with ``mirror RTCP`` (taking rtcp-mux if ``mux``) and
    sends an RTCP report before and after ``unsubscribe``, and after subscribing again
    without the flag: for each, whether A got it on its RTCP port, and whether anyone else
    got anything."""
    parties = {name: rtp_rtcp_sockets() for name in "ABC"}
    try:
        def body(name: str, direction: str = "sendrecv") -> str:
            lines = ["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                     f"m=audio {parties[name][0].getsockname()[1]} RTP/AVP 0"]
            if name == "C" and mux:
                lines.append("a=rtcp-mux")
            return sdp(*lines, f"a={direction}")

        ids = {"call-id": call_id, "from-tag": "A"}
        daemon.request({"command": "offer", **ids, "sdp": body("A")})
        daemon.request({"command": "answer", **ids, "to-tag": "B", "sdp": body("B")})
        request = daemon.request({"command": "subscribe request", **ids, "to-tag": "C",
                                  "flags": ["mirror RTCP"],
                                  **({"rtcp-mux": ["offer"]} if mux else {})})
        rtp_port = int(re.search(r"m=audio (\d+)", request["sdp"]).group(1))
        to_c = rtp_port if mux else int(re.search(r"a=rtcp:(\d+)", request["sdp"]).group(1))
        daemon.request({"command": "subscribe answer", "call-id": call_id, "to-tag": "C",
                        "sdp": body("C", "recvonly")})
        seen = []
        for step in ("subscribed", "unsubscribed", "subscribed again without the flag"):
            if step == "unsubscribed":
                assert daemon.request({"command": "unsubscribe", "call-id": call_id,
                                       "to-tag": "C"}) == {"result": "ok"}
            elif step.startswith("subscribed again"):
                again = daemon.request({"command": "subscribe request", **ids, "to-tag": "C",
                                        **({"rtcp-mux": ["offer"]} if mux else {})})
                assert again["sdp"] == request["sdp"]  # (the same ports)
                daemon.request({"command": "subscribe answer", "call-id": call_id,
                                "to-tag": "C", "sdp": body("C", "recvonly")})
            parties["C"][0 if mux else 1].sendto(_SUB_RTCP, ("127.0.0.1", to_c))
            a_got = burst(parties["A"][1])
            others = [data for name in "ABC" for sock in parties[name]
                      if sock is not parties["A"][1]
                      for data in burst(sock, first=0.1)]
            seen.append((step, a_got == [_SUB_RTCP], others == []))
        daemon.request({"command": "delete", "call-id": call_id})
        return seen
    finally:
        for pair in parties.values():
            for sock in pair:
                sock.close()


@pytest.mark.parametrize("mux", [False, True], ids=["rtcp port", "rtcp-mux"])
def test_mirrored_rtcp_outlives_unsubscribe_as_rtpengine(pair, mux):
    """``unsubscribe`` ends the copies to the subscriber; the RTCP it sends still reaches
    the publisher, as with 10.5 (its unsubscribe drops the subscriber's subscription, not
    the publisher's RTCP-only one the ``mirror RTCP`` flag added the other way; rtpengine's
    mr13.0 pubsub suite, "simple sub, RTCP mirror"); that link outlives a subscription
    asked for again without the flag too. Nobody else gets anything."""
    results = {which: _mirrored(daemon, f"mirror-{which}-{mux}", mux)
               for which, daemon in (("ref", pair.reference), ("ours", pair.ours))}
    assert results["ours"] == results["ref"]
    assert results["ours"] == [("subscribed", True, True), ("unsubscribed", True, True),
                               ("subscribed again without the flag", True, True)]


def _muxed_publisher_copies(daemon, call_id: str) -> list:
    """P publishes with rtcp-mux (one socket for RTP and RTCP); S subscribes (RTP and
    RTCP sockets). P sends two RTP packets and a sender report to its one port: what S
    gets, on which of its sockets, as (socket, second byte, length) lists."""
    socks = _sockets("PRT")  # the publisher; the subscriber's RTP and RTCP
    try:
        p_port = socks["P"].getsockname()[1]
        body = sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                   f"m=audio {p_port} RTP/AVP 0", "a=sendonly", "a=rtcp-mux")
        published = daemon.request({"command": "publish", "call-id": call_id, "from-tag": "P",
                                    "sdp": body})
        to_us = int(re.search(r"m=audio (\d+)", published["sdp"]).group(1))
        daemon.request({"command": "subscribe request", "call-id": call_id, "from-tag": "P",
                        "to-tag": "S"})
        s_port = socks["R"].getsockname()[1]
        answer = sdp("v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
                     f"m=audio {s_port} RTP/AVP 0", "a=recvonly",
                     f"a=rtcp:{socks['T'].getsockname()[1]}")
        daemon.request({"command": "subscribe answer", "call-id": call_id, "to-tag": "S",
                        "sdp": answer})
        report = struct.pack("!BBHIIIIII", 0x80, 200, 6, 0x1234, 1, 2, 320, 2, 344)
        for packet in (struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + bytes(160),
                       struct.pack("!BBHII", 0x80, 0, 2, 320, 0x1234) + bytes(160), report):
            socks["P"].sendto(packet, ("127.0.0.1", to_us))
        got = [[(name, data[1], len(data)) for data in burst(socks[name])] for name in "RT"]
        daemon.request({"command": "delete", "call-id": call_id})
        return got
    finally:
        for sock in socks.values():
            sock.close()


def test_a_muxed_publishers_rtcp_reaches_its_subscriber_as_rtpengine(pair):
    """A publisher muxing RTCP sends it on its one port: the subscriber gets its RTP and
    its RTCP as 10.5 passes them on."""
    theirs = _muxed_publisher_copies(pair.reference, "muxed-publisher-10.5")
    assert theirs[0], "10.5 relayed no RTP"
    assert _muxed_publisher_copies(pair.ours, "muxed-publisher") == theirs
